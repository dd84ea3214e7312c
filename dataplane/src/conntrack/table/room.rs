//! Making room for an insert: cuckoo moves (one under the locks already held, then an
//! unlocked breadth-first path search) and, in a full table, victims for early drop.
//!
//! Contract: every function here is called by `ConntrackTable::insert`; those whose docs say
//! so expect the key's two buckets locked by the caller. An entry is copied into its other
//! bucket before it is cleared from the first, with both locked, so readers that validate
//! bucket versions never miss it; victims are never established entries that saw a reply.

use std::sync::atomic::Ordering;

use super::super::bucket::{Loc, WAYS, alt};
use super::super::slot::{self, ALLOW, LIVE, REPLIED, expired, expiry, later, writing};
use super::super::state;
use super::super::stats::Counter;
use super::ConntrackTable;

/// Buckets after the key's own that an insert into a full table may early-drop from.
const EVICTION_RANGE: u32 = 8;
/// Live entries `pick_victim` compares before it settles for the best of them.
pub(super) const VICTIM_SAMPLE: usize = 4;
/// Buckets one cuckoo path search may queue (two roots, their 20 alternatives, and 42 more)
/// and bucket reads it may do.
const MAX_NODES: usize = 64;
const MAX_READS: usize = 200;
/// Destination buckets `move_one_out` computes and loads at once: computing all twenty up
/// front (as before) cost ~300 instructions per insert that moves, and the first few
/// destinations usually have room (bench/README.md, "Connection tracking").
pub(super) const MOVE_CHUNK: usize = 4;

/// An entry an insert into a full neighbourhood may replace.
pub(super) struct Victim {
    pub bucket: u32,
    pub pos: usize,
    pub idx: u32,
    pub hot: u64,
    pub expired: bool,
}

/// A bucket on a cuckoo search path, reached by moving `parent`'s entry at `pos_in_parent`.
#[derive(Clone, Copy, Debug, Default)]
struct PathNode {
    bucket: u32,
    parent: u16,
    pos_in_parent: u8,
}

impl PathNode {
    const ROOT: u16 = u16::MAX;

    fn root(bucket: u32) -> Self {
        Self {
            bucket,
            parent: Self::ROOT,
            pos_in_parent: 0,
        }
    }
}

impl ConntrackTable {
    pub(super) fn count_eviction(&self, expired: bool) {
        self.counters.add(
            if expired {
                Counter::EvictedExpired
            } else {
                Counter::EvictedEarlyDrop
            },
            1,
        );
    }

