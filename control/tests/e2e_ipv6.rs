//! Privileged end-to-end: IPv6 between two pods through `palisade run`.
//!
//! Two IPv6-only pods, x/a and y/b, in namespaces this test creates (removed on drop and on
//! panic), each with a /128 on `eth0` and its default route via fe80::1 (Calico's convention:
//! Palisade answers the pods' neighbour solicitations for it). TCP and UDP servers on ports 80
//! and 81 in both pods. With no policy every TCP, UDP and ICMPv6 echo probe in both directions
//! must pass; under a policy the observed reachability must equal `palisade eval`'s verdicts,
//! including replies that only conntrack lets back.
//!
//! A second test checks, without palisade, that a Linux pod accepts the neighbour solicitation
//! the dataplane builds to resolve a quiet IPv6 pod (it learns the gateway from it). A third
//! requires a quiet IPv6 pod — one whose kernel sends no solicitation, MLD report or router
//! solicitation of its own — to be reachable: palisade must find its MAC itself, by soliciting
//! it as it sends ARP probes to quiet IPv4 pods.

use std::net::Ipv6Addr;
use std::path::Path;
use std::time::Duration;

use palisade_dataplane::neigh::build_neighbour_solicitation;
use palisade_dataplane::packet::MacAddr;
use palisade_tests::cluster::{Cluster, GATEWAY_V6, PodSpec, Probe, Protocol, Servers};
use palisade_tests::daemon::drops_by_reason;
use palisade_tests::frames::inject;
use palisade_tests::probe::{Feature, require};
use palisade_tests::scenario::Scenario;
use palisade_tests::verdicts::{describe, disagreements, eval};

const BIN: &str = env!("CARGO_BIN_EXE_palisade");
const A: Ipv6Addr = Ipv6Addr::new(0xfd79, 6, 0, 0, 0, 0, 0, 1);
const B: Ipv6Addr = Ipv6Addr::new(0xfd79, 6, 0, 0, 0, 0, 0, 2);
const PORTS: [u16; 2] = [80, 81];
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// y/b accepts only TCP 80 from x/a; x/a accepts only ICMPv6 echo (from anywhere), so b's TCP
/// and UDP to a are denied while a's connections to b get their replies through conntrack.
const POLICY: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-tcp-80-from-a, namespace: y}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - ipBlock: {cidr: 'fd79:6::1/128'}
    ports: [{port: 80, protocol: TCP}]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: a-ping-only, namespace: x}
spec:
  selector: pod == 'a'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: ICMPv6
    icmp: {type: 128}
";

fn probes() -> Vec<Probe> {
    let protocols = [Protocol::Tcp, Protocol::Udp, Protocol::Icmp];
    Probe::all(&[(0, 1), (1, 0)], &protocols, &PORTS)
}

