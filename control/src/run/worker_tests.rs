//! The worker loop over the in-memory `MemIo`: ARP for the gateway, forwarding with rewrite,
//! policy drops from a compiled store, neighbour probes, an RCU swap between batches.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use palisade_dataplane::conntrack::{ConntrackConfig, ConntrackTable, Timestamp};
use palisade_dataplane::flowlog::FlowLog;
use palisade_dataplane::forward::RouteTable;
use palisade_dataplane::packet::MacAddr;
use palisade_dataplane::pipeline::{Pipeline, PipelineConfig};
use palisade_dataplane::policy::Snapshot;
use palisade_xsk::{MemIo, Pacing, PacketIo, PortId};

use super::endpoints::{NeighbourProbe, local_ports, routes_for};
use super::worker::{Published, Worker, WorkerStats};
use crate::compile::compile;
use crate::eval::reference::Failsafes;
use crate::store::Store;

const GW: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
const GW_MACS: [MacAddr; 2] = [MacAddr([2, 0, 0, 0, 0, 0xa]), MacAddr([2, 0, 0, 0, 0, 0xb])];
const POD_MACS: [[u8; 6]; 2] = [[2, 0, 0, 0, 1, 1], [2, 0, 0, 0, 1, 2]];
const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn worker() -> Worker<MemIo> {
    let io = MemIo::new(2, 1, 256, 64).expect("mem io");
    let ct = ConntrackTable::new(ConntrackConfig::with_capacity(1024)).expect("conntrack");
    let pipeline = Pipeline::new(
        PipelineConfig::default(),
        Arc::new(ct),
        Arc::new(FlowLog::new(64)),
    );
    Worker::new(io, pipeline, GW, 16)
}

fn routes(b_mac: Option<MacAddr>) -> RouteTable {
    let mut r = RouteTable::builder();
    r.pod_port(0, GW_MACS[0]).pod_port(1, GW_MACS[1]);
    r.local(IpAddr::V4(A), 0, Some(MacAddr(POD_MACS[0])));
    r.local(IpAddr::V4(B), 1, b_mac);
    r.build().expect("routes")
}

fn published(snapshot: Snapshot, b_mac: Option<MacAddr>) -> Published {
    Published {
        snapshot,
        routes: routes(b_mac),
        probes: Vec::new(),
    }
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A UDP datagram from pod A to pod B, port 80, sent to the gateway MAC of port 0.
fn udp_a_to_b(src_port: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&GW_MACS[0].0);
    f.extend_from_slice(&POD_MACS[0]);
    f.extend_from_slice(&[0x08, 0x00]);
    let payload = b"hello";
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&A.octets());
    ip.extend_from_slice(&B.octets());
    let c = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&src_port.to_be_bytes());
    f.extend_from_slice(&80u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn arp(
    op: u16,
    sender_mac: [u8; 6],
    sender: Ipv4Addr,
    target_mac: [u8; 6],
    target: Ipv4Addr,
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&if op == 1 { [0xff; 6] } else { target_mac });
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&sender.octets());
    f.extend_from_slice(&target_mac);
    f.extend_from_slice(&target.octets());
    f
}

fn now() -> Timestamp {
    Timestamp::from_secs(100)
}

#[test]
fn answers_arp_for_the_gateway_on_the_same_port() {
    let mut w = worker();
    let p = published(Snapshot::default(), Some(MacAddr(POD_MACS[1])));
    let io = w_io(&mut w);
    assert!(io.inject(PortId(0), 0, &arp(1, POD_MACS[0], A, [0; 6], GW)));
    assert_eq!(w.step(&p, now()).expect("step"), 1);
    let sent = w_io(&mut w).take_sent(PortId(0));
    assert_eq!(sent.len(), 1, "one reply");
    let reply = &sent[0];
    assert_eq!(&reply[0..6], &POD_MACS[0]);
    assert_eq!(&reply[20..22], &[0, 2], "an ARP reply");
    assert_eq!(
        &reply[22..28],
        &GW_MACS[0].0,
        "with the gateway MAC of port 0"
    );
    assert_eq!(w.stats().pipeline.replied, 1);
}

