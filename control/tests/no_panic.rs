//! No input reaches a panic: random text and random mutations of valid manifests either load
//! or return an error.

#![allow(clippy::unwrap_used)]

use palisade_control::flows::parse_flows;
use palisade_control::store::Store;
use proptest::prelude::*;

const SEED: &str = r#"apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec:
  order: 10
  selector: app == 'db' && has(x)
  namespaceSelector: env in {'a', 'b'}
  ingress:
  - action: Allow
    protocol: TCP
    source: {nets: [10.0.0.0/8], notSelector: "!has(q)", ports: ['1:2', http]}
    destination: {ports: [80]}
  - action: Allow
    protocol: ICMP
    icmp: {type: 8, code: 0}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: k, namespace: a}
spec:
  podSelector: {matchExpressions: [{key: a, operator: In, values: [b]}]}
  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}], ports: [{port: 80, endPort: 90}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: a, labels: {a: b}}
spec: {nodeName: n, containers: [{name: c, ports: [{name: http, containerPort: 80}]}]}
status: {podIP: 10.0.0.1}
"#;

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        let _ = Store::from_text("r.yaml", &text);
        let _ = Store::from_text("r.json", &text);
        let _ = parse_flows("r", &text);
    }

    #[test]
    fn mutated_manifests_never_panic(pos in 0usize..SEED.len(), len in 0usize..8, insert in "[ -~\\n]{0,6}") {
        let mut text = SEED.to_string();
        let start = (0..=pos).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let end = (start + len).min(text.len());
        let end = (end..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        text.replace_range(start..end, &insert);
        let _ = Store::from_text("m.yaml", &text);
    }

    #[test]
    fn mutated_flows_never_panic(line in r#"\{("(src|dst|protocol|dst_port|src_port|icmp_type|id)": ("[0-9a-f.:]{0,12}"|-?[0-9]{1,6}|null|true), ?){0,7}\}"#) {
        let _ = parse_flows("f", &line);
    }
}
