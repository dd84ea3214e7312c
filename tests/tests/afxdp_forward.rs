//! Privileged end-to-end: pod A -> XDP redirect -> AF_XDP bare forwarder -> pod B.
//!
//! Topology (all inside namespaces this test creates; nothing in the root namespace):
//!
//! ```text
//!  pod A ns                    node ns                        pod B ns
//!  eth0 10.0.0.1/32 ── veth ── ha [XDP] ╮            ╭ [XDP] hb ── veth ── eth0 10.0.0.2/32
//!  default via 169.254.1.1               AF_XDP sockets on every RX queue, one UMEM,
//!                                        BareForwarder thread (answers ARP for 169.254.1.1)
//! ```
//!
//! Pods route everything via the link-local gateway 169.254.1.1 (Calico's convention); the
//! forwarder answers their ARP requests with the host-side veth's MAC and swaps IPv4 frames
//! between the ports. The veths use 2 RX/TX queues (`ethtool -L`) so a socket is bound on every
//! queue and frames arrive on both. TX checksum offload is off on the pods' eth0, as the CNI would do.
//! The program is attached fail-closed with pins on a private bpffs: after the forwarder stops,
//! it stays attached and traffic stops; a new loader takes the pinned links over.

use std::{
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use palisade_bpf::{AttachOptions, Origin, Redirect};
use palisade_tests::{
    bpffs::TempBpffs,
    netns::{NetNs, VethOptions},
    probe::{Feature, require},
};
use palisade_xsk::{
    PortSpec, XskConfig, XskIo,
    bare::{BareForwarder, BarePort, BareStats, DEFAULT_GATEWAY},
};

const POD_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const POD_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const UDP_PORT: u16 = 5555;

struct Topology {
    node: NetNs,
    pod_a: NetNs,
    pod_b: NetNs,
}

fn wire_pod(node: &NetNs, pod: &NetNs, host_if: &str, ip: Ipv4Addr) {
    let two_queues = VethOptions {
        queues: Some(2),
        channels: Some(2),
    };
    node.veth(host_if, pod, "eth0", two_queues).expect("veth");
    let cidr = format!("{ip}/32");
    let gw = DEFAULT_GATEWAY.to_string();
    pod.ip(&["addr", "add", &cidr, "dev", "eth0"])
        .expect("addr");
    pod.ip(&["route", "add", &gw, "dev", "eth0", "scope", "link"])
        .expect("gateway route");
    pod.ip(&["route", "add", "default", "via", &gw, "dev", "eth0"])
        .expect("default route");
    pod.exec("ethtool", &["-K", "eth0", "tx", "off"])
        .expect("tx checksum offload off");
}

fn topology() -> Topology {
    let t = Topology {
        node: NetNs::new("node").expect("node ns"),
        pod_a: NetNs::new("poda").expect("pod a ns"),
        pod_b: NetNs::new("podb").expect("pod b ns"),
    };
    wire_pod(&t.node, &t.pod_a, "ha", POD_A);
    wire_pod(&t.node, &t.pod_b, "hb", POD_B);
    t
}

/// The forwarder thread: attaches (fail-closed, pins under `pin_root`), binds sockets on every
/// queue of both ports with one UMEM, registers them, signals readiness, forwards until `stop`.
fn spawn_forwarder(
    t: &Topology,
    pin_root: std::path::PathBuf,
    stop: Arc<AtomicBool>,
) -> (thread::JoinHandle<BareStats>, [Origin; 2]) {
    let macs = [
        t.node.mac("ha").expect("mac ha"),
        t.node.mac("hb").expect("mac hb"),
    ];
    let node_ns = format!("/run/netns/{}", t.node.name());
    let (ready_tx, ready_rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let ns = std::fs::File::open(&node_ns).expect("open node ns");
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns node");
        let opts = AttachOptions {
            pin_root,
            ..AttachOptions::default()
        };
        let mut progs = [
            Redirect::attach("ha", &opts).expect("attach ha"),
            Redirect::attach("hb", &opts).expect("attach hb"),
        ];
        let specs: Vec<PortSpec> = ["ha", "hb"]
            .iter()
            .map(|i| PortSpec {
                interface: (*i).to_owned(),
                queues: palisade_bpf::rx_queue_count(i).expect("queue count"),
            })
            .collect();
        let cfg = XskConfig {
            ring_size: 512,
            ..XskConfig::default()
        };
        let mut io = XskIo::open(&specs, &cfg).expect("AF_XDP sockets");
        for s in io.sockets() {
            progs[usize::from(s.port.0)]
                .register_socket(s.queue, s.fd)
                .expect("register socket");
        }
        eprintln!(
            "forwarder: {} sockets ({:?} queues), modes {:?}/{:?}",
            io.sockets().len(),
            specs.iter().map(|s| s.queues).collect::<Vec<_>>(),
            progs[0].mode(),
            progs[1].mode()
        );
        ready_tx
            .send([progs[0].origin(), progs[1].origin()])
            .expect("ready");
        let mut fwd = BareForwarder::new(
            DEFAULT_GATEWAY,
            [
                BarePort {
                    mac: macs[0],
                    peer: None,
                },
                BarePort {
                    mac: macs[1],
                    peer: None,
                },
            ],
        );
        let stats = fwd
            .run(&mut io, &stop, Duration::from_millis(50))
            .expect("forwarder loop");
        eprintln!("forwarder: {stats:?}, io {:?}", io.stats());
        for (i, s) in io.kernel_stats().into_iter().enumerate() {
            eprintln!("socket {i}: {s:?}");
        }
        assert_eq!(io.stats().anomalies, 0);
        // A crash: sockets close, the pinned programs stay (Redirect drop does not detach).
        drop(io);
        drop(progs);
        stats
    });
    match ready_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(origins) => (handle, origins),
        Err(_) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(_) => panic!("forwarder exited before it was ready"),
        },
    }
}

