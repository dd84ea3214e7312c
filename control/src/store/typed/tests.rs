//! The one-pass typed parse against the value path, on ordinary and awkward documents.

use std::path::Path;

use super::super::load::{Loaded, load_text_via_value, load_yaml_typed};

fn render(loaded: &Loaded) -> String {
    format!("{:?}\n{:?}", loaded.objects, loaded.skipped)
}

/// The typed parse of `text`, if it succeeded, must equal the value parse.
fn typed_agrees(text: &str) -> bool {
    let mut typed = Loaded::default();
    let typed_ok = load_yaml_typed(Path::new("t.yaml"), text, &mut typed);
    let mut reference = Loaded::default();
    let reference_ok = load_text_via_value(Path::new("t.yaml"), text, &mut reference);
    match (typed_ok, reference_ok) {
        (Some(count), Ok(ref_count)) => {
            assert_eq!(render(&typed), render(&reference), "{text}");
            assert_eq!(count, ref_count);
            true
        }
        (Some(_), Err(e)) => {
            panic!("typed parse accepted what the value path rejects ({e}):\n{text}")
        }
        (None, _) => false,
    }
}

const POLICY: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: y, labels: {a: b}}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress]
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.1/32, except: []}}, {namespaceSelector: {matchExpressions: [{key: k, operator: In, values: [v]}]}}]
    ports: [{protocol: UDP, port: 9000, endPort: 9999}, {port: http}]
";

#[test]
fn ordinary_documents_take_the_typed_path() {
    let calico = "apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec:
  tier: default
  order: 10.5
  selector: all()
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [80, '1000:2000', http]}}]
  egress: [{action: Deny, notProtocol: 17, source: {nets: [10.0.0.0/8]}}]
";
    let pod = "apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, uid: 1234, managedFields: [{manager: kubectl, fieldsV1: {f:x: {}}}]}
spec: {nodeName: n, containers: [{name: c, image: i, ports: [{containerPort: 80, name: http}]}]}
status: {podIP: 10.0.0.1, podIPs: [{ip: 10.0.0.1}], conditions: [{type: Ready, status: 'True'}]}
";
    let skipped =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 3}\n";
    for text in [POLICY, calico, pod, skipped, "", "---\n", "# c\n"] {
        assert!(typed_agrees(text), "typed path not taken:\n{text}");
    }
    let all = format!("{POLICY}---\n{calico}---\n{pod}---\n{skipped}---\n");
    assert!(typed_agrees(&all));
}

#[test]
fn awkward_documents_agree_or_fall_back() {
    let cases = [
        // Keys in another order, and lists: the value path inside the typed parse.
        "kind: Namespace\napiVersion: v1\nmetadata: {name: x}\n".to_string(),
        "metadata: {name: x}\napiVersion: v1\nkind: Namespace\n".to_string(),
        "apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Namespace, metadata: {name: x}}]\n".to_string(),
        "apiVersion: v1\nkind: NamespaceList\nmetadata: {}\n".to_string(),
        "apiVersion: v1\n".to_string(),
        // Scalars where strings belong: YAML alone would accept them.
        POLICY.replace("labels: {a: b}", "labels: {a: 1.0}"),
        POLICY.replace("labels: {a: b}", "labels: {a: true}"),
        POLICY.replace("labels: {a: b}", "labels: {a: ~}"),
        POLICY.replace("labels: {a: b}", "labels: {1: b}"),
        POLICY.replace("name: p,", "name: 123,"),
        POLICY.replace("key: k", "key: 7"),
        POLICY.replace("cidr: 10.0.0.1/32", "cidr: 10"),
        // Non-finite and huge numbers, negative ports, tags.
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {order: .inf}\n".to_string(),
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {order: .nan}\n".to_string(),
        POLICY.replace("port: 9000", "port: -1"),
        POLICY.replace("port: 9000", "port: 99999999999999999999999"),
        POLICY.replace("endPort: 9999", "endPort: !!str 9999"),
        POLICY.replace("port: 9000", "port: !custom 9000"),
        // Duplicate keys at the top and inside.
        format!("{POLICY}kind: Namespace\n"),
        POLICY.replace("namespace: y,", "namespace: y, name: q,"),
        POLICY.replace("labels: {a: b}", "labels: {a: b, a: c}"),
        // Ignored fields holding what a value cannot: a complex key, a tagged node.
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nstatus: {x: {? [a]: b}}\n".to_string(),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nstatus: {x: !tag {a: b}}\n".to_string(),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {? [a]: b}\n".to_string(),
        // Anchors and aliases, quoted and block scalars.
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: &n x, labels: {a: *n, 'b': \"c\", d: |\n    text\n}}\n".to_string(),
        // Broken documents.
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: [x\n".to_string(),
        POLICY.replace("endPort: 9999", "endPort: 9999, bogus: 1"),
        "- a\n- b\n".to_string(),
        "just a scalar\n".to_string(),
    ];
    for case in &cases {
        typed_agrees(case);
        typed_agrees(&format!("{POLICY}---\n{case}---\n{POLICY}"));
    }
}
