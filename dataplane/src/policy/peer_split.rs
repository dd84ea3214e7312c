//! The peer-address dimension of the program index: a long candidate list split by the address
//! of the flow's peer (the source for an ingress program, the destination for egress), so a
//! lookup visits only the rules whose peer constraint can contain that address.
//!
//! Contract: for every address, the split's list is the original list minus rules whose
//! positive peer constraint (a CIDR set or a selector set: [`SetRanges`]) excludes it, in the
//! original order. Rules without one are in every list. A list is split only when it is long,
//! when the split stays within a size budget, and when the lists it yields are on average much
//! shorter than the original; otherwise [`split`] returns `None` and the list stays whole.
//!
//! Why address ranges and not set ids: a peer belongs to many sets (every selector its labels
//! match, across all policies), so selecting rules by its set ids costs a probe per membership;
//! the set's addresses, known at compile time, give one binary search per lookup instead.
//!
//! Arena layout of a split (all `u32`, offsets absolute): `[n4, n6]`, then `n4` IPv4 interval
//! starts, `n4` (list offset, length) pairs, `n6` IPv6 interval starts (four words each, most
//! significant first) and `n6` pairs. Each family's first start is 0.

use std::net::IpAddr;

use super::rules::{Entry, RuleId, SideMatch};
use super::sets::SetRanges;

/// Marks a candidate reference's length word: its offset is a split, not a list.
pub(crate) const SPLIT: u32 = 1 << 31;

/// When a candidate list is split by peer address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitPolicy {
    /// Lists shorter than this are never split: a scan of a few entries beats a search.
    pub min_list: usize,
    /// A split is kept only if its intervals' lists average at most 1/`min_gain` of the
    /// original length.
    pub min_gain: usize,
}

impl Default for SplitPolicy {
    fn default() -> Self {
        SplitPolicy {
            min_list: 16,
            min_gain: 4,
        }
    }
}

impl SplitPolicy {
    /// Split every list that can be split at all (for tests of the split lists' equivalence).
    pub const ALWAYS: SplitPolicy = SplitPolicy {
        min_list: 1,
        min_gain: 1,
    };
}

/// Entries all interval lists of one split may hold before interning, per entry of the list.
const BUDGET_PER_RULE: usize = 16;
/// ... plus this many.
const BUDGET_BASE: usize = 1 << 16;

/// One family's split: interval starts (ascending, the first 0) and each interval's list.
pub(crate) type FamilySplit = Vec<(u128, Vec<(RuleId, u32)>)>;

/// Which side of a rule holds the peer's constraints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Peer {
    /// Ingress programs: the peer is the flow's source.
    #[default]
    Source,
    /// Egress programs: the peer is the flow's destination.
    Destination,
}

impl Peer {
    /// The side of `e` that constrains the peer.
    pub(crate) fn side(self, e: &Entry) -> &SideMatch {
        match self {
            Peer::Source => &e.matcher.src,
            Peer::Destination => &e.matcher.dst,
        }
    }

    /// The peer's address in a flow with `src` and `dst`.
    #[inline]
    pub(crate) fn of(self, src: IpAddr, dst: IpAddr) -> IpAddr {
        match self {
            Peer::Source => src,
            Peer::Destination => dst,
        }
    }
}

/// The set that bounds a rule's peer (the smaller of its CIDR and selector sets), if any.
fn bound(peer: Peer, e: &Entry, ranges: &SetRanges) -> Option<u32> {
    let side = peer.side(e);
    match (side.nets, side.selector) {
        (Some(a), Some(b)) if ranges.len_of(b) < ranges.len_of(a) => Some(b),
        (Some(a), _) => Some(a),
        (None, b) => b,
    }
}

