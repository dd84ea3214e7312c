//! Privileged end-to-end: what traffic does when `palisade run` dies.
//!
//! Two pods in namespaces this test creates (removed on drop and on panic). The pins go to a
//! private bpffs mounted by the test (never the host's /sys/fs/bpf), so they outlive the
//! daemon as they would in a node's mount namespace.
//! - fail-closed: SIGKILL leaves the programs attached and traffic stops; a restart takes the
//!   pinned links over and traffic flows; SIGTERM detaches.
//! - fail-open: SIGKILL detaches the programs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use palisade_tests::bpffs::TempBpffs;
use palisade_tests::cluster::{Cluster, PodSpec, Probe, Protocol, Servers};
use palisade_tests::daemon::Daemon;
use palisade_tests::probe::{Feature, require};

const BIN: &str = env!("CARGO_BIN_EXE_palisade");
const NODE: &str = "node-fail";
const IFS: [&str; 2] = ["hxa", "hyb"];

const INVENTORY: &str = "
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, annotations: {palisade.io/interface: hxa}}
spec: {nodeName: node-fail, containers: [{name: c, image: i}]}
status: {podIP: 10.80.0.1, phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: y, annotations: {palisade.io/interface: hyb}}
spec: {nodeName: node-fail, containers: [{name: c, image: i}]}
status: {podIP: 10.80.0.2, phase: Running}
";

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("palisade-e2e-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn reachable(cluster: &Cluster) -> bool {
    let probe = Probe {
        from: 0,
        to: 1,
        protocol: Protocol::Udp,
        port: 80,
    };
    cluster.probe(&[probe], Duration::from_millis(1500))[0]
}

fn attached(cluster: &Cluster) -> [bool; 2] {
    IFS.map(|i| cluster.node.has_xdp(i).expect("ip link"))
}

#[test]
fn e2e_fail_closed_and_fail_open() {
    if !require(
        "e2e_fail_closed_and_fail_open",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let spec = |namespace: &str, name: &str, ip: [u8; 4], host_if: &str| PodSpec {
        namespace: namespace.into(),
        name: name.into(),
        ip: ip.into(),
        host_if: host_if.into(),
    };
    let cluster = Cluster::new(vec![
        spec("x", "a", [10, 80, 0, 1], IFS[0]),
        spec("y", "b", [10, 80, 0, 2], IFS[1]),
    ])
    .expect("topology");
    let _servers = Servers::start(&cluster, &[80]).expect("servers");
    let bpffs = TempBpffs::new().expect("temp bpffs");
    bpffs.mount().expect("mount the private bpffs");
    let dir = TempDir::new("failure-mode");
    let store = dir.0.join("store");
    std::fs::create_dir_all(&store).expect("store dir");
    std::fs::write(store.join("inventory.yaml"), INVENTORY).expect("inventory");
    let config = |mode: &str| {
        let path = dir.0.join(format!("{mode}.yaml"));
        let text = format!(
            "failure_mode: {mode}\nbpffs: {}\npin_workers: false\n",
            bpffs.path().display()
        );
        std::fs::write(&path, text).expect("config");
        path
    };
    let closed = config("closed");
    let open = config("open");
    let start = |config: &Path| {
        Daemon::start(
            &cluster.node,
            Path::new(BIN),
            &store,
            NODE,
            Some(config),
            Duration::from_secs(60),
        )
        .expect("palisade run starts")
    };

    // Fail-closed: a crash keeps the programs, which drop everything.
    let daemon = start(&closed);
    assert!(reachable(&cluster), "x/a reaches y/b through palisade");
    daemon.signal(Signal::SIGKILL).expect("SIGKILL");
    drop(daemon);
    assert_eq!(
        attached(&cluster),
        [true, true],
        "programs stay after a crash"
    );
    assert!(
        !reachable(&cluster),
        "fail-closed: no traffic while palisade is down"
    );

    // A restart takes the pinned links over.
    let daemon = start(&closed);
    let taken_over = daemon
        .log()
        .iter()
        .filter(|l| l.contains("attached XDP redirect") && l.contains("TakenOver"))
        .count();
    assert_eq!(
        taken_over,
        2,
        "both pinned links taken over: {:?}",
        daemon.log()
    );
    assert!(
        reachable(&cluster),
        "traffic flows again after the takeover"
    );
    let (status, _) = daemon.stop(Duration::from_secs(20)).expect("stop");
    assert!(status.success(), "{status}");
    assert_eq!(attached(&cluster), [false, false], "a clean stop detaches");

    // Fail-open: a crash detaches.
    let daemon = start(&open);
    assert!(reachable(&cluster), "fail-open forwards too");
    daemon.signal(Signal::SIGKILL).expect("SIGKILL");
    drop(daemon);
    assert_eq!(
        attached(&cluster),
        [false, false],
        "fail-open: a crash detaches"
    );
}
