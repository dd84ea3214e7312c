//! The worker loop over the in-memory `MemIo`: ARP for the gateway, forwarding with rewrite,
//! policy drops from a compiled store, neighbour probes, an RCU swap between batches.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

use palisade_dataplane::conntrack::{ConntrackConfig, ConntrackTable, Timestamp};
use palisade_dataplane::flowlog::FlowLog;
use palisade_dataplane::forward::RouteTable;
use palisade_dataplane::packet::MacAddr;
use palisade_dataplane::pipeline::{Pipeline, PipelineConfig};
use palisade_dataplane::policy::Snapshot;
use palisade_xsk::{MemIo, PacketIo, PortId};

use super::endpoints::{NeighbourProbe, local_ports, routes_for};
use super::worker::{Published, Worker};
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
        addr: B,
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