#[test]
fn forwards_with_rewritten_macs_and_ttl() {
    let mut w = worker();
    let p = published(Snapshot::default(), Some(MacAddr(POD_MACS[1])));
    assert!(w_io(&mut w).inject(PortId(0), 0, &udp_a_to_b(4000)));
    assert_eq!(w.step(&p, now()).expect("step"), 1);
    let sent = w_io(&mut w).take_sent(PortId(1));
    assert_eq!(sent.len(), 1, "{:?}", w.stats());
    let f = &sent[0];
    assert_eq!(f.len(), udp_a_to_b(4000).len());
    assert_eq!(&f[0..6], &POD_MACS[1], "to pod B");
    assert_eq!(&f[6..12], &GW_MACS[1].0, "from the gateway MAC of port 1");
    assert_eq!(f[22], 63, "TTL decremented");
    assert_eq!(ipv4_checksum(&f[14..34]), 0, "header checksum still valid");
    assert_eq!(&f[42..], b"hello");
    let s = w.stats();
    assert_eq!((s.pipeline.forwarded, s.batches), (1, 1));
}

fn temp_store(files: &[(&str, &str)]) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "palisade-run-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write");
    }
    dir
}

const PODS: &str = "
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}, annotations: {palisade.io/interface: ha}}
spec: {nodeName: n1, containers: [{name: c, image: i}]}
status: {podIP: 10.0.0.1, phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {pod: b}, annotations: {palisade.io/interface: hb}}
spec: {nodeName: n1, containers: [{name: c, image: i}]}
status: {podIP: 10.0.0.2, phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: elsewhere, namespace: x, annotations: {palisade.io/interface: hc}}
spec: {nodeName: n2, containers: [{name: c, image: i}]}
status: {podIP: 10.0.0.3, phase: Running}
";

const DENY_B: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress]
";

#[test]
fn policy_from_a_compiled_store_drops_and_a_swap_applies_to_the_next_batch() {
    let open = temp_store(&[("pods.yaml", PODS)]);
    let closed = temp_store(&[("pods.yaml", PODS), ("deny.yaml", DENY_B)]);
    let load = |dir: &PathBuf, generation| {
        let store = Store::load_dir(dir).expect("store");
        let (ports, warnings) = local_ports(&store, "n1");
        assert!(warnings.is_empty(), "{warnings:?}");
        let names: Vec<String> = ports.iter().map(|p| p.interface.clone()).collect();
        assert_eq!(names, ["ha", "hb"], "only this node's pods, by interface");
        let (_, probes, _) = routes_for(&names, &GW_MACS, None, &ports).expect("routes");
        assert_eq!(probes.len(), 2, "neither pod's MAC is configured");
        // Pod B's MAC, as if learned.
        let mut r = RouteTable::builder();
        r.pod_port(0, GW_MACS[0]).pod_port(1, GW_MACS[1]);
        r.local(IpAddr::V4(A), 0, Some(MacAddr(POD_MACS[0])));
        r.local(IpAddr::V4(B), 1, Some(MacAddr(POD_MACS[1])));
        let routes = r.build().expect("routes");
        Published {
            snapshot: compile(&store, generation, &Failsafes::default()).snapshot,
            routes,
            probes: Vec::new(),
        }
    };
    let shared = arc_swap::ArcSwap::from_pointee(load(&closed, 1));
    let mut w = worker();
    assert!(w_io(&mut w).inject(PortId(0), 0, &udp_a_to_b(4001)));
    w.step(&shared.load(), now()).expect("step");
    assert!(w_io(&mut w).take_sent(PortId(1)).is_empty(), "denied");
    let s = w.stats();
    assert_eq!((s.pipeline.policy_denies, s.generation), (1, 1));

    shared.store(Arc::new(load(&open, 2)));
    assert!(w_io(&mut w).inject(PortId(0), 0, &udp_a_to_b(4001)));
    w.step(&shared.load(), now()).expect("step");
    assert_eq!(
        w_io(&mut w).take_sent(PortId(1)).len(),
        1,
        "allowed after the swap"
    );
    assert_eq!(w.stats().generation, 2);
    for d in [open, closed] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn unresolved_pods_are_probed_until_they_answer() {
    let mut w = worker();
    let mut p = published(Snapshot::default(), None);
    p.probes = vec![NeighbourProbe {
        port: 1,
        addr: IpAddr::V4(B),
        gateway_mac: GW_MACS[1],
    }];
    assert_eq!(w.probe_neighbours(&p).expect("probe"), 1);
    w.step(&p, now()).expect("step sends the pending probe");
    let sent = w_io(&mut w).take_sent(PortId(1));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0], arp(1, GW_MACS[1].0, GW, [0; 6], B));
    // Pod B answers: learned, no more probes.
    assert!(w_io(&mut w).inject(PortId(1), 0, &arp(2, POD_MACS[1], B, GW_MACS[1].0, GW)));
    w.step(&p, now()).expect("step");
    assert_eq!(w.probe_neighbours(&p).expect("probe"), 0);
    // And A's datagram now reaches B.
    assert!(w_io(&mut w).inject(PortId(0), 0, &udp_a_to_b(4002)));
    w.step(&p, now()).expect("step");
    let sent = w_io(&mut w).take_sent(PortId(1));
    assert_eq!(sent.len(), 1, "{:?}", w.stats());
    assert_eq!(&sent[0][0..6], &POD_MACS[1]);
}

