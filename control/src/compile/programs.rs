//! Programs: for an endpoint, direction and view, the applicable policies flattened into
//! first-match rule lists — shared by every endpoint with the same applicable policies. Each
//! policy's rules (per view and direction) and each profile's are compiled into the shared
//! rule table once, however many programs apply them.

use palisade_dataplane::policy::{
    Entry, EntryAction, IcmpMatch, Match, Origin, Peer, PortList, ProgramBuilder, Programs,
    ProgramsBuilder, RuleId, RuleRef, RuleTable, RuleTableBuilder, SetRanges, SideMatch,
    SplitPolicy,
};

use super::sets::SetTable;
use super::{FastMap, Interner};
use crate::eval::reference::builtin_allow_profile;
use crate::model::numorstring::PortMatch;
use crate::policy::{Action, Direction, EntityMatch, PolicyId, Rule, TierDefault, TierView};
use crate::selector::Selector;
use crate::store::Store;

/// What makes two endpoint-directions compile to the same program: the applicable policies,
/// tier by tier (interned tier and policy names), and the profiles. Named by content, so the
/// enforced and staged views share programs wherever staged policies change nothing.
/// `tiers` is flattened: per tier its interned id, its policy count, then the policy ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ProgramKey {
    direction: Direction,
    tiers: Vec<u32>,
    /// Interned profile list.
    profiles: u32,
}

/// For one view: per direction and endpoint, the applicable (tier, policy) positions in
/// evaluation order; and the interned name of every (tier, policy).
struct Applicable {
    by_endpoint: [Vec<Vec<(usize, usize)>>; 2],
    tier_ids: Vec<u32>,
    policy_ids: Vec<Vec<u32>>,
}

