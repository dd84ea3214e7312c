//! Privileged end-to-end: `palisade run` enforcing the Kubernetes upstream network-policy
//! topology, compared with `palisade eval` on the same store.
//!
//! ```text
//!  pod ns x-a .. z-c (9)           node ns                                  palisade run
//!  eth0 10.77.0.N/32 ── veth ── h<ns><pod> [XDP] ─┐ AF_XDP sockets, one UMEM, 1 worker
//!  default via 169.254.1.1                          └ pipeline: ARP, route, conntrack, policy
//! ```
//!
//! Everything lives in namespaces this test creates (removed on drop and on panic); nothing is
//! added to the root namespace. Namespaces x, y, z each hold pods a, b, c with TCP and UDP
//! servers on ports 80 and 81. One `palisade run` (no config file: fail-closed, defaults)
//! serves every case; between cases the store is rewritten and reloaded with SIGHUP, and only
//! new connections are probed. For each case, the observed reachability of every pod pair on
//! both ports and protocols must equal `palisade eval`'s verdicts for the same store.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use palisade_tests::cluster::{Cluster, PodSpec, Probe, Protocol, Servers, all_pairs};
use palisade_tests::daemon::Daemon;
use palisade_tests::probe::{Feature, require};
use palisade_tests::scenario::TempDir;
use palisade_tests::verdicts;

const BIN: &str = env!("CARGO_BIN_EXE_palisade");
const NODE: &str = "node-e2e";
const NAMESPACES: [&str; 3] = ["x", "y", "z"];
const PODS: [&str; 3] = ["a", "b", "c"];
const PORTS: [u16; 2] = [80, 81];
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

fn pod_specs() -> Vec<PodSpec> {
    let mut specs = Vec::new();
    for (i, ns) in NAMESPACES.iter().enumerate() {
        for (j, pod) in PODS.iter().enumerate() {
            specs.push(PodSpec {
                namespace: (*ns).into(),
                name: (*pod).into(),
                ip: std::net::Ipv4Addr::new(10, 77, 0, (i * 3 + j + 1) as u8).into(),
                host_if: format!("h{ns}{pod}"),
            });
        }
    }
    specs
}

/// Namespaces and pods as `kubectl get -o yaml` would print them (trimmed).
fn inventory(specs: &[PodSpec]) -> String {
    let mut y = String::new();
    for ns in NAMESPACES {
        let _ = write!(
            y,
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels: {{ns: {ns}}}\n---\n"
        );
    }
    for p in specs {
        let _ = write!(
            y,
            "apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
  labels: {{pod: {name}}}
  annotations: {{palisade.io/interface: {hif}}}
spec:
  nodeName: {NODE}
  containers:
  - name: cont-80-81
    image: agnhost
    ports:
    - {{name: serve-80-tcp, containerPort: 80, protocol: TCP}}
    - {{name: serve-80-udp, containerPort: 80, protocol: UDP}}
    - {{name: serve-81-tcp, containerPort: 81, protocol: TCP}}
    - {{name: serve-81-udp, containerPort: 81, protocol: UDP}}
status:
  phase: Running
  podIP: {ip}
  podIPs: [{{ip: {ip}}}]
---
",
            name = p.name,
            ns = p.namespace,
            hif = p.host_if,
            ip = p.ip,
        );
    }
    y
}

/// The policy cases: (name, manifests).
fn cases() -> Vec<(&'static str, &'static str)> {
    vec![
        ("no-policy", ""),
        (
            "default-deny-ingress-in-x",
            "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
",
        ),
        (
            "allow-from-same-namespace-x",
            "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-same-ns, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector: {}
",
        ),
        (
            "namespace-and-pod-selector",
            "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-y-b-to-x-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
      podSelector: {matchLabels: {pod: b}}
",
        ),
        (
            "egress-ipblock-except",
            "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: x-a-egress, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock:
        cidr: 10.77.0.0/24
        except: [10.77.0.4/31]
",
        ),
        (
            "calico-tier-pass",
            "apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.guard-y}
spec:
  tier: security
  order: 10
  selector: projectcalico.org/namespace == 'y'
  types: [Ingress]
  ingress:
  - action: Pass
    source: {selector: pod == 'a'}
  - action: Deny
    protocol: TCP
    destination: {ports: [81]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: y-c-from-z, namespace: y}
spec:
  podSelector: {matchLabels: {pod: c}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: z}}
",
        ),
        (
            "named-ports",
            "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named-ports, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports:
    - {port: serve-80-tcp}
    - {port: serve-81-udp, protocol: UDP}
",
        ),
    ]
}

