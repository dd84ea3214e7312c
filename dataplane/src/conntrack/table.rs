//! `ConntrackTable`: lookups, inserts, revalidation, removal and incremental expiry.
//!
//! Contract: every method takes `&self` and may run on any number of threads at once. Lookups
//! take no lock: a hit validates the slot's sequence, a miss validates the versions of the two
//! buckets it probed. Writers that change the index lock the (at most two) buckets of one key,
//! in ascending order, and may add a third only with `try_lock`; an entry moves between its
//! two buckets only while both are locked.

#[cfg(test)]
mod audit;
mod batch;
mod room;
mod sweep;

use std::fmt;
use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};

use super::bucket::{Bucket, Loc, WAYS, locate, positions};
use super::config::{ConntrackConfig, ConntrackError, MidStream, Revalidation};
use super::key::{CtKey, META_ORIG_IS_B};
use super::slot::{
    self, ALLOW, FreeList, LIVE, REPLIED, Slot, View, expired, expiry, later, seq,
    with_state_expiry,
};
use super::state::{self, Direction, Invalid, Step};
use super::stats::{ConntrackStats, Counter, Counters};
use super::{Decision, Hit, InsertError, Inserted, Lookup, Timestamp, Verdict};
use crate::flow::{FlowKey, IpProto};

/// Target index load at full capacity: `capacity / (WAYS * LOAD)` buckets.
const LOAD_PERCENT: usize = 90;
/// Lookups are pipelined in groups of this many keys.
pub const BATCH: usize = 32;
/// Slots a full insert may sweep to reclaim expired entries before it gives up.
const RECLAIM_BUDGET: usize = 256;
const MAX_ATTEMPTS: usize = 4;

/// The connection tracking table. See the module docs for the design.
pub struct ConntrackTable {
    buckets: Box<[Bucket]>,
    slots: Box<[Slot]>,
    free: FreeList,
    counters: Counters,
    seed: [u64; 4],
    nb: u32,
    /// Milliseconds by protocol kind and state code.
    timeouts: [[u32; 16]; state::KINDS],
    pickup: bool,
    keep_established: bool,
    max_generation: AtomicU64,
    sweep_cursor: AtomicUsize,
}

impl fmt::Debug for ConntrackTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConntrackTable")
            .field("capacity", &self.slots.len())
            .field("buckets", &self.nb)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// An entry found in the index.
#[derive(Clone, Copy, Debug)]
struct Found {
    idx: u32,
    view: View,
}

/// A packet's key as one table hashed it: normalised, with its two buckets and tag.
/// `lookup_batch_hashed` writes them so that `insert_batch_hashed` can create the entries
/// of a batch's misses without normalising and hashing the keys again. The buckets are
/// trusted only by a table with the same hash seed and size as the one that wrote them;
/// any other table hashes the (always exact) key again.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hashed {
    pub(super) ck: CtKey,
    pub(super) loc: Loc,
    pub(super) pkt_b: bool,
    /// The writing table's first hash key (never 0) and bucket count.
    seed0: u64,
    nb: u32,
}

enum Applied {
    Hit(Hit),
    /// Expired, or a new connection reusing a closed one's tuple: treat as absent.
    Gone,
    /// The slot changed under us: look again.
    Retry,
}

fn timeout_table(by_class: &[u32; 7]) -> [[u32; 16]; state::KINDS] {
    let mut t = [[0; 16]; state::KINDS];
    for (kind, row) in t.iter_mut().enumerate() {
        for (code, ms) in row.iter_mut().enumerate() {
            let class = state::timeout_class(state::KIND_PROTOCOL[kind], code as u8);
            *ms = by_class[class as usize];
        }
    }
    t
}

