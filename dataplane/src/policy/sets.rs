//! Address sets: which sets an address belongs to, resolved once per flow.
//!
//! Contract: an address's memberships are the union of its endpoint's (precomputed, sorted)
//! and those of the CIDR intervals containing it (an [`IntervalMap`], sorted per interval).

use std::net::IpAddr;

use crate::net::{IpNet, addr_to_u128};

/// Index of an address set in a snapshot.
pub type SetId = u32;

/// Disjoint address intervals, each with the sorted sets whose CIDRs cover it; one map per
/// address family.
#[derive(Debug, Clone, Default)]
pub struct IntervalMap {
    /// Interval starts, ascending; interval i covers `starts[i] ..= starts[i+1]-1`.
    starts: Vec<u128>,
    /// `ranges[i]` indexes `members` for interval i.
    ranges: Vec<(u32, u32)>,
    members: Vec<SetId>,
}

impl IntervalMap {
    /// Build from (network, set) pairs of one family.
    pub fn build(items: &[(IpNet, SetId)]) -> Self {
        let mut points: Vec<u128> = Vec::with_capacity(items.len() * 2 + 1);
        points.push(0);
        for (net, _) in items {
            let (lo, hi) = net.range_u128();
            points.push(lo);
            if let Some(next) = hi.checked_add(1) {
                points.push(next);
            }
        }
        points.sort_unstable();
        points.dedup();
        // Sweep: sort intervals by start, keep an active list.
        let mut by_start: Vec<(u128, u128, SetId)> = items
            .iter()
            .map(|(n, s)| {
                let (lo, hi) = n.range_u128();
                (lo, hi, *s)
            })
            .collect();
        by_start.sort_unstable();
        let mut map = IntervalMap::default();
        let mut active: Vec<(u128, SetId)> = Vec::new(); // (hi, set)
        let mut next = 0;
        let mut scratch: Vec<SetId> = Vec::new();
        for &p in &points {
            active.retain(|(hi, _)| *hi >= p);
            while next < by_start.len() && by_start[next].0 <= p {
                let (_, hi, s) = by_start[next];
                if hi >= p {
                    active.push((hi, s));
                }
                next += 1;
            }
            scratch.clear();
            scratch.extend(active.iter().map(|(_, s)| *s));
            scratch.sort_unstable();
            scratch.dedup();
            let start = map.members.len() as u32;
            map.members.extend_from_slice(&scratch);
            map.starts.push(p);
            map.ranges.push((start, map.members.len() as u32));
        }
        map
    }

    /// Sorted sets covering `addr` (as an integer of its family).
    pub fn lookup(&self, addr: u128) -> &[SetId] {
        let i = self.starts.partition_point(|s| *s <= addr);
        match i.checked_sub(1).and_then(|i| self.ranges.get(i)) {
            Some(&(a, b)) => self.members.get(a as usize..b as usize).unwrap_or(&[]),
            None => &[],
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.starts.capacity() * 16 + self.ranges.capacity() * 8 + self.members.capacity() * 4
    }
}

/// The addresses of every set, as integer ranges per family (sorted, merged): what the program
/// index narrows a candidate list by (a rule requiring its peer in set `s` can only match peers
/// inside `s`'s ranges). Selector sets hold their endpoints' addresses and matching network
/// sets' CIDRs; CIDR sets their CIDRs.
#[derive(Debug, Clone, Default)]
pub struct SetRanges {
    /// Per set: (IPv4 ranges, IPv6 ranges).
    sets: Vec<[Vec<(u128, u128)>; 2]>,
}

impl SetRanges {
    fn slot(&mut self, set: SetId) -> &mut [Vec<(u128, u128)>; 2] {
        let i = set as usize;
        if self.sets.len() <= i {
            self.sets.resize_with(i + 1, Default::default);
        }
        &mut self.sets[i]
    }

    /// Add `net` to `set`.
    pub fn add_net(&mut self, set: SetId, net: IpNet) {
        let family = usize::from(!net.is_ipv4());
        self.slot(set)[family].push(net.range_u128());
    }

    /// Add one address to `set`.
    pub fn add_addr(&mut self, set: SetId, addr: IpAddr) {
        let (v6, key) = family_key(addr);
        self.slot(set)[usize::from(v6)].push((key, key));
    }

