//! Batched writers: `insert_batch` and `remove_batch`, for a worker that creates the entries of
//! a whole RX batch's new flows (or removes a batch of connections) at once.
//!
//! Contract: a batch call has exactly the effect, results and counters of the single calls
//! (`insert`, `remove`) made one after another in slice order, and is as safe to run beside
//! readers and other writers. It differs only in when memory is read: a group of up to
//! `BATCH` keys is hashed and the loads of both buckets of every key are started first, in
//! one tight loop, and only then do the locked operations run, one key after another. Single
//! calls cannot start the next key's loads before their own atomic read-modify-writes (bucket
//! locks, slot kill, free list) have waited for their misses. Touching more lines ahead (a
//! remove's slot, an insert's cuckoo destinations and free slot) was measured and dropped:
//! it needs the bucket lines first, and that second dependent pass cost more than the misses
//! it saved (bench/README.md, "Connection tracking").

use super::super::bucket::Loc;
use super::super::key::CtKey;
use super::{BATCH, ConntrackTable};
use crate::conntrack::{Decision, InsertError, Inserted, Timestamp};
use crate::flow::FlowKey;

/// One group's keys, hashed. A batch call fills one `Group` per group of keys in place
/// (returning it by value copied its 1.7 KB once per group: bench/README.md).
struct Group {
    cks: [CtKey; BATCH],
    pkt_b: [bool; BATCH],
    locs: [Loc; BATCH],
}

impl Group {
    fn new() -> Self {
        Self {
            cks: [CtKey::default(); BATCH],
            pkt_b: [false; BATCH],
            locs: [Loc::default(); BATCH],
        }
    }
}

impl ConntrackTable {
    /// Hashes `keys` (at most `BATCH`) into `g` and starts the loads of both buckets of each.
    fn hash_and_touch(&self, keys: &[FlowKey], g: &mut Group) {
        let n = keys.len().min(BATCH);
        for (i, key) in keys.iter().take(BATCH).enumerate() {
            let (ck, b) = CtKey::new(key);
            g.cks[i] = ck;
            g.pkt_b[i] = b;
            g.locs[i] = self.locate(&ck);
        }
        // A tight loop of independent loads: all of them are in flight before the first
        // atomic read-modify-write below has to wait for them.
        let mut sink = 0;
        for loc in &g.locs[..n] {
            sink ^= self.bucket(loc.b1).touch() ^ self.bucket(loc.b2).touch();
        }
        std::hint::black_box(sink);
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
        let mut g = Group::new();
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            self.hash_and_touch(&keys[start..end], &mut g);
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

    /// Removes the connections of `keys` (either direction): `remove(&keys[i])` for each `i`
    /// in order, whether the entry existed in `out[i]` (extra elements of the longer slice
    /// are ignored). Returns how many were removed.
    pub fn remove_batch(&self, keys: &[FlowKey], out: &mut [bool]) -> usize {
        let n = keys.len().min(out.len());
        let mut removed = 0;
        let mut g = Group::new();
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            self.hash_and_touch(&keys[start..end], &mut g);
            for (i, o) in out[start..end].iter_mut().enumerate() {
                *o = self.remove_at(&g.cks[i], g.locs[i]);
                removed += usize::from(*o);
            }
        }
        removed
    }
}
