//! The compiled matcher as the pipeline's [`PolicyDecider`]: a [`Snapshot`] decides new and
//! re-checked flows with [`classify`], and names the deciding rule with an opaque `u32`.
//!
//! Contract: `decide(key).is_allow()` equals `classify(snapshot, key).allow()`. The rule id
//! packs the side that decided (the denying side, else ingress when it was decided by a rule,
//! else egress) and its [`Origin`]; [`unpack_rule_id`] turns it back for flow logs. Indexes too
//! large for their field saturate (the id then names "some rule of a late policy").

use super::decision::{Decision, Origin, RuleRef, SideVerdict};
use super::matcher::{classify, classify_batch};
use super::snapshot::Snapshot;
use crate::flow::FlowKey;
use crate::pipeline::{PolicyDecider, PolicyVerdict};

const KIND_SHIFT: u32 = 30;
const SIDE_BIT: u32 = 1 << 29;
const POLICY_BITS: u32 = 17;
const RULE_BITS: u32 = 12;
const POLICY_MAX: u32 = (1 << POLICY_BITS) - 1;
const RULE_MAX: u32 = (1 << RULE_BITS) - 1;
const TIER_MAX: u32 = SIDE_BIT - 1;

const KIND_OTHER: u32 = 0;
const KIND_RULE: u32 = 1;
const KIND_END_OF_TIER: u32 = 2;
const KIND_FAILSAFE: u32 = 3;

/// Which side of a flow decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecidingSide {
    Egress,
    Ingress,
}

/// What a rule id says, unpacked. `Other` covers profiles and addresses that are no endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnpackedRule {
    Rule {
        side: DecidingSide,
        policy: u32,
        rule: u32,
    },
    EndOfTier {
        side: DecidingSide,
        tier: u32,
    },
    Failsafe {
        side: DecidingSide,
    },
    Other {
        side: DecidingSide,
    },
}

/// Packs the deciding side's origin into the pipeline's opaque rule id.
pub fn pack_rule_id(side: DecidingSide, origin: &Origin) -> u32 {
    let side_bit = match side {
        DecidingSide::Egress => 0,
        DecidingSide::Ingress => SIDE_BIT,
    };
    let body = match origin {
        Origin::Rule(RuleRef { policy, rule, .. }) => {
            (KIND_RULE << KIND_SHIFT)
                | ((*policy).min(POLICY_MAX) << RULE_BITS)
                | (*rule).min(RULE_MAX)
        }
        Origin::EndOfTier { tier } => (KIND_END_OF_TIER << KIND_SHIFT) | (*tier).min(TIER_MAX),
        Origin::Failsafe => KIND_FAILSAFE << KIND_SHIFT,
        Origin::Profile | Origin::NoEndpoint => KIND_OTHER << KIND_SHIFT,
    };
    body | side_bit
}

/// The inverse of [`pack_rule_id`] (policy and rule indexes as far as they fitted).
pub fn unpack_rule_id(id: u32) -> UnpackedRule {
    let side = if id & SIDE_BIT == 0 {
        DecidingSide::Egress
    } else {
        DecidingSide::Ingress
    };
    match id >> KIND_SHIFT {
        KIND_RULE => UnpackedRule::Rule {
            side,
            policy: (id >> RULE_BITS) & POLICY_MAX,
            rule: id & RULE_MAX,
        },
        KIND_END_OF_TIER => UnpackedRule::EndOfTier {
            side,
            tier: id & TIER_MAX,
        },
        KIND_FAILSAFE => UnpackedRule::Failsafe { side },
        _ => UnpackedRule::Other { side },
    }
}

/// The side whose origin names a decision: the denying side (egress first), else the ingress
/// side when a rule decided it, else egress.
pub fn deciding_side(d: &Decision) -> (DecidingSide, &SideVerdict) {
    if !d.egress.allow {
        (DecidingSide::Egress, &d.egress)
    } else if !d.ingress.allow || matches!(d.ingress.origin, Origin::Rule(_)) {
        (DecidingSide::Ingress, &d.ingress)
    } else {
        (DecidingSide::Egress, &d.egress)
    }
}

/// The pipeline's verdict for a matcher decision.
pub fn policy_verdict(d: &Decision) -> PolicyVerdict {
    let (side, verdict) = deciding_side(d);
    let id = pack_rule_id(side, &verdict.origin);
    if d.allow() {
        PolicyVerdict::allow(id)
    } else {
        PolicyVerdict::deny(id)
    }
}

impl PolicyDecider for Snapshot {
    fn generation(&self) -> u64 {
        self.generation
    }

    fn decide(&self, key: &FlowKey) -> PolicyVerdict {
        policy_verdict(&classify(self, key))
    }