    /// A victim among the entries of `buckets` (all locked by the caller), never an
    /// established entry: of the first [`VICTIM_SAMPLE`] live entries, an expired one, else
    /// the early-droppable one that expires first; if none of those qualifies, the first
    /// qualifying entry after them. Sampling, as Redis approximates LRU, because every entry
    /// looked at is a cache miss (often a TLB miss too) in a table larger than the caches:
    /// looking at all twenty for the best victim made an insert into a full table cost
    /// ~1.7 µs, most of a new-flows flood's CPU (bench/README.md, "Where the frames are
    /// lost"). The sample's state words are loaded before they are compared, so their misses
    /// overlap.
    pub(super) fn pick_victim(&self, buckets: &[u32], now: u32) -> Option<Victim> {
        let mut sink = 0;
        let mut sampled = 0;
        'touch: for &b in buckets {
            let bucket = self.bucket(b);
            for pos in 0..WAYS {
                if sampled == VICTIM_SAMPLE {
                    break 'touch;
                }
                if bucket.tag(pos) != 0 {
                    sink ^= self.slots[bucket.index(pos) as usize]
                        .hot()
                        .load(Ordering::Relaxed);
                    sampled += 1;
                }
            }
        }
        std::hint::black_box(sink);
        let mut best: Option<Victim> = None;
        let mut seen = 0;
        for &b in buckets {
            let bucket = self.bucket(b);
            for pos in 0..WAYS {
                if bucket.tag(pos) == 0 {
                    continue;
                }
                if seen >= VICTIM_SAMPLE && best.is_some() {
                    return best;
                }
                seen += 1;
                let idx = bucket.index(pos);
                let h = self.slots[idx as usize].hot().load(Ordering::Relaxed);
                if h & LIVE == 0 || writing(h) {
                    continue;
                }
                let exp = expired(expiry(h), now);
                let drop = state::droppable(slot::state(h), h & REPLIED != 0) || h & ALLOW == 0;
                if !exp && !drop {
                    continue;
                }
                let v = Victim {
                    bucket: b,
                    pos,
                    idx,
                    hot: h,
                    expired: exp,
                };
                if exp {
                    return Some(v);
                }
                if best
                    .as_ref()
                    .is_none_or(|o| later(expiry(o.hot), expiry(h)))
                {
                    best = Some(v);
                }
            }
        }
        best
    }

    /// The table is full: frees a slot by evicting from the key's buckets (locked by the
    /// caller) or, failing that, from the next few buckets (like nf_conntrack's early drop).
    pub(super) fn evict_for_slot(&self, loc: Loc, now: u32) -> Option<u32> {
        if let Some(v) = self.pick_victim(&[loc.b1, loc.b2], now)
            && self.slots[v.idx as usize].kill_if(v.hot)
        {
            self.bucket(v.bucket).clear(v.pos);
            self.count_eviction(v.expired);
            return Some(v.idx);
        }
        for k in 1..=EVICTION_RANGE {
            let z = (loc.b1 + k) % self.nb;
            if z == loc.b1 || z == loc.b2 || !self.bucket(z).try_lock() {
                continue;
            }
            let mut got = None;
            if let Some(v) = self.pick_victim(&[z], now)
                && self.slots[v.idx as usize].kill_if(v.hot)
            {
                self.bucket(z).clear(v.pos);
                self.count_eviction(v.expired);
                got = Some(v.idx);
            }
            self.bucket(z).unlock();
            if got.is_some() {
                return got;
            }
        }
        None
    }

    /// Both of `loc`'s buckets are full and locked by the caller: moves one of their entries
    /// to its other bucket if that has room and can be locked at once (`try_lock`, so lock
    /// order cannot deadlock), and returns the vacated position. The entry is copied before
    /// it is cleared, with both its buckets locked, as in `move_entry`. Destinations are
    /// loaded `MOVE_CHUNK` at a time (the first chunk usually has room: see the constant).
    pub(super) fn move_one_out(&self, loc: Loc) -> Option<(u32, usize)> {
        let positions = if loc.b2 == loc.b1 { WAYS } else { 2 * WAYS };
        for first in (0..positions).step_by(MOVE_CHUNK) {
            let chunk = self.move_chunk(loc, first);
            let mut sink = 0;
            for &(to, _, _) in &chunk {
                if to != u32::MAX {
                    sink ^= self.bucket(to).touch();
                }
            }
            std::hint::black_box(sink);
            for &(to, b, pos) in &chunk {
                if to == u32::MAX {
                    continue;
                }
                let pos = usize::from(pos);
                let (src, dst) = (self.bucket(b), self.bucket(to));
                if !dst.has_free() || !dst.try_lock() {
                    continue;
                }
                let free = dst.free_positions();
                if free != 0 {
                    dst.set(free.trailing_zeros() as usize, src.tag(pos), src.index(pos));
                    src.clear(pos);
                }
                dst.unlock();
                if free != 0 {
                    self.counters.add(Counter::Moves, 1);
                    return Some((b, pos));
                }
            }
        }
        None
    }

    /// Positions `first..first + MOVE_CHUNK` of `loc`'s two buckets (b1's ten, then b2's), in
    /// the order `move_one_out` tries them: (the bucket the entry there could move to, or
    /// `u32::MAX`; its bucket; the position). The caller holds both buckets.
    pub(super) fn move_chunk(&self, loc: Loc, first: usize) -> [(u32, u32, u8); MOVE_CHUNK] {
        let mut chunk = [(u32::MAX, loc.b1, 0u8); MOVE_CHUNK];
        for (j, c) in chunk.iter_mut().enumerate() {
            let i = first + j;
            let (b, pos) = if i < WAYS {
                (loc.b1, i)
            } else {
                (loc.b2, i - WAYS)
            };
            if pos >= WAYS || (i >= WAYS && loc.b2 == loc.b1) {
                break;
            }
            let tag = self.bucket(b).tag(pos);
            let to = alt(b, tag, self.nb);
            *c = (u32::MAX, b, pos as u8);
            if tag != 0 && to != loc.b1 && to != loc.b2 {
                c.0 = to;
            }
        }
        chunk
    }

    /// Searches (breadth first, without locks) for a path of moves that frees a position in
    /// `loc.b1` or `loc.b2`, then performs it from the far end, one locked pair per move.
    pub(super) fn make_room(&self, loc: Loc) -> bool {
        let mut nodes = [PathNode::default(); MAX_NODES];
        nodes[0] = PathNode::root(loc.b1);
        nodes[1] = PathNode::root(loc.b2);
        let mut len = if loc.b2 == loc.b1 { 1 } else { 2 };
        let mut reads = 0;
        let mut head = 0;
        while head < len && reads < MAX_READS {
            let node = nodes[head];
            let bucket = self.bucket(node.bucket);
            // Where each entry could go; start all ten bucket loads before looking at any.
            let mut dest = [u32::MAX; WAYS];
            let mut sink = 0;
            for (pos, d) in dest.iter_mut().enumerate() {
                let tag = bucket.tag(pos);
                if tag != 0 {
                    let to = alt(node.bucket, tag, self.nb);
                    if to != node.bucket {
                        *d = to;
                        sink ^= self.bucket(to).touch();
                    }
                }
            }
            std::hint::black_box(sink);
            for (pos, &to) in dest.iter().enumerate() {
                if to == u32::MAX {
                    continue;
                }
                reads += 1;
                if self.bucket(to).has_free() {
                    let free = self.bucket(to).free_positions();
                    if free == 0 {
                        return false;
                    }
                    return self.run_path(&nodes, head, pos, to, free.trailing_zeros() as usize);
                }
                if len < MAX_NODES {
                    nodes[len] = PathNode {
                        bucket: to,
                        parent: head as u16,
                        pos_in_parent: pos as u8,
                    };
                    len += 1;
                }
            }
            head += 1;
        }
        false
    }

    /// Moves `nodes[at]`'s entry at `pos` into `to[free]`, then each ancestor's entry into the
    /// position just vacated, up to the root.
    fn run_path(&self, nodes: &[PathNode], at: usize, pos: usize, to: u32, free: usize) -> bool {
        let mut node = nodes[at];
        if !self.move_entry(node.bucket, pos, to, free) {
            return false;
        }
        let mut vacated = pos;
        while node.parent != PathNode::ROOT {
            let parent = nodes[usize::from(node.parent)];
            let from = usize::from(node.pos_in_parent);
            if !self.move_entry(parent.bucket, from, node.bucket, vacated) {
                return false;
            }
            vacated = from;
            node = parent;
        }
        true
    }

    /// Moves one entry from `src[sp]` to its alternative bucket `dst[dp]`, if still valid.
    fn move_entry(&self, src: u32, sp: usize, dst: u32, dp: usize) -> bool {
        let pair = Loc {
            b1: src,
            b2: dst,
            tag: 0,
        };
        self.lock_pair(pair);
        let (s, d) = (self.bucket(src), self.bucket(dst));
        let tag = s.tag(sp);
        let ok = tag != 0 && alt(src, tag, self.nb) == dst && d.tag(dp) == 0;
        if ok {
            // Copy first, then clear: the entry is never absent from both buckets.
            d.set(dp, tag, s.index(sp));
            s.clear(sp);
        }
        self.unlock_pair(pair);
        if ok {
            self.counters.add(Counter::Moves, 1);
        }
        ok
    }
}