/// `n` values of `f()` in memory the kernel is asked to back with 2 MiB pages before it is
/// first touched (random lookups in a table of 1M entries, 64 MB, then miss the TLB far less:
/// bench/README.md, "Connection tracking").
fn huge_slice<T>(n: usize, f: impl FnMut() -> T) -> Box<[T]> {
    let mut v = Vec::with_capacity(n);
    palisade_hugepages::advise(v.spare_capacity_mut());
    v.extend(std::iter::repeat_with(f).take(n));
    v.into_boxed_slice()
}

fn policy_word(d: &Decision) -> u64 {
    u64::from(d.rule_id) | (u64::from(d.generation as u32) << 32)
}

impl ConntrackTable {
    /// Allocates a table for `config.capacity` entries (all memory, up front).
    pub fn new(config: ConntrackConfig) -> Result<Self, ConntrackError> {
        config.validate()?;
        let cap = config.capacity;
        let per_bucket = WAYS * LOAD_PERCENT;
        let nb = (cap * 100).div_ceil(per_bucket).max(2);
        let nb = u32::try_from(nb).map_err(|_| ConntrackError::Config {
            field: "capacity",
            expected: "fewer entries",
        })?;
        Ok(Self {
            buckets: huge_slice(nb as usize, Bucket::default),
            slots: huge_slice(cap, Slot::default),
            free: FreeList::new(),
            counters: Counters::new(),
            seed: super::key::expand_seed(config.hash_seed),
            nb,
            timeouts: timeout_table(&config.timeouts.millis()),
            pickup: config.mid_stream == MidStream::Pickup,
            keep_established: config.revalidation == Revalidation::KeepEstablished,
            max_generation: AtomicU64::new(0),
            sweep_cursor: AtomicUsize::new(0),
        })
    }

    /// The most entries the table holds.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// All memory the table owns, index slack included.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + std::mem::size_of_val(&*self.buckets)
            + std::mem::size_of_val(&*self.slots)
            + self.free.bytes()
            + self.counters.bytes()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ConntrackStats {
        self.counters.snapshot()
    }

    #[inline]
    fn locate(&self, ck: &CtKey) -> Loc {
        locate(ck.hash(&self.seed), self.nb)
    }

    #[inline]
    fn bucket(&self, b: u32) -> &Bucket {
        &self.buckets[b as usize]
    }

    #[inline]
    fn timeout(&self, protocol: u8, code: u8) -> u32 {
        self.timeouts[state::kind(protocol)][usize::from(code & 0xF)]
    }

    /// Raises the newest generation seen to `g`. The read first keeps the common case (`g` is
    /// not newer) free of a read-modify-write on a line every worker shares.
    #[inline]
    fn note_generation(&self, g: u64) {
        if g > self.max_generation.load(Ordering::Relaxed) {
            self.max_generation.fetch_max(g, Ordering::Relaxed);
        }
    }

    /// The full generation of a stored low half: the latest generation at most 2^32 below the
    /// newest one the table has seen.
    fn full_generation(&self, low: u32) -> u64 {
        let max = self.max_generation.load(Ordering::Relaxed);
        max.wrapping_sub(u64::from((max as u32).wrapping_sub(low)))
    }

    // ----- lookups -------------------------------------------------------------------------

    /// Looks up the connection of one packet and applies the packet to its state (refreshing
    /// its timeout). `tcp_flags` is byte 13 of the TCP header (ignored for other protocols).
    pub fn lookup(&self, key: &FlowKey, tcp_flags: u8, now: Timestamp) -> Lookup {
        let (ck, pkt_b) = CtKey::new(key);
        let loc = self.locate(&ck);
        let r = self.lookup_at(&ck, pkt_b, loc, tcp_flags, now.tick());
        self.counters.add(counter_of(&r), 1);
        r
    }

