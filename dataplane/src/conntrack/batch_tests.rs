//! Tests of the batched writers: `insert_batch` and `remove_batch` equal the single calls made
//! in order (results, counters, and the table's contents, on random batches that hit
//! duplicates, invalid packets, expiry, early drop and a full table), and stay correct beside
//! other writers and lock-free readers.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use proptest::prelude::*;

use super::tests::{allow, config};
use super::*;

const CAPACITY: usize = 48;
const KEYS: u32 = 96;

fn key(i: u32, reply: bool) -> FlowKey {
    let a = IpAddr::from([10, 1, (i >> 8) as u8, i as u8]);
    let b = IpAddr::from([10, 2, 0, 1]);
    let proto = if i % 4 == 3 {
        IpProto::UDP
    } else {
        IpProto::TCP
    };
    let k = FlowKey::new(a, b, proto, 2000 + i as u16, 443);
    if reply { k.reversed() } else { k }
}

/// How a batch of inserts reaches the table.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// `insert_batch` of the keys.
    Keys,
    /// `insert_batch_hashed` of hashes written by a table of the same seed and size.
    Hashes,
    /// `insert_batch_hashed` of hashes written by a table with another seed (hashed again).
    ForeignHashes,
}

#[derive(Clone, Debug)]
enum BatchOp {
    /// (key index, reply direction, TCP flags, deny) per packet; time step; how the batch is
    /// inserted (`Via`).
    Insert(Vec<(u32, bool, u8, bool)>, u64, Via),
    Remove(Vec<(u32, bool)>),
}

fn batch_op() -> impl Strategy<Value = BatchOp> {
    let flags = prop::sample::select(vec![
        TcpFlags::SYN,
        TcpFlags::SYN,
        TcpFlags::ACK,
        TcpFlags::SYN | TcpFlags::ACK,
        TcpFlags::RST,
    ]);
    let packet = (0..KEYS, any::<bool>(), flags, any::<bool>());
    prop_oneof![
        3 => (
            prop::collection::vec(packet, 0..70),
            0..30_000u64,
            prop::sample::select(vec![Via::Keys, Via::Hashes, Via::ForeignHashes]),
        )
            .prop_map(|(p, dt, via)| BatchOp::Insert(p, dt, via)),
        1 => prop::collection::vec((0..KEYS, any::<bool>()), 0..70).prop_map(BatchOp::Remove),
    ]
}

/// The table's keys, sorted (after checking that index and slots agree).
fn contents(t: &ConntrackTable) -> Vec<(u64, u64, u64)> {
    let mut v: Vec<_> = t.audit().iter().map(|k| (k.meta, k.a_lo, k.b_lo)).collect();
    v.sort_unstable();
    v
}

