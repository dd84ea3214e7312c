//! The rule table: every flattened rule of a snapshot, once, in the compact form the matcher
//! reads, shared by all programs that apply the rule's policy.
//!
//! Contract: a rule is named by its index ([`RuleId`]); a policy's rules are compiled once per
//! direction and view, whatever the number of endpoints or programs applying it. Entries are
//! one cache line each (`Compact` is 64-byte aligned); what a rule reports (its [`Origin`]) and
//! its port lists live in side tables read only on a match or a port test.

use super::decision::{Origin, RuleRef};
use super::sets::SetId;

/// Index of a rule in a snapshot's rule table.
pub type RuleId = u32;

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
    /// Skip the rest of the current group: the rest of the tier (a policy's Pass) or of the
    /// profile (a profile rule's Pass).
    Pass,
}

/// One flattened rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    pub action: EntryAction,
    pub origin: Origin,
    pub matcher: Match,
}

impl Entry {
    /// A rule entry.
    pub fn rule(action: EntryAction, rule: RuleRef, matcher: Match) -> Entry {
        Entry {
            action,
            origin: Origin::Rule(rule),
            matcher,
        }
    }

    /// Destination ports the entry is limited to, if it has only numeric positive ports.
    pub(crate) fn numeric_dst_ports(&self) -> Option<&[(u16, u16)]> {
        let ports = &self.matcher.dst.ports;
        (!ports.ranges.is_empty() && ports.named.is_empty()).then_some(&ports.ranges[..])
    }
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

/// `Compact::checks` bits: which groups of fields constrain the flow (a clear bit skips them).
pub(crate) const CHECK_PROTO: u8 = 1;
pub(crate) const CHECK_ICMP: u8 = 2;
pub(crate) const CHECK_SRC: u8 = 4;
pub(crate) const CHECK_DST: u8 = 8;

/// The matcher-side form of an entry: one cache line.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
pub(crate) struct Compact {
    pub(crate) action: EntryAction,
    /// `CHECK_*` bits.
    pub(crate) checks: u8,
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

/// Every rule of a snapshot, compact.
#[derive(Debug, Clone, Default)]
pub struct RuleTable {
    compact: Box<[Compact]>,
    /// What each entry reports when it decides (read only on a match).
    origins: Box<[Origin]>,
    /// Port lists: (ranges offset, count, named offset, count) into `ranges` / `named`.
    port_lists: Box<[[u32; 4]]>,
    ranges: Box<[(u16, u16)]>,
    named: Box<[NamedRef]>,
}

impl RuleTable {
    /// The compact entry of `rule` and what it reports.
    #[inline]
    pub(crate) fn entry(&self, rule: RuleId) -> Option<&Compact> {
        self.compact.get(rule as usize)
    }

    #[inline]
    pub(crate) fn origin(&self, rule: RuleId) -> Origin {
        self.origins
            .get(rule as usize)
            .copied()
            .unwrap_or(Origin::Profile)
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

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.compact.len()
    }

    pub fn is_empty(&self) -> bool {
        self.compact.is_empty()
    }

    /// Heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.compact.len() * std::mem::size_of::<Compact>()
            + self.origins.len() * std::mem::size_of::<Origin>()
            + self.port_lists.len() * 16
            + self.ranges.len() * 4
            + self.named.len() * 8
    }
}

/// Collects rules; programs refer to them by the id `push` returns.
#[derive(Debug, Default)]
pub struct RuleTableBuilder {
    entries: Vec<Entry>,
}

impl RuleTableBuilder {
    pub fn push(&mut self, entry: Entry) -> RuleId {
        self.entries.push(entry);
        self.entries.len() as RuleId - 1
    }

    /// The rich entry of `rule` (for indexing programs).
    pub fn get(&self, rule: RuleId) -> Option<&Entry> {
        self.entries.get(rule as usize)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The compact table.
    pub fn build(&self) -> RuleTable {
        let mut c = Compactor::default();
        let compact: Vec<Compact> = self.entries.iter().map(|e| c.entry(e)).collect();
        RuleTable {
            compact: compact.into(),
            origins: self.entries.iter().map(|e| e.origin).collect(),
            port_lists: c.port_lists.into(),
            ranges: c.ranges.into(),
            named: c.named.into(),
        }
    }
}

/// Turns rich entries into the compact form, pooling port lists.
#[derive(Default)]
struct Compactor {
    port_lists: Vec<[u32; 4]>,
    ranges: Vec<(u16, u16)>,
    named: Vec<NamedRef>,
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
        let mut checks = 0;
        if m.family != 0 || m.protocol.is_some() || m.not_protocol.is_some() {
            checks |= CHECK_PROTO;
        }
        if m.icmp.is_some() || m.not_icmp.is_some() {
            checks |= CHECK_ICMP;
        }
        if m.src != SideMatch::default() {
            checks |= CHECK_SRC;
        }
        if m.dst != SideMatch::default() {
            checks |= CHECK_DST;
        }
        Compact {
            action: e.action,
            checks,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_entries_are_one_cache_line() {
        assert_eq!(std::mem::size_of::<Compact>(), 64);
    }
}
