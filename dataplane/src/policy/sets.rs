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
}
