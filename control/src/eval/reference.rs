//! The reference evaluator: a direct, readable interpreter of SEMANTICS.md §3.
//!
//! Contract: for each side, walk the tiers in order; inside a tier the policies applying to the
//! endpoint in that direction, rules first-match (Allow/Deny decide, Pass leaves the tier, Log
//! records and continues); a tier with an applicable policy ends in its defaultAction; after
//! the last tier the profiles decide. Speed is not a goal: this is the oracle.

use palisade_dataplane::{FlowKey, IpProto};

use super::Engine;
use super::decision::{FlowDecision, LogHit, Reason, SideDecision, Verdict};
use super::matching::rule_matches;
use crate::inventory::Endpoint;
use crate::policy::{Action, Direction, TierDefault, TierView};
use crate::store::Store;

/// A (protocol, port) a host endpoint always accepts in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailsafePort {
    pub protocol: u8,
    pub port: u16,
}

/// Calico's failsafe ports for host endpoints (configurable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failsafes {
    pub inbound: Vec<FailsafePort>,
    pub outbound: Vec<FailsafePort>,
}

impl Default for Failsafes {
    /// Felix's defaults: inbound TCP 22, 179, 2379, 2380, 5473, 6443, 6666, 6667 and UDP 68;
    /// outbound TCP 179, 2379, 2380, 5473, 6443, 6666, 6667 and UDP 53, 67.
    fn default() -> Self {
        let tcp = |port| FailsafePort {
            protocol: IpProto::TCP,
            port,
        };
        let udp = |port| FailsafePort {
            protocol: IpProto::UDP,
            port,
        };
        Failsafes {
            inbound: [22, 179, 2379, 2380, 5473, 6443, 6666, 6667]
                .into_iter()
                .map(tcp)
                .chain([udp(68)])
                .collect(),
            outbound: [179, 2379, 2380, 5473, 6443, 6666, 6667]
                .into_iter()
                .map(tcp)
                .chain([udp(53), udp(67)])
                .collect(),
        }
    }
}

/// The reference evaluator over one store.
#[derive(Debug)]
pub struct ReferenceEvaluator<'a> {
    store: &'a Store,
    failsafes: Failsafes,
}

/// Outcome of walking one view for one side.
struct Outcome {
    verdict: Verdict,
    reason: Reason,
    tier: Option<String>,
    policy: Option<crate::policy::PolicyId>,
    rule: Option<usize>,
    logged: Vec<LogHit>,
}

impl<'a> ReferenceEvaluator<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self::with_failsafes(store, Failsafes::default())
    }

    pub fn with_failsafes(store: &'a Store, failsafes: Failsafes) -> Self {
        Self { store, failsafes }
    }

    fn side(&self, flow: &FlowKey, direction: Direction) -> SideDecision {
        let addr = match direction {
            Direction::Egress => flow.src,
            Direction::Ingress => flow.dst,
        };
        let Some(endpoint) = self.store.endpoint_by_addr(addr) else {
            return SideDecision::no_endpoint();
        };
        if endpoint.is_host() && self.is_failsafe(flow, direction) {
            return SideDecision {
                endpoint: Some(endpoint.key.to_string()),
                verdict: Verdict::Allow,
                reason: Reason::Failsafe,
                tier: None,
                policy: None,
                rule: None,
                logged: Vec::new(),
                staged_verdict: Verdict::Allow,
            };
        }
        let enforced = self.walk(&self.store.enforced, endpoint, flow, direction);
        let staged = self.walk(&self.store.staged, endpoint, flow, direction);
        SideDecision {
            endpoint: Some(endpoint.key.to_string()),
            verdict: enforced.verdict,
            reason: enforced.reason,
            tier: enforced.tier,
            policy: enforced.policy,
            rule: enforced.rule,
            logged: enforced.logged,
            staged_verdict: staged.verdict,
        }
    }

    fn is_failsafe(&self, flow: &FlowKey, direction: Direction) -> bool {
        let list = match direction {
            Direction::Ingress => &self.failsafes.inbound,
            Direction::Egress => &self.failsafes.outbound,
        };
        IpProto::has_ports(flow.protocol)
            && list
                .iter()
                .any(|f| f.protocol == flow.protocol && f.port == flow.dst_port)
    }

    fn walk(
        &self,
        view: &TierView,
        endpoint: &Endpoint,
        flow: &FlowKey,
        direction: Direction,
    ) -> Outcome {
        let mut logged = Vec::new();
        'tiers: for tier in &view.tiers {
            let applicable = tier
                .policies
                .iter()
                .filter(|p| p.rules(direction).is_some() && p.applies_to.matches(&endpoint.labels));
            let mut any_applicable = false;
            for policy in applicable {
                any_applicable = true;
                for rule in policy.rules(direction).unwrap_or(&[]) {
                    if !rule_matches(self.store, rule, flow) {
                        continue;
                    }
                    let decided = |verdict| Outcome {
                        verdict,
                        reason: Reason::Rule,
                        tier: Some(tier.tier.name.clone()),
                        policy: Some(policy.id.clone()),
                        rule: Some(rule.index),
                        logged: logged.clone(),
                    };
                    match rule.action {
                        Action::Allow => return decided(Verdict::Allow),
                        Action::Deny => return decided(Verdict::Deny),
                        Action::Pass => continue 'tiers,
                        Action::Log => {
                            logged.push(LogHit {
                                tier: tier.tier.name.clone(),
                                policy: policy.id.clone(),
                                rule: rule.index,
                            });
                        }
                    }
                }
            }
            if any_applicable && tier.tier.default_action == TierDefault::Deny {
                return Outcome {
                    verdict: Verdict::Deny,
                    reason: Reason::EndOfTier,
                    tier: Some(tier.tier.name.clone()),
                    policy: None,
                    rule: None,
                    logged,
                };
            }
        }
        self.profiles(endpoint, flow, direction, logged)
    }

    fn profiles(
        &self,
        endpoint: &Endpoint,
        flow: &FlowKey,
        direction: Direction,
        logged: Vec<LogHit>,
    ) -> Outcome {
        let outcome = |verdict| Outcome {
            verdict,
            reason: Reason::Profile,
            tier: None,
            policy: None,
            rule: None,
            logged: logged.clone(),
        };
        for name in &endpoint.profiles {
            if builtin_allow_profile(name) {
                return outcome(Verdict::Allow);
            }
            let Some(profile) = self.store.profiles.get(name) else {
                continue; // `ksa.*` and unknown profiles carry no rules
            };
            let rules = match direction {
                Direction::Ingress => &profile.ingress,
                Direction::Egress => &profile.egress,
            };
            for rule in rules {
                if !rule_matches(self.store, rule, flow) {
                    continue;
                }
                match rule.action {
                    Action::Allow => return outcome(Verdict::Allow),
                    Action::Deny => return outcome(Verdict::Deny),
                    Action::Pass => break,
                    Action::Log => {}
                }
            }
        }
        outcome(Verdict::Deny)
    }
}

/// Profiles that allow everything: a namespace's `kns.<ns>` and Calico's
/// `projectcalico-default-allow`. They win over a store Profile of the same name.
pub fn builtin_allow_profile(name: &str) -> bool {
    name.starts_with("kns.") || name == "projectcalico-default-allow"
}

impl Engine for ReferenceEvaluator<'_> {
    fn decide(&self, flow: &FlowKey) -> FlowDecision {
        let egress = self.side(flow, Direction::Egress);
        let ingress = self.side(flow, Direction::Ingress);
        FlowDecision::from_sides(egress, ingress)
    }
}
