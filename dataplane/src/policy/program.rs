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
    pub ranges: Box<[(u16, u16)]>,
    /// (scope set, port-name id).
    pub named: Box<[(Option<SetId>, u32)]>,
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

/// A compiled program: its entries, and the candidate index packed into one allocation so a
/// lookup touches a few adjacent cache lines.
///
/// Index layout (all `u32`): `[n_protos, other_bucket]`, then `n_protos` pairs
/// `(protocol, bucket)`, then per bucket `(first_interval, interval_count)`, then every
/// interval's start port, then every interval's `(candidate_offset, candidate_count)`, then the
/// candidate entry positions. `other_bucket == NONE` when every protocol has its own bucket.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// Entries in the compact form the matcher reads (about one cache line each).
    compact: Box<[Compact]>,
    /// What each entry reports when it decides (read only on a match).
    origins: Box<[Origin]>,
    /// Port lists: (ranges offset, count, named offset, count) into `ranges` / `named`.
    port_lists: Box<[[u32; 4]]>,
    ranges: Box<[(u16, u16)]>,
    /// (scope set or `NONE`, port-name id).
    named: Box<[(u32, u32)]>,
    index: Box<[u32]>,
    buckets_at: u32,
    starts_at: u32,
    lists_at: u32,
    cands_at: u32,
}

/// The matcher-side form of one side's constraints: set ids and port-list ids, `NONE` = absent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompactSide {
    pub(crate) nets: u32,
    pub(crate) not_nets: u32,
    pub(crate) selector: u32,
    pub(crate) not_selector: u32,
    pub(crate) ports: u32,
    pub(crate) not_ports: u32,
}

/// The matcher-side form of an entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compact {
    pub(crate) action: EntryAction,
    pub(crate) family: u8,
    pub(crate) protocol: Option<u8>,
    pub(crate) not_protocol: Option<u8>,
    pub(crate) icmp: Option<IcmpMatch>,
    pub(crate) not_icmp: Option<IcmpMatch>,
    pub(crate) src: CompactSide,
    pub(crate) dst: CompactSide,
}

/// A named port in a port list: (scope set or `NONE`, port-name id).
pub(crate) type NamedRef = (u32, u32);

/// Absent set, port list or scope.
pub(crate) const NONE: u32 = u32::MAX;

impl Program {
    /// Entries that can match a flow of `protocol` to destination port `dst_port`, in order.
    #[inline]
    pub fn candidates(&self, protocol: u8, dst_port: u16) -> &[u32] {
        self.try_candidates(protocol, dst_port).unwrap_or(&[])
    }

    fn try_candidates(&self, protocol: u8, dst_port: u16) -> Option<&[u32]> {
        let ix = &self.index;
        let n_protos = *ix.first()? as usize;
        let protos = ix.get(2..2 + 2 * n_protos)?;
        let bucket = protos
            .chunks_exact(2)
            .find(|pair| pair[0] == u32::from(protocol))
            .map(|pair| pair[1])
            .or_else(|| ix.get(1).copied().filter(|b| *b != NONE))?;
        let b = self.buckets_at as usize + 2 * bucket as usize;
        let (first, count) = (*ix.get(b)? as usize, *ix.get(b + 1)? as usize);
        let starts_at = self.starts_at as usize + first;
        let starts = ix.get(starts_at..starts_at + count)?;
        let i = starts
            .partition_point(|s| *s <= u32::from(dst_port))
            .checked_sub(1)?;
        let l = self.lists_at as usize + 2 * (first + i);
        let (offset, len) = (*ix.get(l)? as usize, *ix.get(l + 1)? as usize);
        let at = self.cands_at as usize + offset;
        ix.get(at..at + len)
    }

    /// The compact entry at `pos` and what it reports.
    #[inline]
    pub(crate) fn entry(&self, pos: u32) -> Option<(&Compact, Origin)> {
        let i = pos as usize;
        Some((self.compact.get(i)?, *self.origins.get(i)?))
    }

    /// A port list: numeric ranges and (scope, name) named ports.
    #[inline]
    pub(crate) fn port_list(&self, id: u32) -> (&[(u16, u16)], &[NamedRef]) {
        let Some(&[ra, rn, na, nn]) = self.port_lists.get(id as usize) else {
            return (&[], &[]);
        };
        let ranges = self
            .ranges
            .get(ra as usize..(ra + rn) as usize)
            .unwrap_or(&[]);
        let named = self
            .named
            .get(na as usize..(na + nn) as usize)
            .unwrap_or(&[]);
        (ranges, named)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.compact.len()
    }

    pub fn is_empty(&self) -> bool {
        self.compact.is_empty()
    }

    /// Heap bytes including slack.
    pub fn heap_bytes(&self) -> usize {
        self.compact.len() * std::mem::size_of::<Compact>()
            + self.origins.len() * std::mem::size_of::<Origin>()
            + self.port_lists.len() * 16
            + self.ranges.len() * 4
            + self.named.len() * 8
            + self.index.len() * 4
    }
}

/// Turns rich entries into the compact form, pooling port lists.
#[derive(Default)]
struct Compactor {
    port_lists: Vec<[u32; 4]>,
    ranges: Vec<(u16, u16)>,
    named: Vec<(u32, u32)>,
}

impl Compactor {
    fn ports(&mut self, list: &PortList) -> u32 {
        if list.is_empty() {
            return NONE;
        }
        let ra = self.ranges.len() as u32;
        self.ranges.extend_from_slice(&list.ranges);
        let na = self.named.len() as u32;
        self.named.extend(
            list.named
                .iter()
                .map(|(scope, name)| (scope.unwrap_or(NONE), *name)),
        );
        self.port_lists
            .push([ra, list.ranges.len() as u32, na, list.named.len() as u32]);
        self.port_lists.len() as u32 - 1
    }

