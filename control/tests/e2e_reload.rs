//! Privileged end-to-end: hot reload (SIGHUP) of `palisade run` while a TCP connection is open.
//!
//! Two pods, x/a and y/b, in namespaces this test creates (removed on drop and on panic). A
//! TCP echo connection x/a -> y/b is established; then:
//! 1. an invalid store is reloaded: logged, the running snapshot stays, the connection flows;
//! 2. y/b is quarantined (a policy denying all its ingress and egress): the *established*
//!    connection is cut (conntrack re-checks it against the new generation) and new ones fail;
//! 3. the quarantine is lifted: the same connection recovers (TCP retransmits).
//!
//! This run uses a config file (fail-open, unpinned worker, counters every second).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use palisade_tests::cluster::{Cluster, PodSpec};
use palisade_tests::daemon::Daemon;
use palisade_tests::probe::{Feature, require};

const BIN: &str = env!("CARGO_BIN_EXE_palisade");
const NODE: &str = "node-reload";
const A: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 2);
const PORT: u16 = 90;

const INVENTORY: &str = "
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}, annotations: {palisade.io/interface: hxa}}
spec: {nodeName: node-reload, containers: [{name: c, image: i}]}
status: {podIP: 10.79.0.1, phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: y, labels: {pod: b}, annotations: {palisade.io/interface: hyb}}
spec: {nodeName: node-reload, containers: [{name: c, image: i}]}
status: {podIP: 10.79.0.2, phase: Running}
";

const QUARANTINE: &str = "
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: quarantine, namespace: y}
spec:
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress, Egress]
";

const CONFIG: &str = "
failure_mode: open
pin_workers: false
stats_interval_s: 1
";

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("palisade-e2e-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.0.join(name), text).expect("write");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sends `msg` and waits up to `timeout` for its echo.
fn echo(conn: &mut TcpStream, msg: &[u8], timeout: Duration) -> bool {
    if conn.write_all(msg).is_err() || conn.set_read_timeout(Some(timeout)).is_err() {
        return false;
    }
    let mut buf = vec![0u8; msg.len()];
    conn.read_exact(&mut buf).is_ok() && buf == msg
}

/// Waits up to `timeout` for bytes that were sent earlier and not yet echoed.
fn echo_arrives(conn: &mut TcpStream, msg: &[u8], timeout: Duration) -> bool {
    if conn.set_read_timeout(Some(timeout)).is_err() {
        return false;
    }
    let mut buf = vec![0u8; msg.len()];
    conn.read_exact(&mut buf).is_ok() && buf == msg
}

fn counter(log: &[String], name: &str) -> Option<u64> {
    let key = format!("{name}=");
    log.iter()
        .rev()
        .filter(|l| l.contains("final counters"))
        .find_map(|l| {
            let rest = &l[l.find(&key)? + key.len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
}

#[test]
fn e2e_reload_quarantine_cuts_established_tcp() {
    if !require(
        "e2e_reload_quarantine_cuts_established_tcp",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let spec = |namespace: &str, name: &str, ip, host_if: &str| PodSpec {
        namespace: namespace.into(),
        name: name.into(),
        ip,
        host_if: host_if.into(),
    };
    let cluster =
        Cluster::new(vec![spec("x", "a", A, "hxa"), spec("y", "b", B, "hyb")]).expect("topology");
    let store = TempDir::new("reload-store");
    store.write("inventory.yaml", INVENTORY);
    let conf = TempDir::new("reload-conf");
    conf.write("palisade.yaml", CONFIG);

    // The echo server in y/b (its socket lives in y/b's namespace).
    let listener = cluster.pods[1]
        .1
        .run_in(|| TcpListener::bind((B, PORT)))
        .expect("enter y/b")
        .expect("listen in y/b");
    let server = std::thread::spawn(move || {
        if let Ok((mut conn, _)) = listener.accept() {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(15)));
            let mut buf = [0u8; 256];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 || conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });

    let mut daemon = Daemon::start(
        &cluster.node,
        Path::new(BIN),
        &store.0,
        NODE,
        Some(&conf.0.join("palisade.yaml")),
        Duration::from_secs(60),
    )
    .expect("palisade run starts");

    let connect = || {
        cluster.pods[0]
            .1
            .run_in(|| TcpStream::connect_timeout(&(B, PORT).into(), Duration::from_secs(3)))
            .expect("enter x/a")
    };
    let mut conn = connect().expect("x/a connects to y/b");
    assert!(
        echo(&mut conn, b"one", Duration::from_secs(3)),
        "echo before any reload"
    );

    // 1. An invalid store: logged, the running snapshot stays.
    store.write(
        "broken.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: [not, a, map]\n",
    );
    let t = Instant::now();
    daemon
        .signal(nix::sys::signal::Signal::SIGHUP)
        .expect("SIGHUP");
    daemon
        .wait_for(
            |l| l.contains("reload failed, keeping generation 1"),
            Duration::from_secs(30),
        )
        .expect("the invalid store is reported");
    assert!(
        echo(&mut conn, b"two", Duration::from_secs(3)),
        "traffic continues after a failed reload"
    );
    eprintln!("invalid store rejected in {:?}", t.elapsed());
    std::fs::remove_file(store.0.join("broken.yaml")).expect("remove broken.yaml");

    // 2. Quarantine: the established connection is cut, new ones fail.
    store.write("quarantine.yaml", QUARANTINE);
    let t = Instant::now();
    daemon.reload(2, Duration::from_secs(30)).expect("reload 2");
    eprintln!("quarantine reloaded in {:?}", t.elapsed());
    assert!(
        !echo(&mut conn, b"three", Duration::from_millis(1500)),
        "the established connection must be cut by the quarantine"
    );
    assert!(
        cluster.pods[0]
            .1
            .run_in(|| TcpStream::connect_timeout(&(B, PORT).into(), Duration::from_millis(1000)))
            .expect("enter x/a")
            .is_err(),
        "new connections to the quarantined pod fail"
    );

    // 3. Lifted: the same connection recovers when TCP retransmits.
    std::fs::remove_file(store.0.join("quarantine.yaml")).expect("remove quarantine.yaml");
    daemon.reload(3, Duration::from_secs(30)).expect("reload 3");
    assert!(
        echo_arrives(&mut conn, b"three", Duration::from_secs(10)),
        "the connection recovers once the quarantine is lifted"
    );
    // Close while palisade still forwards (the FIN must reach the server, which then exits).
    drop(conn);
    let _ = server.join();

    let (status, log) = daemon.stop(Duration::from_secs(20)).expect("stop");
    assert!(status.success(), "clean exit: {status}");
    let cut = counter(&log, "revalidation_denies");
    assert!(cut.is_some_and(|n| n > 0), "revalidation_denies = {cut:?}");
    assert!(
        log.iter().filter(|l| l.contains("counters")).count() >= 2,
        "periodic counters (stats_interval_s: 1) and final counters"
    );
}
