//! Privileged end-to-end: `palisade run` binds a socket on every RX queue of a veth.
//!
//! Two pods whose veths use 2 RX/TX queues (`ethtool -L`), in namespaces this test creates
//! (removed on drop and on panic). Frames may arrive on either queue (a veth picks the queue
//! of the sending CPU); every probe, in both directions, must get through.

use std::path::Path;
use std::time::Duration;

use palisade_tests::cluster::{Cluster, PodSpec, Probe, Protocol, Servers};
use palisade_tests::daemon::Daemon;
use palisade_tests::netns::VethOptions;
use palisade_tests::probe::{Feature, require};

const BIN: &str = env!("CARGO_BIN_EXE_palisade");

const INVENTORY: &str = "
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, annotations: {palisade.io/interface: hxa}}
spec: {nodeName: node-mq, containers: [{name: c, image: i}]}
status: {podIP: 10.82.0.1, phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: y, annotations: {palisade.io/interface: hyb}}
spec: {nodeName: node-mq, containers: [{name: c, image: i}]}
status: {podIP: 10.82.0.2, phase: Running}
";

#[test]
fn e2e_sockets_on_every_queue() {
    if !require(
        "e2e_sockets_on_every_queue",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let spec = |namespace: &str, name: &str, ip: [u8; 4], host_if: &str| PodSpec {
        namespace: namespace.into(),
        name: name.into(),
        ip: ip.into(),
        host_if: host_if.into(),
    };
    let cluster = Cluster::with_veths(
        vec![
            spec("x", "a", [10, 82, 0, 1], "hxa"),
            spec("y", "b", [10, 82, 0, 2], "hyb"),
        ],
        VethOptions {
            queues: Some(2),
            channels: Some(2),
        },
    )
    .expect("topology");
    let _servers = Servers::start(&cluster, &[80, 81]).expect("servers");
    let store = std::env::temp_dir().join(format!("palisade-e2e-mq-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    std::fs::create_dir_all(&store).expect("store dir");
    std::fs::write(store.join("inventory.yaml"), INVENTORY).expect("inventory");

    let daemon = Daemon::start(
        &cluster.node,
        Path::new(BIN),
        &store,
        "node-mq",
        None,
        Duration::from_secs(60),
    )
    .expect("palisade run starts");
    let two_queues = daemon
        .log()
        .iter()
        .filter(|l| l.contains("AF_XDP sockets bound") && l.contains("queues=0..2"))
        .count();
    assert_eq!(two_queues, 2, "a socket on both queues of both veths");

    let mut probes = Vec::new();
    for (from, to) in [(0, 1), (1, 0)] {
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            for port in [80, 81] {
                for _ in 0..4 {
                    probes.push(Probe {
                        from,
                        to,
                        protocol,
                        port,
                    });
                }
            }
        }
    }
    let results = cluster.probe(&probes, Duration::from_secs(3));
    let failed: Vec<_> = probes
        .iter()
        .zip(&results)
        .filter(|(_, ok)| !**ok)
        .map(|(p, _)| p)
        .collect();
    let (status, _) = daemon.stop(Duration::from_secs(20)).expect("stop");
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&store);
    assert!(failed.is_empty(), "unreachable: {failed:?}");
}