/// Runs `ops` as batches on one table and as single calls on another; all must agree.
fn run(ops: &[BatchOp]) -> Result<(), TestCaseError> {
    let batched = ConntrackTable::new(config(CAPACITY)).unwrap();
    let single = ConntrackTable::new(config(CAPACITY)).unwrap();
    // Tables that only hash (their lookups write the `Hashed` values).
    let twin = ConntrackTable::new(config(CAPACITY)).unwrap();
    let foreign = ConntrackTable::new(ConntrackConfig {
        hash_seed: 0xD1FF,
        ..config(CAPACITY)
    })
    .unwrap();
    let mut now_ms = 5_000_000u64;
    for op in ops {
        match op {
            BatchOp::Insert(packets, dt, via) => {
                now_ms += dt;
                let now = Timestamp::from_millis(now_ms);
                let keys: Vec<FlowKey> = packets.iter().map(|&(i, r, _, _)| key(i, r)).collect();
                let flags: Vec<u8> = packets.iter().map(|p| p.2).collect();
                let decisions: Vec<Decision> = packets
                    .iter()
                    .map(|&(i, _, _, deny)| Decision {
                        verdict: if deny { Verdict::Deny } else { Verdict::Allow },
                        rule_id: i,
                        generation: now_ms / 10_000,
                    })
                    .collect();
                let mut out = vec![Err(InsertError::Full); keys.len()];
                let mut hashed = vec![Hashed::default(); keys.len()];
                let mut lookups = vec![Lookup::Miss; keys.len()];
                match via {
                    Via::Keys => batched.insert_batch(&keys, &flags, &decisions, now, &mut out),
                    Via::Hashes | Via::ForeignHashes => {
                        let hasher = if matches!(via, Via::Hashes) {
                            &twin
                        } else {
                            &foreign
                        };
                        hasher.lookup_batch_hashed(&keys, &flags, now, &mut lookups, &mut hashed);
                        batched.insert_batch_hashed(&hashed, &flags, &decisions, now, &mut out);
                    }
                }
                for (j, k) in keys.iter().enumerate() {
                    let want = single.insert(k, flags[j], decisions[j], now);
                    prop_assert_eq!(out[j], want, "packet {} of {:?}", j, packets);
                }
            }
            BatchOp::Remove(which) => {
                let keys: Vec<FlowKey> = which.iter().map(|&(i, r)| key(i, r)).collect();
                let mut out = vec![false; keys.len()];
                let n = batched.remove_batch(&keys, &mut out);
                prop_assert_eq!(n, out.iter().filter(|&&r| r).count());
                for (j, k) in keys.iter().enumerate() {
                    prop_assert_eq!(out[j], single.remove(k), "key {} of {:?}", j, which);
                }
            }
        }
        prop_assert_eq!(batched.stats(), single.stats());
        prop_assert_eq!(contents(&batched), contents(&single));
        prop_assert!(batched.audit().len() <= CAPACITY);
    }
    // Every entry also reads the same (state, direction, decision).
    let now = Timestamp::from_millis(now_ms);
    for i in 0..KEYS {
        let k = key(i, false);
        prop_assert_eq!(
            batched.lookup(&k, TcpFlags::ACK, now),
            single.lookup(&k, TcpFlags::ACK, now)
        );
    }
    Ok(())
}

#[test]
fn lookup_batch_hashed_equals_lookup_batch_and_its_hashes_insert_the_misses() {
    let plain = ConntrackTable::new(config(CAPACITY)).unwrap();
    let hashing = ConntrackTable::new(config(CAPACITY)).unwrap();
    let now = Timestamp::from_millis(5_000_000);
    let open: Vec<FlowKey> = (0..20).map(|i| key(i, false)).collect();
    let syn = vec![TcpFlags::SYN; open.len()];
    let decisions = vec![allow(1); 70];
    let mut out = vec![Err(InsertError::Full); open.len()];
    for t in [&plain, &hashing] {
        t.insert_batch(&open, &syn, &decisions[..open.len()], now, &mut out);
    }
    // Replies of the open ones (hits), new keys (misses), a bare RST (invalid), across the
    // 32-key group boundary.
    let keys: Vec<FlowKey> = (0..70u32).map(|i| key(i % 45, i < 20)).collect();
    let flags: Vec<u8> = (0..70u32)
        .map(|i| match i {
            0..20 => TcpFlags::SYN | TcpFlags::ACK,
            40 => TcpFlags::RST,
            _ => TcpFlags::SYN,
        })
        .collect();
    let later = Timestamp::from_millis(5_000_010);
    let mut want = vec![Lookup::Miss; keys.len()];
    let mut got = vec![Lookup::Miss; keys.len()];
    let mut hashed = vec![Hashed::default(); keys.len()];
    plain.lookup_batch(&keys, &flags, later, &mut want);
    hashing.lookup_batch_hashed(&keys, &flags, later, &mut got, &mut hashed);
    assert_eq!(got, want);
    assert_eq!(hashing.stats(), plain.stats());
    assert!(want.iter().any(|l| matches!(l, Lookup::Hit(_))));
    assert!(want.iter().any(|l| matches!(l, Lookup::Invalid(_))));
    let misses: Vec<usize> = (0..keys.len())
        .filter(|&i| want[i] == Lookup::Miss)
        .collect();
    let miss_keys: Vec<FlowKey> = misses.iter().map(|&i| keys[i]).collect();
    let miss_hashed: Vec<Hashed> = misses.iter().map(|&i| hashed[i]).collect();
    let miss_flags: Vec<u8> = misses.iter().map(|&i| flags[i]).collect();
    let d = &decisions[..misses.len()];
    let mut want = vec![Err(InsertError::Full); misses.len()];
    let mut got = want.clone();
    plain.insert_batch(&miss_keys, &miss_flags, d, later, &mut want);
    hashing.insert_batch_hashed(&miss_hashed, &miss_flags, d, later, &mut got);
    assert_eq!(got, want);
    assert!(want.contains(&Ok(Inserted::New)));
    assert_eq!(hashing.stats(), plain.stats());
    assert_eq!(contents(&hashing), contents(&plain));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn batches_equal_single_calls_in_order(ops in prop::collection::vec(batch_op(), 1..40)) {
        run(&ops)?;
    }
}

