//! Privileged end-to-end: `palisade run` binds a socket on every RX queue of a veth.
//!
//! Two pods whose veths use 2 RX/TX queues (`ethtool -L`), in namespaces this test creates
//! (removed on drop and on panic). Frames may arrive on either queue (a veth picks the queue
//! of the sending CPU); every probe, in both directions, must get through.

use std::time::Duration;

use palisade_tests::cluster::{PodSpec, Probe, Protocol, Servers};
use palisade_tests::netns::VethOptions;
use palisade_tests::probe::{Feature, require};
use palisade_tests::scenario::Scenario;

const BIN: &str = env!("CARGO_BIN_EXE_palisade");

#[test]
fn e2e_sockets_on_every_queue() {
    if !require(
        "e2e_sockets_on_every_queue",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let two_queues = VethOptions {
        queues: Some(2),
        channels: Some(2),
    };
    let pods = vec![
        PodSpec::new("x", "a", [10, 82, 0, 1], "hxa"),
        PodSpec::new("y", "b", [10, 82, 0, 2], "hyb"),
    ];
    let s = Scenario::with_veths(BIN, "node-mq", pods, two_queues).expect("topology");
    let _servers = Servers::start(&s.cluster, &[80, 81]).expect("servers");

    let daemon = s.start(None).expect("palisade run starts");
    let bound = daemon
        .log()
        .iter()
        .filter(|l| l.contains("AF_XDP sockets bound") && l.contains("queues=0..2"))
        .count();
    assert_eq!(bound, 2, "a socket on both queues of both veths");

    // Each probe four times: a new flow (source port) each, so both queues get some.
    let probes: Vec<Probe> = Probe::all(
        &[(0, 1), (1, 0)],
        &[Protocol::Tcp, Protocol::Udp],
        &[80, 81],
    )
    .into_iter()
    .flat_map(|p| [p; 4])
    .collect();
    let results = s.cluster.probe(&probes, Duration::from_secs(3));
    let failed: Vec<_> = probes
        .iter()
        .zip(&results)
        .filter(|(_, ok)| !**ok)
        .map(|(p, _)| p)
        .collect();
    let (status, _) = daemon.stop(Duration::from_secs(20)).expect("stop");
    assert!(status.success(), "{status}");
    assert!(failed.is_empty(), "unreachable: {failed:?}");
}
