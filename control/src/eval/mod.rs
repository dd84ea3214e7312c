//! Flow evaluation: the decision types both engines produce, and the reference evaluator.
//!
//! Contract: `FlowDecision` is exactly what `palisade eval` prints (DESIGN.md): per side the
//! endpoint, verdict, reason, deciding tier/policy/rule, the Log rules passed, and what the
//! side would decide with every staged policy enforced.

mod compiled;
mod decision;
mod matching;
pub mod reference;

pub use compiled::CompiledEngine;
pub use decision::{FlowDecision, LogHit, Reason, SideDecision, Verdict};
pub use matching::rule_matches;
pub use reference::ReferenceEvaluator;

use palisade_dataplane::FlowKey;

/// Something that decides flows against a store.
pub trait Engine {
    fn decide(&self, flow: &FlowKey) -> FlowDecision;
}
