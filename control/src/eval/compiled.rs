//! The compiled engine: decisions from a dataplane snapshot, reported in store terms.

use palisade_dataplane::FlowKey;
use palisade_dataplane::policy::{Origin, SideVerdict, classify};

use super::Engine;
use super::decision::{FlowDecision, LogHit, Reason, SideDecision, Verdict};
use crate::compile::CompiledStore;

/// Decides flows with the compiled matcher.
#[derive(Debug)]
pub struct CompiledEngine<'a> {
    compiled: &'a CompiledStore,
}

impl<'a> CompiledEngine<'a> {
    pub fn new(compiled: &'a CompiledStore) -> Self {
        Self { compiled }
    }

    fn side(&self, v: &SideVerdict) -> SideDecision {
        let snap = &self.compiled.snapshot;
        let verdict = |allow: bool| if allow { Verdict::Allow } else { Verdict::Deny };
        let tier_name = |t: u32| snap.names.tiers.get(t as usize).cloned();
        let policy = |p: u32| self.compiled.policy_ids.get(p as usize).cloned();
        let (reason, tier, pol, rule) = match v.origin {
            Origin::Rule(r) => (
                Reason::Rule,
                tier_name(r.tier),
                policy(r.policy),
                Some(r.rule as usize),
            ),
            Origin::EndOfTier { tier } => (Reason::EndOfTier, tier_name(tier), None, None),
            Origin::Profile => (Reason::Profile, None, None, None),
            Origin::NoEndpoint => (Reason::NoEndpoint, None, None, None),
            Origin::Failsafe => (Reason::Failsafe, None, None, None),
        };
        let logged = v
            .logged
            .as_slice()
            .iter()
            .filter_map(|r| {
                Some(LogHit {
                    tier: tier_name(r.tier)?,
                    policy: policy(r.policy)?,
                    rule: r.rule as usize,
                })
            })
            .collect();
        SideDecision {
            endpoint: v
                .endpoint
                .and_then(|e| snap.endpoints.get(e as usize))
                .map(|e| e.name.clone()),
            verdict: verdict(v.allow),
            reason,
            tier,
            policy: pol,
            rule,
            logged,
            staged_verdict: verdict(v.staged_allow),
        }
    }
}

impl Engine for CompiledEngine<'_> {
    fn decide(&self, flow: &FlowKey) -> FlowDecision {
        let d = classify(&self.compiled.snapshot, flow);
        FlowDecision::from_sides(self.side(&d.egress), self.side(&d.ingress))
    }
}
