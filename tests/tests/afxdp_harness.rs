//! Privileged: the namespace harness cleans up after itself, on drop and on panic, and never
//! touches the root namespace.

use std::process::Command;

use palisade_tests::{
    netns::{NetNs, VethOptions},
    probe::{Feature, require},
};

fn namespaces() -> String {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Interface names of the root namespace (the test process's own namespace).
fn root_links() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-br", "link", "show"])
        .output()
        .expect("ip link");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[test]
fn afxdp_harness_removes_namespaces_on_drop_and_on_panic() {
    if !require("afxdp_harness", &[Feature::Netns]) {
        return;
    }
    let links_before = root_links();
    let name = {
        let a = NetNs::new("drop-a").expect("ns");
        let b = NetNs::new("drop-b").expect("ns");
        a.veth(
            "x0",
            &b,
            "x1",
            VethOptions {
                queues: Some(2),
                channels: Some(2),
            },
        )
        .expect("veth");
        assert!(namespaces().contains(a.name()));
        let out = a.exec("ethtool", &["-l", "x0"]).expect("ethtool -l");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let current = text
            .split("Current hardware settings:")
            .nth(1)
            .unwrap_or_default();
        assert!(current.contains("RX:\t\t2"), "{text}");
        a.name().to_owned()
    };
    assert!(
        !namespaces().contains(&name),
        "dropped namespace {name} still listed"
    );

    let mut panicked_name = String::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let ns = NetNs::new("panic").expect("ns");
        panicked_name = ns.name().to_owned();
        panic!("test panic inside a namespace guard's scope");
    }));
    assert!(result.is_err());
    assert!(!panicked_name.is_empty());
    assert!(
        !namespaces().contains(&panicked_name),
        "namespace {panicked_name} survived a panic"
    );
    assert_eq!(
        root_links(),
        links_before,
        "the root namespace's links changed"
    );
}
