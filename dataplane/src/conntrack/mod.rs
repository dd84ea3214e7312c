//! Connection tracking: one entry per connection, found from either direction, with TCP state,
//! timeouts, a cached policy verdict that is re-checked lazily after a policy change, bounded
//! memory, and lock-free lookups from any number of worker threads.
//!
//! Contract: pure code. Time is a parameter (`Timestamp`), nothing reads a clock or opens a
//! socket. All methods take `&self`; share the table between workers with an `Arc`.
//!
//! # How the worker uses it
//! ```text
//!   lookup_batch_hashed(keys, tcp_flags, now) -> per packet (and its key's hash):
//!     Hit(h)      -> h.needs_recheck(snapshot.generation)?
//!                      yes: matcher(h.original_key(&key)) -> revalidate(&key, decision)
//!                    use the (re-checked) verdict for this packet, either direction
//!     Related(h)  -> ICMP error of a tracked flow (from lookup_related): as Hit
//!     Miss        -> collect; the batch's misses: matcher(keys) ->
//!                    insert_batch_hashed(hashes, flags, decisions, now, results)
//!     Invalid(r)  -> drop, count r (TCP without SYN and pickup off, ICMP reply without request)
//!   every N batches: sweep(now, budget)
//! ```
//! `insert_batch` / `remove_batch` equal `insert` / `remove` called in slice order (results,
//! counters, contents); they differ only in when memory is read (next section).
//! `insert_batch_hashed` is `insert_batch` of keys the lookup already normalised and hashed
//! (`Hashed`, trusted only by a table of the same seed and size; any other hashes again).
//!
//! # Layout (`bytes_per_entry` <= 64 for IPv4 and IPv6 alike)
//! ```text
//!  index: buckets of one cache line        slots: dense array, `capacity` x 56 bytes
//!  +---------+----------+---------------+  +-----+--------+------+----+----+----+----+
//!  | version | 10 x tag | 10 x slot idx |  | hot | policy | meta | a  | b  | a  | b  |
//!  | 32 bit  |  16 bit  |    32 bit     |  |     |        |ports | lo | lo | hi | hi |
//!  +---------+----------+---------------+  +-----+--------+------+----+----+----+----+
//!  capacity / 9 buckets (90 % full at capacity): 7.1 bytes/entry; slots 56: 63.1 in all.
//! ```
//! A key hashes (a seeded 64-bit multiply-fold hash of the normalised 5-tuple) to a bucket
//! and a 16-bit tag; its second bucket is `alt(b1, tag)`, an involution, so bucket-cuckoo
//! moves need only the tag. `hot` packs expiry (32-bit milliseconds), state, replied/allow
//! flags and a 24-bit sequence; `policy` packs the deciding rule and the low 32 bits of the
//! generation (widened again against the newest generation the table has seen).
//!
//! # Why this layout (measured: bench/README.md, "Connection tracking")
//! - **Tags apart from entries.** A probe reads one bucket line and compares ten 16-bit tags
//!   with a few word operations; only a tag hit reads a slot, so a lookup is two dependent
//!   lines (bucket, then slot), a miss one. Entries inline in the bucket would make a hit one
//!   line but cost more than 64 bytes per entry (a 56-byte entry per 64-byte line, plus slack).
//! - **`lookup_batch` touches both buckets of every key up front**, then the candidate slots,
//!   then completes (three passes over at most 32 keys, plain loads standing in for prefetch).
//!   Touching only the first bucket and the second one only for keys without a tag match
//!   there (2.1 lines per key instead of 3) measured 50-90 % *slower* (data-dependent
//!   branches on lines still in flight), and splitting a batch into software-pipelined groups
//!   of 8 measured no faster (and 5 % more instructions); both were dropped.
//! - **Huge pages.** Both arrays are allocated untouched and advised `MADV_HUGEPAGE`
//!   (`palisade-hugepages`, the one `unsafe` call) before they are filled: with 4 KiB pages a
//!   random access into a 64 MB table also misses the TLB, and page walks cap how many misses
//!   overlap. On this VM that made single lookups 15-28 % and batch lookups 12-14 % faster
//!   at 1M-4M entries. Without transparent huge pages in the kernel the advice is ignored.
//! - **Hash**: one 64x64->128 multiply-fold of the two IPv4 words and the meta word, one more
//!   to finish (IPv6: three); the key normalisation costs about as much as the hash.
//! - **Batched writers** (`insert_batch`, `remove_batch`, table/batch.rs): a writer's bucket
//!   locks, slot kill and free-list pop/push are atomic read-modify-writes, and on x86 each
//!   waits for every earlier load, so single calls make churn a chain of dependent misses.
//!   The batch calls hash a group of up to 32 keys and start the loads of both buckets of
//!   every key in one tight loop before the first lock, then run the single-call code key by
//!   key. Measured (ctbench, bench/README.md): churn (remove + insert) 30-40 % faster than
//!   single calls at 1M-4M entries, equal within noise at 100K, for ~4 % more instructions
//!   then (1,270 against 1,220 per pair; since the group buffers are filled in place and
//!   counted once per group, 1,197 against 1,195). A second look-ahead pass (a remove's
//!   slot, an insert's cuckoo destinations) measured slower and was dropped. Churn stays
//!   above issue #4's 150 ns target: ~270-400 ns at 1M-4M, ~200-270 ns at 100K on this VM.
//!   The expiry sweep (table/sweep.rs) groups its removals the same way: 18-30 % less time
//!   per expired entry from 512K entries up, ~30 % more at 100K.
//!
//! # Concurrency: one shared table, optimistic readers
//! The two directions of a connection arrive on different veths, so on different RX queues
//! and, in general, different workers: per-worker tables would need steering that AF_XDP on
//! veth cannot give. The table is therefore shared. Readers take no lock and write nothing
//! in the common path: a hit validates the slot's sequence (a seqlock per entry), a miss
//! validates the two bucket versions; the only write a hit makes is a compare-and-swap of the
//! hot word when the state changes or the expiry moves (at most once per millisecond per
//! entry). Writers lock the two buckets of one key (ascending order); an insert finding both
//! full may move one of their entries to its other bucket, taken with `try_lock` only (no
//! lock-order cycle), before falling back to an unlocked path search whose moves lock one
//! pair at a time. Moves copy before they clear, so an entry is never absent from both of
//! its buckets. Everything here is safe Rust: all shared words are atomics; a prefetch is a
//! plain load ("touch"): a real `_mm_prefetch` measured the same in `ctbench` at 1M entries.
//! The one `unsafe` call, the huge-page advice, lives in `palisade-hugepages`.
//! Measured (bench/README.md, "Connection tracking", criterion `conntrack_design_1M`): at 1M
//! entries, lookups here are 13-19 % faster than in 64 `RwLock<HashMap>` shards on one thread
//! and on two; with a writer churning on the other core they were 11 % slower, from the
//! writer's cuckoo moves competing for memory, not from a lock: readers take none.
//!
//! # Memory bound and eviction
//! Capacity is fixed at construction. An insert into a full table takes, in order: among the
//! first 4 live entries of the key's two buckets an expired one, else the early-droppable one
//! (unreplied, half-open, closing, reset, or denied) that expires first, else the first
//! qualifying entry after them (a sample, because every entry looked at is a cache miss);
//! the same in the next 8 buckets, then a bounded sweep for expired entries anywhere;
//! otherwise it fails (`insert_failures`). An entry that
//! has seen a reply and is established is never evicted, so a SYN flood cannot push out
//! established connections. Expiry is incremental: `sweep(now, budget)` visits `budget` slots.
//! Timestamps are compared modulo 2^32 ms, so a full sweep pass must take less than 24 days.