/// Cases that also probe ICMP echo between every pair.
const ICMP_CASES: [&str; 2] = ["default-deny-ingress-in-x", "calico-tier-pass"];

fn icmp_matrix(n: usize) -> Vec<Probe> {
    Probe::all(&all_pairs(n), &[Protocol::Icmp], &[])
}

/// Allowed probes whose reverse (a new flow the other way) is denied: their replies pass only
/// because conntrack knows the connection.
fn replies_only_by_conntrack(probes: &[Probe], expected: &[bool]) -> usize {
    probes
        .iter()
        .zip(expected)
        .filter(|&(p, &allowed)| {
            allowed
                && probes.iter().zip(expected).any(|(q, &back)| {
                    !back
                        && q.from == p.to
                        && q.to == p.from
                        && q.protocol == p.protocol
                        && q.port == p.port
                })
        })
        .count()
}

fn matrix(n: usize) -> Vec<Probe> {
    Probe::all(&all_pairs(n), &[Protocol::Tcp, Protocol::Udp], &PORTS)
}

/// `palisade eval` verdicts (true = allow) for `probes` against `store`.
fn eval(store: &Path, specs: &[PodSpec], probes: &[Probe]) -> Vec<bool> {
    verdicts::eval(Path::new(BIN), store, specs, probes).expect("palisade eval")
}

/// The store: `inventory.yaml` and `policy.yaml`.
fn write_store(store: &TempDir, inventory: &str, policy: &str) {
    store.write("policy.yaml", policy).expect("policy.yaml");
    store
        .write("inventory.yaml", inventory)
        .expect("inventory.yaml");
}

#[test]
fn e2e_policy_matrix_matches_eval() {
    if !require(
        "e2e_policy_matrix_matches_eval",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let t0 = Instant::now();
    let specs = pod_specs();
    let cluster = Cluster::new(specs.clone()).expect("topology");
    let _servers = Servers::start(&cluster, &PORTS).expect("pod servers");
    let inv = inventory(&specs);
    let store = TempDir::new("policy-store").expect("store dir");
    write_store(&store, &inv, "");
    eprintln!("topology ready in {:?}", t0.elapsed());

    let mut daemon = Daemon::start(
        &cluster.node,
        Path::new(BIN),
        store.path(),
        NODE,
        None,
        Duration::from_secs(60),
    )
    .expect("palisade run starts");
    let attached = daemon
        .log()
        .iter()
        .filter(|l| l.contains("attached XDP redirect"))
        .count();
    assert_eq!(attached, specs.len(), "one program per pod interface");
    for (spec, _) in &cluster.pods {
        assert!(
            cluster.node.has_xdp(&spec.host_if).expect("ip link"),
            "{} has XDP",
            spec.host_if
        );
    }

    let mut failures = Vec::new();
    let mut reply_only = 0;
    for (generation, (name, policy)) in (1u64..).zip(cases()) {
        let mut probes = matrix(specs.len());
        if ICMP_CASES.contains(&name) {
            probes.extend(icmp_matrix(specs.len()));
        }
        let tc = Instant::now();
        if generation > 1 {
            write_store(&store, &inv, policy);
            daemon
                .reload(generation, Duration::from_secs(30))
                .expect("reload");
        }
        let expected = eval(store.path(), &specs, &probes);
        let allowed = expected.iter().filter(|a| **a).count();
        let replies = replies_only_by_conntrack(&probes, &expected);
        reply_only += replies;
        let wrong = verdicts::disagreements(&cluster, &probes, &expected, PROBE_TIMEOUT);
        eprintln!(
            "case {name}: {allowed}/{} allowed by eval ({replies} of them with replies the \
             policy alone would deny), {} disagreements, {:?}",
            probes.len(),
            wrong.len(),
            tc.elapsed()
        );
        failures.extend(wrong.into_iter().map(|w| format!("[{name}] {w}")));
    }

    let (status, log) = daemon
        .stop(Duration::from_secs(20))
        .expect("palisade stops");
    assert!(status.success(), "clean exit: {status}");
    assert!(
        log.iter().any(|l| l.contains("final counters")),
        "counters logged at exit"
    );
    for (spec, _) in &cluster.pods {
        assert!(
            !cluster.node.has_xdp(&spec.host_if).expect("ip link"),
            "{} detached after a clean stop",
            spec.host_if
        );
    }
    eprintln!("e2e policy matrix: {:?} in all", t0.elapsed());
    assert!(
        reply_only > 0,
        "some allowed probes must need conntrack for their replies"
    );
    assert!(
        failures.is_empty(),
        "{} probes disagree with palisade eval:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
