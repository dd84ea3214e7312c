//! Load-time validation (§11 and DESIGN.md's store rules): each invalid manifest is rejected
//! with the document and field named; real `kubectl`/`calicoctl` output loads unchanged.

#![allow(clippy::unwrap_used)]

use palisade_control::store::Store;

fn err(yaml: &str) -> String {
    match Store::from_text("t.yaml", yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

fn gnp(spec: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: g}}\nspec:\n{spec}"
    )
}

fn np(spec: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: n, namespace: a}}\nspec:\n{spec}"
    )
}

fn knp(spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: k, namespace: a}}\nspec:\n{spec}"
    )
}

#[test]
fn invalid_policies_name_the_field() {
    let cases: Vec<(String, &str, &str)> = vec![
        (gnp("  selector: a = 'b'\n"), "spec.selector", "position"),
        (gnp("  selector: global()\n"), "spec.selector", "global()"),
        (gnp("  ingress: [{action: allow}]\n"), "spec.ingress[0].action", "Allow, Deny, Pass or Log"),
        (gnp("  ingress: [{action: Allow, destination: {ports: [80]}}]\n"), "spec.ingress[0].destination.ports[0]", "TCP, UDP or SCTP"),
        (gnp("  ingress: [{action: Allow, protocol: ICMP, destination: {ports: [http]}}]\n"), "spec.ingress[0].destination.ports[0]", "TCP, UDP or SCTP"),
        (gnp("  ingress: [{action: Allow, icmp: {type: 8}}]\n"), "spec.ingress[0].icmp", "ICMP"),
        (gnp("  ingress: [{action: Allow, protocol: ICMP, icmp: {code: 1}}]\n"), "spec.ingress[0].icmp.code", "type"),
        (gnp("  ingress: [{action: Allow, protocol: ICMP, icmp: {type: 255}}]\n"), "spec.ingress[0].icmp.type", "0-254"),
        (gnp("  ingress: [{action: Allow, protocol: ICMP, ipVersion: 6}]\n"), "spec.ingress[0].protocol", "ICMPv6"),
        (gnp("  ingress: [{action: Allow, source: {nets: [10.0.0.0/8]}, destination: {nets: ['fd00::/8']}}]\n"), "spec.ingress[0]", "mix"),
        (gnp("  ingress: [{action: Allow, ipVersion: 6, source: {nets: [10.0.0.0/8]}}]\n"), "spec.ingress[0].ipVersion", "conflicts"),
        (gnp("  ingress: [{action: Allow, source: {notNets: [0.0.0.0/0]}}]\n"), "spec.ingress[0].source.notNets[0]", "catch-all"),
        (gnp("  ingress: [{action: Allow, source: {nets: [10.0.0.0/33]}}]\n"), "spec.ingress[0].source.nets[0]", "prefix"),
        (gnp("  ingress: [{action: Allow, source: {namespaceSelector: global() && has(x)}}]\n"), "spec.ingress[0].source.namespaceSelector", "global()"),
        (gnp("  ingress: [{action: Allow, source: {selector: global()}}]\n"), "spec.ingress[0].source.selector", "global()"),
        (gnp("  namespaceSelector: global()\n"), "spec.namespaceSelector", "global()"),
        (gnp("  ingress: [{action: Allow, http: {methods: [GET]}}]\n"), "spec.ingress[0].http", "not supported yet"),
        (gnp("  ingress: [{action: Allow, destination: {services: {name: s, namespace: n}}}]\n"), "spec.ingress[0].destination.services", "not supported yet"),
        (gnp("  egress: [{action: Allow, destination: {domains: [example.com]}}]\n"), "spec.egress[0].destination.domains", "not supported yet"),
        (gnp("  preDNAT: true\n  applyOnForward: true\n"), "spec.preDNAT", "not supported yet"),
        (gnp("  doNotTrack: true\n"), "spec.doNotTrack", "not supported yet"),
        (gnp("  applyOnForward: true\n"), "spec.applyOnForward", "not supported yet"),
        (gnp("  selctor: all()\n"), "spec", "selctor"),
        (gnp("  ingress: [{action: Allow, source: {selector: all(), colour: red}}]\n"), "spec.ingress[0].source", "colour"),
        (gnp("  tier: nope\n"), "spec.tier", "does not exist"),
        (gnp("  types: [ingress]\n"), "spec.types[0]", "Ingress or Egress"),
        (gnp("  stagedAction: Delete\n"), "spec.stagedAction", "staged"),
        (gnp("  ingress: [{action: Allow, protocol: TCP, destination: {ports: ['9:8']}}]\n"), "spec.ingress[0].destination.ports[0]", "low end"),
        (gnp("  ingress: [{action: Allow, protocol: 256}]\n"), "spec.ingress[0].protocol", "1-255"),
        (np("  namespaceSelector: all()\n"), "spec.namespaceSelector", "namespaced"),
        (np("  doNotTrack: false\n"), "spec.doNotTrack", "namespaced"),
        (knp("  podSelector: {matchExpressions: [{key: a, operator: Is}]}\n"), "spec.podSelector.matchExpressions[0].operator", "In, NotIn"),
        (knp("  podSelector: {matchExpressions: [{key: a, operator: In}]}\n"), "spec.podSelector.matchExpressions[0].values", "at least one"),
        (knp("  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]\n"), "spec.ingress[0].from[0]", "ipBlock"),
        (knp("  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/8]}}]}]\n"), "spec.ingress[0].from[0].ipBlock.except[0]", "subset"),
        (knp("  ingress: [{ports: [{port: 80, endPort: 79}]}]\n"), "spec.ingress[0].ports[0].endPort", "80"),
        (knp("  ingress: [{ports: [{port: http, endPort: 90}]}]\n"), "spec.ingress[0].ports[0].endPort", "numeric"),
        (knp("  ingress: [{ports: [{protocol: ICMP}]}]\n"), "spec.ingress[0].ports[0].protocol", "TCP, UDP or SCTP"),
        (knp("  ingress: [{from: [{}]}]\n"), "spec.ingress[0].from[0]", "needs"),
        (knp("  policyTypes: [Sideways]\n"), "spec.policyTypes[0]", "Ingress or Egress"),
        (knp("  podSelector: {matchLabels: {'bad key!': x}}\n"), "spec.podSelector.matchLabels", "label key"),
        ("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: t}\nspec: {defaultAction: Allow}\n".into(), "spec.defaultAction", "Deny or Pass"),
        ("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: default}\nspec: {order: 5}\n".into(), "spec", "1000000"),
        ("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: s}\nspec: {nets: [not-a-cidr]}\n".into(), "spec.nets[0]", "CIDR"),
        ("apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: s}\nspec: {nets: [], extra: 1}\n".into(), "spec", "extra"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {nodeName: n}\nstatus: {podIP: 10.0.0.300}\n".into(), "status.podIP", "address"),
        ("kind: Pod\nmetadata: {name: p}\n".into(), "apiVersion", "missing"),
        ("- 1\n- 2\n".into(), "(document)", "mapping"),
    ];
    for (yaml, field, message) in cases {
        let e = err(&yaml);
        assert!(e.contains("t.yaml: document 1"), "{e}");
        assert!(
            e.contains(&format!(": {field}: "))
                || e.contains(&format!(": {field}."))
                || e.contains(&format!(": {field}")),
            "want field {field}: {e}"
        );
        assert!(e.contains(message), "want {message:?}: {e}");
    }
}

#[test]
fn duplicate_addresses_and_document_index() {
    let yaml = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {nodeName: n}\nstatus: {podIP: 10.0.0.1}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: q, namespace: a}\nspec: {nodeName: n}\nstatus: {podIP: 10.0.0.1}\n";
    let e = err(yaml);
    assert!(
        e.contains("document 3") && e.contains("10.0.0.1") && e.contains("a/p"),
        "{e}"
    );
    // The same pod as a Pod and a WorkloadEndpoint is one endpoint.
    let same = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\nspec: {nodeName: n}\nstatus: {podIP: 10.0.0.1}\n---\napiVersion: projectcalico.org/v3\nkind: WorkloadEndpoint\nmetadata: {name: n-k8s-p-eth0, namespace: a}\nspec: {node: n, pod: p, interfaceName: cali1, ipNetworks: [10.0.0.1/32], mac: 'ee:ee:ee:ee:ee:ee'}\n";
    let store = Store::from_text("t.yaml", same).unwrap();
    assert_eq!(store.endpoints.len(), 1);
    assert_eq!(store.endpoints[0].interface.as_deref(), Some("cali1"));
}

