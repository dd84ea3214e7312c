//! Criterion benchmarks for the conntrack table (lookups single and in batches of 32; churn,
//! one remove + insert at a time and in batches of 32), and the measurement behind its concurrency
//! design: the same lookups against 64 `RwLock<HashMap>` shards, on one and two threads, and
//! with a writer churning the table meanwhile.
//!
//! `cargo bench -p palisade-bench --bench conntrack` (results: bench/README.md).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use palisade_bench::ctkeys::{Picker, key_of};
use palisade_dataplane::FlowKey;
use palisade_dataplane::conntrack::{
    BATCH, ConntrackConfig, ConntrackTable, Decision, Inserted, Lookup, TcpFlags, Timestamp,
    Verdict,
};

const NOW: Timestamp = Timestamp::from_secs(1_000);
const DECISION: Decision = Decision {
    verdict: Verdict::Allow,
    rule_id: 1,
    generation: 1,
};
const SIZES: [u64; 2] = [100_000, 1_000_000];

/// A table of capacity `n + headroom` holding keys `0..n`.
fn filled(n: u64, headroom: u64) -> ConntrackTable {
    let t = ConntrackTable::new(ConntrackConfig {
        hash_seed: 0xC0FF_EE00,
        ..ConntrackConfig::with_capacity((n + headroom) as usize)
    })
    .expect("valid config");
    for i in 0..n {
        let _ = t.insert(&key_of(i), TcpFlags::SYN, DECISION, NOW);
    }
    t
}

/// One shard: normalised key -> (verdict, last seen).
type Shard = RwLock<HashMap<[u64; 2], (u64, AtomicU64), Fold>>;

/// The alternative design: a normalised key in one of 64 reader-writer-locked hash maps.
struct Sharded {
    shards: Vec<Shard>,
}

#[derive(Clone, Copy, Default)]
struct Fold;
#[derive(Default)]
struct FoldHasher(u64);

impl BuildHasher for Fold {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(0x243F_6A88_85A3_08D3)
    }
}

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        let p = u128::from(self.0 ^ x) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }
}

fn norm(k: &FlowKey) -> [u64; 2] {
    let ip = |a: IpAddr| match a {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(_) => 0,
    };
    let (s, d) = (
        (ip(k.src) << 16) | u64::from(k.src_port),
        (ip(k.dst) << 16) | u64::from(k.dst_port),
    );
    let (a, b) = if s <= d { (s, d) } else { (d, s) };
    [a ^ (u64::from(k.protocol) << 56), b]
}

impl Sharded {
    fn filled(n: u64) -> Self {
        let shards = (0..64)
            .map(|_| RwLock::new(HashMap::with_capacity_and_hasher(n as usize / 64 + 1, Fold)))
            .collect();
        let s = Self { shards };
        for i in 0..n {
            s.insert(&key_of(i));
        }
        s
    }

    fn shard(&self, k: &[u64; 2]) -> &Shard {
        &self.shards[(Fold.hash_one(k) >> 58) as usize]
    }

    fn insert(&self, k: &FlowKey) {
        let n = norm(k);
        if let Ok(mut m) = self.shard(&n).write() {
            m.insert(n, (1, AtomicU64::new(0)));
        }
    }

    fn remove(&self, k: &FlowKey) {
        let n = norm(k);
        if let Ok(mut m) = self.shard(&n).write() {
            m.remove(&n);
        }
    }

    fn lookup(&self, k: &FlowKey) -> Option<u64> {
        let n = norm(k);
        let m = self.shard(&n).read().ok()?;
        m.get(&n).map(|(v, seen)| {
            seen.store(1_000, Ordering::Relaxed);
            *v
        })
    }
}

