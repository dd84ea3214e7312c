//! Conntrack counters, striped per thread so that workers never share a counter line.
//!
//! Contract: every counter only grows; `ConntrackStats` is a sum over stripes read without
//! stopping writers (each field is exact, fields may be a few operations apart; a batch call
//! adds some of its counts once, at the end of a group of up to 32 keys).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

#[derive(Clone, Copy, Debug)]
pub(crate) enum Counter {
    Hits = 0,
    Misses,
    Invalid,
    Related,
    Inserts,
    InsertFailures,
    EvictedExpired,
    EvictedEarlyDrop,
    Expired,
    Removed,
    Revalidations,
    Moves,
}
const COUNTERS: usize = 12;
/// The first `OWNED` threads to touch any table each own a stripe and add to it without an
/// atomic read-modify-write; later threads share the `SHARED` stripes after them.
const OWNED: usize = 32;
const SHARED: usize = 16;
const STRIPES: usize = OWNED + SHARED;

#[repr(align(128))]
#[derive(Debug, Default)]
struct Stripe([AtomicU64; COUNTERS]);

#[derive(Debug)]
pub(crate) struct Counters {
    stripes: Box<[Stripe]>,
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static THREAD_NUMBER: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// A small number unique to the calling thread (0, 1, 2, ... in order of first use).
pub(crate) fn my_stripe() -> usize {
    THREAD_NUMBER.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
        s.set(v);
        v
    })
}

impl Counters {
    pub fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
        }
    }

    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + STRIPES * std::mem::size_of::<Stripe>()
    }

    #[inline]
    pub fn add(&self, c: Counter, n: u64) {
        if n == 0 {
            return;
        }
        let t = my_stripe();
        if t < OWNED {
            // Only this thread writes this stripe: a plain load and store cannot lose counts.
            let a = &self.stripes[t].0[c as usize];
            a.store(a.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        } else {
            let a = &self.stripes[OWNED + t % SHARED].0[c as usize];
            a.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn sum(&self, c: Counter) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0[c as usize].load(Ordering::Relaxed))
            .sum()
    }

    pub fn snapshot(&self) -> ConntrackStats {
        use Counter::*;
        let s = ConntrackStats {
            entries: 0,
            hits: self.sum(Hits),
            misses: self.sum(Misses),
            invalid: self.sum(Invalid),
            related: self.sum(Related),
            inserts: self.sum(Inserts),
            insert_failures: self.sum(InsertFailures),
            evicted_expired: self.sum(EvictedExpired),
            evicted_early_drop: self.sum(EvictedEarlyDrop),
            expired: self.sum(Expired),
            removed: self.sum(Removed),
            revalidations: self.sum(Revalidations),
            moves: self.sum(Moves),
        };
        let gone = s.evicted_expired + s.evicted_early_drop + s.expired + s.removed;
        ConntrackStats {
            entries: s.inserts.saturating_sub(gone),
            ..s
        }
    }
}

/// A snapshot of the table's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConntrackStats {
    /// Live entries: inserts minus every way an entry leaves.
    pub entries: u64,
    /// Lookups that found a live entry (`lookup`, `lookup_batch`).
    pub hits: u64,
    /// Lookups that found nothing and let the packet open a connection.
    pub misses: u64,
    /// Lookups that found nothing and reported the packet invalid.
    pub invalid: u64,
    /// ICMP errors matched to a tracked connection.
    pub related: u64,
    /// Entries created.
    pub inserts: u64,
    /// Inserts refused because the table (or the key's neighbourhood) was full.
    pub insert_failures: u64,
    /// Expired entries reclaimed by an insert (same key, or to make room).
    pub evicted_expired: u64,
    /// Unreplied, half-open, closing or denied entries dropped to make room (early drop).
    pub evicted_early_drop: u64,
    /// Entries removed by `sweep`.
    pub expired: u64,
    /// Entries removed by `remove`, or replaced by a new connection reusing a closed one's
    /// tuple (a SYN after FIN/RST).
    pub removed: u64,
    /// Entries whose cached verdict was replaced by `revalidate`.
    pub revalidations: u64,
    /// Entries moved to their other bucket to make room for an insert (cuckoo moves).
    pub moves: u64,
}

impl ConntrackStats {
    /// All `lookup`/`lookup_batch` calls' packets (related lookups are counted apart).
    pub fn lookups(&self) -> u64 {
        self.hits + self.misses + self.invalid
    }
}