fn direction_slot(direction: Direction) -> usize {
    match direction {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

pub(crate) struct ProgramTable<'s> {
    store: &'s Store,
    by_key: FastMap<ProgramKey, u32>,
    programs: ProgramsBuilder,
    rules: RuleTableBuilder,
    /// Rules of (view, tier, policy, direction) in the rule table.
    policy_rules: FastMap<(bool, usize, usize, Direction), Vec<RuleId>>,
    /// Rules of (profile, direction).
    profile_rules: FastMap<(String, Direction), Vec<RuleId>>,
    end_of_tier: FastMap<u32, RuleId>,
    /// Interned profile lists (of endpoints).
    profile_lists: FastMap<Vec<String>, u32>,
    allow_profile: Option<RuleId>,
    tiers: Interner,
    policies: Interner,
    policy_ids: Vec<PolicyId>,
    /// [enforced, staged].
    applicable: [Applicable; 2],
}

impl<'s> ProgramTable<'s> {
    pub(crate) fn new(store: &'s Store, sets: &SetTable<'_>, split: SplitPolicy) -> Self {
        let mut this = Self {
            store,
            by_key: FastMap::default(),
            programs: ProgramsBuilder::with_split(split),
            rules: RuleTableBuilder::default(),
            policy_rules: FastMap::default(),
            profile_rules: FastMap::default(),
            end_of_tier: FastMap::default(),
            profile_lists: FastMap::default(),
            allow_profile: None,
            tiers: Interner::default(),
            policies: Interner::default(),
            policy_ids: Vec::new(),
            applicable: [Applicable::empty(), Applicable::empty()],
        };
        this.applicable = [
            this.assign(sets, &store.enforced),
            this.assign(sets, &store.staged),
        ];
        this
    }

    /// Which endpoints each policy of `view` applies to, inverted per endpoint. Each distinct
    /// applies-to selector is evaluated once, through the label index.
    fn assign(&mut self, sets: &SetTable<'_>, view: &TierView) -> Applicable {
        let n = self.store.endpoints.len();
        let mut by_endpoint = [vec![Vec::new(); n], vec![Vec::new(); n]];
        let mut members_of: FastMap<&Selector, Vec<u32>> = FastMap::default();
        let mut tier_ids = Vec::new();
        let mut policy_ids = Vec::new();
        for (t, tier) in view.tiers.iter().enumerate() {
            tier_ids.push(self.tiers.id(&tier.tier.name));
            let mut ids = Vec::new();
            for (p, policy) in tier.policies.iter().enumerate() {
                ids.push(self.policy_id(&policy.id));
                let members = members_of
                    .entry(&policy.applies_to)
                    .or_insert_with(|| sets.members(&policy.applies_to));
                for dir in [Direction::Ingress, Direction::Egress] {
                    if policy.rules(dir).is_some() {
                        for &e in members.iter() {
                            by_endpoint[direction_slot(dir)][e as usize].push((t, p));
                        }
                    }
                }
            }
            policy_ids.push(ids);
        }
        Applicable {
            by_endpoint,
            tier_ids,
            policy_ids,
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
        let applicable = &self.applicable[usize::from(staged)];
        let list = &applicable.by_endpoint[direction_slot(direction)][index];
        let mut flat = Vec::with_capacity(list.len() + 8);
        let mut count_at = usize::MAX;
        let mut last_tier = usize::MAX;
        for &(t, p) in list {
            if t != last_tier {
                flat.extend([applicable.tier_ids[t], 0]);
                count_at = flat.len() - 1;
                last_tier = t;
            }
            flat.push(applicable.policy_ids[t][p]);
            flat[count_at] += 1;
        }
        let profiles = &self.store.endpoints[index].profiles;
        let profiles = match self.profile_lists.get(profiles.as_slice()) {
            Some(&id) => id,
            None => {
                let id = self.profile_lists.len() as u32;
                self.profile_lists.insert(profiles.clone(), id);
                id
            }
        };
        let key = ProgramKey {
            direction,
            tiers: flat,
            profiles,
        };
        if let Some(&id) = self.by_key.get(&key) {
            return id;
        }
        let mut tiers: Vec<(usize, Vec<usize>)> = Vec::new();
        for &(t, p) in list {
            match tiers.last_mut() {
                Some((last, ps)) if *last == t => ps.push(p),
                _ => tiers.push((t, vec![p])),
            }
        }
        let program = self.build(sets, staged, view, &tiers, (direction, index));
        let id = self.programs.add(program);
        self.by_key.insert(key, id);
        id
    }

    fn build(
        &mut self,
        sets: &mut SetTable<'_>,
        staged: bool,
        view: &TierView,
        tiers: &[(usize, Vec<usize>)],
        (direction, endpoint): (Direction, usize),
    ) -> ProgramBuilder {
        let mut b = ProgramBuilder::new(match direction {
            Direction::Ingress => Peer::Source,
            Direction::Egress => Peer::Destination,
        });
        for (t, policies) in tiers {
            let tier = &view.tiers[*t];
            let tier_id = self.tiers.id(&tier.tier.name);
            for &p in policies {
                for &r in self.policy_rules(sets, staged, view, (*t, p), direction) {
                    b.push(r);
                }
            }
            if tier.tier.default_action == TierDefault::Deny {
                let rules = &mut self.rules;
                let r = *self.end_of_tier.entry(tier_id).or_insert_with(|| {
                    rules.push(Entry {
                        action: EntryAction::Deny,
                        origin: Origin::EndOfTier { tier: tier_id },
                        matcher: Match::default(),
                    })
                });
                b.push(r);
            }
            b.end_group();
        }
        let store = self.store;
        for name in &store.endpoints[endpoint].profiles {
            if builtin_allow_profile(name) {
                let rules = &mut self.rules;
                let r = *self.allow_profile.get_or_insert_with(|| {
                    rules.push(Entry {
                        action: EntryAction::Allow,
                        origin: Origin::Profile,
                        matcher: Match::default(),
                    })
                });
                b.push(r);
                break;
            }
            if !self.store.profiles.contains_key(name) {
                continue;
            }
            for &r in self.profile_rules(sets, name, direction) {
                b.push(r);
            }
            b.end_group();
        }
        b
    }

    /// The rule-table ids of a policy's rules in one direction, compiled on first use.
    fn policy_rules(
        &mut self,
        sets: &mut SetTable<'_>,
        staged: bool,
        view: &TierView,
        (t, p): (usize, usize),
        direction: Direction,
    ) -> &[RuleId] {
        let slot = (staged, t, p, direction);
        if !self.policy_rules.contains_key(&slot) {
            let tier = &view.tiers[t];
            let policy = &tier.policies[p];
            let tier_id = self.tiers.id(&tier.tier.name);
            let policy_id = self.policy_id(&policy.id);
            let ids = policy
                .rules(direction)
                .unwrap_or(&[])
                .iter()
                .map(|rule| {
                    let action = match rule.action {
                        Action::Allow => EntryAction::Allow,
                        Action::Deny => EntryAction::Deny,
                        Action::Log => EntryAction::Log,
                        Action::Pass => EntryAction::Pass,
                    };
                    let r = RuleRef {
                        tier: tier_id,
                        policy: policy_id,
                        rule: rule.index as u32,
                    };
                    self.rules
                        .push(Entry::rule(action, r, compile_match(sets, rule)))
                })
                .collect();
            self.policy_rules.insert(slot, ids);
        }
        self.policy_rules.get(&slot).map_or(&[], Vec::as_slice)
    }

    /// The rule-table ids of a profile's rules in one direction (Log rules dropped).
    fn profile_rules(
        &mut self,
        sets: &mut SetTable<'_>,
        name: &str,
        direction: Direction,
    ) -> &[RuleId] {
        let slot = (name.to_string(), direction);
        if !self.profile_rules.contains_key(&slot) {
            let mut ids = Vec::new();
            if let Some(profile) = self.store.profiles.get(name) {
                let rules = match direction {
                    Direction::Ingress => &profile.ingress,
                    Direction::Egress => &profile.egress,
                };
                for rule in rules {
                    let action = match rule.action {
                        Action::Allow => EntryAction::Allow,
                        Action::Deny => EntryAction::Deny,
                        Action::Pass => EntryAction::Pass,
                        Action::Log => continue,
                    };
                    ids.push(self.rules.push(Entry {
                        action,
                        origin: Origin::Profile,
                        matcher: compile_match(sets, rule),
                    }));
                }
            }
            self.profile_rules.insert(slot.clone(), ids);
        }
        self.profile_rules.get(&slot).map_or(&[], Vec::as_slice)
    }

    fn policy_id(&mut self, id: &PolicyId) -> u32 {
        let n = self.policies.id(&id.to_string());
        if n as usize == self.policy_ids.len() {
            self.policy_ids.push(id.clone());
        }
        n
    }

    /// Tier names, policy names, policy ids, rules, programs (indexed by peer address with
    /// the sets' `ranges`).
    pub(crate) fn finish(
        self,
        ranges: &SetRanges,
    ) -> (Vec<String>, Vec<String>, Vec<PolicyId>, RuleTable, Programs) {
        let programs = self.programs.build(&self.rules, ranges);
        (
            self.tiers.names,
            self.policies.names,
            self.policy_ids,
            self.rules.build(),
            programs,
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
        let (mut ranges, mut named) = (Vec::new(), Vec::new());
        for p in list {
            match p {
                PortMatch::Range(lo, hi) => ranges.push((*lo, *hi)),
                PortMatch::Named(name) => named.push((selector, sets.port_names.id(name))),
            }
        }
        PortList {
            ranges: ranges.into(),
            named: named.into(),
        }
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

impl Applicable {
    fn empty() -> Self {
        Applicable {
            by_endpoint: [Vec::new(), Vec::new()],
            tier_ids: Vec::new(),
            policy_ids: Vec::new(),
        }
    }
}
