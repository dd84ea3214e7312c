//! Privileged: the program's fallback action for frames whose RX queue has no socket, read from
//! the configuration map at run time: `Pass` lets the node's kernel answer, `Drop` silences it.

use palisade_bpf::{AttachOptions, FailureMode, Fallback, Redirect};
use palisade_tests::{
    netns::VethOptions,
    pods::{GATEWAY, HOST_IFS, POD_A, TwoPods},
    probe::{Feature, require},
};

fn ping_gateway(t: &TwoPods) -> bool {
    t.pod_a
        .exec(
            "ping",
            &[
                "-c",
                "2",
                "-i",
                "0.2",
                "-W",
                "1",
                "-q",
                &GATEWAY.to_string(),
            ],
        )
        .is_ok()
}

#[test]
fn afxdp_fallback_pass_and_drop_switch_at_run_time() {
    if !require("afxdp_fallback", &[Feature::Netns, Feature::Xdp]) {
        return;
    }
    let t = TwoPods::new(VethOptions::default()).expect("topology");
    // The node's kernel owns the gateway address on pod A's host-side veth.
    let gw = format!("{GATEWAY}/32");
    t.node
        .ip(&["addr", "add", &gw, "dev", HOST_IFS[0]])
        .expect("gateway address in the node namespace");
    t.node
        .ip(&["route", "add", &format!("{POD_A}/32"), "dev", HOST_IFS[0]])
        .expect("route back to pod A");
    assert!(ping_gateway(&t), "without XDP the kernel answers");
    t.node
        .run_in(|| {
            let mut r = Redirect::attach(
                HOST_IFS[0],
                &AttachOptions {
                    failure_mode: FailureMode::Open,
                    fallback: Fallback::Pass,
                    ..AttachOptions::default()
                },
            )
            .expect("attach");
            assert!(
                ping_gateway(&t),
                "fallback Pass: frames take the kernel path"
            );
            r.set_fallback(Fallback::Drop).expect("set drop");
            assert!(!ping_gateway(&t), "fallback Drop: nothing gets through");
            r.set_fallback(Fallback::Pass).expect("set pass");
            assert!(ping_gateway(&t), "back to Pass");
            r.detach().expect("detach");
        })
        .expect("node namespace");
}
