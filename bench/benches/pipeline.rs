//! Criterion benchmarks for the packet pipeline: the per-frame cost of parse + route + rewrite,
//! and of a whole 32-frame batch whose flows are all conntrack hits (the `one-flow` fast path)
//! or all new (policy + insert per frame).
//!
//! The `pipeline/worker` group runs `palisade run`'s worker loop (`Worker::step`) over the
//! in-memory port I/O (`MemIo`): inject 32 frames of established flows, one step (receive,
//! pipeline, TX), then complete what was sent — the frame handling around the pipeline.
//!
//! `cargo bench -p palisade-bench --bench pipeline` (results: bench/README.md, "Pipeline").

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_bench::ctkeys::key_of;
use palisade_dataplane::conntrack::{
    ConntrackConfig, ConntrackTable, Decision, Inserted, Timeouts, Timestamp, Verdict,
};
use palisade_dataplane::flowlog::FlowLog;
use palisade_dataplane::forward::{RouteTable, rewrite_for_forward};
use palisade_dataplane::packet::{L3, MacAddr, checksum, parse_frame};
use palisade_dataplane::pipeline::{
    Action, FixedDecider, FrameRef, Pipeline, PipelineConfig, PolicyVerdict,
};

const GW_MAC: MacAddr = MacAddr([0xee; 6]);
const POD_A_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
const POD_B_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb]);
const BATCH: usize = 32;
const CHUNK: usize = 2048;

/// A 64-byte-class UDP/IPv4 frame (46 bytes of headers + 14 of payload = 60).
fn udp4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> Vec<u8> {
    udp4_sized(src, dst, sport, dport, 18)
}

