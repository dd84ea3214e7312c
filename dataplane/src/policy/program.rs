//! A program: one endpoint-direction's tiers flattened into first-match entries, with Pass
//! jumps, Log marks, end-of-tier and profile entries, and an index by protocol and
//! destination port so a lookup only visits entries that can match.
//!
//! Contract: entries are evaluated in order; `Jump(n)` resumes at entry `n`; running off the
//! end is the profile drop ("no profile matched"). The index never changes the result, only
//! which entries are visited: every entry that could match a (protocol, port) is in its list.

use std::collections::HashMap;

use super::decision::{Origin, RuleRef};
use super::sets::SetId;
use crate::flow::IpProto;

/// ICMP type and optional code to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpMatch {
    pub icmp_type: u8,
    pub code: Option<u8>,
}

/// A list of ports: numeric ranges and named ports (resolved on the endpoint owning the
/// address, limited to the endpoints of `scope` when given).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PortList {
    pub ranges: Vec<(u16, u16)>,
    /// (scope set, port-name id).
    pub named: Vec<(Option<SetId>, u32)>,
}

impl PortList {
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty() && self.named.is_empty()
    }
}

/// Constraints on one side (source or destination) of a flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SideMatch {
    pub nets: Option<SetId>,
    pub not_nets: Option<SetId>,
    pub selector: Option<SetId>,
    pub not_selector: Option<SetId>,
    pub ports: PortList,
    pub not_ports: PortList,
}

/// Everything an entry requires of a flow. `Match::default()` matches every flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Match {
    /// 0 = any family, else 4 or 6.
    pub family: u8,
    pub protocol: Option<u8>,
    pub not_protocol: Option<u8>,
    pub icmp: Option<IcmpMatch>,
    pub not_icmp: Option<IcmpMatch>,
    pub src: SideMatch,
    pub dst: SideMatch,
}

/// What an entry does when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryAction {
    Allow,
    Deny,
    /// Record and continue.
    Log,
    /// Resume at this entry (Pass: the next tier; profile Pass: the next profile).
    Jump(u32),
}

/// One flattened rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    pub action: EntryAction,
    pub origin: Origin,
    pub matcher: Match,
}

/// Per protocol: destination-port interval starts and the candidate list of each interval.
#[derive(Debug, Clone, Default)]
struct PortIndex {
    starts: Vec<u16>,
    lists: Vec<u32>,
}

/// A compiled program.
#[derive(Debug, Clone, Default)]
pub struct Program {
    pub entries: Vec<Entry>,
    /// Bucket per protocol number.
    proto_bucket: Vec<u16>,
    buckets: Vec<PortIndex>,
    /// Interned candidate lists (entry positions, ascending).
    lists: Vec<Vec<u32>>,
}

impl Program {
    /// Entries that can match a flow of `protocol` to destination port `dst_port`, in order.
    #[inline]
    pub fn candidates(&self, protocol: u8, dst_port: u16) -> &[u32] {
        let bucket = self
            .proto_bucket
            .get(usize::from(protocol))
            .and_then(|b| self.buckets.get(usize::from(*b)));
        let Some(bucket) = bucket else { return &[] };
        let i = bucket.starts.partition_point(|s| *s <= dst_port);
        i.checked_sub(1)
            .and_then(|i| bucket.lists.get(i))
            .and_then(|l| self.lists.get(*l as usize))
            .map_or(&[], Vec::as_slice)
    }

    /// Heap bytes including slack.
    pub fn heap_bytes(&self) -> usize {
        let entry_extra: usize = self
            .entries
            .iter()
            .map(|e| {
                let m = &e.matcher;
                [&m.src, &m.dst]
                    .iter()
                    .map(|s| {
                        (s.ports.ranges.capacity() + s.not_ports.ranges.capacity()) * 4
                            + (s.ports.named.capacity() + s.not_ports.named.capacity()) * 12
                    })
                    .sum::<usize>()
            })
            .sum();
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + entry_extra
            + self.proto_bucket.capacity() * 2
            + self
                .buckets
                .iter()
                .map(|b| b.starts.capacity() * 2 + b.lists.capacity() * 4)
                .sum::<usize>()
            + self.lists.iter().map(|l| l.capacity() * 4 + 24).sum::<usize>()
    }
}

/// Builds a program entry by entry, then indexes it.
#[derive(Debug, Default)]
pub struct ProgramBuilder {
    entries: Vec<Entry>,
}

impl ProgramBuilder {
    /// Position the next pushed entry will have.
    pub fn next_position(&self) -> u32 {
        self.entries.len() as u32
    }

    pub fn push(&mut self, entry: Entry) -> u32 {
        self.entries.push(entry);
        self.entries.len() as u32 - 1
    }

    /// Point every `Jump(placeholder)` at positions `from..` to `target`.
    pub fn patch_jumps(&mut self, from: u32, placeholder: u32, target: u32) {
        for e in self.entries.iter_mut().skip(from as usize) {
            if e.action == EntryAction::Jump(placeholder) {
                e.action = EntryAction::Jump(target);
            }
        }
    }