/// Split `list` (rules and groups, in order) by peer address, per family (IPv4, IPv6); `None`
/// when it is not worth it (see the module contract).
pub(crate) fn split<'e>(
    list: &[(RuleId, u32)],
    peer: Peer,
    entry: impl Fn(RuleId) -> Option<&'e Entry>,
    ranges: &SetRanges,
    policy: SplitPolicy,
) -> Option<[FamilySplit; 2]> {
    if list.len() < policy.min_list.max(1) {
        return None;
    }
    let bounds: Vec<Option<u32>> = list
        .iter()
        .map(|(r, _)| entry(*r).and_then(|e| bound(peer, e, ranges)))
        .collect();
    let gain = policy.min_gain.max(1);
    // Every interval's list holds the unbounded rules: with too many, no split can pay.
    let unbounded = bounds.iter().filter(|b| b.is_none()).count();
    if unbounded * gain > list.len() {
        return None;
    }
    let budget = list.len() * BUDGET_PER_RULE + BUDGET_BASE;
    let mut total = 0usize;
    let mut intervals = 0usize;
    let mut out = [Vec::new(), Vec::new()];
    for (family, slot) in out.iter_mut().enumerate() {
        let v6 = family == 1;
        // One past the family's last address (none for IPv6): no interval starts there.
        let end_of_family = if v6 { None } else { Some(1u128 << 32) };
        let mut points = vec![0u128];
        for set in bounds.iter().flatten() {
            for &(lo, hi) in ranges.ranges(*set, v6) {
                points.push(lo);
                if let Some(next) = hi.checked_add(1)
                    && Some(next) != end_of_family
                {
                    points.push(next);
                }
            }
            if points.len() > budget {
                return None;
            }
        }
        points.sort_unstable();
        points.dedup();
        total += unbounded * points.len();
        if total > budget {
            return None;
        }
        let mut lists: Vec<Vec<(RuleId, u32)>> = vec![Vec::new(); points.len()];
        for (&item, b) in list.iter().zip(&bounds) {
            match b {
                None => lists.iter_mut().for_each(|l| l.push(item)),
                Some(set) => {
                    for &(lo, hi) in ranges.ranges(*set, v6) {
                        let first = points.partition_point(|p| *p < lo);
                        let end = hi
                            .checked_add(1)
                            .map_or(points.len(), |n| points.partition_point(|p| *p < n));
                        total += end - first;
                        if total > budget {
                            return None;
                        }
                        for l in &mut lists[first..end] {
                            // Overlapping ranges were merged, so no rule lands twice.
                            l.push(item);
                        }
                    }
                }
            }
        }
        intervals += points.len();
        *slot = points.into_iter().zip(lists).collect();
    }
    (total * gain <= intervals * list.len()).then_some(out)
}

/// The (offset, length) pair of the interval holding `addr` in the split at arena offset `at`.
#[inline]
pub(crate) fn locate(words: &[u32], at: usize, addr: IpAddr) -> Option<(usize, usize)> {
    let n4 = *words.get(at)? as usize;
    let n6 = *words.get(at + 1)? as usize;
    let (i, pairs) = match addr {
        IpAddr::V4(v4) => {
            let key = u32::from(v4);
            let starts = words.get(at + 2..at + 2 + n4)?;
            let i = starts.partition_point(|s| *s <= key).checked_sub(1)?;
            (i, at + 2 + n4)
        }
        IpAddr::V6(v6) => {
            let key = u128::from(v6);
            let base = at + 2 + 3 * n4;
            let (starts, _) = words.get(base..base + 4 * n6)?.as_chunks::<4>();
            let i = starts
                .partition_point(|s| words_to_u128(s) <= key)
                .checked_sub(1)?;
            (i, base + 4 * n6)
        }
    };
    let pair = pairs + 2 * i;
    Some((*words.get(pair)? as usize, *words.get(pair + 1)? as usize))
}

/// An IPv6 interval start as stored: four words, most significant first.
pub(crate) fn u128_to_words(v: u128) -> [u32; 4] {
    [
        (v >> 96) as u32,
        (v >> 64) as u32,
        (v >> 32) as u32,
        v as u32,
    ]
}

#[inline]
fn words_to_u128(w: &[u32; 4]) -> u128 {
    (u128::from(w[0]) << 96)
        | (u128::from(w[1]) << 64)
        | (u128::from(w[2]) << 32)
        | u128::from(w[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u128_words_round_trip() {
        for v in [0, 1, u128::MAX, 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10] {
            assert_eq!(words_to_u128(&u128_to_words(v)), v);
        }
    }
}
