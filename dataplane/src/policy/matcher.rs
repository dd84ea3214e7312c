//! Deciding a flow against a snapshot: both sides, the deciding entry, Log marks, staged
//! verdicts. Allocation-free; `&Snapshot` only.

use std::net::IpAddr;

use super::candidate::{self, COMPLETE, FILTER_DST, FILTERED, PASS, PORTS_CHECKED, RULE_LIMIT};
use super::decision::{Decision, LogList, Origin, SideVerdict};
use super::peer_split::Peer;
use super::rules::{
    CHECK_DST, CHECK_ICMP, CHECK_PROTO, CHECK_SRC, Compact, CompactSide, EntryAction, IcmpMatch,
    NONE, RuleTable,
};
use super::sets::AddrSets;
use super::snapshot::{AddrRecord, Snapshot};
use crate::flow::{FlowKey, IpProto};

/// Decide one flow: egress of its source endpoint and ingress of its destination endpoint.
pub fn classify(snap: &Snapshot, key: &FlowKey) -> Decision {
    let mut out = Decision::default();
    Plan::new(snap, key, snap.resolve(key.src), snap.resolve(key.dst)).decide(snap, key, &mut out);
    out
}

/// Flows resolved per stage of the batch path.
const STAGE: usize = 16;

/// Decide a batch of flows (the worker calls this once per RX batch for its misses).
///
/// Staged, so that the dependent loads of one flow overlap with those of the others: first
/// every flow's addresses are resolved (one hash probe per address), then every flow's
/// candidate lists are located (program index walks) and their first entries touched, then
/// each flow is decided. Each stage runs the same code as [`classify`], so the results are
/// equal. (Separate tight passes loading program headers, set lists and list heads first
/// measured no faster: `bench/README.md`.)
pub fn classify_batch(snap: &Snapshot, keys: &[FlowKey], out: &mut [Decision]) {
    let none = (AddrSets::NONE, None);
    for (keys, out) in keys.chunks(STAGE).zip(out.chunks_mut(STAGE)) {
        let mut resolved = [(none, none); STAGE];
        for (slot, key) in resolved.iter_mut().zip(keys) {
            *slot = (snap.resolve(key.src), snap.resolve(key.dst));
        }
        let mut plans = [Plan::EMPTY; STAGE];
        for ((plan, key), (src, dst)) in plans.iter_mut().zip(keys).zip(resolved) {
            *plan = Plan::new(snap, key, src, dst);
            std::hint::black_box(plan.egress.touch_entry(snap) ^ plan.ingress.touch_entry(snap));
        }
        for ((key, slot), plan) in keys.iter().zip(out.iter_mut()).zip(&plans) {
            plan.decide(snap, key, slot);
        }
    }
}

/// One side located: its endpoint record and the candidates of its enforced program.
#[derive(Clone, Copy)]
struct SidePlan<'a> {
    record: Option<&'a AddrRecord>,
    candidates: &'a [u32],
}

impl<'a> SidePlan<'a> {
    const EMPTY: SidePlan<'static> = SidePlan {
        record: None,
        candidates: &[],
    };

    #[inline]
    fn new(
        snap: &'a Snapshot,
        key: &FlowKey,
        record: Option<&'a AddrRecord>,
        ingress: bool,
    ) -> Self {
        let candidates = record.map_or(&[][..], |r| {
            let at = if ingress { r.ingress_at } else { r.egress_at };
            snap.programs
                .candidates_at(at, key.protocol, dst_port(key), peer(key, ingress))
        });
        SidePlan { record, candidates }
    }

    /// Loads the first candidate's rule entry, unless its word may spare it (the batch path
    /// touches it while locating the other flows' lists).
    #[inline(always)]
    fn touch_entry(&self, snap: &Snapshot) -> u32 {
        match candidate::decode(self.candidates, 0) {
            Some(c) if c.filter.is_none() && c.complete.is_none() => {
                snap.rules.entry(c.rule).map_or(0, |e| u32::from(e.checks))
            }
            _ => 0,
        }
    }
}

/// A flow resolved and located, ready to decide.
#[derive(Clone, Copy)]
struct Plan<'a> {
    src: AddrSets<'a>,
    dst: AddrSets<'a>,
    egress: SidePlan<'a>,
    ingress: SidePlan<'a>,
}

