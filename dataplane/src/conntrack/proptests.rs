//! Property tests over random packet sequences: an allowed flow's replies are always allowed
//! while it lives; no entry outlives its timeout by more than one sweep pass; the capacity is
//! never exceeded. The clock starts just before the 32-bit millisecond wrap.

use std::net::IpAddr;

use proptest::prelude::*;

use super::tests::{allow, config};
use super::*;

const CAPACITY: usize = 16;
const BUDGET: usize = 4;
const PASS: usize = CAPACITY / BUDGET;
const FLOWS: usize = 8;
/// The shortest timeout of the protocols used (TCP SYN); others are longer.
const MIN_TIMEOUT_MS: u64 = 20_000;
const START_MS: u64 = (1 << 32) - 200_000;

#[derive(Clone, Debug)]
enum Op {
    Packet {
        flow: usize,
        reply: bool,
        flags: u8,
        dt_ms: u64,
    },
    Sweep {
        dt_ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let flags = prop::sample::select(vec![
        TcpFlags::SYN,
        TcpFlags::SYN | TcpFlags::ACK,
        TcpFlags::ACK,
        TcpFlags::ACK | TcpFlags::PSH,
        TcpFlags::FIN | TcpFlags::ACK,
        TcpFlags::RST,
        TcpFlags::RST | TcpFlags::ACK,
    ]);
    prop_oneof![
        4 => (0..FLOWS, any::<bool>(), flags, 0..25_000u64).prop_map(|(flow, reply, flags, dt_ms)| {
            Op::Packet { flow, reply, flags, dt_ms }
        }),
        1 => (0..5_000u64).prop_map(|dt_ms| Op::Sweep { dt_ms }),
    ]
}

fn flow_key(flow: usize) -> FlowKey {
    let a = IpAddr::from([10, 0, 0, 1 + (flow % 3) as u8]);
    let b = IpAddr::from([10, 0, 1, 1]);
    let proto = if flow < FLOWS / 2 {
        IpProto::TCP
    } else {
        IpProto::UDP
    };
    FlowKey::new(a, b, proto, 1000 + flow as u16, 80)
}

fn decision(flow: usize) -> Decision {
    if flow % 3 == 2 {
        Decision {
            verdict: Verdict::Deny,
            ..allow(1)
        }
    } else {
        allow(1)
    }
}

/// What the model knows of a flow's entry: when it was last touched and which way it opened.
#[derive(Clone, Copy, Debug)]
struct Model {
    last_ms: u64,
    opened_reply: bool,
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let t = ConntrackTable::new(config(CAPACITY)).unwrap();
    let mut model: [Option<Model>; FLOWS] = [None; FLOWS];
    let mut now_ms = START_MS;
    let mut sweeps: Vec<u64> = Vec::new();
    for op in ops {
        match *op {
            Op::Sweep { dt_ms } => {
                now_ms += dt_ms;
                t.sweep(Timestamp::from_millis(now_ms), BUDGET);
                sweeps.push(now_ms);
            }
            Op::Packet {
                flow,
                reply,
                flags,
                dt_ms,
            } => {
                now_ms += dt_ms;
                let now = Timestamp::from_millis(now_ms);
                let key = if reply {
                    flow_key(flow).reversed()
                } else {
                    flow_key(flow)
                };
                let flags = if flow_key(flow).protocol == IpProto::TCP {
                    flags
                } else {
                    0
                };
                let r = t.lookup(&key, flags, now);
                let alive = model[flow].filter(|m| now_ms - m.last_ms <= MIN_TIMEOUT_MS);
                if let Some(m) = alive {
                    let entry_dir_original = m.opened_reply == reply;
                    let reopen = entry_dir_original
                        && flags & (TcpFlags::SYN | TcpFlags::ACK) == TcpFlags::SYN;
                    match r {
                        Lookup::Hit(h) => {
                            let want = if entry_dir_original {
                                Direction::Original
                            } else {
                                Direction::Reply
                            };
                            prop_assert_eq!(h.direction, want);
                            // Allowed flows stay allowed in both directions, replies included.
                            prop_assert_eq!(h.decision, decision(flow));
                            let opened = if m.opened_reply {
                                flow_key(flow).reversed()
                            } else {
                                flow_key(flow)
                            };
                            prop_assert_eq!(h.original_key(&key), opened);
                        }
                        Lookup::Miss if reopen => {}
                        other => {
                            return Err(TestCaseError::fail(format!(
                                "live flow {flow} ({}ms idle): {other:?}",
                                now_ms - m.last_ms
                            )));
                        }
                    }
                }
                match r {
                    Lookup::Hit(_) => {
                        if let Some(m) = model[flow].as_mut() {
                            m.last_ms = now_ms;
                        }
                    }
                    Lookup::Miss => match t.insert(&key, flags, decision(flow), now) {
                        Ok(_) => {
                            model[flow] = Some(Model {
                                last_ms: now_ms,
                                opened_reply: reply,
                            });
                        }
                        Err(e) => return Err(TestCaseError::fail(format!("insert: {e}"))),
                    },
                    Lookup::Invalid(_) | Lookup::Related(_) => {}
                }
            }
        }
        // The capacity is never exceeded, and the counters agree with the index.
        let live = t.audit().len();
        prop_assert!(live <= CAPACITY);
        prop_assert_eq!(live as u64, t.stats().entries);
        // No live entry expired before the first sweep of the last full pass.
        if sweeps.len() >= PASS {
            let pass_start = Timestamp::from_millis(sweeps[sweeps.len() - PASS]).tick();
            for e in t.live_expiries() {
                prop_assert!(
                    !slot::expired(e, pass_start),
                    "entry expired at {e}, pass began at {pass_start}"
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_packet_sequences(ops in prop::collection::vec(op(), 1..200)) {
        run(&ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// The same property, longer: `cargo test -p palisade-dataplane -- --ignored conntrack`.
    #[test]
    #[ignore]
    fn random_packet_sequences_long(ops in prop::collection::vec(op(), 1..1_000)) {
        run(&ops)?;
    }
}