    /// Looks up a whole RX batch: hashes every key and touches its bucket, then reads the
    /// buckets and touches the candidate slots, then completes each lookup. `flags[i]` is the
    /// TCP flags byte of `keys[i]`; results go to `out[i]`. The three slices must be equally
    /// long (extra elements of the longer ones are ignored).
    pub fn lookup_batch(&self, keys: &[FlowKey], flags: &[u8], now: Timestamp, out: &mut [Lookup]) {
        let n = keys.len().min(flags.len()).min(out.len());
        let now = now.tick();
        let mut buf = [Hashed::default(); BATCH];
        let mut counts = (0, 0);
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            let (h, i) = self.lookup_group(
                &keys[start..end],
                &flags[start..end],
                now,
                &mut out[start..end],
                &mut buf,
            );
            counts = (counts.0 + h, counts.1 + i);
        }
        self.count_lookups(n, counts);
    }

    /// `lookup_batch` that also leaves each key's hash in `hashed[i]` (the four slices
    /// equally long), for `insert_batch_hashed` of the misses.
    pub fn lookup_batch_hashed(
        &self,
        keys: &[FlowKey],
        flags: &[u8],
        now: Timestamp,
        out: &mut [Lookup],
        hashed: &mut [Hashed],
    ) {
        let n = keys.len().min(flags.len()).min(out.len()).min(hashed.len());
        let now = now.tick();
        let mut counts = (0, 0);
        for start in (0..n).step_by(BATCH) {
            let end = (start + BATCH).min(n);
            let (h, i) = self.lookup_group(
                &keys[start..end],
                &flags[start..end],
                now,
                &mut out[start..end],
                &mut hashed[start..end],
            );
            counts = (counts.0 + h, counts.1 + i);
        }
        self.stamp(&mut hashed[..n]);
        self.count_lookups(n, counts);
    }

    /// Adds a batch of `n` lookups with `hits` hits and `invalid` invalid packets.
    fn count_lookups(&self, n: usize, (hits, invalid): (usize, usize)) {
        self.counters.add(Counter::Hits, hits as u64);
        self.counters
            .add(Counter::Misses, (n - hits - invalid) as u64);
        self.counters.add(Counter::Invalid, invalid as u64);
    }

    /// Hashes `key` into `h` (its identity fields are left alone: `stamp` sets them for the
    /// caller's buffer, where they are needed, and the table's own buffers skip two stores
    /// per key).
    #[inline(always)]
    pub(super) fn hash_into(&self, key: &FlowKey, h: &mut Hashed) {
        let (ck, pkt_b) = CtKey::new(key);
        h.ck = ck;
        h.loc = self.locate(&ck);
        h.pkt_b = pkt_b;
    }

    /// Marks hashes as this table's, so that `loc_of` trusts their buckets.
    fn stamp(&self, hashed: &mut [Hashed]) {
        for h in hashed {
            h.seed0 = self.seed[0];
            h.nb = self.nb;
        }
    }

    /// The buckets of `h`: its own if this table wrote it (same seed and size), else hashed
    /// again.
    #[inline(always)]
    pub(super) fn loc_of(&self, h: &Hashed) -> Loc {
        if h.seed0 == self.seed[0] && h.nb == self.nb {
            h.loc
        } else {
            self.locate(&h.ck)
        }
    }

    /// One group of at most `BATCH` keys; returns the numbers of hits and of invalid packets.
    fn lookup_group(
        &self,
        keys: &[FlowKey],
        flags: &[u8],
        now: u32,
        out: &mut [Lookup],
        hashed: &mut [Hashed],
    ) -> (usize, usize) {
        let n = keys.len().min(hashed.len());
        let hashed = &mut hashed[..n];
        let mut cand = [u32::MAX; BATCH];
        let mut sink = 0u64;
        // Stage 1: normalise and hash (no memory touched but the keys).
        for (h, key) in hashed.iter_mut().zip(keys) {
            self.hash_into(key, h);
        }
        // Start every bucket load, both buckets (one entry in nine lives in its second bucket at
        // full load; touching it up front measured 10-15 % faster than a dependent miss later).
        // A tight loop of independent loads keeps the reorder buffer from filling before the
        // loads are all in flight (a prefetch without `unsafe`).
        for h in hashed.iter() {
            sink ^= self.bucket(h.loc.b1).touch() ^ self.bucket(h.loc.b2).touch();
        }
        // Stage 2: find each key's first candidate slot by tag, then start the slot loads.
        for i in 0..n {
            let loc = hashed[i].loc;
            let mut c = self.first_tag_match(loc.b1, loc.tag);
            if c == u32::MAX && loc.b2 != loc.b1 {
                c = self.first_tag_match(loc.b2, loc.tag);
            }
            cand[i] = c;
        }
        for &c in &cand[..n] {
            if let Some(s) = self.slots.get(c as usize) {
                sink ^= s.touch();
            }
        }
        std::hint::black_box(sink);
        // Stage 3: complete each lookup; a candidate that is not the key falls back to a probe.
        let (mut hits, mut invalid) = (0, 0);
        for i in 0..n {
            let Hashed { ck, loc, pkt_b, .. } = &hashed[i];
            let cand = self.slots.get(cand[i] as usize).and_then(|s| {
                let view = s.read()?;
                view.key.same_connection(ck).then_some((s, view))
            });
            let applied = match cand {
                Some((slot, view)) => self.apply(slot, &view, *pkt_b, flags[i], now),
                None => Applied::Retry,
            };
            // The common case writes its hit straight to `out`; the rest are counted apart.
            let r = match applied {
                Applied::Hit(h) => {
                    out[i] = Lookup::Hit(h);
                    hits += 1;
                    continue;
                }
                Applied::Gone => self.miss(ck, flags[i]),
                Applied::Retry => self.lookup_at(ck, *pkt_b, *loc, flags[i], now),
            };
            hits += usize::from(matches!(r, Lookup::Hit(_)));
            invalid += usize::from(matches!(r, Lookup::Invalid(_)));
            out[i] = r;
        }
        (hits, invalid)
    }

    #[inline]
    fn first_tag_match(&self, b: u32, tag: u16) -> u32 {
        let bucket = self.bucket(b);
        match positions(bucket.candidates(tag)).next() {
            Some(pos) => bucket.index(pos),
            None => u32::MAX,
        }
    }

    fn lookup_at(&self, ck: &CtKey, pkt_b: bool, loc: Loc, tcp_flags: u8, now: u32) -> Lookup {
        loop {
            let Some(f) = self.find(ck, loc) else {
                return self.miss(ck, tcp_flags);
            };
            match self.apply(&self.slots[f.idx as usize], &f.view, pkt_b, tcp_flags, now) {
                Applied::Hit(h) => return Lookup::Hit(h),
                Applied::Gone => return self.miss(ck, tcp_flags),
                Applied::Retry => spin_loop(),
            }
        }
    }

    fn miss(&self, ck: &CtKey, tcp_flags: u8) -> Lookup {
        match state::open(ck.protocol(), ck.icmp().icmp_type, tcp_flags, self.pickup) {
            Ok(_) => Lookup::Miss,
            Err(e) => Lookup::Invalid(e),
        }
    }

    /// Finds `ck` in its two buckets; a miss is confirmed against both buckets' versions.
    fn find(&self, ck: &CtKey, loc: Loc) -> Option<Found> {
        let (x, y) = (self.bucket(loc.b1), self.bucket(loc.b2));
        loop {
            // Each version is read just before its bucket's probe: a hit in the first bucket
            // never touches the second's line. An entry moving between the buckets between
            // the two probes changes the first bucket's version (a move locks both).
            let v1 = x.read_version();
            if let Some(f) = self.probe(loc.b1, ck, loc.tag) {
                return Some(f);
            }
            let v2 = y.read_version();
            if loc.b2 != loc.b1
                && let Some(f) = self.probe(loc.b2, ck, loc.tag)
            {
                return Some(f);
            }
            fence(Ordering::Acquire);
            if x.version_unchanged(v1) && y.version_unchanged(v2) {
                return None;
            }
            spin_loop();
        }
    }

    #[inline]
    fn probe(&self, b: u32, ck: &CtKey, tag: u16) -> Option<Found> {
        let bucket = self.bucket(b);
        for pos in positions(bucket.candidates(tag)) {
            let idx = bucket.index(pos);
            let Some(view) = self.slots.get(idx as usize).and_then(Slot::read) else {
                continue;
            };
            if view.key.same_connection(ck) {
                return Some(Found { idx, view });
            }
        }
        None
    }

    /// `probe` for a caller holding bucket `b`'s lock: compares keys without the slot's
    /// seqlock read. Returns (bucket, position, slot index).
    #[inline]
    fn probe_held(&self, b: u32, ck: &CtKey, tag: u16) -> Option<(u32, usize, u32)> {
        let bucket = self.bucket(b);
        positions(bucket.candidates(tag)).find_map(|pos| {
            let idx = bucket.index(pos);
            let slot = self.slots.get(idx as usize)?;
            slot.holds_locked(ck).then_some((b, pos, idx))
        })
    }

    fn direction(view: &View, pkt_b: bool) -> Direction {
        if pkt_b == (view.key.meta & META_ORIG_IS_B != 0) {
            Direction::Original
        } else {
            Direction::Reply
        }
    }

    #[inline(always)]
    fn hit_of(&self, view: &View, hot: u64, dir: Direction) -> Hit {
        let replied = hot & REPLIED != 0;
        Hit {
            direction: dir,
            decision: Decision {
                verdict: if hot & ALLOW != 0 {
                    Verdict::Allow
                } else {
                    Verdict::Deny
                },
                rule_id: view.policy as u32,
                generation: self.full_generation((view.policy >> 32) as u32),
            },
            state: state::public(slot::state(hot)),
            replied,
            icmp_meta: (view.key.meta >> 32) as u32,
            keep: self.keep_established && replied,
        }
    }

    /// Applies one packet to a found entry: state transition and timeout refresh, written
    /// only when they change (at most once per millisecond per entry). The first attempt is
    /// inline; a lost race on the hot word goes to `apply_contended`.
    #[inline(always)]
    fn apply(&self, slot: &Slot, view: &View, pkt_b: bool, tcp_flags: u8, now: u32) -> Applied {
        let dir = Self::direction(view, pkt_b);
        let h = view.hot;
        match self.advance(view.key.protocol(), h, dir, tcp_flags, now) {
            None => Applied::Gone,
            Some(new) if new == h => Applied::Hit(self.hit_of(view, h, dir)),
            Some(new) => {
                match slot
                    .hot()
                    .compare_exchange_weak(h, new, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => Applied::Hit(self.hit_of(view, new, dir)),
                    Err(_) => self.apply_contended(slot, view, dir, tcp_flags, now),
                }
            }
        }
    }

    /// `apply` after another thread changed the hot word: retries while the slot still holds
    /// the entry that was read (same sequence).
    #[cold]
    #[inline(never)]
    fn apply_contended(
        &self,
        slot: &Slot,
        view: &View,
        dir: Direction,
        tcp_flags: u8,
        now: u32,
    ) -> Applied {
        let mut h = slot.hot().load(Ordering::Relaxed);
        loop {
            if h & LIVE == 0 || seq(h) != seq(view.hot) {
                return Applied::Retry;
            }
            let Some(new) = self.advance(view.key.protocol(), h, dir, tcp_flags, now) else {
                return Applied::Gone;
            };
            if new == h {
                return Applied::Hit(self.hit_of(view, h, dir));
            }
            match slot
                .hot()
                .compare_exchange_weak(h, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Applied::Hit(self.hit_of(view, new, dir)),
                Err(cur) => h = cur,
            }
        }
    }

    /// The hot word `h` after one packet, or `None` if the entry is gone for it (expired, or
    /// a new connection reusing a closed one's tuple).
    #[inline(always)]
    fn advance(&self, proto: u8, h: u64, dir: Direction, tcp_flags: u8, now: u32) -> Option<u64> {
        if expired(expiry(h), now) {
            return None;
        }
        let code = slot::state(h);
        let next = match state::step(proto, code, dir, tcp_flags) {
            Step::Reopen => return None,
            Step::To(c) => c,
        };
        let mut exp = now.wrapping_add(self.timeout(proto, next));
        if next == code && !later(exp, expiry(h)) {
            exp = expiry(h);
        }
        let mut new = with_state_expiry(h, next, exp);
        if dir == Direction::Reply {
            new |= REPLIED;
        }
        Some(new)
    }

    /// Looks up the connection an ICMP error belongs to. `outer` is the error packet's key
    /// (ICMP/ICMPv6 with its type), `inner` the key of the header it embeds, as that packet
    /// was sent. The error must be addressed to the embedded packet's source. Related packets
    /// do not change the connection's state or timeout.
    pub fn lookup_related(&self, outer: &FlowKey, inner: &FlowKey, now: Timestamp) -> Lookup {
        let is_error = outer
            .icmp
            .icmp_type
            .is_some_and(|t| state::is_icmp_error(outer.protocol, t));
        let family_ok = (outer.protocol == IpProto::ICMPV6) == inner.is_ipv6()
            && outer.is_ipv6() == inner.is_ipv6();
        let mut r = Lookup::Invalid(Invalid::IcmpUnrelated);
        if is_error && family_ok && outer.dst == inner.src {
            let (ck, pkt_b) = CtKey::new(inner);
            if let Some(f) = self.find(&ck, self.locate(&ck))
                && !expired(expiry(f.view.hot), now.tick())
            {
                let dir = Self::direction(&f.view, pkt_b);
                r = Lookup::Related(self.hit_of(&f.view, f.view.hot, dir));
            }
        }
        self.counters.add(counter_of(&r), 1);
        r
    }

    // ----- writers ---------------------------------------------------------------------------

    #[inline]
    fn lock_pair(&self, loc: Loc) {
        let (lo, hi) = (loc.b1.min(loc.b2), loc.b1.max(loc.b2));
        self.bucket(lo).lock();
        if hi != lo {
            self.bucket(hi).lock();
        }
    }

    #[inline]
    fn unlock_pair(&self, loc: Loc) {
        self.bucket(loc.b1).unlock();
        if loc.b2 != loc.b1 {
            self.bucket(loc.b2).unlock();
        }
    }

    #[inline]
    fn find_locked(&self, ck: &CtKey, loc: Loc) -> Option<Found> {
        self.probe(loc.b1, ck, loc.tag).or_else(|| {
            (loc.b2 != loc.b1)
                .then(|| self.probe(loc.b2, ck, loc.tag))
                .flatten()
        })
    }

    /// Creates the entry for a packet that missed, with the matcher's decision. `key` is the
    /// packet's key, which becomes the original direction. If another thread created the
    /// entry first, the packet is applied to that entry and `Existing` returns its hit.
    pub fn insert(
        &self,
        key: &FlowKey,
        tcp_flags: u8,
        decision: Decision,
        now: Timestamp,
    ) -> Result<Inserted, InsertError> {
        let (ck, pkt_b) = CtKey::new(key);
        let loc = self.locate(&ck);
        // Start both bucket loads before the locks' atomic operations serialise them.
        std::hint::black_box(self.bucket(loc.b1).touch() ^ self.bucket(loc.b2).touch());
        let icmp_type = key.icmp.icmp_type;
        self.insert_at::<true>(&ck, pkt_b, loc, icmp_type, tcp_flags, decision, now.tick())
    }

    /// `insert` of a hashed key (`loc` is `ck`'s), whose buckets the caller has touched.
    /// `COUNT`: count each `New` in `Inserts` here (single calls); a batch passes false and
    /// adds its group's count once.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert_at<const COUNT: bool>(
        &self,
        ck: &CtKey,
        pkt_b: bool,
        loc: Loc,
        icmp_type: Option<u8>,
        tcp_flags: u8,
        decision: Decision,
        now: u32,
    ) -> Result<Inserted, InsertError> {
        let proto = ck.protocol();
        let code =
            state::open(proto, icmp_type, tcp_flags, self.pickup).map_err(InsertError::Invalid)?;
        self.note_generation(decision.generation);
        let mut bits = with_state_expiry(0, code, now.wrapping_add(self.timeout(proto, code)));
        if decision.verdict == Verdict::Allow {
            bits |= ALLOW;
        }
        let policy = policy_word(&decision);
        let mut reclaimed = false;
        let mut try_moves = true;
        for attempt in 0..MAX_ATTEMPTS {
            self.lock_pair(loc);
            if let Some(f) = self.find_locked(ck, loc) {
                let h = f.view.hot;
                let dir = Self::direction(&f.view, pkt_b);
                let dead = expired(expiry(h), now);
                let reopen = state::step(proto, slot::state(h), dir, tcp_flags) == Step::Reopen;
                if dead || reopen {
                    let slot = &self.slots[f.idx as usize];
                    let killed = slot.kill_if(h);
                    if killed {
                        slot.init(ck, policy, bits);
                    }
                    self.unlock_pair(loc);
                    if killed {
                        let c = if dead {
                            Counter::EvictedExpired
                        } else {
                            Counter::Removed
                        };
                        self.counters.add(c, 1);
                        if COUNT {
                            self.counters.add(Counter::Inserts, 1);
                        }
                        return Ok(Inserted::New);
                    }
                    continue;
                }
                self.unlock_pair(loc);
                if let Lookup::Hit(h) = self.lookup_at(ck, pkt_b, loc, tcp_flags, now) {
                    return Ok(Inserted::Existing(h));
                }
                continue;
            }
            let free1 = self.bucket(loc.b1).free_positions();
            let free2 = self.bucket(loc.b2).free_positions();
            let target = match (free1, free2) {
                // Both full: first try one move out under the locks already held, which
                // spares the unlock, path search and relock of `make_room`.
                (0, 0) => self.move_one_out(loc),
                (0, f) => Some((loc.b2, f.trailing_zeros() as usize)),
                (f, _) => Some((loc.b1, f.trailing_zeros() as usize)),
            };
            if let Some((b, pos)) = target {
                let idx = match self.free.pop(&self.slots) {
                    Some(idx) => Some(idx),
                    None => self.evict_for_slot(loc, now),
                };
                if let Some(idx) = idx {
                    self.slots[idx as usize].init(ck, policy, bits);
                    self.bucket(b).set(pos, loc.tag, idx);
                    self.unlock_pair(loc);
                    if COUNT {
                        self.counters.add(Counter::Inserts, 1);
                    }
                    return Ok(Inserted::New);
                }
                self.unlock_pair(loc);
                if !reclaimed {
                    reclaimed = true;
                    if self.sweep_ticks(now, RECLAIM_BUDGET) > 0 {
                        continue;
                    }
                }
                break;
            }
            // Both buckets full: move entries along a cuckoo path, or replace a victim.
            if try_moves && attempt + 1 < MAX_ATTEMPTS {
                self.unlock_pair(loc);
                try_moves = self.make_room(loc);
                continue;
            }
            if let Some(v) = self.pick_victim(&[loc.b1, loc.b2], now) {
                let slot = &self.slots[v.idx as usize];
                if slot.kill_if(v.hot) {
                    slot.init(ck, policy, bits);
                    self.bucket(v.bucket).set(v.pos, loc.tag, v.idx);
                    self.unlock_pair(loc);
                    self.count_eviction(v.expired);
                    if COUNT {
                        self.counters.add(Counter::Inserts, 1);
                    }
                    return Ok(Inserted::New);
                }
            }
            self.unlock_pair(loc);
            break;
        }
        self.counters.add(Counter::InsertFailures, 1);
        Err(InsertError::Full)
    }

    /// Removes the connection of `key` (either direction). Returns whether it existed.
    pub fn remove(&self, key: &FlowKey) -> bool {
        let (ck, _) = CtKey::new(key);
        let loc = self.locate(&ck);
        // Holding the first bucket pins whatever is in it (moves lock both ends), so an entry
        // found there can go without touching the second bucket's line.
        let first = self.bucket(loc.b1);
        // Start the second bucket's load with the first's, before the lock's atomic operation
        // serialises them: about a quarter of the entries a churning table removes have been
        // moved to their second bucket (ctbench at 100K).
        std::hint::black_box(first.touch() ^ self.bucket(loc.b2).touch());
        self.remove_at::<true>(&ck, loc)
    }

    /// `remove` of a hashed key (`loc` is `ck`'s), whose buckets the caller has touched.
    /// `COUNT`: count a removal in `Removed` here (single calls); a batch passes false and adds
    /// its group's count once.
    pub(super) fn remove_at<const COUNT: bool>(&self, ck: &CtKey, loc: Loc) -> bool {
        let first = self.bucket(loc.b1);
        first.lock();
        let mut found = self.probe_held(loc.b1, ck, loc.tag);
        let mut held = Loc { b2: loc.b1, ..loc };
        if found.is_none() && loc.b2 != loc.b1 {
            let second = self.bucket(loc.b2);
            let in_order = loc.b2 > loc.b1;
            if in_order {
                second.lock();
            } else if !second.try_lock() {
                // The first bucket may change while it is not held: probe it again.
                first.unlock();
                self.lock_pair(loc);
                found = self.probe_held(loc.b1, ck, loc.tag);
            }
            held = loc;
            if found.is_none() {
                found = self.probe_held(loc.b2, ck, loc.tag);
            }
        }
        if let Some((b, pos, idx)) = found {
            self.slots[idx as usize].kill();
            self.bucket(b).clear(pos);
        }
        self.unlock_pair(held);
        match found {
            Some((_, _, idx)) => {
                self.free.push(&self.slots, idx);
                if COUNT {
                    self.counters.add(Counter::Removed, 1);
                }
                true
            }
            None => false,
        }
    }

    /// Stores the matcher's new decision for the connection of `key` (either direction),
    /// after the caller re-checked its original-direction key under a newer generation.
    /// Returns false if the entry is gone or already holds this or a newer generation.
    pub fn revalidate(&self, key: &FlowKey, decision: Decision) -> bool {
        self.note_generation(decision.generation);
        let (ck, _) = CtKey::new(key);
        let loc = self.locate(&ck);
        let allow = decision.verdict == Verdict::Allow;
        let newer =
            |old_policy: u64| self.full_generation((old_policy >> 32) as u32) < decision.generation;
        for _ in 0..MAX_ATTEMPTS {
            let Some(f) = self.find(&ck, loc) else {
                return false;
            };
            if !newer(f.view.policy) {
                return false;
            }
            let slot = &self.slots[f.idx as usize];
            if slot.rewrite_policy(seq(f.view.hot), policy_word(&decision), allow, newer) {
                self.counters.add(Counter::Revalidations, 1);
                return true;
            }
        }
        false
    }

    /// Expires entries whose timeout has passed, visiting at most `budget` slots from where
    /// the previous call stopped. Returns how many it removed. A full pass over the table
    /// takes `capacity / budget` calls; an entry outlives its timeout by at most one pass.
    pub fn sweep(&self, now: Timestamp, budget: usize) -> usize {
        self.sweep_ticks(now.tick(), budget)
    }
}

fn counter_of(r: &Lookup) -> Counter {
    match r {
        Lookup::Hit(_) => Counter::Hits,
        Lookup::Miss => Counter::Misses,
        Lookup::Invalid(_) => Counter::Invalid,
        Lookup::Related(_) => Counter::Related,
    }
}