    /// Sort and merge every set's ranges; call once, after the last `add_*`.
    pub fn finish(&mut self) {
        for family in self.sets.iter_mut().flatten() {
            family.sort_unstable();
            let mut merged: Vec<(u128, u128)> = Vec::with_capacity(family.len());
            for &(lo, hi) in family.iter() {
                match merged.last_mut() {
                    Some(last) if last.1 == u128::MAX || lo <= last.1 + 1 => {
                        last.1 = last.1.max(hi)
                    }
                    _ => merged.push((lo, hi)),
                }
            }
            *family = merged;
        }
    }

    /// `set`'s ranges in one family (empty for an unknown set).
    pub fn ranges(&self, set: SetId, v6: bool) -> &[(u128, u128)] {
        self.sets
            .get(set as usize)
            .map_or(&[][..], |f| f[usize::from(v6)].as_slice())
    }

    /// Number of ranges of `set`, both families.
    pub fn len_of(&self, set: SetId) -> usize {
        self.ranges(set, false).len() + self.ranges(set, true).len()
    }
}

/// Where an address belongs: its endpoint's sets and its CIDR sets.
#[derive(Debug, Clone, Copy)]
pub struct AddrSets<'a> {
    pub endpoint: Option<u32>,
    pub endpoint_sets: &'a [SetId],
    pub cidr_sets: &'a [SetId],
}

impl AddrSets<'_> {
    /// An address in no set.
    pub const NONE: AddrSets<'static> = AddrSets {
        endpoint: None,
        endpoint_sets: &[],
        cidr_sets: &[],
    };

    /// Is the address in set `s`?
    #[inline]
    pub fn contains(&self, s: SetId) -> bool {
        self.endpoint_sets.binary_search(&s).is_ok() || self.cidr_sets.binary_search(&s).is_ok()
    }
}

/// The family-specific integer of an address and which map to use.
pub fn family_key(addr: IpAddr) -> (bool, u128) {
    (addr.is_ipv6(), addr_to_u128(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_cidrs_resolve_to_every_covering_set() {
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        let map = IntervalMap::build(&[
            (n("10.0.0.0/8"), 1),
            (n("10.1.0.0/16"), 2),
            (n("10.1.2.0/24"), 3),
            (n("0.0.0.0/0"), 0),
            (n("10.1.0.0/16"), 4),
        ]);
        let key = |s: &str| addr_to_u128(s.parse().unwrap());
        assert_eq!(map.lookup(key("10.1.2.3")), &[0, 1, 2, 3, 4]);
        assert_eq!(map.lookup(key("10.1.3.3")), &[0, 1, 2, 4]);
        assert_eq!(map.lookup(key("10.2.0.0")), &[0, 1]);
        assert_eq!(map.lookup(key("11.0.0.0")), &[0]);
        assert_eq!(map.lookup(key("255.255.255.255")), &[0]);
        let empty = IntervalMap::build(&[]);
        assert!(empty.lookup(5).is_empty());
        let v6 = IntervalMap::build(&[(n("::/0"), 7)]);
        assert_eq!(v6.lookup(u128::MAX), &[7]);
    }

    #[test]
    fn set_ranges_are_sorted_merged_and_per_family() {
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        let mut r = SetRanges::default();
        r.add_net(2, n("10.0.1.0/24"));
        r.add_addr(2, "10.0.0.255".parse().unwrap());
        r.add_net(2, n("10.0.0.0/25"));
        r.add_addr(2, "fd00::1".parse().unwrap());
        r.add_net(0, n("::/0"));
        r.add_net(0, n("fd00::/8"));
        r.finish();
        assert_eq!(
            r.ranges(2, false),
            &[(0x0a00_0000, 0x0a00_007f), (0x0a00_00ff, 0x0a00_01ff)]
        );
        assert_eq!(r.ranges(2, true).len(), 1);
        assert_eq!(r.ranges(0, true), &[(0, u128::MAX)]);
        assert!(r.ranges(0, false).is_empty() && r.ranges(1, false).is_empty());
        assert!(r.ranges(9, true).is_empty());
        assert_eq!(r.len_of(2), 3);
    }
}
