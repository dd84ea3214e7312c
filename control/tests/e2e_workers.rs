//! Privileged end-to-end: `palisade run` with `workers: 2` on veths of 2 queues.
//!
//! Three pods of namespace x behind 2-queue veths (`ethtool -L`), in namespaces this test
//! creates (removed on drop and on panic). Worker 0 binds queue 0 and worker 1 queue 1 of every
//! veth; a veth picks the queue by flow hash, so the flows of the probes spread over both
//! workers, and a reply may reach another worker than its request: the shared conntrack table
//! and learned MACs must make that work. A NetworkPolicy lets only pod a reach pod c.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use palisade_tests::cluster::{PodSpec, Probe, Protocol, Servers};
use palisade_tests::daemon::counter;
use palisade_tests::netns::VethOptions;
use palisade_tests::probe::{Feature, require};
use palisade_tests::scenario::Scenario;

const BIN: &str = env!("CARGO_BIN_EXE_palisade");

/// Only pod a may open connections to pod c; nothing restricts a and b.
const POLICY: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-from-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: c}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {pod: a}}}]
";

#[test]
fn e2e_two_workers_forward_both_ways_and_enforce_policy() {
    if !require(
        "e2e_two_workers_forward_both_ways_and_enforce_policy",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let two_queues = VethOptions {
        queues: Some(2),
        channels: Some(2),
    };
    let pods = vec![
        PodSpec::new("x", "a", [10, 85, 0, 1], "hwa"),
        PodSpec::new("x", "b", [10, 85, 0, 2], "hwb"),
        PodSpec::new("x", "c", [10, 85, 0, 3], "hwc"),
    ];
    let s = Scenario::with_veths(BIN, "node-w", pods, two_queues).expect("topology");
    s.store.write("policy.yaml", POLICY).unwrap();
    let config = s
        .config("workers.yaml", "workers: 2\nstats_interval_s: 0\n")
        .unwrap();
    let _servers = Servers::start(&s.cluster, &[80]).expect("servers");

    let daemon = s.start(Some(&config)).expect("palisade run starts");
    let log = daemon.log();
    assert!(
        log.iter()
            .any(|l| l.contains("ready") && l.contains("2 workers")),
        "two workers run"
    );
    for (worker, queues) in [(0, "queues=0..1"), (1, "queues=1..2")] {
        let bound = log
            .iter()
            .filter(|l| {
                l.contains("AF_XDP sockets bound")
                    && l.contains(&format!("worker={worker}"))
                    && l.contains(queues)
            })
            .count();
        assert_eq!(bound, 3, "worker {worker} binds {queues} of each veth");
    }

    // (from, to, allowed), each over TCP and UDP, 6 flows each (fresh source ports).
    let (a, b, c) = (0, 1, 2);
    let pairs = [
        (a, b, true),
        (b, a, true),
        (a, c, true),
        (c, a, true),
        (c, b, true),
        (b, c, false),
    ];
    let mut probes = Vec::new();
    let mut expected = Vec::new();
    for (from, to, allowed) in pairs {
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            for _ in 0..6 {
                probes.push(Probe {
                    from,
                    to,
                    protocol,
                    port: 80,
                });
                expected.push(allowed);
            }
        }
    }
    let results = s.cluster.probe(&probes, Duration::from_secs(3));
    let (status, log) = daemon.stop(Duration::from_secs(20)).expect("stop");
    assert!(status.success(), "{status}");
    let wrong: Vec<_> = probes
        .iter()
        .zip(results.iter().zip(&expected))
        .filter(|(_, (got, want))| got != want)
        .map(|(p, (got, _))| format!("{p:?}: reached={got}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "reachability differs from the policy: {wrong:?}"
    );

    // Both workers carried traffic, and the total is their sum.
    let per_worker: Vec<u64> = (0..2)
        .map(|w| counter(&log, &format!("worker {w} final counters"), "forwarded").unwrap())
        .collect();
    let total = counter(&log, "final counters", "forwarded").unwrap();
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "each worker forwarded frames: {per_worker:?}"
    );
    assert_eq!(per_worker.iter().sum::<u64>(), total, "totals add up");
    assert!(
        counter(&log, "final counters", "policy_denies").unwrap() > 0,
        "b -> c was denied by policy"
    );
}

/// One-queue veths and `workers: 2`: one worker runs (each needs a queue of its own on every
/// interface), the log says why, and traffic flows.
#[test]
fn e2e_fewer_queues_than_workers_runs_fewer_workers() {
    if !require(
        "e2e_fewer_queues_than_workers_runs_fewer_workers",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let pods = vec![
        PodSpec::new("x", "a", [10, 87, 0, 1], "hqa"),
        PodSpec::new("x", "b", [10, 87, 0, 2], "hqb"),
    ];
    let s = Scenario::new(BIN, "node-q1", pods).expect("topology");
    let config = s.config("workers.yaml", "workers: 2\n").unwrap();
    let _servers = Servers::start(&s.cluster, &[80]).expect("servers");
    let daemon = s.start(Some(&config)).expect("palisade run starts");
    let log = daemon.log();
    assert!(
        log.iter()
            .any(|l| l.contains("workers: 2 configured, running 1") && l.contains("1 RX queue")),
        "the reduction is explained"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("ready") && l.contains("1 workers"))
    );
    let probes: Vec<Probe> = [(0, 1), (1, 0)]
        .into_iter()
        .map(|(from, to)| Probe {
            from,
            to,
            protocol: Protocol::Tcp,
            port: 80,
        })
        .collect();
    let results = s.cluster.probe(&probes, Duration::from_secs(3));
    let (status, _) = daemon.stop(Duration::from_secs(20)).expect("stop");
    assert!(status.success(), "{status}");
    assert_eq!(results, vec![true, true], "{probes:?}");
}
