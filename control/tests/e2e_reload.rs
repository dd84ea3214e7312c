//! Privileged end-to-end: hot reload (SIGHUP) of `palisade run` with an established TCP
//! connection and a steady UDP stream between two other pods.
//!
//! Four pods, x/a, y/b, z/c, z/d, in namespaces this test creates (removed on drop and on
//! panic). A TCP echo connection x/a -> y/b is established and a ~10,000 datagrams/s UDP stream
//! runs z/c -> z/d throughout; then:
//! 1. an invalid store is reloaded: logged, the running snapshot stays, the connection flows;
//! 2. y/b is quarantined (the seeds' quarantine: a `quarantine: "true"` label and a
//!    GlobalNetworkPolicy in a tier above the default one denying all its ingress and egress):
//!    the *established* connection is cut (conntrack re-checks it against the new generation)
//!    and new connections to and from y/b fail;
//! 3. the quarantine is lifted: the same connection recovers (TCP retransmits).
//!
//! The stream must lose no datagram across the three swaps (counted at the receiver socket,
//! whose buffer is large, and whose kernel drop counter must stay 0). This run uses a config
//! file (fail-open, unpinned worker, counters every second, rings deep enough that a worker
//! descheduled by a loaded machine does not overflow them).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use palisade_tests::cluster::{PodSpec, Probe, Protocol, Servers};
use palisade_tests::daemon::{counter, drops_by_reason};
use palisade_tests::probe::{Feature, require};
use palisade_tests::scenario::Scenario;
use palisade_tests::traffic::UdpStream;

const BIN: &str = env!("CARGO_BIN_EXE_palisade");
const A: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 2);
const C: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 3);
const D: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 4);
const PORT: u16 = 90;
const SERVED: u16 = 80;
const STREAM_PORT: u16 = 7000;
const STREAM_RATE: u64 = 10_000;

const QUARANTINE: &str = "
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: quarantine}
spec: {order: 10}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: quarantine.isolate}
spec:
  tier: quarantine
  order: 1
  selector: quarantine == 'true'
  types: [Ingress, Egress]
  ingress: [{action: Deny}]
  egress: [{action: Deny}]
";

const CONFIG: &str = "
failure_mode: open
pin_workers: false
stats_interval_s: 1
ring_size: 4096
";

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

/// New TCP connections and UDP exchanges between x/a (0) and y/b (1), both ways.
fn a_b_probes() -> Vec<Probe> {
    Probe::all(
        &[(0, 1), (1, 0)],
        &[Protocol::Tcp, Protocol::Udp],
        &[SERVED],
    )
}

#[test]
fn e2e_reload_quarantine_cuts_established_tcp() {
    if !require(
        "e2e_reload_quarantine_cuts_established_tcp",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let pods = vec![
        PodSpec::new("x", "a", A, "hxa"),
        PodSpec::new("y", "b", B, "hyb"),
        PodSpec::new("z", "c", C, "hzc"),
        PodSpec::new("z", "d", D, "hzd"),
    ];
    let s = Scenario::new(BIN, "node-reload", pods).expect("topology");
    let cluster = &s.cluster;
    let config = s.config("palisade.yaml", CONFIG).expect("config");
    let _servers = Servers::start(cluster, &[SERVED]).expect("servers");

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

    let mut daemon = s.start(Some(&config)).expect("palisade run starts");

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
    let probes = a_b_probes();
    assert_eq!(
        cluster.probe(&probes, Duration::from_secs(3)),
        vec![true; probes.len()],
        "x/a and y/b reach each other before the quarantine"
    );
    // z/c <-> z/d resolved (MACs learned) before the stream starts: every datagram counts.
    let c_d = Probe {
        from: 2,
        to: 3,
        protocol: Protocol::Udp,
        port: SERVED,
    };
    assert!(
        cluster.probe(&[c_d], Duration::from_secs(3))[0],
        "z/c reaches z/d"
    );
    let stream = UdpStream::start(
        &cluster.pods[2].1,
        IpAddr::V4(C),
        &cluster.pods[3].1,
        SocketAddr::from((D, STREAM_PORT)),
        STREAM_RATE,
    )
    .expect("UDP stream z/c -> z/d");
    assert!(
        stream.wait_received_above(1000, Duration::from_secs(20)),
        "the stream flows"
    );

    // 1. An invalid store: logged, the running snapshot stays.
    s.store
        .write(
            "broken.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: [not, a, map]\n",
        )
        .expect("write broken.yaml");
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
    s.store.remove("broken.yaml").expect("remove broken.yaml");

    // 2. Quarantine: the established connection is cut, new ones fail both ways.
    s.relabel(&[("b", "quarantine: 'true'")]).expect("label b");
    s.store
        .write("quarantine.yaml", QUARANTINE)
        .expect("quarantine.yaml");
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
    assert_eq!(
        cluster.probe(&probes, Duration::from_millis(1500)),
        vec![false; probes.len()],
        "no new TCP or UDP exchange to or from the quarantined pod ({probes:?})"
    );

    // 3. Lifted: the same connection recovers when TCP retransmits.
    s.store
        .remove("quarantine.yaml")
        .expect("remove quarantine.yaml");
    s.relabel(&[]).expect("unlabel b");
    daemon.reload(3, Duration::from_secs(30)).expect("reload 3");
    assert!(
        echo_arrives(&mut conn, b"three", Duration::from_secs(10)),
        "the connection recovers once the quarantine is lifted"
    );
    // Close while palisade still forwards (the FIN must reach the server, which then exits).
    drop(conn);
    let _ = server.join();

    // Some stream traffic after the last swap too.
    let after = stream.received();
    assert!(
        stream.wait_received_above(after + 1000, Duration::from_secs(20)),
        "the stream flows after the last reload"
    );
    let report = stream.stop().expect("stream report");
    let (status, log) = daemon.stop(Duration::from_secs(20)).expect("stop");
    let drops = drops_by_reason(&log, "final counters");
    eprintln!(
        "stream: {report:?}, {} datagrams/s; palisade drops: {drops:?}",
        report.sent * 1000 / (report.duration.as_millis().max(1) as u64)
    );
    assert!(status.success(), "clean exit: {status}");
    assert!(
        report.received > 0 && report.lost() == 0 && report.receiver_buffer_drops == 0,
        "the stream between the other pods loses nothing across the swaps: {report:?}, \
         palisade drops {drops:?}"
    );
    let cut = counter(&log, "final counters", "revalidation_denies");
    assert!(cut.is_some_and(|n| n > 0), "revalidation_denies = {cut:?}");
    let denied_by = |reason: &str| {
        log.iter().any(|l| {
            l.contains("flow denied: ")
                && l.contains(reason)
                && l.contains("quarantine.isolate rule 0 (")
        })
    };
    assert!(
        denied_by("new flow") && denied_by("re-checked after a policy change"),
        "flow-log lines name the quarantine policy for new and cut connections: {:?}",
        log.iter()
            .filter(|l| l.contains("flow "))
            .take(10)
            .collect::<Vec<_>>()
    );
    assert!(
        log.iter().filter(|l| l.contains("counters")).count() >= 2,
        "periodic counters (stats_interval_s: 1) and final counters"
    );
}