#[test]
fn default_values_of_unsupported_fields_load() {
    let yaml = gnp(
        "  doNotTrack: false\n  preDNAT: false\n  applyOnForward: false\n  performanceHints: [AssumeNeededOnEveryNode]\n  ingress:\n  - action: Allow\n    metadata: {annotations: {why: test}}\n    http: {}\n    source: {domains: [], services: null}\n",
    );
    Store::from_text("t.yaml", &yaml).unwrap();
}

#[test]
fn calicoctl_and_kubectl_output_loads_unchanged() {
    let yaml = r#"
apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: x
    uid: 0b8e0c43
    resourceVersion: "1"
    creationTimestamp: "2024-05-01T10:00:00Z"
    labels: {kubernetes.io/metadata.name: x}
    managedFields: [{manager: kubectl, operation: Update}]
  spec: {finalizers: [kubernetes]}
  status: {phase: Active}
- apiVersion: projectcalico.org/v3
  kind: GlobalNetworkPolicy
  metadata:
    name: default.allow-dns
    uid: 5e2b
    resourceVersion: "77"
    creationTimestamp: "2024-05-01T10:00:00Z"
    annotations: {projectcalico.org/metadata: "{}"}
    generation: 3
  spec:
    tier: default
    order: 100
    selector: all()
    types: [Egress]
    egress:
    - action: Allow
      protocol: UDP
      source: {}
      destination:
        selector: k8s-app == "kube-dns"
        ports: [53]
  status: {}
"#;
    let store = Store::from_text("t.yaml", yaml).unwrap();
    assert_eq!(store.policies.len(), 1);
}

#[test]
fn json_files_and_empty_documents() {
    let store = Store::from_text(
        "t.json",
        r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}"#,
    )
    .unwrap();
    assert!(store.endpoints.is_empty());
    Store::from_text("t.yaml", "---\n---\n").unwrap();
    let e = Store::from_text("t.json", "{").unwrap_err().to_string();
    assert!(e.contains("t.json: document 1"), "{e}");
}