fn w_io(w: &mut Worker<MemIo>) -> &mut MemIo {
    w.io_mut()
}

#[test]
fn frames_are_conserved() {
    let mut w = worker();
    let p = published(Snapshot::default(), Some(MacAddr(POD_MACS[1])));
    let total = w.io().frame_count();
    for i in 0..40 {
        let _ = w_io(&mut w).inject(PortId(0), 0, &udp_a_to_b(5000 + i));
        let _ = w_io(&mut w).inject(PortId(0), 0, b"garbage");
    }
    for _ in 0..10 {
        w.step(&p, now()).expect("step");
        w_io(&mut w).take_sent(PortId(1));
    }
    w_io(&mut w).flush().expect("flush");
    let io = w.io();
    assert_eq!(io.stats().anomalies, 0);
    assert!(io.free_frames() <= total);
    assert!(w.stats().pipeline.forwarded >= 20, "{:?}", w.stats());
}

#[test]
fn decider_batch_equals_single_on_a_compiled_store() {
    use palisade_dataplane::FlowKey;
    use palisade_dataplane::pipeline::{PolicyDecider, PolicyVerdict};
    let dir = temp_store(&[("pods.yaml", PODS), ("deny.yaml", DENY_B)]);
    let store = Store::load_dir(&dir).expect("store");
    let snap = compile(&store, 1, &Failsafes::default()).snapshot;
    let addrs = [
        A,
        B,
        Ipv4Addr::new(10, 0, 0, 3),
        Ipv4Addr::new(192, 0, 2, 1),
    ];
    let mut keys = Vec::new();
    for (i, s) in addrs.iter().enumerate() {
        for d in &addrs {
            for proto in [6u8, 17] {
                keys.push(FlowKey::new(
                    (*s).into(),
                    (*d).into(),
                    proto,
                    1000 + i as u16,
                    80,
                ));
            }
        }
    }
    let mut out = vec![PolicyVerdict::default(); keys.len()];
    snap.decide_batch(&keys, &mut out);
    let mut denies = 0;
    for (k, v) in keys.iter().zip(&out) {
        assert_eq!(*v, snap.decide(k), "{k:?}");
        let reference = palisade_dataplane::policy::classify(&snap, k).allow();
        assert_eq!(v.is_allow(), reference, "{k:?}");
        denies += usize::from(!v.is_allow());
    }
    assert!(denies > 0, "pod b denies ingress");
    let _ = std::fs::remove_dir_all(dir);
}

/// A UDP datagram `src:sport -> dst:dport` sent by `src_mac` to the gateway MAC of its port.
fn udp(src_mac: [u8; 6], gw: MacAddr, src: Ipv4Addr, dst: Ipv4Addr, ports: (u16, u16)) -> Vec<u8> {
    let mut f = udp_a_to_b(ports.0);
    f[0..6].copy_from_slice(&gw.0);
    f[6..12].copy_from_slice(&src_mac);
    f[26..30].copy_from_slice(&src.octets());
    f[30..34].copy_from_slice(&dst.octets());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = ipv4_checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f[36..38].copy_from_slice(&ports.1.to_be_bytes());
    f
}

const DENY_A: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
";

