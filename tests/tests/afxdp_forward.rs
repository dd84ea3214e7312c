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
//! queue and frames may arrive on either. TX checksum offload is off on the pods' eth0, as the CNI
//! would do. The program is attached fail-closed with pins on a private bpffs: after the
//! forwarder stops, it stays attached and traffic stops; a new loader takes the pins over.

use std::time::Duration;

use palisade_bpf::{AttachMode, AttachOptions, Origin};
use palisade_tests::{
    bpffs::TempBpffs,
    dataplane::BareDataplane,
    netns::VethOptions,
    pods::{HOST_IFS, POD_A, TwoPods},
    probe::{Feature, require},
};

const PAYLOAD: &[u8] = b"palisade says hello";

#[test]
fn afxdp_forward_udp_and_ping_then_fail_closed() {
    if !require(
        "afxdp_forward",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let t = TwoPods::new(VethOptions {
        queues: Some(2),
        channels: Some(2),
    })
    .expect("topology");
    let macs = t.host_macs().expect("macs");
    let peers = t.pod_macs().expect("pod macs").map(Some);
    let bpffs = TempBpffs::new().expect("temp bpffs");
    let opts = AttachOptions {
        pin_root: bpffs.path().to_path_buf(),
        ..AttachOptions::default()
    };

    let dp = BareDataplane::start(&t.node, HOST_IFS, macs, peers, opts.clone()).expect("dataplane");
    let ready = dp.ready();
    assert_eq!(ready.origins, [Origin::Fresh, Origin::Fresh]);
    assert_eq!(ready.modes, [AttachMode::Driver, AttachMode::Driver]);
    assert_eq!(ready.sockets, 4, "a socket on each of 2 queues of 2 ports");

    let (payload, from) = t
        .udp(PAYLOAD, Duration::from_secs(5))
        .expect("udp helper")
        .expect("UDP datagram from pod A reaches pod B through AF_XDP");
    assert_eq!(payload, PAYLOAD);
    assert_eq!(from.ip(), POD_A);
    assert!(t.ping(3), "ping from pod A to pod B");
    // A burst: batches, ring wrap-around, fill/completion recycling under load.
    let burst = 3000;
    let got = t
        .udp_burst(burst, Duration::from_secs(3))
        .expect("burst helper");
    eprintln!("burst: {got}/{burst} datagrams arrived");
    assert!(got >= burst / 2, "only {got} of {burst} datagrams arrived");

    let served = dp.stop().expect("dataplane stops cleanly");
    eprintln!("served: {served:?}");
    assert!(served.forwarder.forwarded >= 4, "{served:?}");
    assert!(
        served.forwarder.arp_replies >= 2,
        "both pods resolved the gateway: {served:?}"
    );
    assert_eq!(
        served.io.anomalies, 0,
        "no descriptor contradicted frame ownership"
    );
    assert_eq!(
        served.kernel_invalid_descs, 0,
        "the kernel saw no invalid descriptor"
    );
    assert!(served.io.rx >= served.forwarder.forwarded, "{served:?}");

    // Fail-closed: the programs stay attached with no socket and drop everything.
    for dev in HOST_IFS {
        assert!(t.node.has_xdp(dev).expect("ip link"), "{dev} keeps XDP");
    }
    assert!(
        t.udp(PAYLOAD, Duration::from_millis(800))
            .expect("udp helper")
            .is_none(),
        "traffic must stop when the forwarder stops (fail-closed)"
    );
    assert!(!t.ping(2), "ping must fail while the dataplane is down");

    // A restart takes the pinned links over and traffic flows again.
    let dp = BareDataplane::start(&t.node, HOST_IFS, macs, peers, opts).expect("restart");
    assert!(
        dp.ready()
            .origins
            .iter()
            .all(|o| matches!(o, Origin::TakenOver { .. })),
        "{:?}",
        dp.ready()
    );
    assert!(
        t.udp(PAYLOAD, Duration::from_secs(5))
            .expect("udp helper")
            .is_some(),
        "traffic flows again after takeover"
    );
    dp.stop().expect("stop");
    // Unmounting the private bpffs drops the pins, which detaches the programs.
    drop(bpffs);
    for dev in HOST_IFS {
        assert!(
            !t.node.has_xdp(dev).expect("ip link"),
            "{dev}: pins gone -> detached"
        );
    }
}
