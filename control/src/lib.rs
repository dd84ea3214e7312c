//! Palisade's control plane: manifests in, verdicts (reference evaluator) and snapshots out.
//!
//! ```text
//!  store dir --load--> objects --validate/translate--> Store { inventory, tiers, policies }
//!                                                        |
//!                        flows --> eval::ReferenceEvaluator --> FlowDecision (palisade eval)
//! ```
#![forbid(unsafe_code)]

pub mod cli;
pub mod compile;
pub mod error;
pub mod eval;
pub mod flows;
pub mod inventory;
pub mod model;
pub mod policy;
pub mod run;
pub mod selector;
pub mod store;