    /// Through the matcher's batch path, in fixed-size chunks (no allocation).
    fn decide_batch(&self, keys: &[FlowKey], out: &mut [PolicyVerdict]) {
        let mut decisions = [Decision::default(); DECIDE_CHUNK];
        for (keys, out) in keys.chunks(DECIDE_CHUNK).zip(out.chunks_mut(DECIDE_CHUNK)) {
            let n = keys.len().min(out.len());
            let (keys, decisions) = (&keys[..n], &mut decisions[..n]);
            classify_batch(self, keys, decisions);
            for (o, d) in out.iter_mut().zip(decisions.iter()) {
                *o = policy_verdict(d);
            }
        }
    }
}

/// Flows decided per matcher batch call in [`PolicyDecider::decide_batch`].
pub const DECIDE_CHUNK: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::LogList;

    fn side(allow: bool, origin: Origin) -> SideVerdict {
        SideVerdict {
            endpoint: Some(0),
            allow,
            origin,
            logged: LogList::default(),
            staged_allow: allow,
        }
    }

    fn rule(policy: u32, rule: u32) -> Origin {
        Origin::Rule(RuleRef {
            tier: 3,
            policy,
            rule,
        })
    }

    #[test]
    fn round_trips_every_origin_kind() {
        for s in [DecidingSide::Egress, DecidingSide::Ingress] {
            assert_eq!(
                unpack_rule_id(pack_rule_id(s, &rule(1234, 56))),
                UnpackedRule::Rule {
                    side: s,
                    policy: 1234,
                    rule: 56
                }
            );
            assert_eq!(
                unpack_rule_id(pack_rule_id(s, &Origin::EndOfTier { tier: 7 })),
                UnpackedRule::EndOfTier { side: s, tier: 7 }
            );
            assert_eq!(
                unpack_rule_id(pack_rule_id(s, &Origin::Failsafe)),
                UnpackedRule::Failsafe { side: s }
            );
            for o in [Origin::Profile, Origin::NoEndpoint] {
                assert_eq!(
                    unpack_rule_id(pack_rule_id(s, &o)),
                    UnpackedRule::Other { side: s }
                );
            }
        }
    }

    #[test]
    fn large_indexes_saturate() {
        let id = pack_rule_id(DecidingSide::Ingress, &rule(u32::MAX, u32::MAX));
        assert_eq!(
            unpack_rule_id(id),
            UnpackedRule::Rule {
                side: DecidingSide::Ingress,
                policy: POLICY_MAX,
                rule: RULE_MAX
            }
        );
    }

    #[test]
    fn the_denying_side_names_the_decision() {
        let d = Decision {
            egress: side(true, rule(1, 0)),
            ingress: side(false, Origin::EndOfTier { tier: 2 }),
        };
        let v = policy_verdict(&d);
        assert!(!v.is_allow());
        assert_eq!(
            unpack_rule_id(v.rule_id),
            UnpackedRule::EndOfTier {
                side: DecidingSide::Ingress,
                tier: 2
            }
        );
        let d = Decision {
            egress: side(false, rule(4, 1)),
            ingress: side(false, rule(5, 2)),
        };
        assert_eq!(
            unpack_rule_id(policy_verdict(&d).rule_id),
            UnpackedRule::Rule {
                side: DecidingSide::Egress,
                policy: 4,
                rule: 1
            }
        );
        let d = Decision {
            egress: side(true, rule(4, 1)),
            ingress: side(true, Origin::Profile),
        };
        let v = policy_verdict(&d);
        assert!(v.is_allow());
        assert_eq!(
            unpack_rule_id(v.rule_id),
            UnpackedRule::Rule {
                side: DecidingSide::Egress,
                policy: 4,
                rule: 1
            }
        );
    }

    #[test]
    fn batch_equals_single() {
        let snap = Snapshot::default();
        let keys: Vec<FlowKey> = (0..70u16)
            .map(|i| {
                let a = std::net::IpAddr::from([10, 0, 0, (i % 7) as u8]);
                let b = std::net::IpAddr::from([10, 0, 1, (i % 5) as u8]);
                FlowKey::new(a, b, 6, 1000 + i, 80)
            })
            .collect();
        let mut out = vec![PolicyVerdict::default(); keys.len() + 3];
        snap.decide_batch(&keys, &mut out);
        for (k, v) in keys.iter().zip(&out) {
            assert_eq!(*v, snap.decide(k));
        }
        assert_eq!(
            out[keys.len()],
            PolicyVerdict::default(),
            "extra slots untouched"
        );
    }

    #[test]
    fn an_empty_snapshot_allows_with_its_generation() {
        let snap = Snapshot::default();
        let any = std::net::IpAddr::from([10, 0, 0, 1]);
        let key = FlowKey::new(any, any, 6, 1, 80);
        assert_eq!(PolicyDecider::generation(&snap), snap.generation);
        assert_eq!(snap.decide(&key).is_allow(), classify(&snap, &key).allow());
    }
}
