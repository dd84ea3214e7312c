//! `palisade eval`'s contract: output shape, exit codes, error messages that name the place.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

struct TempStore(PathBuf);

impl TempStore {
    fn new(tag: &str, files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("palisade-eval-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        TempStore(dir)
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn eval(store: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .arg("eval")
        .arg("--store")
        .arg(store)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}, uid: 1234, resourceVersion: "9", creationTimestamp: "2024-01-01T00:00:00Z", managedFields: [{manager: kubectl}], ownerReferences: [{kind: ReplicaSet, name: rs}]}
spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{name: web, containerPort: 80}]}], tolerations: [{key: k}]}
status: {podIP: 10.0.0.1, phase: Running, conditions: [{type: Ready}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x}
spec: {nodeName: n1}
status: {podIP: 10.0.0.2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: x}
"#;

const DENY_B: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-a, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
  - from: [{podSelector: {}}]
    ports: [{port: web}]
"#;

#[test]
fn json_output_follows_the_contract() {
    let store = TempStore::new("json", &[("pods.yaml", PODS), ("np/p.yml", DENY_B)]);
    let flows = r#"{"id": 7, "src": "10.0.0.2", "dst": "10.0.0.1", "protocol": "tcp", "dst_port": 80}
{"src": "10.0.0.2", "dst": "10.0.0.1", "protocol": "UDP", "dst_port": 80, "note": "udp"}
"#;
    let out = eval(&store.0, &[], flows);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("apps/v1/Deployment"),
        "unknown kinds warn: {stderr}"
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let first = &lines[0];
    assert_eq!(first["id"], 7);
    assert_eq!(first["verdict"], "allow");
    assert_eq!(first["egress"]["endpoint"], "x/b");
    assert_eq!(first["egress"]["reason"], "profile");
    assert_eq!(first["ingress"]["endpoint"], "x/a");
    assert_eq!(first["ingress"]["reason"], "rule");
    assert_eq!(first["ingress"]["tier"], "default");
    assert_eq!(first["ingress"]["policy"], "knp:x/only-a");
    assert_eq!(first["ingress"]["rule"], 0);
    assert_eq!(first["ingress"]["logged"], serde_json::json!([]));
    assert_eq!(first["ingress"]["staged_verdict"], "allow");
    let second = &lines[1];
    assert_eq!(second["id"], serde_json::Value::Null);
    assert_eq!(second["verdict"], "deny");
    assert_eq!(second["ingress"]["reason"], "end-of-tier");
    assert_eq!(second["ingress"]["policy"], serde_json::Value::Null);
}

#[test]
fn check_reports_mismatches_and_exits_1() {
    let store = TempStore::new("check", &[("pods.yaml", PODS), ("p.yaml", DENY_B)]);
    let flows = r#"{"id": "ok", "src": "10.0.0.2", "dst": "10.0.0.1", "protocol": "TCP", "dst_port": 80, "expect": "allow"}
{"id": "wrong", "src": "10.0.0.2", "dst": "10.0.0.1", "protocol": "TCP", "dst_port": 81, "expect": "allow"}
"#;
    let out = eval(&store.0, &["--check"], flows);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wrong") && !stderr.contains(" ok "),
        "{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

#[test]
fn invalid_store_exits_2_naming_file_document_and_field() {
    let bad = r#"
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec:
  ingress:
  - action: Allow
    source: {selctor: "a == 'b'"}
"#;
    let store = TempStore::new("bad", &[("bad.yaml", bad)]);
    let out = eval(&store.0, &[], "");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml: document 2"), "{stderr}");
    assert!(stderr.contains("spec.ingress[0].source"), "{stderr}");
    assert!(stderr.contains("selctor"), "{stderr}");
}

#[test]
fn invalid_flow_line_exits_2_naming_the_line() {
    let store = TempStore::new("badflow", &[("pods.yaml", PODS)]);
    let flows = "{\"src\": \"10.0.0.2\", \"dst\": \"10.0.0.1\", \"protocol\": \"TCP\", \"dst_port\": 80}\n\n{\"src\": \"10.0.0.2\", \"dst\": \"10.0.0.1\", \"protocol\": \"ICMP\", \"dst_port\": 80}\n";
    let out = eval(&store.0, &[], flows);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("dst_port"),
        "{stderr}"
    );
}

#[test]
fn table_format_names_the_deciding_policy() {
    let store = TempStore::new(
        "table",
        &[
            ("pods.yaml", PODS),
            (
                "p.json",
                r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "only-a", "namespace": "x"}, "spec": {"podSelector": {"matchLabels": {"app": "a"}}}}]}"#,
            ),
        ],
    );
    let flows =
        r#"{"id": "f1", "src": "10.0.0.2", "dst": "10.0.0.1", "protocol": "TCP", "dst_port": 80}"#;
    let out = eval(&store.0, &["--format", "table"], flows);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("f1") && table.contains("DENY") && table.contains("end of tier default"),
        "{table}"
    );
}

#[test]
fn demo_runs_the_embedded_store_with_no_files_and_exits_0() {
    let dir = std::env::temp_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .arg("demo")
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("gnp:security.quarantine"), "{stdout}");
    assert!(
        stdout.contains("check: all 11 expected verdicts met"),
        "{stdout}"
    );
    assert!(stdout.contains("agree on all 11 flows"), "{stdout}");
}
