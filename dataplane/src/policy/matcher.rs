//! Deciding a flow against a snapshot: both sides, the deciding entry, Log marks, staged
//! verdicts. Allocation-free; `&Snapshot` only.

use super::decision::{Decision, LogList, Origin, SideVerdict};
use super::program::{Compact, CompactSide, EntryAction, IcmpMatch, NONE, Program};
use super::sets::AddrSets;
use super::snapshot::Snapshot;
use crate::flow::{FlowKey, IpProto};

/// Decide one flow: egress of its source endpoint and ingress of its destination endpoint.
pub fn classify(snap: &Snapshot, key: &FlowKey) -> Decision {
    decide(snap, key, snap.addr_sets(key.src), snap.addr_sets(key.dst))
}

fn decide<'a>(
    snap: &'a Snapshot,
    key: &'a FlowKey,
    src: AddrSets<'a>,
    dst: AddrSets<'a>,
) -> Decision {
    let flow = FlowView {
        snap,
        key,
        src,
        dst,
    };
    Decision {
        egress: flow.side(src.endpoint, false),
        ingress: flow.side(dst.endpoint, true),
    }
}

/// Flows resolved per stage of the batch path.
const STAGE: usize = 16;

/// Decide a batch of flows (the worker calls this once per RX batch for its misses).
///
/// Staged: first every flow's addresses are resolved (hash and interval lookups, independent
/// across flows, so their cache misses overlap), then each flow is decided.
pub fn classify_batch(snap: &Snapshot, keys: &[FlowKey], out: &mut [Decision]) {
    let empty = AddrSets {
        endpoint: None,
        endpoint_sets: &[],
        cidr_sets: &[],
    };
    for (keys, out) in keys.chunks(STAGE).zip(out.chunks_mut(STAGE)) {
        let mut resolved = [(empty, empty); STAGE];
        for (slot, key) in resolved.iter_mut().zip(keys) {
            *slot = (snap.addr_sets(key.src), snap.addr_sets(key.dst));
        }
        for ((key, slot), (src, dst)) in keys.iter().zip(out.iter_mut()).zip(resolved) {
            *slot = decide(snap, key, src, dst);
        }
    }
}

struct FlowView<'a> {
    snap: &'a Snapshot,
    key: &'a FlowKey,
    src: AddrSets<'a>,
    dst: AddrSets<'a>,
}

struct Outcome {
    allow: bool,
    origin: Origin,
}

impl FlowView<'_> {
    fn side(&self, endpoint: Option<u32>, ingress: bool) -> SideVerdict {
        let Some(index) = endpoint else {
            return SideVerdict::no_endpoint();
        };
        let Some(ep) = self.snap.hot(index) else {
            return SideVerdict::no_endpoint();
        };
        if ep.is_host && self.failsafe(ingress) {
            return SideVerdict {
                endpoint: Some(index),
                allow: true,
                origin: Origin::Failsafe,
                logged: LogList::default(),
                staged_allow: true,
            };
        }
        let (program, staged) = if ingress {
            (ep.ingress, ep.staged_ingress)
        } else {
            (ep.egress, ep.staged_egress)
        };
        let mut logged = LogList::default();
        let outcome = self.run(program, Some(&mut logged));
        let staged_allow = if staged == program {
            outcome.allow
        } else {
            self.run(staged, None).allow
        };
        SideVerdict {
            endpoint: Some(index),
            allow: outcome.allow,
            origin: outcome.origin,
            logged,
            staged_allow,
        }
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

    fn run(&self, program: u32, mut logged: Option<&mut LogList>) -> Outcome {
        let deny = Outcome {
            allow: false,
            origin: Origin::Profile,
        };
        let Some(program) = self.snap.programs.get(program as usize) else {
            return deny;
        };
        let dport = if IpProto::has_ports(self.key.protocol) {
            self.key.dst_port
        } else {
            0
        };
        let mut resume = 0u32;
        for &pos in program.candidates(self.key.protocol, dport) {
            if pos < resume {
                continue;
            }
            let Some((entry, origin)) = program.entry(pos) else {
                break;
            };
            if !self.matches(program, entry) {
                continue;
            }
            match entry.action {
                EntryAction::Allow => {
                    return Outcome {
                        allow: true,
                        origin,
                    };
                }
                EntryAction::Deny => {
                    return Outcome {
                        allow: false,
                        origin,
                    };
                }
                EntryAction::Log => {
                    if let (Some(list), Origin::Rule(r)) = (logged.as_deref_mut(), origin) {
                        list.push(r);
                    }
                }
                EntryAction::Jump(target) => resume = target,
            }
        }
        deny
    }

    #[inline]
    fn matches(&self, program: &Program, m: &Compact) -> bool {
        let key = self.key;
        if m.family != 0 && m.family != if key.is_ipv6() { 6 } else { 4 } {
            return false;
        }
        if m.protocol.is_some_and(|p| p != key.protocol)
            || m.not_protocol.is_some_and(|p| p == key.protocol)
        {
            return false;
        }
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
        self.side_matches(program, &m.src, &self.src, key.src_port)
            && self.side_matches(program, &m.dst, &self.dst, key.dst_port)
    }

    #[inline]
    fn side_matches(
        &self,
        program: &Program,
        side: &CompactSide,
        addr: &AddrSets<'_>,
        port: u16,
    ) -> bool {
        let has = |s: u32| addr.contains(s);
        if (side.nets != NONE && !has(side.nets))
            || (side.not_nets != NONE && has(side.not_nets))
            || (side.selector != NONE && !has(side.selector))
            || (side.not_selector != NONE && has(side.not_selector))
        {
            return false;
        }
        if side.ports != NONE && !self.port_in(program, side.ports, addr, port) {
            return false;
        }
        side.not_ports == NONE || !self.port_in(program, side.not_ports, addr, port)
    }

    fn port_in(&self, program: &Program, list: u32, addr: &AddrSets<'_>, port: u16) -> bool {
        let protocol = self.key.protocol;
        if !IpProto::has_ports(protocol) {
            return false;
        }
        let (ranges, named) = program.port_list(list);
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