#[test]
fn a_reply_handled_by_another_worker_passes_and_macs_learned_by_one_serve_all() {
    use palisade_dataplane::forward::PortMacs;
    let dir = temp_store(&[("pods.yaml", PODS), ("deny.yaml", DENY_A)]);
    let store = Store::load_dir(&dir).expect("store");
    let p = published(compile(&store, 1, &Failsafes::default()).snapshot, None);
    // Two workers as `palisade run` builds them: one conntrack table, one per-port MAC table.
    let ct = Arc::new(ConntrackTable::new(ConntrackConfig::with_capacity(1024)).expect("ct"));
    let macs = Arc::new(PortMacs::new(2));
    let flowlog = Arc::new(FlowLog::new(64));
    let mut workers: Vec<Worker<MemIo>> = (0..2)
        .map(|_| {
            let pipeline = Pipeline::with_port_macs(
                PipelineConfig::default(),
                ct.clone(),
                flowlog.clone(),
                macs.clone(),
            );
            Worker::new(MemIo::new(2, 1, 256, 64).expect("io"), pipeline, GW, 16)
        })
        .collect();
    // Pod B speaks (its ARP for the gateway) on a queue of worker 1 only.
    assert!(w_io(&mut workers[1]).inject(PortId(1), 0, &arp(1, POD_MACS[1], B, [0; 6], GW)));
    workers[1].step(&p, now()).expect("step");
    assert_eq!(
        w_io(&mut workers[1]).take_sent(PortId(1)).len(),
        1,
        "ARP reply"
    );
    // A's datagram reaches worker 0, which forwards it with the MAC worker 1 learned.
    let request = udp(POD_MACS[0], GW_MACS[0], A, B, (4001, 80));
    assert!(w_io(&mut workers[0]).inject(PortId(0), 0, &request));
    workers[0].step(&p, now()).expect("step");
    let sent = w_io(&mut workers[0]).take_sent(PortId(1));
    assert_eq!(sent.len(), 1, "{:?}", workers[0].stats());
    assert_eq!(&sent[0][0..6], &POD_MACS[1]);
    // B's reply arrives at worker 1: tracked in the shared table, so it passes although a
    // new flow B -> A is denied (pod a admits nothing).
    let reply = udp(POD_MACS[1], GW_MACS[1], B, A, (80, 4001));
    assert!(w_io(&mut workers[1]).inject(PortId(1), 0, &reply));
    workers[1].step(&p, now()).expect("step");
    assert_eq!(
        w_io(&mut workers[1]).take_sent(PortId(0)).len(),
        1,
        "the reply passes"
    );
    let fresh = udp(POD_MACS[1], GW_MACS[1], B, A, (81, 4001));
    assert!(w_io(&mut workers[1]).inject(PortId(1), 0, &fresh));
    workers[1].step(&p, now()).expect("step");
    assert!(
        w_io(&mut workers[1]).take_sent(PortId(0)).is_empty(),
        "new B -> A denied"
    );
    let s1 = workers[1].stats().pipeline;
    assert_eq!((s1.conntrack_hits, s1.policy_denies), (1, 1), "{s1:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_uplink_carries_non_local_traffic_to_the_next_hop_and_brings_replies_back() {
    use super::endpoints::{LocalPort, UplinkPort};
    const UPLINK_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xf]);
    const NEXT_HOP: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xee]);
    const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 9);
    let ports = vec![LocalPort {
        interface: "ha".into(),
        endpoints: vec!["x/a".into()],
        addrs: vec![IpAddr::V4(A)],
        mac: Some(MacAddr(POD_MACS[0])),
    }];
    let uplink = UplinkPort {
        port: 1,
        mac: UPLINK_MAC,
        next_hop: NEXT_HOP,
    };
    let (routes, _, warnings) =
        routes_for(&["ha".to_owned()], &GW_MACS[..1], Some(&uplink), &ports).expect("routes");
    assert!(warnings.is_empty(), "{warnings:?}");
    let p = Published {
        snapshot: Snapshot::default(),
        routes,
        probes: Vec::new(),
    };
    let mut w = worker(); // ports 0 (pod a) and 1 (uplink)
    let out = udp(POD_MACS[0], GW_MACS[0], A, REMOTE, (4100, 53));
    assert!(w_io(&mut w).inject(PortId(0), 0, &out));
    w.step(&p, now()).expect("step");
    let sent = w_io(&mut w).take_sent(PortId(1));
    assert_eq!(sent.len(), 1, "{:?}", w.stats());
    assert_eq!(&sent[0][0..6], &NEXT_HOP.0, "to the next hop");
    assert_eq!(&sent[0][6..12], &UPLINK_MAC.0, "from the uplink's MAC");
    // The answer comes back on the uplink and reaches pod a.
    let back = udp(NEXT_HOP.0, UPLINK_MAC, REMOTE, A, (53, 4100));
    assert!(w_io(&mut w).inject(PortId(1), 0, &back));
    w.step(&p, now()).expect("step");
    let sent = w_io(&mut w).take_sent(PortId(0));
    assert_eq!(sent.len(), 1, "{:?}", w.stats());
    assert_eq!(&sent[0][0..12], &[POD_MACS[0], GW_MACS[0].0].concat()[..]);
    // Transit (uplink to a non-local address) and a local source on the uplink are dropped.
    let transit = udp(
        NEXT_HOP.0,
        UPLINK_MAC,
        REMOTE,
        Ipv4Addr::new(192, 0, 2, 10),
        (1, 2),
    );
    let spoofed = udp(NEXT_HOP.0, UPLINK_MAC, A, A, (1, 2));
    assert!(w_io(&mut w).inject(PortId(1), 0, &transit));
    assert!(w_io(&mut w).inject(PortId(1), 0, &spoofed));
    w.step(&p, now()).expect("step");
    assert!(w_io(&mut w).take_sent(PortId(0)).is_empty());
    assert!(w_io(&mut w).take_sent(PortId(1)).is_empty());
    let drops = w.stats().pipeline.drops;
    use palisade_dataplane::packet::DropReason;
    assert_eq!(
        (
            drops.get(DropReason::NoRoute),
            drops.get(DropReason::SpoofedSource)
        ),
        (1, 1)
    );
}

