//! Privileged: the XDP loader on a veth inside test namespaces — attach modes, leftover
//! detection, fail-open detach on drop, fail-closed pinning and takeover.

use palisade_bpf::{AttachMode, AttachOptions, BpfError, FailureMode, Fallback, Origin, Redirect};
use palisade_tests::{
    bpffs::TempBpffs,
    netns::{NetNs, VethOptions},
    probe::{Feature, require},
};

fn topology(queues: Option<u32>) -> (NetNs, NetNs) {
    let node = NetNs::new("node").expect("node namespace");
    let pod = NetNs::new("pod").expect("pod namespace");
    node.veth(
        "h1",
        &pod,
        "eth0",
        VethOptions {
            queues,
            channels: None,
        },
    )
    .expect("veth");
    (node, pod)
}

#[test]
fn afxdp_loader_fail_open_attaches_in_driver_mode_and_detaches_on_drop() {
    if !require("afxdp_loader_fail_open", &[Feature::Netns, Feature::Xdp]) {
        return;
    }
    let (node, _pod) = topology(Some(1));
    let opts = AttachOptions {
        failure_mode: FailureMode::Open,
        ..AttachOptions::default()
    };
    node.run_in(|| {
        let r = Redirect::attach("h1", &opts).expect("attach");
        assert_eq!(r.mode(), AttachMode::Driver, "veth supports native XDP");
        assert_eq!(r.origin(), Origin::Fresh);
        assert!(!r.is_pinned());
        assert!(node.has_xdp("h1").expect("ip link"));
        // A second loader finds the program and refuses to replace it.
        let err = Redirect::attach("h1", &opts).expect_err("already attached");
        assert!(matches!(err, BpfError::AlreadyAttached { .. }), "{err}");
        assert_eq!(palisade_bpf::rx_queue_count("h1").expect("queues"), 1);
        drop(r);
        assert!(
            !node.has_xdp("h1").expect("ip link"),
            "fail-open: drop detaches"
        );
        // skb mode on request.
        let r = Redirect::attach(
            "h1",
            &AttachOptions {
                skb_only: true,
                ..opts.clone()
            },
        )
        .expect("skb attach");
        assert_eq!(r.mode(), AttachMode::Skb);
        r.detach().expect("detach");
        assert!(!node.has_xdp("h1").expect("ip link"));
    })
    .expect("inside node namespace");
}

#[test]
fn afxdp_loader_fail_closed_pins_survive_and_are_taken_over() {
    if !require("afxdp_loader_fail_closed", &[Feature::Netns, Feature::Xdp]) {
        return;
    }
    let (node, _pod) = topology(None);
    let bpffs = TempBpffs::new().expect("temp dir");
    let opts = AttachOptions {
        pin_root: bpffs.path().to_path_buf(),
        ..AttachOptions::default()
    };
    node.run_in(|| {
        let queues = palisade_bpf::rx_queue_count("h1").expect("queues");
        assert_eq!(
            queues, 1,
            "a veth uses one RX queue unless ethtool -L raises it"
        );
        let r = Redirect::attach("h1", &opts).expect("attach");
        assert!(r.is_pinned());
        let pin_dir = r.pin_dir().expect("pinned").to_path_buf();
        assert!(pin_dir.starts_with(bpffs.path().join("palisade")));
        for f in ["link", "xsks_map", "palisade_cfg"] {
            assert!(pin_dir.join(f).exists(), "{f} pinned");
        }
        drop(r);
        assert!(
            node.has_xdp("h1").expect("ip link"),
            "fail-closed: program outlives its owner"
        );
        let mut r = Redirect::attach("h1", &opts).expect("take over");
        assert!(
            matches!(r.origin(), Origin::TakenOver { .. }),
            "{:?}",
            r.origin()
        );
        r.set_fallback(Fallback::Pass)
            .expect("config map writable after takeover");
        // Switching to fail-open removes the pins: a crash now detaches.
        drop(r);
        let r = Redirect::attach(
            "h1",
            &AttachOptions {
                failure_mode: FailureMode::Open,
                ..opts.clone()
            },
        )
        .expect("take over fail-open");
        assert!(matches!(r.origin(), Origin::TakenOver { .. }));
        assert!(!pin_dir.join("link").exists(), "fail-open unpins");
        drop(r);
        assert!(!node.has_xdp("h1").expect("ip link"));
    })
    .expect("inside node namespace");
}

#[test]
fn afxdp_loader_stale_pins_of_a_recreated_interface_are_replaced() {
    if !require("afxdp_loader_stale_pins", &[Feature::Netns, Feature::Xdp]) {
        return;
    }
    let (node, pod) = topology(Some(1));
    let bpffs = TempBpffs::new().expect("temp dir");
    let opts = AttachOptions {
        pin_root: bpffs.path().to_path_buf(),
        ..AttachOptions::default()
    };
    node.run_in(|| {
        let mut r = Redirect::attach("h1", &opts).expect("attach");
        let err = r
            .register_socket(palisade_bpf::MAX_QUEUES, 0)
            .expect_err("queue beyond the map");
        assert!(
            matches!(err, BpfError::QueueOutOfRange { queue, .. } if queue == palisade_bpf::MAX_QUEUES),
            "{err}"
        );
        drop(r);
        // The interface goes away (its pinned link is now attached to nothing) and comes back.
        node.ip(&["link", "del", "h1"]).expect("delete veth");
        node.veth(
            "h1",
            &pod,
            "eth0",
            VethOptions {
                queues: Some(1),
                channels: None,
            },
        )
        .expect("recreate veth");
        assert!(!node.has_xdp("h1").expect("ip link"));
        let r = Redirect::attach("h1", &opts).expect("attach after recreation");
        assert_eq!(r.origin(), Origin::Fresh, "stale pins replaced, not taken over");
        assert!(node.has_xdp("h1").expect("ip link"));
        r.detach().expect("detach");
        assert!(!node.has_xdp("h1").expect("ip link"));
    })
    .expect("inside node namespace");
}