mod bucket;
mod config;
mod key;
mod slot;
mod state;
mod stats;
mod table;

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::flow::{FlowKey, IpProto};

pub use config::{
    ConntrackConfig, ConntrackError, MAX_CAPACITY, MAX_TIMEOUT, MidStream, Revalidation, Timeouts,
};
pub use state::{Direction, Invalid, State, TcpFlags};
pub use stats::ConntrackStats;
pub use table::{BATCH, ConntrackTable, Hashed};

/// A point in time, in nanoseconds since an arbitrary epoch (the worker passes
/// `CLOCK_MONOTONIC`). The table keeps millisecond resolution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    pub const fn from_nanos(nanos: u64) -> Self {
        Self(nanos)
    }

    pub const fn from_millis(millis: u64) -> Self {
        Self(millis * 1_000_000)
    }

    pub const fn from_secs(secs: u64) -> Self {
        Self(secs * 1_000_000_000)
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// This time plus `d` (saturating).
    pub fn plus(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }

    /// Milliseconds, wrapping at 2^32 (about 49.7 days).
    #[inline]
    pub(crate) fn tick(self) -> u32 {
        (self.0 / 1_000_000) as u32
    }
}

/// A cached policy verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Allow,
    Deny,
}

/// What the matcher decided for a connection, and under which snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    pub verdict: Verdict,
    /// The deciding rule, as the matcher numbers it (opaque to conntrack).
    pub rule_id: u32,
    /// The snapshot generation the decision was made under.
    pub generation: u64,
}

/// A packet that belongs to a tracked connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// This packet's direction relative to the connection's first packet (for `Related`, the
    /// direction of the embedded packet).
    pub direction: Direction,
    /// The cached decision.
    pub decision: Decision,
    /// The state after this packet.
    pub state: State,
    /// Whether the reply direction has been seen (Linux's ESTABLISHED ctstate).
    pub replied: bool,
    /// Bits 32..64 of the entry's meta word: protocol, flags, the first packet's ICMP type/code.
    icmp_meta: u32,
    keep: bool,
}

impl Hit {
    /// Whether the caller must re-check the connection with the matcher before trusting the
    /// cached decision: it was made under an older generation than `current`, unless the
    /// table keeps established connections (`Revalidation::KeepEstablished`) and this one has
    /// seen a reply.
    #[inline]
    pub fn needs_recheck(&self, current: u64) -> bool {
        self.decision.generation < current && !self.keep
    }

    /// The connection's key as its first packet carried it, from this packet's key (for
    /// `Related`, the embedded key): the key the matcher must re-check, whichever direction
    /// this packet travels. ICMP type and code are the first packet's.
    pub fn original_key(&self, packet: &FlowKey) -> FlowKey {
        let mut k = match self.direction {
            Direction::Original => *packet,
            Direction::Reply => packet.reversed(),
        };
        if IpProto::is_icmp(k.protocol) {
            k.icmp = key::icmp_of_meta(u64::from(self.icmp_meta) << 32);
        }
        k
    }
}

/// The outcome of a lookup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lookup {
    /// No entry; the packet may open a connection: run the matcher, then `insert`.
    #[default]
    Miss,
    /// No entry, and the packet may not open one: drop it.
    Invalid(Invalid),
    /// The packet belongs to a tracked connection.
    Hit(Hit),
    /// An ICMP error about a tracked connection (`lookup_related`).
    Related(Hit),
}

/// A successful insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// The entry was created.
    New,
    /// Another worker created the connection's entry first; this packet was applied to it.
    Existing(Hit),
}

/// Why an insert failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InsertError {
    /// The packet may not open a connection.
    #[error("packet may not open a connection: {0:?}")]
    Invalid(Invalid),
    /// The table is full and nothing near the key could be evicted.
    #[error("conntrack table full")]
    Full,
}
