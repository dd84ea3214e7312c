//! Privileged: frames a pod sends on any of its TX queues meet the XDP program.
//!
//! A veth runs its native XDP program only for frames whose queue is below its *real* RX queue
//! count; a frame on a higher queue would take the normal stack path and never meet the program.
//! The kernel guards both orders: native XDP cannot be attached while the peer has more TX queues
//! than the host side has RX queues (ENOSPC — the loader then falls back to skb mode, where every
//! frame meets the program), and while it is attached the pod cannot raise its TX queues.

use palisade_bpf::{AttachMode, AttachOptions, FailureMode, Fallback, Redirect};
use palisade_tests::{
    netns::VethOptions,
    pods::{GATEWAY, HOST_IFS, POD_A, TwoPods},
    probe::{Feature, require},
};

/// Pings the node's gateway address from `count` concurrent ping processes (each socket hashes
/// to a TX queue of its own; half are pinned to each CPU); returns how many got a reply.
fn pings_answered(t: &TwoPods, count: usize) -> usize {
    let gw = GATEWAY.to_string();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..count)
            .map(|i| {
                let cpu = (i % 2).to_string();
                let gw = gw.clone();
                s.spawn(move || {
                    t.pod_a
                        .exec(
                            "taskset",
                            &["-c", &cpu, "ping", "-c", "1", "-W", "1", "-q", &gw],
                        )
                        .is_ok()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(false))
            .filter(|answered| *answered)
            .count()
    })
}

#[test]
fn afxdp_queues_pod_tx_queues_beyond_host_rx_queues_do_not_bypass_xdp() {
    if !require("afxdp_queues", &[Feature::Netns, Feature::Xdp]) {
        return;
    }
    let t = TwoPods::new(VethOptions::default()).expect("topology");
    // The pod raises its TX queues; the host side keeps the default single RX queue.
    t.pod_a
        .exec("ethtool", &["-L", "eth0", "rx", "2", "tx", "2"])
        .expect("pod eth0 to 2 queues");
    t.node
        .ip(&["addr", "add", &format!("{GATEWAY}/32"), "dev", HOST_IFS[0]])
        .expect("gateway address");
    t.node
        .ip(&["route", "add", &format!("{POD_A}/32"), "dev", HOST_IFS[0]])
        .expect("route back");
    assert_eq!(pings_answered(&t, 4), 4, "without XDP the node answers");
    t.node
        .run_in(|| {
            let r = Redirect::attach(
                HOST_IFS[0],
                &AttachOptions {
                    failure_mode: FailureMode::Open,
                    fallback: Fallback::Drop,
                    ..AttachOptions::default()
                },
            )
            .expect("attach");
            assert_eq!(
                r.mode(),
                AttachMode::Skb,
                "native XDP refused: peer has more TX queues"
            );
            let leaked = pings_answered(&t, 12);
            r.detach().expect("detach");
            assert_eq!(leaked, 0, "{leaked} of 12 pings got around the XDP program");
        })
        .expect("node namespace");
}

#[test]
fn afxdp_queues_pod_cannot_raise_tx_queues_under_native_xdp() {
    if !require("afxdp_queues_raise", &[Feature::Netns, Feature::Xdp]) {
        return;
    }
    let t = TwoPods::new(VethOptions::default()).expect("topology");
    t.node
        .run_in(|| {
            let r = Redirect::attach(
                HOST_IFS[0],
                &AttachOptions {
                    failure_mode: FailureMode::Open,
                    ..AttachOptions::default()
                },
            )
            .expect("attach");
            assert_eq!(r.mode(), AttachMode::Driver);
            let raised = t
                .pod_a
                .exec("ethtool", &["-L", "eth0", "rx", "2", "tx", "2"]);
            assert!(
                raised.is_err(),
                "the kernel let the pod raise its TX queues above the host side's RX queues"
            );
            r.detach().expect("detach");
        })
        .expect("node namespace");
}
