//! Privileged end-to-end: what traffic does when `palisade run` dies, on a node whose kernel
//! forwards too.
//!
//! Two pods in namespaces this test creates (removed on drop and on panic). The node namespace
//! is set up as a real node's: `ip_forward=1`, a /32 route to each pod via its veth, proxy ARP
//! (no delay) on the veths and a default route (via a veth pair kept inside the node namespace), so the kernel would
//! route pod traffic whenever no XDP program takes it first. The pins go to a private bpffs
//! mounted by the test (never the host's /sys/fs/bpf), so they outlive the daemon as they would
//! in a node's mount namespace. A UDP stream a -> b runs throughout.
//! - fail-closed: SIGKILL leaves the programs attached and the stream stops (the kernel never
//!   sees the frames); a restart takes the pinned links over and the stream resumes; SIGTERM
//!   detaches.
//! - fail-open: SIGKILL detaches the programs and the stream flows on through the kernel.
//! - leftovers (README/DESIGN: a restart takes its own pinned links over, a program Palisade did
//!   not pin is refused): a fail-closed crash's programs are refused by a run that cannot see
//!   their pins, and adopted by a fail-open run that can (which then unpins them, so its own
//!   crash detaches).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use palisade_tests::bpffs::TempBpffs;
use palisade_tests::cluster::{Cluster, PodSpec, Probe, Protocol, Servers};
use palisade_tests::daemon::Daemon;
use palisade_tests::netns::NetNs;
use palisade_tests::probe::{Feature, require};
use palisade_tests::scenario::Scenario;
use palisade_tests::traffic::UdpStream;

const BIN: &str = env!("CARGO_BIN_EXE_palisade");
const IFS: [&str; 2] = ["hxa", "hyb"];
const A: Ipv4Addr = Ipv4Addr::new(10, 80, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 80, 0, 2);
/// The stream's rate: enough to see it stop and resume, light for a loaded machine.
const RATE: u64 = 1000;
/// Generous: the machine is shared with builds.
const RESUME: Duration = Duration::from_secs(15);