/// Sends UDP datagrams from pod A to pod B until one arrives (or `deadline`); returns it.
fn udp_exchange(t: &Topology, deadline: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let (bound_tx, bound_rx) = mpsc::channel();
    thread::scope(|s| {
        let receiver = s.spawn(|| {
            t.pod_b
                .run_in(|| {
                    let sock = UdpSocket::bind((POD_B, UDP_PORT)).expect("bind in pod B");
                    sock.set_read_timeout(Some(deadline)).expect("timeout");
                    bound_tx.send(()).expect("bound");
                    let mut buf = [0u8; 1500];
                    sock.recv_from(&mut buf)
                        .ok()
                        .map(|(n, from)| (buf[..n].to_vec(), from))
                })
                .expect("pod B namespace")
        });
        bound_rx.recv().expect("receiver bound");
        let start = Instant::now();
        t.pod_a
            .run_in(|| {
                let sock = UdpSocket::bind((POD_A, 0)).expect("bind in pod A");
                while start.elapsed() < deadline && !receiver.is_finished() {
                    let _ = sock.send_to(b"palisade says hello", (POD_B, UDP_PORT));
                    thread::sleep(Duration::from_millis(100));
                }
            })
            .expect("pod A namespace");
        receiver.join().expect("receiver thread")
    })
}

fn ping(t: &Topology, count: &str) -> bool {
    t.pod_a
        .exec(
            "ping",
            &[
                "-c",
                count,
                "-i",
                "0.2",
                "-W",
                "1",
                "-q",
                &POD_B.to_string(),
            ],
        )
        .is_ok()
}

#[test]
fn afxdp_forward_udp_and_ping_then_fail_closed() {
    if !require(
        "afxdp_forward",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let t = topology();
    let bpffs = TempBpffs::new().expect("temp bpffs");
    let stop = Arc::new(AtomicBool::new(false));
    let (fwd, origins) = spawn_forwarder(&t, bpffs.path().to_path_buf(), stop.clone());
    assert_eq!(origins, [Origin::Fresh, Origin::Fresh]);

    let got = udp_exchange(&t, Duration::from_secs(5));
    let (payload, from) = got.expect("UDP datagram from pod A reaches pod B through AF_XDP");
    assert_eq!(payload, b"palisade says hello");
    assert_eq!(from.ip(), POD_A);
    assert!(ping(&t, "3"), "ping from pod A to pod B");

    stop.store(true, Ordering::Relaxed);
    let stats = fwd.join().expect("forwarder thread");
    assert!(stats.forwarded >= 4, "{stats:?}");
    assert!(
        stats.arp_replies >= 2,
        "both pods resolved the gateway: {stats:?}"
    );

    // Fail-closed: the programs stay attached with no socket and drop everything.
    assert!(t.node.has_xdp("ha").expect("ip link") && t.node.has_xdp("hb").expect("ip link"));
    assert!(
        udp_exchange(&t, Duration::from_millis(800)).is_none(),
        "traffic must stop when the forwarder stops (fail-closed)"
    );
    assert!(!ping(&t, "2"), "ping must fail while the dataplane is down");

    // A restart takes the pinned links over and traffic flows again.
    let stop = Arc::new(AtomicBool::new(false));
    let (fwd, origins) = spawn_forwarder(&t, bpffs.path().to_path_buf(), stop.clone());
    assert!(
        origins
            .iter()
            .all(|o| matches!(o, Origin::TakenOver { .. })),
        "{origins:?}"
    );
    assert!(
        udp_exchange(&t, Duration::from_secs(5)).is_some(),
        "traffic flows again after takeover"
    );
    stop.store(true, Ordering::Relaxed);
    fwd.join().expect("forwarder thread");
    // Guards: the bpffs unmount drops the pins (detaching the programs), the namespaces go.
    drop(bpffs);
    assert!(
        !t.node.has_xdp("ha").expect("ip link"),
        "pins gone -> detached"
    );
}
