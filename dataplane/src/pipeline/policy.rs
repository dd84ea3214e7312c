//! The policy decision the pipeline asks for new flows and re-checked ones.
//!
//! Contract: a `PolicyDecider` answers for exactly one snapshot generation (`generation`); it
//! decides a flow in its original direction (egress of the source endpoint AND ingress of the
//! destination endpoint) and is shared by every worker (`Send + Sync`, `&self`).

use crate::conntrack::Verdict;
use crate::flow::FlowKey;

/// The decision for one flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PolicyVerdict {
    pub verdict: Verdict,
    /// The deciding rule, opaque to the pipeline (carried into conntrack and flow logs).
    pub rule_id: u32,
}

impl PolicyVerdict {
    pub const fn allow(rule_id: u32) -> Self {
        Self {
            verdict: Verdict::Allow,
            rule_id,
        }
    }

    pub const fn deny(rule_id: u32) -> Self {
        Self {
            verdict: Verdict::Deny,
            rule_id,
        }
    }

    pub fn is_allow(&self) -> bool {
        self.verdict == Verdict::Allow
    }
}

impl Default for PolicyVerdict {
    /// Fail closed.
    fn default() -> Self {
        Self::deny(0)
    }
}

/// The compiled policy, as the pipeline sees it.
pub trait PolicyDecider: Send + Sync {
    /// Snapshot generation this decider answers for (only grows from one decider to the next).
    fn generation(&self) -> u64;

    /// Decides a new flow (egress of its source endpoint AND ingress of its destination).
    fn decide(&self, key: &FlowKey) -> PolicyVerdict;

    /// Decides `keys[i]` into `out[i]` (extra elements of the longer slice are left alone).
    fn decide_batch(&self, keys: &[FlowKey], out: &mut [PolicyVerdict]) {
        for (key, verdict) in keys.iter().zip(out.iter_mut()) {
            *verdict = self.decide(key);
        }
    }
}

/// A decider that gives every flow the same answer (tests, benches, `xsk-bare`-like runs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedDecider {
    pub generation: u64,
    pub verdict: PolicyVerdict,
}

impl PolicyDecider for FixedDecider {
    fn generation(&self) -> u64 {
        self.generation
    }

    fn decide(&self, _key: &FlowKey) -> PolicyVerdict {
        self.verdict
    }
}