    fn side(&mut self, side: &SideMatch) -> CompactSide {
        CompactSide {
            nets: side.nets.unwrap_or(NONE),
            not_nets: side.not_nets.unwrap_or(NONE),
            selector: side.selector.unwrap_or(NONE),
            not_selector: side.not_selector.unwrap_or(NONE),
            ports: self.ports(&side.ports),
            not_ports: self.ports(&side.not_ports),
        }
    }

    fn entry(&mut self, e: &Entry) -> Compact {
        let m = &e.matcher;
        Compact {
            action: e.action,
            family: m.family,
            protocol: m.protocol,
            not_protocol: m.not_protocol,
            icmp: m.icmp,
            not_icmp: m.not_icmp,
            src: self.side(&m.src),
            dst: self.side(&m.dst),
        }
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
        let mut index = IndexBuilder::default();
        // Protocols named by some entry get their own bucket; all others share one.
        let mut named_protos: Vec<u8> = entries
            .iter()
            .flat_map(|e| [e.matcher.protocol, e.matcher.not_protocol])
            .flatten()
            .collect();
        named_protos.sort_unstable();
        named_protos.dedup();
        let other_proto = (0u8..=255).find(|p| !named_protos.contains(p));
        let mut protos = Vec::new();
        let mut buckets = Vec::new();
        let mut other = None;
        for proto in named_protos.iter().copied().map(Some).chain([other_proto]) {
            let Some(proto) = proto else { continue };
            let relevant: Vec<u32> = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    e.matcher.protocol.is_none_or(|p| p == proto)
                        && e.matcher.not_protocol != Some(proto)
                })
                .map(|(i, _)| i as u32)
                .collect();
            let bucket = index.bucket(&entries, &relevant, IpProto::has_ports(proto));
            let id = buckets.len() as u32;
            buckets.push(bucket);
            if named_protos.contains(&proto) {
                protos.push((proto, id));
            } else {
                other = Some(id);
            }
        }
        index.pack(entries, &protos, other, &buckets)
    }
}

/// Destination ports an entry is limited to, if it has only numeric positive ports.
fn numeric_dst_ports(e: &Entry) -> Option<&[(u16, u16)]> {
    let ports = &e.matcher.dst.ports;
    (!ports.ranges.is_empty() && ports.named.is_empty()).then_some(&ports.ranges[..])
}

/// Per protocol bucket: its first interval and interval count.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    first: u32,
    count: u32,
}

/// Accumulates the flat candidate index, interning identical candidate lists.
#[derive(Default)]
struct IndexBuilder {
    starts: Vec<u16>,
    lists: Vec<(u32, u32)>,
    cands: Vec<u32>,
    interned: HashMap<Vec<u32>, (u32, u32)>,
}

impl IndexBuilder {
    fn intern(&mut self, list: Vec<u32>) -> (u32, u32) {
        if let Some(&r) = self.interned.get(&list) {
            return r;
        }
        let r = (self.cands.len() as u32, list.len() as u32);
        self.cands.extend_from_slice(&list);
        self.interned.insert(list, r);
        r
    }

    /// Lay the index out in one allocation (see [`Program`]).
    fn pack(
        self,
        entries: Vec<Entry>,
        protos: &[(u8, u32)],
        other: Option<u32>,
        buckets: &[Bucket],
    ) -> Program {
        let mut ix: Vec<u32> = Vec::with_capacity(
            2 + 2 * protos.len() + 2 * buckets.len() + 3 * self.starts.len() + self.cands.len(),
        );
        ix.push(protos.len() as u32);
        ix.push(other.unwrap_or(NONE));
        for &(p, b) in protos {
            ix.extend([u32::from(p), b]);
        }
        let buckets_at = ix.len() as u32;
        for b in buckets {
            ix.extend([b.first, b.count]);
        }
        let starts_at = ix.len() as u32;
        ix.extend(self.starts.iter().map(|s| u32::from(*s)));
        let lists_at = ix.len() as u32;
        for &(a, n) in &self.lists {
            ix.extend([a, n]);
        }
        let cands_at = ix.len() as u32;
        ix.extend_from_slice(&self.cands);
        let mut compactor = Compactor::default();
        let compact: Vec<Compact> = entries.iter().map(|e| compactor.entry(e)).collect();
        Program {
            compact: compact.into(),
            origins: entries.iter().map(|e| e.origin).collect(),
            port_lists: compactor.port_lists.into(),
            ranges: compactor.ranges.into(),
            named: compactor.named.into(),
            index: ix.into_boxed_slice(),
            buckets_at,
            starts_at,
            lists_at,
            cands_at,
        }
    }

    /// One bucket: destination-port intervals (one interval when ports don't apply).
    fn bucket(&mut self, entries: &[Entry], relevant: &[u32], by_port: bool) -> Bucket {
        let mut starts: Vec<u16> = vec![0];
        if by_port {
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
        }
        let first = self.starts.len() as u32;
        for &port in &starts {
            let list: Vec<u32> = relevant
                .iter()
                .copied()
                .filter(|&i| {
                    !by_port
                        || numeric_dst_ports(&entries[i as usize])
                            .is_none_or(|r| r.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port)))
                })
                .collect();
            let range = self.intern(list);
            self.starts.push(port);
            self.lists.push(range);
        }
        Bucket {
            first,
            count: starts.len() as u32,
        }
    }
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
                        ranges: ports.into(),
                        named: Box::default(),
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
