//! Privileged, ignored by default (a measurement, not a check): UDP forwarding rate through
//! `palisade run` between two pods, one flow and 256 flows, under an allow-all store and under
//! a store with a policy on the receiver.
//!
//! `cargo test -p palisade-control --test e2e_throughput -- --ignored --nocapture`; set
//! `PALISADE_BIN` to measure another build of the binary (e.g. target/release/palisade).
//! Prints one JSON line per measurement.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use palisade_tests::cluster::{Cluster, PodSpec};
use palisade_tests::probe::{Feature, require};
use palisade_tests::scenario::Scenario;

const A: Ipv4Addr = Ipv4Addr::new(10, 81, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 81, 0, 2);

const POLICY: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-from-x, namespace: y}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}
    ports: [{port: 9000, protocol: UDP}]
";

fn binary() -> PathBuf {
    std::env::var_os("PALISADE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_palisade")))
}

/// Sends 64-byte datagrams from `flows` sockets round robin for `window`; returns
/// (sent, received) counts.
fn blast(cluster: &Cluster, flows: usize, window: Duration) -> (u64, u64) {
    let rx = cluster.pods[1]
        .1
        .run_in(|| UdpSocket::bind((B, 9000)))
        .expect("enter b")
        .expect("bind b");
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let senders: Vec<UdpSocket> = cluster.pods[0]
        .1
        .run_in(|| {
            (0..flows)
                .map(|_| UdpSocket::bind((A, 0)).expect("bind a"))
                .collect()
        })
        .expect("enter a");
    let done = AtomicBool::new(false);
    let received = AtomicU64::new(0);
    let mut sent = 0u64;
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut buf = [0u8; 128];
            while !done.load(Ordering::Relaxed) {
                if rx.recv(&mut buf).is_ok() {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let payload = [0x5a_u8; 22]; // 14 + 20 + 8 + 22 = 64-byte frames
        let start = Instant::now();
        let mut i = 0usize;
        while start.elapsed() < window {
            for _ in 0..64 {
                if senders[i % flows].send_to(&payload, (B, 9000)).is_ok() {
                    sent += 1;
                }
                i += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        done.store(true, Ordering::Relaxed);
    });
    (sent, received.load(Ordering::Relaxed))
}

#[test]
#[ignore = "a measurement; run with --ignored"]
fn e2e_udp_throughput() {
    if !require(
        "e2e_udp_throughput",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let bin = binary();
    let pods = vec![
        PodSpec::new("x", "a", A, "hxa"),
        PodSpec::new("y", "b", B, "hyb"),
    ];
    let s = Scenario::new(&bin.to_string_lossy(), "node-tput", pods).expect("topology");
    for (store, policy) in [("allow-all", ""), ("policy", POLICY)] {
        s.store.write("policy.yaml", policy).expect("policy");
        let daemon = s.start(None).expect("palisade run");
        for flows in [1usize, 256] {
            let window = Duration::from_secs(2);
            let (sent, got) = blast(&s.cluster, flows, window);
            println!(
                "{{\"binary\": {:?}, \"store\": \"{store}\", \"flows\": {flows}, \"sent_pps\": {}, \"received_pps\": {}}}",
                bin.display().to_string(),
                sent / window.as_secs(),
                got / window.as_secs()
            );
        }
        let (status, _) = daemon.stop(Duration::from_secs(20)).expect("stop");
        assert!(status.success());
    }
}
