//! Shared helpers for semantics table tests: a fixed inventory, flow shorthand, traces.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::IpAddr;

use palisade_control::eval::{Engine, FlowDecision, Reason, ReferenceEvaluator, SideDecision};
use palisade_control::store::Store;
use palisade_dataplane::{FlowKey, IcmpFields};

/// Two namespaces, five pods (one dual-stack), two network sets and two host endpoints.
pub const INVENTORY: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {env: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {env: dev}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: websa, namespace: a, labels: {role: frontend}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: a, labels: {app: web, tier: front}}
spec:
  nodeName: n1
  serviceAccountName: websa
  containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: a, labels: {app: db}}
spec:
  nodeName: n1
  containers: [{name: c, ports: [{name: sql, containerPort: 5432}, {name: dns, containerPort: 53, protocol: UDP}]}]
status: {podIP: 10.0.1.2, podIPs: [{ip: 10.0.1.2}, {ip: "fd00::12"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: b, labels: {app: client}}
spec: {nodeName: n1}
status: {podIP: 10.0.2.1, podIPs: [{ip: 10.0.2.1}, {ip: "fd00::21"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: b, labels: {app: web}}
spec:
  nodeName: n1
  containers: [{name: c, ports: [{name: sql, containerPort: 5432, protocol: UDP}]}]
status: {podIP: 10.0.2.2}
---
apiVersion: v1
kind: Pod
metadata: {name: gone, namespace: b, labels: {app: gone}}
spec: {nodeName: n1}
status: {podIP: 10.0.2.9, phase: Succeeded}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: ext, labels: {kind: ext}}
spec: {nets: [192.0.2.0/24, "2001:db8::/32"]}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: partners, namespace: a, labels: {kind: partner}}
spec: {nets: [198.51.100.0/24]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: h1, labels: {host: "true"}}
spec: {node: n1, interfaceName: eth0, expectedIPs: [172.16.0.1]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: h2, labels: {host: "true"}}
spec: {node: n2, interfaceName: eth0, expectedIPs: [172.16.0.2], profiles: [projectcalico-default-allow]}
"#;

/// Load the inventory plus `policies`.
pub fn store(policies: &str) -> Store {
    let text = format!("{INVENTORY}\n---\n{policies}");
    match Store::from_text("case.yaml", &text) {
        Ok(s) => s,
        Err(e) => panic!("store did not load: {e}"),
    }
}

fn addr(s: &str) -> IpAddr {
    s.trim_matches(|c| c == '[' || c == ']')
        .parse()
        .unwrap_or_else(|_| panic!("bad address {s}"))
}

fn split_port(s: &str) -> (IpAddr, u16) {
    let (a, p) = s
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("no port in {s}"));
    (addr(a), p.parse().unwrap())
}

/// `tcp 10.0.2.1 -> 10.0.1.2:5432`, `udp 10.0.2.1:999 -> [fd00::12]:53`,
/// `icmp 10.0.2.1 -> 10.0.1.2 type=8 code=0`, `proto47 10.0.2.1 -> 10.0.1.2`.
pub fn flow(spec: &str) -> FlowKey {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let proto = words[0];
    let (src, dst) = (words[1], words[3]);
    match proto {
        "tcp" | "udp" | "sctp" => {
            let n = match proto {
                "tcp" => 6,
                "udp" => 17,
                _ => 132,
            };
            let (s, sp) = if src.contains("]:") || (src.matches(':').count() == 1) {
                split_port(src)
            } else {
                (addr(src), 40000)
            };
            let (d, dp) = split_port(dst);
            FlowKey::new(s, d, n, sp, dp)
        }
        "icmp" | "icmpv6" => {
            let mut f = IcmpFields::default();
            for w in &words[4..] {
                if let Some(t) = w.strip_prefix("type=") {
                    f.icmp_type = Some(t.parse().unwrap());
                }
                if let Some(c) = w.strip_prefix("code=") {
                    f.code = Some(c.parse().unwrap());
                }
            }
            let n = if proto == "icmp" { 1 } else { 58 };
            FlowKey::icmp(addr(src), addr(dst), n, f, 0)
        }
        p => {
            let n = p.trim_start_matches("proto").parse().unwrap();
            FlowKey::new(addr(src), addr(dst), n, 0, 0)
        }
    }
}

/// A side's decision in one word: `gnp:p#0`, `eot:default`, `profile`, `none`, `failsafe`.
pub fn trace(side: &SideDecision) -> String {
    match side.reason {
        Reason::Rule => format!(
            "{}#{}",
            side.policy
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            side.rule.unwrap_or(usize::MAX)
        ),
        Reason::EndOfTier => format!("eot:{}", side.tier.clone().unwrap_or_default()),
        Reason::Profile => "profile".into(),
        Reason::NoEndpoint => "none".into(),
        Reason::Failsafe => "failsafe".into(),
    }
}

/// Decide one flow with the reference evaluator.
pub fn decide(store: &Store, spec: &str) -> FlowDecision {
    ReferenceEvaluator::new(store).decide(&flow(spec))
}

/// One table row: flow, expected verdict, expected egress trace, expected ingress trace
/// (`*` = don't care).
pub type Row<'a> = (&'a str, &'a str, &'a str, &'a str);

/// Check every row against the store built from `policies`.
pub fn check(name: &str, policies: &str, rows: &[Row<'_>]) {
    let store = store(policies);
    for (spec, verdict, egress, ingress) in rows {
        let d = decide(&store, spec);
        let got_verdict = match d.verdict {
            palisade_control::eval::Verdict::Allow => "allow",
            palisade_control::eval::Verdict::Deny => "deny",
        };
        let (eg, ing) = (trace(&d.egress), trace(&d.ingress));
        let ok = got_verdict == *verdict
            && (*egress == "*" || eg == *egress)
            && (*ingress == "*" || ing == *ingress);
        assert!(
            ok,
            "case {name}: flow {spec}: expected {verdict} [{egress} | {ingress}], got {got_verdict} [{eg} | {ing}]"
        );
    }
}