/// Kernel routing in the node namespace, as on a Calico node.
fn kernel_router(node: &NetNs, pods: &[PodSpec]) {
    let sysctl = |key: &str| {
        node.exec("sysctl", &["-qw", &format!("{key}=1")])
            .unwrap_or_else(|e| panic!("sysctl {key}: {e}"));
    };
    sysctl("net.ipv4.ip_forward");
    // The node's "uplink": a veth pair whose both ends stay in the node namespace.
    for args in [
        &["link", "add", "up0", "type", "veth", "peer", "name", "up1"][..],
        &["addr", "add", "10.80.255.1/32", "dev", "up0"],
        &["link", "set", "up0", "up"],
        &["link", "set", "up1", "up"],
        &["route", "add", "default", "dev", "up0"],
    ] {
        node.ip(args).unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    }
    for p in pods {
        let cidr = format!("{}/32", p.ip);
        node.ip(&["route", "add", &cidr, "dev", &p.host_if])
            .expect("pod route");
        sysctl(&format!("net.ipv4.conf.{}.proxy_arp", p.host_if));
        node.exec(
            "sysctl",
            &[
                "-qw",
                &format!("net.ipv4.neigh.{}.proxy_delay=0", p.host_if),
            ],
        )
        .expect("proxy_delay");
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

fn taken_over(daemon: &Daemon) -> usize {
    daemon
        .log()
        .iter()
        .filter(|l| l.contains("attached XDP redirect") && l.contains("TakenOver"))
        .count()
}

/// SIGKILL, then the guard (which only reaps the process).
fn crash(daemon: Daemon) {
    daemon.signal(Signal::SIGKILL).expect("SIGKILL");
    drop(daemon);
}

#[test]
fn e2e_fail_closed_and_fail_open() {
    if !require(
        "e2e_fail_closed_and_fail_open",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let pods = vec![
        PodSpec::new("x", "a", A, IFS[0]),
        PodSpec::new("y", "b", B, IFS[1]),
    ];
    let s = Scenario::new(BIN, "node-fail", pods).expect("topology");
    kernel_router(&s.cluster.node, &s.specs());
    let cluster = &s.cluster;
    let _servers = Servers::start(cluster, &[80]).expect("servers");
    let bpffs = TempBpffs::new().expect("temp bpffs");
    bpffs.mount().expect("mount the private bpffs");
    let elsewhere = TempBpffs::new().expect("second temp bpffs");
    let config = |name: &str, mode: &str, bpffs: &Path| {
        let text = format!(
            "failure_mode: {mode}\nbpffs: {}\npin_workers: false\n",
            bpffs.display()
        );
        s.config(&format!("{name}.yaml"), &text).expect("config")
    };
    let closed = config("closed", "closed", bpffs.path());
    let open = config("open", "open", bpffs.path());
    let closed_elsewhere = config("closed-elsewhere", "closed", elsewhere.path());
    let start = |config: &Path| s.start(Some(config)).expect("palisade run starts");

    // Fail-closed, under traffic.
    let daemon = start(&closed);
    assert!(reachable(cluster), "x/a reaches y/b through palisade");
    let stream = UdpStream::start(
        &cluster.pods[0].1,
        IpAddr::V4(A),
        &cluster.pods[1].1,
        SocketAddr::from((B, 7000)),
        RATE,
    )
    .expect("stream");
    assert!(
        stream.wait_received_above(0, RESUME),
        "the stream flows through palisade"
    );
    crash(daemon);
    assert_eq!(
        attached(cluster),
        [true, true],
        "programs stay after a crash"
    );
    // Whatever was in flight at the kill has arrived by the end of the first failed probe;
    // nothing may arrive during the second.
    assert!(
        !reachable(cluster),
        "fail-closed: no traffic while palisade is down, though the kernel forwards"
    );
    let before = stream.received();
    assert!(
        !reachable(cluster),
        "fail-closed: no traffic while palisade is down, though the kernel forwards"
    );
    assert_eq!(
        stream.received(),
        before,
        "fail-closed: the stream stops while palisade is down"
    );

    // A restart takes the pinned links over; the stream resumes.
    let daemon = start(&closed);
    assert_eq!(taken_over(&daemon), 2, "both pinned links taken over");
    assert!(
        stream.wait_received_above(before, RESUME),
        "the stream resumes after the takeover"
    );
    assert!(reachable(cluster), "traffic flows again after the takeover");
    let (status, _) = daemon.stop(Duration::from_secs(20)).expect("stop");
    assert!(status.success(), "{status}");
    assert_eq!(attached(cluster), [false, false], "a clean stop detaches");
    assert!(
        stream.wait_received_above(stream.received(), RESUME),
        "after a clean stop the kernel forwards"
    );

    // Fail-open: a crash detaches and the kernel carries the stream on.
    let daemon = start(&open);
    assert!(reachable(cluster), "fail-open forwards too");
    crash(daemon);
    assert_eq!(
        attached(cluster),
        [false, false],
        "fail-open: a crash detaches"
    );
    assert!(
        stream.wait_received_above(stream.received(), RESUME),
        "fail-open: the kernel forwards the stream after the crash"
    );
    assert!(reachable(cluster), "fail-open: new flows pass too");

    // Leftovers of a fail-closed crash.
    crash(start(&closed));
    assert_eq!(attached(cluster), [true, true], "fail-closed leftovers");
    let refused = s
        .start(Some(&closed_elsewhere))
        .expect_err("a run that cannot see the pins refuses the attached programs");
    let why = refused.to_string();
    assert!(
        why.contains("already has XDP program id"),
        "refused with the documented reason: {why}"
    );
    assert_eq!(attached(cluster), [true, true], "a refusal leaves them");
    let daemon = start(&open);
    assert_eq!(taken_over(&daemon), 2, "a fail-open run adopts the pins");
    assert!(reachable(cluster), "forwarding after the adoption");
    crash(daemon);
    assert_eq!(
        attached(cluster),
        [false, false],
        "the adopting fail-open run unpinned them: its crash detaches"
    );
    let report = stream.stop().expect("stream report");
    eprintln!("stream: {report:?}");
}
