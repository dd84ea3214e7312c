//! Privileged end-to-end: traffic between pods and a host behind the node's uplink.
//!
//! Two pods of namespace x, and a "remote" namespace joined to the node namespace's uplink
//! veth `hup` (all created here, removed on drop and on panic). `palisade run` attaches to the
//! pods' veths and to `hup` (config `uplink: {interface: hup, next_hop_mac: <remote's MAC>}`).
//! The remote routes the pods' network on-link and reaches them through Palisade's proxy ARP on
//! the uplink; the pods reach the remote through their gateway. A NetworkPolicy admits into pod
//! b only pods of its namespace: the remote (no endpoint) reaches a but not b, while both pods
//! reach the remote (egress is open, and replies pass by conntrack). The same runs over IPv6
//! (IPv6-only pods and remote; proxy neighbour discovery on the uplink).

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use palisade_tests::cluster::{PodSpec, Protocol, probe_in as probe};
use palisade_tests::daemon::counter;
use palisade_tests::probe::{Feature, require};
use palisade_tests::remote::Remote;
use palisade_tests::scenario::Scenario;

const BIN: &str = env!("CARGO_BIN_EXE_palisade");

/// A probe to run (in parallel with the others): whether it got through.
type Check<'a> = Box<dyn Fn() -> bool + Sync + 'a>;

/// One family's addresses: pods a and b, their network, and the remote.
struct Addrs {
    a: IpAddr,
    b: IpAddr,
    pods: &'static str,
    remote: IpAddr,
}

const V4: Addrs = Addrs {
    a: IpAddr::V4(Ipv4Addr::new(10, 86, 0, 1)),
    b: IpAddr::V4(Ipv4Addr::new(10, 86, 0, 2)),
    pods: "10.86.0.0/24",
    remote: IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)),
};

const V6: Addrs = Addrs {
    a: IpAddr::V6(Ipv6Addr::new(0xfd86, 0, 0, 0, 0, 0, 0, 1)),
    b: IpAddr::V6(Ipv6Addr::new(0xfd86, 0, 0, 0, 0, 0, 0, 2)),
    pods: "fd86::/64",
    remote: IpAddr::V6(Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, 1)),
};

/// Pod b accepts connections only from pods of namespace x.
const POLICY: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-from-x-only, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {}}]
";

#[test]
fn e2e_pods_and_a_remote_host_through_the_uplink() {
    if require(
        "e2e_pods_and_a_remote_host_through_the_uplink",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        through_the_uplink(&V4, "node-up");
    }
}

#[test]
fn e2e_ipv6_pods_and_a_remote_host_through_the_uplink() {
    if require(
        "e2e_ipv6_pods_and_a_remote_host_through_the_uplink",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        through_the_uplink(&V6, "node-up6");
    }
}

/// The whole test for one address family (node namespace `node`).
fn through_the_uplink(addrs: &Addrs, node: &str) {
    let pods = vec![
        PodSpec::new("x", "a", addrs.a, "hua"),
        PodSpec::new("x", "b", addrs.b, "hub"),
    ];
    let s = Scenario::new(BIN, node, pods).expect("topology");
    s.store.write("policy.yaml", POLICY).unwrap();
    let remote =
        Remote::attach(&s.cluster.node, "hup", addrs.remote, addrs.pods, &[80]).expect("remote");
    let config = s
        .config(
            "uplink.yaml",
            &format!(
                "uplink: {{interface: hup, next_hop_mac: \"{}\"}}\nstats_interval_s: 0\n",
                remote.mac_text()
            ),
        )
        .unwrap();
    let _servers = palisade_tests::cluster::Servers::start(&s.cluster, &[80]).expect("pod servers");

    let daemon = s.start(Some(&config)).expect("palisade run starts");
    assert!(
        daemon
            .log()
            .iter()
            .any(|l| l.contains("ready") && l.contains("uplink hup")),
        "the uplink is attached"
    );

    let pod = |i: usize| &s.cluster.pods[i].1;
    let t = Duration::from_secs(3);
    let (a, b, r) = (addrs.a, addrs.b, addrs.remote);
    // (description, expected, outcome); all probes run at once.
    let cases: Vec<(&str, bool, Check<'_>)> = vec![
        (
            "a -> remote TCP",
            true,
            Box::new(|| probe(pod(0), a, r, Protocol::Tcp, 80, t)),
        ),
        (
            "a -> remote UDP",
            true,
            Box::new(|| probe(pod(0), a, r, Protocol::Udp, 80, t)),
        ),
        (
            "a -> remote ICMP",
            true,
            Box::new(|| probe(pod(0), a, r, Protocol::Icmp, 0, t)),
        ),
        (
            "b -> remote TCP",
            true,
            Box::new(|| probe(pod(1), b, r, Protocol::Tcp, 80, t)),
        ),
        (
            "b -> remote UDP",
            true,
            Box::new(|| probe(pod(1), b, r, Protocol::Udp, 80, t)),
        ),
        (
            "remote -> a TCP",
            true,
            Box::new(|| probe(&remote.ns, r, a, Protocol::Tcp, 80, t)),
        ),
        (
            "remote -> a UDP",
            true,
            Box::new(|| probe(&remote.ns, r, a, Protocol::Udp, 80, t)),
        ),
        (
            "remote -> b TCP",
            false,
            Box::new(|| probe(&remote.ns, r, b, Protocol::Tcp, 80, t)),
        ),
        (
            "remote -> b UDP",
            false,
            Box::new(|| probe(&remote.ns, r, b, Protocol::Udp, 80, t)),
        ),
        (
            "a -> b TCP",
            true,
            Box::new(|| probe(pod(0), a, b, Protocol::Tcp, 80, t)),
        ),
    ];
    let outcomes: Vec<bool> = std::thread::scope(|sc| {
        let handles: Vec<_> = cases.iter().map(|(_, _, f)| sc.spawn(f)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .collect()
    });
    // The remote learned pod a's address at the uplink's MAC (proxy ARP/ND).
    let uplink_mac = s.cluster.node.mac("hup").unwrap();
    let neigh = remote.ns.ip(&["neigh", "show", &a.to_string()]).unwrap();
    let neigh = String::from_utf8_lossy(&neigh.stdout).to_lowercase();

    let (status, log) = daemon.stop(Duration::from_secs(20)).expect("stop");
    assert!(status.success(), "{status}");
    let wrong: Vec<_> = cases
        .iter()
        .zip(&outcomes)
        .filter(|((_, want, _), got)| want != *got)
        .map(|((what, want, _), _)| format!("{what}: expected reachable={want}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:?}");
    let mac_text: Vec<String> = uplink_mac.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        neigh.contains(&mac_text.join(":")),
        "remote's neighbour entry for pod a: {neigh}"
    );
    assert!(
        counter(&log, "final counters", "policy_denies").unwrap() > 0,
        "remote -> b denied by policy"
    );
}