#[test]
fn e2e_ipv6_two_pods() {
    if !require(
        "e2e_ipv6_two_pods",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let pods = vec![
        PodSpec::new("x", "a", A, "h6a"),
        PodSpec::new("y", "b", B, "h6b"),
    ];
    let s = Scenario::new(BIN, "node-v6", pods).expect("topology");
    let _servers = Servers::start(&s.cluster, &PORTS).expect("servers");
    let mut daemon = s.start(None).expect("palisade run starts");
    let probes = probes();
    let expected = eval(Path::new(BIN), s.store.path(), &s.specs(), &probes).expect("eval");
    assert!(expected.iter().all(|a| *a), "no policy: eval allows all");
    let open = disagreements(&s.cluster, &probes, &expected, PROBE_TIMEOUT);

    s.store.write("policy.yaml", POLICY).expect("policy");
    daemon.reload(2, Duration::from_secs(30)).expect("reload");
    let expected = eval(Path::new(BIN), s.store.path(), &s.specs(), &probes).expect("eval");
    let allowed: Vec<String> = probes
        .iter()
        .zip(&expected)
        .filter(|(_, a)| **a)
        .map(|(p, _)| describe(&s.specs(), p))
        .collect();
    eprintln!("under the policy eval allows: {allowed:?}");
    assert!(
        expected.iter().any(|a| *a) && expected.iter().any(|a| !*a),
        "the policy allows some probes and denies others"
    );
    let policed = disagreements(&s.cluster, &probes, &expected, PROBE_TIMEOUT);

    let (status, log) = daemon.stop(Duration::from_secs(20)).expect("stop");
    assert!(status.success(), "clean exit: {status}");
    eprintln!("drops: {:?}", drops_by_reason(&log, "final counters"));
    assert!(
        open.is_empty() && policed.is_empty(),
        "IPv6 probes disagree with palisade eval:\nno policy: {open:#?}\nunder the policy: \
         {policed:#?}"
    );
}

#[test]
fn e2e_ipv6_pod_accepts_the_gateway_solicitation() {
    if !require(
        "e2e_ipv6_pod_accepts_the_gateway_solicitation",
        &[Feature::Netns],
    ) {
        return;
    }
    let cluster = Cluster::new(vec![PodSpec::new("x", "a", A, "h6a")]).expect("topology");
    let pod = &cluster.pods[0].1;
    let gateway_mac = cluster.node.mac("h6a").expect("gateway MAC");
    let mut frame = vec![0u8; 128];
    let len = build_neighbour_solicitation(&mut frame, None, MacAddr(gateway_mac), GATEWAY_V6, A)
        .expect("solicitation");
    frame.truncate(len);
    let lladdr = gateway_mac.map(|b| format!("{b:02x}")).join(":");
    let learned = || {
        let out = pod
            .ip(&["-6", "neigh", "show", "dev", "eth0"])
            .expect("ip neigh");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.starts_with("fe80::1 ") && l.contains(&lladdr))
    };
    assert!(
        !learned(),
        "the pod knows no gateway before the solicitation"
    );
    inject(&cluster.node, "h6a", &[frame]).expect("trafgen");
    let start = std::time::Instant::now();
    while !learned() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        learned(),
        "the pod learned fe80::1 at {lladdr} from the solicitation (a valid NS for its address)"
    );
}

#[test]
fn e2e_ipv6_quiet_pod_is_resolved() {
    if !require(
        "e2e_ipv6_quiet_pod_is_resolved",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let pods = vec![
        PodSpec::new("x", "a", A, "h6a"),
        PodSpec::new("y", "b", B, "h6b"),
    ];
    let s = Scenario::new(BIN, "node-v6q", pods).expect("topology");
    let _servers = Servers::start(&s.cluster, &PORTS).expect("servers");
    // y/b says nothing unprompted: no multicast ICMPv6 (neighbour and router solicitations,
    // MLD reports) leaves it. It still answers solicitations, and its unicast neighbour
    // unreachability probes still go out.
    s.cluster.pods[1]
        .1
        .exec(
            "ip6tables",
            &[
                "-A",
                "OUTPUT",
                "-p",
                "ipv6-icmp",
                "-d",
                "ff00::/8",
                "-j",
                "DROP",
            ],
        )
        .expect("ip6tables in y/b");
    let config = s
        .config("palisade.yaml", "failure_mode: open\npin_workers: false\n")
        .expect("config");
    let daemon = s.start(Some(&config)).expect("palisade run starts");
    let a_to_b = Probe::all(&[(0, 1)], &[Protocol::Udp, Protocol::Tcp], &[80]);
    let got = disagreements(&s.cluster, &a_to_b, &[true, true], PROBE_TIMEOUT);
    let (status, log) = daemon.stop(Duration::from_secs(20)).expect("stop");
    assert!(status.success(), "clean exit: {status}");
    assert!(
        got.is_empty(),
        "x/a cannot reach the quiet y/b: {got:?}; drops {:?}",
        drops_by_reason(&log, "final counters")
    );
}