fn single_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("conntrack");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let t = filled(n, 0);
        let mut p = Picker::new(11, n);
        g.bench_function(BenchmarkId::new("lookup", n), |b| {
            b.iter(|| black_box(t.lookup(&key_of(p.next_index()), TcpFlags::ACK, NOW)))
        });
        let mut keys = [key_of(0); BATCH];
        let flags = [TcpFlags::ACK; BATCH];
        let mut out = [Lookup::Miss; BATCH];
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function(BenchmarkId::new("lookup_batch32", n), |b| {
            b.iter(|| {
                for k in &mut keys {
                    *k = key_of(p.next_index());
                }
                t.lookup_batch(&keys, &flags, NOW, &mut out);
                black_box(&out);
            })
        });
        g.throughput(Throughput::Elements(1));
        let mut oldest = 0;
        g.bench_function(BenchmarkId::new("churn", n), |b| {
            b.iter(|| {
                t.remove(&key_of(oldest));
                let _ = black_box(t.insert(&key_of(oldest + n), TcpFlags::SYN, DECISION, NOW));
                oldest += 1;
            })
        });
        // The same churn as the worker makes it: `remove_batch` of the 32 oldest entries,
        // then `insert_batch` of 32 new keys (per-element figures are per remove + insert).
        let mut old = [key_of(0); BATCH];
        let mut new = [key_of(0); BATCH];
        let syn = [TcpFlags::SYN; BATCH];
        let decisions = [DECISION; BATCH];
        let mut removed = [false; BATCH];
        let mut inserted = [Ok(Inserted::New); BATCH];
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function(BenchmarkId::new("churn_batch32", n), |b| {
            b.iter(|| {
                for (i, (o, w)) in old.iter_mut().zip(new.iter_mut()).enumerate() {
                    *o = key_of(oldest + i as u64);
                    *w = key_of(oldest + i as u64 + n);
                }
                black_box(t.remove_batch(&old, &mut removed));
                t.insert_batch(&new, &syn, &decisions, NOW, &mut inserted);
                black_box(&inserted);
                oldest += BATCH as u64;
            })
        });
        g.throughput(Throughput::Elements(1));
        let mut p = Picker::new(11, n);
        g.bench_function(BenchmarkId::new("key_generation_only", n), |b| {
            b.iter(|| black_box(key_of(p.next_index())))
        });
    }
    g.finish();
}

/// Per-thread time per lookup with `threads` threads looking up at once, optionally with one
/// more thread churning (remove + insert) all the while.
fn concurrent<L: Fn(&FlowKey) -> bool + Sync, W: Fn(u64) + Sync>(
    iters: u64,
    threads: u64,
    n: u64,
    lookup: &L,
    writer: Option<&W>,
) -> Duration {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let w = writer.map(|w| {
            let stop = &stop;
            s.spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    w(i);
                    i += 1;
                }
            })
        });
        let readers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut p = Picker::new(31 + t, n);
                    let start = Instant::now();
                    let mut hits = 0u64;
                    for _ in 0..iters {
                        hits += u64::from(lookup(&key_of(p.next_index())));
                    }
                    black_box(hits);
                    start.elapsed()
                })
            })
            .collect();
        let worst = readers
            .into_iter()
            .map(|r| r.join().unwrap_or_default())
            .max()
            .unwrap_or_default();
        stop.store(true, Ordering::Relaxed);
        if let Some(w) = w {
            let _ = w.join();
        }
        worst
    })
}

fn design_comparison(c: &mut Criterion) {
    let n = 1_000_000;
    // Headroom, so the writer's insert never has to evict an entry the readers look up.
    let table = filled(n, 1_024);
    let sharded = Sharded::filled(n);
    let ct = |k: &FlowKey| matches!(table.lookup(k, TcpFlags::ACK, NOW), Lookup::Hit(_));
    let rw = |k: &FlowKey| sharded.lookup(k).is_some();
    // The writer churns keys beyond the looked-up range, so readers keep hitting.
    let ct_writer = |i: u64| {
        let _ = table.insert(&key_of(2 * n + i), TcpFlags::SYN, DECISION, NOW);
        table.remove(&key_of(2 * n + i));
    };
    let rw_writer = |i: u64| {
        sharded.insert(&key_of(2 * n + i));
        sharded.remove(&key_of(2 * n + i));
    };
    let none: Option<&fn(u64)> = None;
    let mut g = c.benchmark_group("conntrack_design_1M");
    g.throughput(Throughput::Elements(1));
    for threads in [1, 2] {
        g.bench_function(BenchmarkId::new("seqlock_table", threads), |b| {
            b.iter_custom(|iters| concurrent(iters, threads, n, &ct, none))
        });
        g.bench_function(BenchmarkId::new("rwlock_shards", threads), |b| {
            b.iter_custom(|iters| concurrent(iters, threads, n, &rw, none))
        });
    }
    g.bench_function("seqlock_table_with_writer", |b| {
        b.iter_custom(|iters| concurrent(iters, 1, n, &ct, Some(&ct_writer)))
    });
    g.bench_function("rwlock_shards_with_writer", |b| {
        b.iter_custom(|iters| concurrent(iters, 1, n, &rw, Some(&rw_writer)))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = single_thread, design_comparison
}
criterion_main!(benches);