    /// A rule entry.
    pub fn rule(action: EntryAction, rule: RuleRef, matcher: Match) -> Entry {
        Entry {
            action,
            origin: Origin::Rule(rule),
            matcher,
        }
    }

    /// Index and finish.
    pub fn build(self) -> Program {
        let entries = self.entries;
        let mut lists: Vec<Vec<u32>> = Vec::new();
        let mut interned: HashMap<Vec<u32>, u32> = HashMap::new();
        let mut intern = |list: Vec<u32>, lists: &mut Vec<Vec<u32>>| -> u32 {
            *interned.entry(list.clone()).or_insert_with(|| {
                lists.push(list);
                lists.len() as u32 - 1
            })
        };
        // Protocols named by some entry get their own bucket; all others share one.
        let mut named_protos: Vec<u8> = entries
            .iter()
            .flat_map(|e| [e.matcher.protocol, e.matcher.not_protocol])
            .flatten()
            .collect();
        named_protos.sort_unstable();
        named_protos.dedup();
        let other = (0u8..=255).find(|p| !named_protos.contains(p));
        let mut bucket_protos: Vec<u8> = named_protos.clone();
        bucket_protos.extend(other);
        let mut proto_bucket = vec![0u16; 256];
        let mut buckets = Vec::new();
        for (b, &proto) in bucket_protos.iter().enumerate() {
            let relevant: Vec<u32> = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    e.matcher.protocol.is_none_or(|p| p == proto)
                        && e.matcher.not_protocol != Some(proto)
                })
                .map(|(i, _)| i as u32)
                .collect();
            let index = if IpProto::has_ports(proto) {
                port_index(&entries, &relevant, |l| intern(l, &mut lists))
            } else {
                PortIndex {
                    starts: vec![0],
                    lists: vec![intern(relevant, &mut lists)],
                }
            };
            buckets.push(index);
            if named_protos.contains(&proto) {
                proto_bucket[usize::from(proto)] = b as u16;
            }
        }
        if let Some(other_bucket) = other.map(|_| (bucket_protos.len() - 1) as u16) {
            for p in 0..=255u8 {
                if !named_protos.contains(&p) {
                    proto_bucket[usize::from(p)] = other_bucket;
                }
            }
        }
        Program {
            entries,
            proto_bucket,
            buckets,
            lists,
        }
    }
}

/// Destination ports an entry is limited to, if it has only numeric positive ports.
fn numeric_dst_ports(e: &Entry) -> Option<&[(u16, u16)]> {
    let ports = &e.matcher.dst.ports;
    (!ports.ranges.is_empty() && ports.named.is_empty()).then_some(ports.ranges.as_slice())
}

fn port_index(
    entries: &[Entry],
    relevant: &[u32],
    mut intern: impl FnMut(Vec<u32>) -> u32,
) -> PortIndex {
    let mut starts: Vec<u16> = vec![0];
    for &i in relevant {
        if let Some(ranges) = numeric_dst_ports(&entries[i as usize]) {
            for &(lo, hi) in ranges {
                starts.push(lo);
                if let Some(n) = hi.checked_add(1) {
                    starts.push(n);
                }
            }
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let lists = starts
        .iter()
        .map(|&port| {
            let list: Vec<u32> = relevant
                .iter()
                .copied()
                .filter(|&i| {
                    numeric_dst_ports(&entries[i as usize])
                        .is_none_or(|r| r.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port)))
                })
                .collect();
            intern(list)
        })
        .collect();
    PortIndex { starts, lists }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(protocol: Option<u8>, ports: &[(u16, u16)]) -> Entry {
        Entry {
            action: EntryAction::Allow,
            origin: Origin::Profile,
            matcher: Match {
                protocol,
                dst: SideMatch {
                    ports: PortList {
                        ranges: ports.to_vec(),
                        named: vec![],
                    },
                    ..SideMatch::default()
                },
                ..Match::default()
            },
        }
    }

    #[test]
    fn candidates_hold_every_entry_that_can_match() {
        let mut b = ProgramBuilder::default();
        b.push(entry(Some(6), &[(80, 80)]));
        b.push(entry(Some(17), &[(53, 53)]));
        b.push(entry(None, &[]));
        b.push(entry(Some(6), &[(1000, 2000)]));
        let p = b.build();
        assert_eq!(p.candidates(6, 80), &[0, 2]);
        assert_eq!(p.candidates(6, 81), &[2]);
        assert_eq!(p.candidates(6, 1500), &[2, 3]);
        assert_eq!(p.candidates(6, 2001), &[2]);
        assert_eq!(p.candidates(17, 53), &[1, 2]);
        assert_eq!(p.candidates(1, 0), &[2]);
        assert_eq!(p.candidates(132, 80), &[2]);
        let empty = ProgramBuilder::default().build();
        assert!(empty.candidates(6, 80).is_empty());
    }
}
