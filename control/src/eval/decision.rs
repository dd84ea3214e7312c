//! What a decision looks like, per side and per flow.

use serde::Serialize;

use crate::policy::PolicyId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
}

/// Why a side decided as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// A policy rule (Allow or Deny) decided.
    Rule,
    /// No rule decided and the tier's defaultAction was Deny.
    EndOfTier,
    /// No policy decided; the endpoint's profiles did.
    Profile,
    /// The address is not a known endpoint: nothing to enforce on this side.
    NoEndpoint,
    /// A host endpoint's failsafe port (Calico's default failsafes).
    Failsafe,
}

/// A Log rule the evaluation passed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LogHit {
    pub tier: String,
    #[serde(serialize_with = "ser_policy")]
    pub policy: PolicyId,
    pub rule: usize,
}

fn ser_policy<S: serde::Serializer>(p: &PolicyId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

fn ser_opt_policy<S: serde::Serializer>(p: &Option<PolicyId>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.collect_str(p),
        None => s.serialize_none(),
    }
}

/// One side's decision (egress of the source, or ingress of the destination).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideDecision {
    pub endpoint: Option<String>,
    pub verdict: Verdict,
    pub reason: Reason,
    pub tier: Option<String>,
    #[serde(serialize_with = "ser_opt_policy")]
    pub policy: Option<PolicyId>,
    pub rule: Option<usize>,
    pub logged: Vec<LogHit>,
    pub staged_verdict: Verdict,
}

impl SideDecision {
    /// The decision for an address that is not a known endpoint.
    pub fn no_endpoint() -> Self {
        SideDecision {
            endpoint: None,
            verdict: Verdict::Allow,
            reason: Reason::NoEndpoint,
            tier: None,
            policy: None,
            rule: None,
            logged: Vec::new(),
            staged_verdict: Verdict::Allow,
        }
    }
}

/// The decision for one flow: allowed iff both sides allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowDecision {
    pub verdict: Verdict,
    pub egress: SideDecision,
    pub ingress: SideDecision,
}

impl FlowDecision {
    pub fn from_sides(egress: SideDecision, ingress: SideDecision) -> Self {
        let verdict = if egress.verdict == Verdict::Allow && ingress.verdict == Verdict::Allow {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        FlowDecision {
            verdict,
            egress,
            ingress,
        }
    }
}