#[test]
fn unresolved_ipv6_pods_get_a_neighbour_solicitation_from_the_gateway() {
    use palisade_dataplane::packet::{L3, L4Detail, parse_frame};
    use std::net::Ipv6Addr;
    let pod_b6 = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
    let mut w = worker();
    let mut r = RouteTable::builder();
    r.pod_port(0, GW_MACS[0]).pod_port(1, GW_MACS[1]);
    r.local(IpAddr::V6(pod_b6), 1, None);
    let p = Published {
        snapshot: Snapshot::default(),
        routes: r.build().expect("routes"),
        probes: vec![NeighbourProbe {
            port: 1,
            addr: IpAddr::V6(pod_b6),
            gateway_mac: GW_MACS[1],
        }],
    };
    assert_eq!(w.probe_neighbours(&p).expect("probe"), 1);
    w.step(&p, now()).expect("step sends the pending probe");
    let sent = w_io(&mut w).take_sent(PortId(1));
    assert_eq!(sent.len(), 1);
    let parsed = parse_frame(&sent[0]).expect("a well-formed frame");
    assert_eq!(parsed.eth_src, GW_MACS[1]);
    assert_eq!(
        &parsed.eth_dst.0[..3],
        &[0x33, 0x33, 0xff],
        "solicited-node group"
    );
    let L3::Ip(ip) = parsed.l3 else {
        panic!("not IP: {parsed:?}")
    };
    assert_eq!(
        ip.key.src,
        IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1))
    );
    assert!(
        matches!(ip.detail, L4Detail::NeighbourSolicitation { target, .. } if target == pod_b6),
        "{:?}",
        ip.detail
    );
    // Any frame from the pod (here its answer, an ARP request) teaches its MAC: no more probes.
    assert!(w_io(&mut w).inject(PortId(1), 0, &arp(1, POD_MACS[1], B, [0; 6], GW)));
    w.step(&p, now()).expect("step");
    assert_eq!(w.probe_neighbours(&p).expect("probe"), 0);
}

/// Runs `w` on its own thread until it has iterated a while, returns its final counters.
fn run_briefly(w: &mut Worker<MemIo>, pacing: Pacing) -> WorkerStats {
    let shared = ArcSwap::from_pointee(published(Snapshot::default(), None));
    let stop = AtomicBool::new(false);
    let report = Mutex::new(WorkerStats::default());
    std::thread::scope(|s| {
        let running = s.spawn(|| w.run(&shared, &stop, Instant::now(), pacing, &report));
        std::thread::sleep(Duration::from_millis(20));
        stop.store(true, Ordering::Relaxed);
        running.join().expect("worker thread").expect("worker run");
    });
    report.into_inner().expect("report")
}

#[test]
fn an_idle_worker_polls_through_the_busy_window_and_sleeps_after_it() {
    let mut w = worker();
    let no_window = Pacing {
        busy_poll: Duration::ZERO,
        idle_poll: Duration::from_millis(1),
    };
    let s = run_briefly(&mut w, no_window);
    assert!(s.idle_waits > 0, "{s:?}");
    assert_eq!(s.busy_polls, 0, "{s:?}");

    let endless_window = Pacing {
        busy_poll: Duration::from_secs(3600),
        idle_poll: Duration::from_millis(1),
    };
    let s = run_briefly(&mut worker(), endless_window);
    assert!(s.busy_polls > 0, "{s:?}");
    assert_eq!(s.idle_waits, 0, "{s:?}");
}

#[test]
fn frames_the_sockets_lost_show_in_the_worker_counters() {
    let mut w = worker();
    assert!(
        !w_io(&mut w).inject(PortId(0), 0, &[0; 4096]),
        "longer than a frame"
    );
    let s = w.stats();
    assert_eq!((s.kernel.rx_dropped, s.kernel_unreadable), (1, 0), "{s:?}");
}
