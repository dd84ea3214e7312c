//! Batched writers: `insert_batch` and `remove_batch`, for a worker that creates the entries of
//! a whole RX batch's new flows (or removes a batch of connections) at once, and
//! `insert_batch_hashed`, which takes the keys as `lookup_batch_hashed` hashed them.
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

use super::super::stats::Counter;
use super::{BATCH, ConntrackTable, Hashed};
use crate::conntrack::{Decision, InsertError, Inserted, Timestamp};
use crate::flow::FlowKey;

impl ConntrackTable {
    /// Hashes `keys` (at most `BATCH`) into `g` and starts the loads of both buckets of each.
    /// (`g` is filled in place: returning the group by value copied it once per group.)
    fn hash_and_touch(&self, keys: &[FlowKey], g: &mut [Hashed; BATCH]) {
        for (h, key) in g.iter_mut().zip(keys) {
            self.hash_into(key, h);
        }
        self.touch_buckets(&g[..keys.len().min(BATCH)]);
    }

    /// Starts the loads of both buckets of each of `hashed`: a tight loop of independent
    /// loads, all in flight before the first atomic read-modify-write has to wait for them.
    fn touch_buckets(&self, hashed: &[Hashed]) {
        let mut sink = 0;
        for h in hashed {
            sink ^= self.bucket(h.loc.b1).touch() ^ self.bucket(h.loc.b2).touch();
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
        let mut g = [Hashed::default(); BATCH];
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            self.hash_and_touch(&keys[start..end], &mut g);
            self.insert_group(
                &g[..end - start],
                &flags[start..end],
                &decisions[start..end],
                now,
                &mut out[start..end],
            );
        }
    }

    /// `insert_batch` of keys this table hashed already (`lookup_batch_hashed` of the same
    /// packets): the same effect and results, without normalising and hashing them again. A
    /// `Hashed` written by a table with another seed or size is hashed again.
    pub fn insert_batch_hashed(
        &self,
        hashed: &[Hashed],
        flags: &[u8],
        decisions: &[Decision],
        now: Timestamp,
        out: &mut [Result<Inserted, InsertError>],
    ) {
        let n = hashed
            .len()
            .min(flags.len())
            .min(decisions.len())
            .min(out.len());
        let now = now.tick();
        let mut g = [Hashed::default(); BATCH];
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            for (h, given) in g.iter_mut().zip(&hashed[start..end]) {
                *h = Hashed {
                    loc: self.loc_of(given),
                    ..*given
                };
            }
            self.touch_buckets(&g[..end - start]);
            self.insert_group(
                &g[..end - start],
                &flags[start..end],
                &decisions[start..end],
                now,
                &mut out[start..end],
            );
        }
    }

    /// The locked inserts of one group whose buckets were touched.
    fn insert_group(
        &self,
        g: &[Hashed],
        flags: &[u8],
        decisions: &[Decision],
        now: u32,
        out: &mut [Result<Inserted, InsertError>],
    ) {
        let mut inserts = 0;
        for (i, o) in out.iter_mut().enumerate().take(g.len()) {
            let h = &g[i];
            *o = self.insert_at::<false>(
                &h.ck,
                h.pkt_b,
                h.loc,
                h.ck.icmp().icmp_type,
                flags[i],
                decisions[i],
                now,
            );
            inserts += u64::from(matches!(o, Ok(Inserted::New)));
        }
        self.counters.add(Counter::Inserts, inserts);
    }

    /// Removes the connections of `keys` (either direction): `remove(&keys[i])` for each `i`
    /// in order, whether the entry existed in `out[i]` (extra elements of the longer slice
    /// are ignored). Returns how many were removed.
    pub fn remove_batch(&self, keys: &[FlowKey], out: &mut [bool]) -> usize {
        let n = keys.len().min(out.len());
        let mut removed = 0;
        let mut g = [Hashed::default(); BATCH];
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            self.hash_and_touch(&keys[start..end], &mut g);
            for (i, o) in out[start..end].iter_mut().enumerate() {
                *o = self.remove_at::<false>(&g[i].ck, g[i].loc);
                removed += usize::from(*o);
            }
        }
        self.counters.add(Counter::Removed, removed as u64);
        removed
    }
}