/// A UDP/IPv4 frame with `payload` bytes of payload (42 + payload bytes).
fn udp4_sized(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: usize) -> Vec<u8> {
    let payload = vec![0u8; payload];
    let ip_len = (20 + 8 + payload.len()) as u16;
    let mut f = Vec::with_capacity(42 + payload.len());
    f.extend_from_slice(&GW_MAC.0);
    f.extend_from_slice(&POD_A_MAC.0);
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
    f.extend_from_slice(&ip_len.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    let sum = checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

/// Rewrites a frame made by `udp4` for another flow, in place (no allocation).
fn rewrite_udp4(f: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) {
    f[26..30].copy_from_slice(&src.octets());
    f[30..34].copy_from_slice(&dst.octets());
    f[24..26].copy_from_slice(&[0, 0]);
    let sum = checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
}

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn routes() -> RouteTable {
    let mut b = RouteTable::builder();
    b.pod_port(1, GW_MAC).pod_port(2, GW_MAC);
    b.local(IpAddr::V4(A), 1, Some(POD_A_MAC));
    b.local(IpAddr::V4(B), 2, Some(POD_B_MAC));
    // A node's worth of other pods, so the route lookup is not a one-entry map.
    for i in 0..250u32 {
        b.pod_port(3 + i as u16, GW_MAC);
        b.local(
            IpAddr::V4(Ipv4Addr::from(0x0a00_0100 + i)),
            3 + i as u16,
            Some(POD_B_MAC),
        );
    }
    b.build().expect("valid routes")
}

fn parse_route_rewrite(c: &mut Criterion) {
    let routes = routes();
    let template = udp4(A, B, 1234, 53);
    let mut frame = template.clone();
    let mut g = c.benchmark_group("pipeline/per_frame");
    g.throughput(Throughput::Elements(1));
    g.bench_function("copy_only", |b| {
        b.iter(|| frame.copy_from_slice(black_box(&template)))
    });
    g.bench_function("parse", |b| b.iter(|| parse_frame(black_box(&template))));
    g.bench_function("copy_parse_route_rewrite", |b| {
        b.iter(|| {
            frame.copy_from_slice(black_box(&template));
            let parsed = parse_frame(&frame).expect("valid");
            let L3::Ip(ip) = parsed.l3 else {
                unreachable!("bench frame is IPv4")
            };
            let dst = routes.route(ip.key.dst).expect("routed");
            let _ = black_box(dst);
            rewrite_for_forward(&mut frame, &ip, GW_MAC, POD_B_MAC)
        })
    });
    g.finish();
}

fn full_batch(c: &mut Criterion) {
    let routes = routes();
    let allow = FixedDecider {
        generation: 1,
        verdict: PolicyVerdict::allow(1),
    };
    let allow_decision = Decision {
        verdict: Verdict::Allow,
        rule_id: 1,
        generation: 1,
    };
    let ct = Arc::new(ConntrackTable::new(ConntrackConfig::with_capacity(1 << 20)).expect("ct"));
    let mut pipeline = Pipeline::new(PipelineConfig::default(), ct, Arc::new(FlowLog::new(1024)));
    let templates: Vec<Vec<u8>> = (0..BATCH as u16)
        .map(|i| udp4(A, B, 1000 + i, 53))
        .collect();
    let mut bufs = vec![[0u8; CHUNK]; BATCH];
    let mut out = Vec::with_capacity(BATCH);
    let mut now = Timestamp::from_secs(10);
    let run = |pipeline: &mut Pipeline,
               bufs: &mut [[u8; CHUNK]],
               templates: &[Vec<u8>],
               now: Timestamp,
               out: &mut Vec<Action>| {
        let mut frames: Vec<FrameRef<'_>> = bufs
            .iter_mut()
            .zip(templates)
            .map(|(buf, t)| {
                buf[..t.len()].copy_from_slice(t);
                FrameRef {
                    buf: &mut buf[..],
                    len: t.len(),
                    port: 1,
                }
            })
            .collect();
        pipeline.process_batch(&mut frames, now, &routes, &allow, out);
    };
    // Warm up: open the 32 flows.
    run(&mut pipeline, &mut bufs, &templates, now, &mut out);
    assert!(out.iter().all(|a| *a == Action::Forward { port: 2 }));

    let mut g = c.benchmark_group("pipeline/batch32");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("conntrack_hits", |b| {
        b.iter(|| {
            now = now.plus(Duration::from_micros(10));
            run(&mut pipeline, &mut bufs, &templates, now, &mut out);
        })
    });
    // Every frame a new flow (fresh source port, then the next destination pod). UDP entries
    // expire after 1 ms of batch time (10 us per batch) and each batch sweeps 256 slots, as
    // the worker loop's housekeeping would, so the table stays far from full and this measures
    // miss + policy + insert, not eviction from a full table (ctbench's churn measures that).
    // `new_flows`: a 64K-entry table holding only these flows (its lines stay in the cache);
    // `new_flows_1M_half_full`: a 1M-entry table that also holds 512K long-lived TCP
    // connections, so the buckets a batch reads are spread over 7 MB and come from memory.
    for (name, capacity, prefill) in [
        ("new_flows", 1usize << 16, 0u64),
        ("new_flows_1M_half_full", 1 << 20, 1 << 19),
    ] {
        let config = ConntrackConfig {
            timeouts: Timeouts {
                udp: Duration::from_millis(1),
                tcp_syn: Duration::from_secs(3600),
                ..Timeouts::default()
            },
            ..ConntrackConfig::with_capacity(capacity)
        };
        let ct = Arc::new(ConntrackTable::new(config).expect("ct"));
        let syn = 0x02;
        for i in 0..prefill {
            let inserted = ct.insert(&key_of(i), syn, allow_decision, now);
            assert!(matches!(inserted, Ok(Inserted::New)), "{inserted:?}");
        }
        let mut pipeline =
            Pipeline::new(PipelineConfig::default(), ct, Arc::new(FlowLog::new(1024)));
        let mut next: u32 = 0;
        let mut fresh: Vec<Vec<u8>> = templates.clone();
        g.bench_function(name, |b| {
            b.iter(|| {
                for t in fresh.iter_mut() {
                    next = next.wrapping_add(1);
                    let port = (next % 60_000) as u16 + 1024;
                    let dst = Ipv4Addr::from(0x0a00_0100 + (next / 60_000) % 250);
                    rewrite_udp4(t, A, dst, port, 53);
                }
                now = now.plus(Duration::from_micros(10));
                run(&mut pipeline, &mut bufs, &fresh, now, &mut out);
                pipeline.housekeeping(now, 256);
                while pipeline.flowlog().pop().is_some() {}
            })
        });
        assert!(
            out.iter().all(|a| matches!(a, Action::Forward { .. })),
            "{out:?}"
        );
        let c = pipeline.counters();
        assert_eq!(c.drops.total(), 0, "{c:?}");
    }
    g.finish();
}

/// The worker loop around the pipeline, over `MemIo`: what a forwarded frame costs from the RX
/// ring to the TX ring.
fn worker_step(c: &mut Criterion) {
    use palisade_control::run::worker::{Published, Worker};
    use palisade_dataplane::policy::Snapshot;
    use palisade_xsk::{MemIo, PortId};

    // Ports 0 and 1 of the I/O are pods A and B.
    let mut b = RouteTable::builder();
    b.pod_port(0, GW_MAC).pod_port(1, GW_MAC);
    b.local(IpAddr::V4(A), 0, Some(POD_A_MAC));
    b.local(IpAddr::V4(B), 1, Some(POD_B_MAC));
    let published = Published {
        // No endpoints in the snapshot: both sides "no-endpoint", allowed.
        snapshot: Snapshot::default(),
        routes: b.build().expect("valid routes"),
        probes: Vec::new(),
    };
    let mut g = c.benchmark_group("pipeline/worker");
    g.throughput(Throughput::Elements(BATCH as u64));
    // 60 bytes: a minimum-size frame; 1514: a full Ethernet frame.
    for (name, payload) in [
        ("step_batch32_conntrack_hits", 18),
        ("step_batch32_1514B", 1472),
    ] {
        let io = MemIo::new(2, 1, 1024, 256).expect("mem io");
        let ct =
            Arc::new(ConntrackTable::new(ConntrackConfig::with_capacity(1 << 16)).expect("ct"));
        let pipeline = Pipeline::new(PipelineConfig::default(), ct, Arc::new(FlowLog::new(1024)));
        let mut worker = Worker::new(io, pipeline, Ipv4Addr::new(169, 254, 1, 1), BATCH);
        let templates: Vec<Vec<u8>> = (0..BATCH as u16)
            .map(|i| udp4_sized(A, B, 1000 + i, 53, payload))
            .collect();
        let mut now = Timestamp::from_secs(10);
        let round = |worker: &mut Worker<MemIo>, now: Timestamp| {
            for t in &templates {
                let _ = worker.io_mut().inject(PortId(0), 0, t);
            }
            let n = worker.step(&published, now).expect("step");
            let sent = worker.io_mut().drain_sent(PortId(1));
            (n, sent)
        };
        // Warm up: open the 32 flows.
        assert_eq!(round(&mut worker, now), (BATCH, BATCH));
        g.bench_function(name, |b| {
            b.iter(|| {
                now = now.plus(Duration::from_micros(10));
                black_box(round(&mut worker, now))
            })
        });
        let s = worker.stats();
        assert_eq!(s.pipeline.drops.total(), 0, "{s:?}");
        assert_eq!(s.pipeline.forwarded, s.pipeline.rx, "{s:?}");
    }
    g.finish();
}

criterion_group!(benches, parse_route_rewrite, full_batch, worker_step);
criterion_main!(benches);