#[test]
fn batch_of_one_connection_twice_inserts_once() {
    let t = ConntrackTable::new(config(64)).unwrap();
    let c = key(1, false);
    let keys = [c, c.reversed(), key(2, false)];
    let flags = [TcpFlags::SYN, TcpFlags::SYN, TcpFlags::RST];
    let mut out = [Err(InsertError::Full); 3];
    let now = Timestamp::from_secs(10);
    t.insert_batch(&keys, &flags, &[allow(1); 3], now, &mut out);
    assert_eq!(out[0], Ok(Inserted::New));
    assert!(
        matches!(out[1], Ok(Inserted::Existing(h)) if h.direction == Direction::Reply),
        "{:?}",
        out[1]
    );
    assert_eq!(out[2], Err(InsertError::Invalid(Invalid::TcpCannotOpen)));
    let mut removed = [false; 3];
    assert_eq!(
        t.remove_batch(&[c.reversed(), c, key(2, false)], &mut removed),
        1
    );
    assert_eq!(removed, [true, false, false]);
    assert!(t.audit().is_empty());
}

/// Two threads insert, remove and look up overlapping keys in batches, a third reads single
/// keys and sweeps; afterwards the index and slots agree and no connection has two entries.
#[test]
fn batched_writers_beside_other_writers_and_readers() {
    let cap = 2_048;
    let t = Arc::new(ConntrackTable::new(config(cap)).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let key_of = |i: u64| key((i % 3_000) as u32, i & 1 == 1);
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                let mut rng = 0x2545_F491_4F6C_DD1D_u64 ^ w;
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                for round in 0..1_500u64 {
                    let now = Timestamp::from_millis(1_000_000 + round * 20);
                    let keys: Vec<FlowKey> = (0..40).map(|_| key_of(next())).collect();
                    let flags = vec![TcpFlags::SYN; keys.len()];
                    let mut out = vec![Err(InsertError::Full); keys.len()];
                    t.insert_batch(&keys, &flags, &vec![allow(1); keys.len()], now, &mut out);
                    assert!(
                        !out.iter()
                            .any(|r| matches!(r, Err(InsertError::Invalid(_)))),
                        "{out:?}"
                    );
                    let mut found = vec![Lookup::Miss; keys.len()];
                    t.lookup_batch(&keys, &vec![TcpFlags::ACK; keys.len()], now, &mut found);
                    let gone: Vec<FlowKey> = (0..20).map(|_| key_of(next())).collect();
                    t.remove_batch(&gone, &mut vec![false; gone.len()]);
                }
            })
        })
        .collect();
    let reader = {
        let (t, stop) = (Arc::clone(&t), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let now = Timestamp::from_millis(1_000_000 + i / 10);
                let _ = t.lookup(&key_of(i * 7), TcpFlags::ACK, now);
                if i.is_multiple_of(256) {
                    t.sweep(now, 64);
                    let _ = t.remove(&key_of(i * 13));
                }
                i += 1;
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    let keys = t.audit();
    let s = t.stats();
    assert_eq!(keys.len() as u64, s.entries);
    assert!(keys.len() <= cap);
    let mut distinct: Vec<_> = keys
        .iter()
        .map(|k| (k.a_lo, k.b_lo, k.meta & key::META_KEY_MASK))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), keys.len(), "a connection has two entries");
    assert!(s.inserts > 1_000 && s.removed > 100, "{s:?}");
}