impl<'a> Plan<'a> {
    const EMPTY: Plan<'static> = Plan {
        src: AddrSets::NONE,
        dst: AddrSets::NONE,
        egress: SidePlan::EMPTY,
        ingress: SidePlan::EMPTY,
    };

    #[inline]
    fn new(
        snap: &'a Snapshot,
        key: &FlowKey,
        (src, src_record): (AddrSets<'a>, Option<&'a AddrRecord>),
        (dst, dst_record): (AddrSets<'a>, Option<&'a AddrRecord>),
    ) -> Self {
        Plan {
            src,
            dst,
            egress: SidePlan::new(snap, key, src_record, false),
            ingress: SidePlan::new(snap, key, dst_record, true),
        }
    }

    #[inline]
    fn decide(&self, snap: &Snapshot, key: &FlowKey, out: &mut Decision) {
        let flow = FlowView {
            snap,
            rules: &snap.rules,
            key,
            src: self.src,
            dst: self.dst,
        };
        flow.side(&self.egress, false, &mut out.egress);
        flow.side(&self.ingress, true, &mut out.ingress);
    }
}

/// The destination port the program index is keyed by (0 for protocols without ports).
#[inline]
fn dst_port(key: &FlowKey) -> u16 {
    if IpProto::has_ports(key.protocol) {
        key.dst_port
    } else {
        0
    }
}

/// The address a program's peer-address index is keyed by: the source for ingress, the
/// destination for egress.
#[inline]
fn peer(key: &FlowKey, ingress: bool) -> IpAddr {
    let side = if ingress {
        Peer::Source
    } else {
        Peer::Destination
    };
    side.of(key.src, key.dst)
}

struct FlowView<'a> {
    snap: &'a Snapshot,
    rules: &'a RuleTable,
    key: &'a FlowKey,
    src: AddrSets<'a>,
    dst: AddrSets<'a>,
}

struct Outcome {
    allow: bool,
    origin: Origin,
}

