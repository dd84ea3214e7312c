//! Programs: for an endpoint, direction and view, the applicable policies flattened into
//! first-match entries — shared by every endpoint with the same applicable policies.

use std::collections::HashMap;

use palisade_dataplane::policy::{
    Entry, EntryAction, IcmpMatch, Match, Origin, PortList, Program, ProgramBuilder, RuleRef,
    SideMatch,
};

use super::Interner;
use super::sets::SetTable;
use crate::eval::reference::builtin_allow_profile;
use crate::model::numorstring::PortMatch;
use crate::policy::{Action, Direction, EntityMatch, PolicyId, Rule, TierDefault, TierView};
use crate::store::Store;

/// Placeholder jump target, patched when the tier (or profile) ends.
const PENDING: u32 = u32::MAX;

/// What makes two endpoint-directions compile to the same program: the applicable policies,
/// tier by tier, and the profiles. Named by content, so the enforced and staged views share
/// programs wherever staged policies change nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ProgramKey {
    direction: Direction,
    tiers: Vec<(String, Vec<PolicyId>)>,
    profiles: Vec<String>,
}

pub(crate) struct ProgramTable<'s> {
    store: &'s Store,
    by_key: HashMap<ProgramKey, u32>,
    programs: Vec<Program>,
    tiers: Interner,
    policies: Interner,
    policy_ids: Vec<PolicyId>,
}

impl<'s> ProgramTable<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Self {
            store,
            by_key: HashMap::new(),
            programs: Vec::new(),
            tiers: Interner::default(),
            policies: Interner::default(),
            policy_ids: Vec::new(),
        }
    }

    fn view(&self, staged: bool) -> &'s TierView {
        if staged {
            &self.store.staged
        } else {
            &self.store.enforced
        }
    }

    /// The program of endpoint `index` for `direction` in the enforced or staged view.
    pub(crate) fn program_for(
        &mut self,
        sets: &mut SetTable<'_>,
        index: usize,
        direction: Direction,
        staged: bool,
    ) -> u32 {
        let view = self.view(staged);
        let endpoint = &self.store.endpoints[index];
        let mut tiers = Vec::new();
        for (t, tier) in view.tiers.iter().enumerate() {
            let applicable: Vec<usize> = tier
                .policies
                .iter()
                .enumerate()
                .filter(|(_, p)| p.rules(direction).is_some() && sets.applies(&p.applies_to, index))
                .map(|(i, _)| i)
                .collect();
            if !applicable.is_empty() {
                tiers.push((t, applicable));
            }
        }
        let key = ProgramKey {
            direction,
            tiers: tiers
                .iter()
                .map(|(t, ps)| {
                    let tier = &view.tiers[*t];
                    (
                        tier.tier.name.clone(),
                        ps.iter().map(|&p| tier.policies[p].id.clone()).collect(),
                    )
                })
                .collect(),
            profiles: endpoint.profiles.clone(),
        };
        if let Some(&id) = self.by_key.get(&key) {
            return id;
        }
        let program = self.build(sets, view, &tiers, &key);
        let id = self.programs.len() as u32;
        self.programs.push(program);
        self.by_key.insert(key, id);
        id
    }

    fn build(
        &mut self,
        sets: &mut SetTable<'_>,
        view: &TierView,
        tiers: &[(usize, Vec<usize>)],
        key: &ProgramKey,
    ) -> Program {
        let mut b = ProgramBuilder::default();
        for (t, policies) in tiers {
            let tier = &view.tiers[*t];
            let tier_id = self.tiers.id(&tier.tier.name);
            let tier_start = b.next_position();
            for &p in policies {
                let policy = &tier.policies[p];
                let policy_id = self.policy_id(&policy.id);
                for rule in policy.rules(key.direction).unwrap_or(&[]) {
                    let action = match rule.action {
                        Action::Allow => EntryAction::Allow,
                        Action::Deny => EntryAction::Deny,
                        Action::Log => EntryAction::Log,
                        Action::Pass => EntryAction::Jump(PENDING),
                    };
                    let r = RuleRef {
                        tier: tier_id,
                        policy: policy_id,
                        rule: rule.index as u32,
                    };
                    b.push(ProgramBuilder::rule(action, r, compile_match(sets, rule)));
                }
            }
            if tier.tier.default_action == TierDefault::Deny {
                b.push(Entry {
                    action: EntryAction::Deny,
                    origin: Origin::EndOfTier { tier: tier_id },
                    matcher: Match::default(),
                });
            }
            let next = b.next_position();
            b.patch_jumps(tier_start, PENDING, next);
        }
        for name in &key.profiles {
            if builtin_allow_profile(name) {
                b.push(Entry {
                    action: EntryAction::Allow,
                    origin: Origin::Profile,
                    matcher: Match::default(),
                });
                break;
            }
            let Some(profile) = self.store.profiles.get(name) else {
                continue;
            };
            let rules = match key.direction {
                Direction::Ingress => &profile.ingress,
                Direction::Egress => &profile.egress,
            };
            let start = b.next_position();
            for rule in rules {
                let action = match rule.action {
                    Action::Allow => EntryAction::Allow,
                    Action::Deny => EntryAction::Deny,
                    Action::Pass => EntryAction::Jump(PENDING),
                    Action::Log => continue,
                };
                b.push(Entry {
                    action,
                    origin: Origin::Profile,
                    matcher: compile_match(sets, rule),
                });
            }
            let next = b.next_position();
            b.patch_jumps(start, PENDING, next);
        }
        b.build()
    }

    fn policy_id(&mut self, id: &PolicyId) -> u32 {
        let n = self.policies.id(&id.to_string());
        if n as usize == self.policy_ids.len() {
            self.policy_ids.push(id.clone());
        }
        n
    }

    /// Tier names, policy names, policy ids, programs.
    pub(crate) fn finish(self) -> (Vec<String>, Vec<String>, Vec<PolicyId>, Vec<Program>) {
        (
            self.tiers.names,
            self.policies.names,
            self.policy_ids,
            self.programs,
        )
    }
}

fn compile_match(sets: &mut SetTable<'_>, rule: &Rule) -> Match {
    Match {
        family: rule.ip_version.unwrap_or(0),
        protocol: rule.protocol,
        not_protocol: rule.not_protocol,
        icmp: rule.icmp.map(|i| IcmpMatch {
            icmp_type: i.icmp_type,
            code: i.code,
        }),
        not_icmp: rule.not_icmp.map(|i| IcmpMatch {
            icmp_type: i.icmp_type,
            code: i.code,
        }),
        src: compile_side(sets, &rule.source),
        dst: compile_side(sets, &rule.destination),
    }
}

fn compile_side(sets: &mut SetTable<'_>, e: &EntityMatch) -> SideMatch {
    let selector = e.selector.as_ref().map(|s| sets.selector_set(s));
    let mut ports = |list: &[PortMatch]| {
        let mut out = PortList::default();
        for p in list {
            match p {
                PortMatch::Range(lo, hi) => out.ranges.push((*lo, *hi)),
                PortMatch::Named(name) => out.named.push((selector, sets.port_names.id(name))),
            }
        }
        out
    };
    let ports_list = ports(&e.ports);
    let not_ports = ports(&e.not_ports);
    SideMatch {
        nets: (!e.nets.is_empty()).then(|| sets.net_set(&e.nets)),
        not_nets: (!e.not_nets.is_empty()).then(|| sets.net_set(&e.not_nets)),
        selector,
        not_selector: e.not_selector.as_ref().map(|s| sets.selector_set(s)),
        ports: ports_list,
        not_ports,
    }
}
