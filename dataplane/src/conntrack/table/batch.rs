//! Batched writers: `insert_batch` and `remove_batch`, for a worker that creates the entries of
//! a whole RX batch's new flows (or removes a batch of connections) at once.
//!
//! Contract: a batch call has exactly the effect, results and counters of the single calls
//! (`insert`, `remove`) made one after another in slice order, and is as safe to run beside
//! readers and other writers. It differs only in when memory is read: every key of a group of
//! up to `BATCH` is hashed and every line its operation will need is loaded first (both
//! buckets; for a remove, the slot its tag names; for an insert, the slot it will take and,
//! when both buckets are full, the buckets a cuckoo move would go to), and only then do the
//! locked operations run, one key after another, on lines already in the cache. Single calls
//! cannot overlap their misses: each bucket lock is an atomic read-modify-write, and on x86
//! that waits for every earlier load.

use super::super::bucket::Loc;
use super::super::key::CtKey;
use super::{BATCH, ConntrackTable};
use crate::conntrack::{Decision, InsertError, Inserted, Timestamp};
use crate::flow::FlowKey;

/// One group's keys, hashed.
struct Group {
    cks: [CtKey; BATCH],
    pkt_b: [bool; BATCH],
    locs: [Loc; BATCH],
    n: usize,
}

impl ConntrackTable {
    /// Hashes `keys` (at most `BATCH`) and starts the loads of the first bucket of each, and
    /// of the second too if `both`.
    fn hash_and_touch(&self, keys: &[FlowKey], both: bool) -> Group {
        let mut g = Group {
            cks: [CtKey::default(); BATCH],
            pkt_b: [false; BATCH],
            locs: [Loc::default(); BATCH],
            n: keys.len().min(BATCH),
        };
        for (i, key) in keys.iter().take(BATCH).enumerate() {
            let (ck, b) = CtKey::new(key);
            g.cks[i] = ck;
            g.pkt_b[i] = b;
            g.locs[i] = self.locate(&ck);
        }
        // A tight loop of independent loads: all of them are in flight before the first
        // atomic read-modify-write below has to wait for them.
        let mut sink = 0;
        for loc in &g.locs[..g.n] {
            sink ^= self.bucket(loc.b1).touch();
            if both {
                sink ^= self.bucket(loc.b2).touch();
            }
        }
        std::hint::black_box(sink);
        g
    }

    /// Creates the entries of a batch of packets that missed: `insert(&keys[i], flags[i],
    /// decisions[i], now)` for each `i` in order, results in `out[i]`. The four slices must be
    /// equally long (extra elements of the longer ones are ignored). Two packets of the same
    /// new connection in one batch: the first creates the entry, the second gets `Existing`.
    pub fn insert_batch(
        &self,
        keys: &[FlowKey],
        flags: &[u8],
        decisions: &[Decision],
        now: Timestamp,
        out: &mut [Result<Inserted, InsertError>],
    ) {
        let n = keys
            .len()
            .min(flags.len())
            .min(decisions.len())
            .min(out.len());
        let now = now.tick();
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            let g = self.hash_and_touch(&keys[start..end], true);
            self.touch_for_inserts(&g);
            for (i, o) in out[start..end].iter_mut().enumerate() {
                let k = start + i;
                *o = self.insert_at(
                    &g.cks[i],
                    g.pkt_b[i],
                    g.locs[i],
                    keys[k].icmp.icmp_type,
                    flags[k],
                    decisions[k],
                    now,
                );
            }
        }
    }

    /// The rest of what a group of inserts will read: the slots the free list will hand out
    /// next, and for a key whose two buckets are both full, the other buckets of their
    /// entries (where `move_one_out` would move one).
    fn touch_for_inserts(&self, g: &Group) {
        let mut sink = 0;
        for idx in self.free.next_candidates(g.n, &self.slots) {
            if let Some(s) = self.slots.get(idx) {
                sink ^= s.touch();
            }
        }
        for &loc in &g.locs[..g.n] {
            let (x, y) = (self.bucket(loc.b1), self.bucket(loc.b2));
            if x.has_free() || y.has_free() {
                continue;
            }
            for (to, _, _) in self.move_chunk(loc, 0) {
                if to != u32::MAX {
                    sink ^= self.bucket(to).touch();
                }
            }
        }
        std::hint::black_box(sink);
    }

    /// Removes the connections of `keys` (either direction): `remove(&keys[i])` for each `i`
    /// in order, whether the entry existed in `out[i]` (extra elements of the longer slice
    /// are ignored). Returns how many were removed.
    pub fn remove_batch(&self, keys: &[FlowKey], out: &mut [bool]) -> usize {
        let n = keys.len().min(out.len());
        let mut removed = 0;
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            let g = self.hash_and_touch(&keys[start..end], false);
            // The slot each key's first tag match in its first bucket names (the one `probe`
            // will compare); without one there, the second bucket (`remove_at` reads it only
            // then: about a quarter of the entries a churning table removes).
            let mut sink = 0;
            for loc in &g.locs[..g.n] {
                let c = self.first_tag_match(loc.b1, loc.tag);
                match self.slots.get(c as usize) {
                    Some(s) => sink ^= s.touch(),
                    None => sink ^= self.bucket(loc.b2).touch(),
                }
            }
            std::hint::black_box(sink);
            for (i, o) in out[start..end].iter_mut().enumerate() {
                *o = self.remove_at(&g.cks[i], g.locs[i]);
                removed += usize::from(*o);
            }
        }
        removed
    }
}