impl FlowView<'_> {
    fn side(&self, plan: &SidePlan<'_>, ingress: bool, out: &mut SideVerdict) {
        let Some(ep) = plan.record else {
            *out = SideVerdict::no_endpoint();
            return;
        };
        out.endpoint = Some(ep.endpoint);
        out.logged.clear();
        if ep.is_host() && self.failsafe(ingress) {
            out.allow = true;
            out.origin = Origin::Failsafe;
            out.staged_allow = true;
            return;
        }
        let program = if ingress { ep.ingress_at } else { ep.egress_at };
        let staged = if ep.staged_differs() {
            let (staged_ingress, staged_egress) = self.snap.staged_at(ep.endpoint);
            if ingress {
                staged_ingress
            } else {
                staged_egress
            }
        } else {
            program
        };
        let outcome = self.run(plan.candidates, Some(&mut out.logged));
        out.allow = outcome.allow;
        out.origin = outcome.origin;
        out.staged_allow = if staged == program {
            outcome.allow
        } else {
            let candidates = self.snap.programs.candidates_at(
                staged,
                self.key.protocol,
                dst_port(self.key),
                peer(self.key, ingress),
            );
            self.run(candidates, None).allow
        };
    }

    fn failsafe(&self, ingress: bool) -> bool {
        let list = if ingress {
            &self.snap.failsafe_inbound
        } else {
            &self.snap.failsafe_outbound
        };
        IpProto::has_ports(self.key.protocol)
            && list.contains(&(self.key.protocol, self.key.dst_port))
    }

    /// First match over a candidate list (see `program`); running off the end is the profile
    /// drop.
    fn run(&self, candidates: &[u32], mut logged: Option<&mut LogList>) -> Outcome {
        // The words are read here directly rather than through `candidate::decode` (same
        // format): no intermediate candidate, one bounds check per word.
        let mut i = 0usize;
        while let Some(&word) = candidates.get(i) {
            i += 1;
            let pass_word = usize::from(word & PASS != 0);
            if word & FILTERED != 0 {
                let Some(&set) = candidates.get(i) else {
                    break;
                };
                i += 1;
                let addr = if word & FILTER_DST != 0 {
                    &self.dst
                } else {
                    &self.src
                };
                if !addr.contains(set) {
                    // The rule cannot match: its entry is never loaded.
                    i += pass_word;
                    continue;
                }
            }
            let rule = word & (RULE_LIMIT - 1);
            let action = if word & COMPLETE != 0 {
                // The word says it all: the filter held, so the rule matches.
                candidate::complete_action(word)
            } else {
                let Some(entry) = self.rules.entry(rule) else {
                    break;
                };
                if !self.matches(entry, word & PORTS_CHECKED != 0) {
                    i += pass_word;
                    continue;
                }
                entry.action
            };
            match action {
                EntryAction::Allow => {
                    return Outcome {
                        allow: true,
                        origin: self.rules.origin(rule),
                    };
                }
                EntryAction::Deny => {
                    return Outcome {
                        allow: false,
                        origin: self.rules.origin(rule),
                    };
                }
                EntryAction::Log => {
                    if let (Some(list), Origin::Rule(r)) =
                        (logged.as_deref_mut(), self.rules.origin(rule))
                    {
                        list.push(r);
                    }
                    i += pass_word;
                }
                // Resume after the group; the index only ever moves forward.
                EntryAction::Pass => {
                    let resume = candidates.get(i).map_or(usize::MAX, |&at| at as usize);
                    i = resume.max(i + 1);
                }
            }
        }
        Outcome {
            allow: false,
            origin: Origin::Profile,
        }
    }

    /// Does entry `m` match the flow? `dst_ports_hold`: its destination ports need no check
    /// (the candidate list's port interval is inside them).
    #[inline]
    fn matches(&self, m: &Compact, dst_ports_hold: bool) -> bool {
        let key = self.key;
        let f = m.checks;
        if f & CHECK_PROTO != 0 {
            if m.family != 0 && m.family != if key.is_ipv6() { 6 } else { 4 } {
                return false;
            }
            if m.protocol.is_some_and(|p| p != key.protocol)
                || m.not_protocol.is_some_and(|p| p == key.protocol)
            {
                return false;
            }
        }
        if f & CHECK_ICMP != 0 {
            if let Some(icmp) = &m.icmp
                && icmp_matches(icmp, key) != Some(true)
            {
                return false;
            }
            if let Some(icmp) = &m.not_icmp
                && icmp_matches(icmp, key) != Some(false)
            {
                return false;
            }
        }
        (f & CHECK_SRC == 0 || self.side_matches(&m.src, &self.src, key.src_port, false))
            && (f & CHECK_DST == 0
                || self.side_matches(&m.dst, &self.dst, key.dst_port, dst_ports_hold))
    }

    #[inline(always)]
    fn side_matches(
        &self,
        side: &CompactSide,
        addr: &AddrSets<'_>,
        port: u16,
        ports_hold: bool,
    ) -> bool {
        let has = |s: u32| addr.contains(s);
        if (side.nets != NONE && !has(side.nets))
            || (side.not_nets != NONE && has(side.not_nets))
            || (side.selector != NONE && !has(side.selector))
            || (side.not_selector != NONE && has(side.not_selector))
        {
            return false;
        }
        if side.ports != NONE && !ports_hold && !self.port_in(side.ports, addr, port) {
            return false;
        }
        side.not_ports == NONE || !self.port_in(side.not_ports, addr, port)
    }

    fn port_in(&self, list: u32, addr: &AddrSets<'_>, port: u16) -> bool {
        let protocol = self.key.protocol;
        if !IpProto::has_ports(protocol) {
            return false;
        }
        let (ranges, named) = self.rules.port_list(list);
        if ranges.iter().any(|(lo, hi)| *lo <= port && port <= *hi) {
            return true;
        }
        if named.is_empty() {
            return false;
        }
        let Some(ep) = addr
            .endpoint
            .and_then(|e| self.snap.endpoints.get(e as usize))
        else {
            return false;
        };
        named.iter().any(|(scope, name)| {
            // Named ports resolve on endpoints the scope selector matches by their own labels.
            (*scope == NONE || addr.endpoint_sets.binary_search(scope).is_ok())
                && ep
                    .named_ports
                    .iter()
                    .any(|d| d.name == *name && d.protocol == protocol && d.port == port)
        })
    }
}

/// `Some(matches)`, or `None` when the flow lacks a field the match constrains.
fn icmp_matches(icmp: &IcmpMatch, key: &FlowKey) -> Option<bool> {
    if !IpProto::is_icmp(key.protocol) {
        return None;
    }
    let t = key.icmp.icmp_type?;
    if t != icmp.icmp_type {
        return Some(false);
    }
    match icmp.code {
        None => Some(true),
        Some(c) => Some(key.icmp.code? == c),
    }
}
