//! Route table, learned MACs and rewrite tests (TTL + checksum verified by recomputation).

use std::net::IpAddr;

use super::*;
use crate::packet::testframes::*;
use crate::packet::{DropReason, IpInfo, L3, MacAddr, Parsed, checksum, parse_frame};

const UPLINK_MAC: MacAddr = MacAddr([0x02, 0xaa, 0, 0, 0, 1]);
const ROUTER_MAC: MacAddr = MacAddr([0x02, 0xbb, 0, 0, 0, 1]);

fn addr(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn table(next_hop: Option<MacAddr>) -> RouteTable {
    RouteTable::builder()
        .pod_port(1, GW_MAC)
        .pod_port(2, GW_MAC)
        .uplink_port(0, UPLINK_MAC, next_hop)
        .local(addr("10.0.0.1"), 1, None)
        .local(addr("10.0.0.2"), 2, Some(POD_B_MAC))
        .local(addr("fd00::2"), 2, None)
        .build()
        .expect("valid table")
}

fn ip_of(frame: &[u8]) -> IpInfo {
    match parse_frame(frame) {
        Ok(Parsed { l3: L3::Ip(ip), .. }) => ip,
        other => panic!("expected IP, got {other:?}"),
    }
}

#[test]
fn local_uplink_and_no_route() {
    let t = table(Some(ROUTER_MAC));
    assert_eq!(
        t.route(addr("10.0.0.2")),
        Ok(Route::Local(LocalRoute {
            port: 2,
            mac: Some(POD_B_MAC)
        }))
    );
    assert_eq!(
        t.route(addr("8.8.8.8")),
        Ok(Route::Uplink {
            port: 0,
            next_hop: ROUTER_MAC
        })
    );
    assert_eq!(
        t.route(addr("10.0.0.3")),
        Ok(Route::Uplink {
            port: 0,
            next_hop: ROUTER_MAC
        })
    );
    let no_next_hop = table(None);
    assert_eq!(no_next_hop.route(addr("8.8.8.8")), Err(DropReason::NoRoute));
    let pods_only = RouteTable::builder()
        .pod_port(1, GW_MAC)
        .local(addr("10.0.0.1"), 1, None)
        .build()
        .expect("valid");
    assert_eq!(pods_only.route(addr("10.0.0.9")), Err(DropReason::NoRoute));
    assert_eq!(pods_only.local_count(), 1);
    assert!(pods_only.port(7).is_none());
}

#[test]
fn builder_rejects_inconsistent_input() {
    let a = addr("10.0.0.1");
    let cases: Vec<(RouteTableBuilder, RouteError)> = vec![
        (
            {
                let mut b = RouteTable::builder();
                b.pod_port(1, GW_MAC).pod_port(1, GW_MAC);
                b
            },
            RouteError::PortTwice { port: 1 },
        ),
        (
            {
                let mut b = RouteTable::builder();
                b.uplink_port(0, UPLINK_MAC, None)
                    .uplink_port(3, UPLINK_MAC, None);
                b
            },
            RouteError::SecondUplink { port: 3, first: 0 },
        ),
        (
            {
                let mut b = RouteTable::builder();
                b.local(a, 4, None);
                b
            },
            RouteError::UnknownPort { addr: a, port: 4 },
        ),
        (
            {
                let mut b = RouteTable::builder();
                b.uplink_port(0, UPLINK_MAC, None).local(a, 0, None);
                b
            },
            RouteError::NotAPodPort { addr: a, port: 0 },
        ),
        (
            {
                let mut b = RouteTable::builder();
                b.pod_port(1, GW_MAC)
                    .pod_port(2, GW_MAC)
                    .local(a, 1, None)
                    .local(a, 2, None);
                b
            },
            RouteError::AddressTwice {
                addr: a,
                first: 1,
                second: 2,
            },
        ),
    ];
    for (builder, expected) in cases {
        assert_eq!(
            builder.build().map(|_| ()),
            Err(expected.clone()),
            "{expected}"
        );
    }
}

#[test]
fn routability() {
    for s in ["10.0.0.1", "8.8.8.8", "fd00::1", "2001:db8::1"] {
        assert!(is_routable_destination(addr(s)), "{s}");
    }
    for s in [
        "224.0.0.251",
        "255.255.255.255",
        "169.254.1.1",
        "127.0.0.1",
        "0.0.0.0",
        "ff02::2",
        "fe80::1",
        "::1",
        "::",
    ] {
        assert!(!is_routable_destination(addr(s)), "{s}");
    }
}

#[test]
fn learned_macs_by_address_then_port() {
    let mut l = LearnedMacs::new(2);
    assert_eq!(l.lookup(1, addr("10.0.0.1")), None);
    assert!(l.learn(1, addr("fe80::a"), POD_A_MAC));
    // Any address on port 1 falls back to the port's MAC.
    assert_eq!(l.lookup(1, addr("fd00::1")), Some(POD_A_MAC));
    assert!(l.learn(1, addr("10.0.0.1"), POD_B_MAC));
    assert_eq!(l.lookup(1, addr("10.0.0.1")), Some(POD_B_MAC));
    assert_eq!(l.lookup(1, addr("fe80::a")), Some(POD_A_MAC));
    assert_eq!(l.lookup(2, addr("10.0.0.1")), None);
    // Full: a new address is refused, an existing one still updates.
    assert!(!l.learn(1, addr("10.0.0.9"), POD_A_MAC));
    assert_eq!(l.refused(), 1);
    assert!(l.learn(1, addr("10.0.0.1"), POD_A_MAC));
    assert_eq!(l.lookup(1, addr("10.0.0.1")), Some(POD_A_MAC));
    // Group and zero MACs are never learned.
    assert!(!l.learn(3, addr("10.0.0.3"), MacAddr::BROADCAST));
    assert!(!l.learn(3, addr("10.0.0.3"), MacAddr::ZERO));
    assert_eq!(l.lookup(3, addr("10.0.0.3")), None);
    assert_eq!(l.len(), 2);
}

#[test]
fn port_macs_are_shared_between_tables() {
    let shared = std::sync::Arc::new(PortMacs::new(4));
    let mut w0 = LearnedMacs::with_port_macs(8, shared.clone());
    let w1 = LearnedMacs::with_port_macs(8, shared.clone());
    assert_eq!(w1.lookup(2, addr("10.0.0.2")), None);
    // What one worker hears from a pod, the other can forward with.
    w0.learn_port(2, POD_B_MAC);
    assert_eq!(w1.lookup(2, addr("10.0.0.2")), Some(POD_B_MAC));
    assert_eq!(shared.get(2), Some(POD_B_MAC));
    // The address map stays per worker.
    assert!(w0.learn(2, addr("10.0.0.2"), POD_A_MAC));
    assert_eq!(w0.lookup(2, addr("10.0.0.2")), Some(POD_A_MAC));
    assert_eq!(
        w1.lookup(2, addr("10.0.0.2")),
        Some(POD_A_MAC),
        "the port MAC moved too"
    );
    assert_eq!(w1.len(), 0);
    // Out of range ports are not learned, and never panic.
    w0.learn_port(9, POD_A_MAC);
    assert_eq!(w1.lookup(9, addr("10.0.0.9")), None);
    // All-ones and zero MACs round-trip (the valid bit is separate).
    shared.set(0, MacAddr([0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]));
    assert_eq!(
        shared.get(0),
        Some(MacAddr([0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]))
    );
    shared.set(1, MacAddr::ZERO);
    assert_eq!(shared.get(1), Some(MacAddr::ZERO));
}

#[test]
fn ipv4_rewrite_decrements_ttl_and_keeps_the_checksum_valid() {
    for ttl in [64u8, 2, 255, 128, 17] {
        let mut frame = udp4_ttl("10.0.0.1", "10.0.0.2", ttl);
        let before = frame.clone();
        let ip = ip_of(&frame);
        rewrite_for_forward(&mut frame, &ip, GW_MAC, POD_B_MAC).expect("forwardable");
        assert_eq!(&frame[0..6], &POD_B_MAC.0);
        assert_eq!(&frame[6..12], &GW_MAC.0);
        assert_eq!(frame[22], ttl - 1);
        // Recompute the checksum from scratch and compare with the incremental one.
        let mut header = frame[14..34].to_vec();
        let incremental = u16::from_be_bytes([header[10], header[11]]);
        header[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(incremental, checksum::checksum(&header), "ttl {ttl}");
        // The frame parses again (checksum valid) and only MACs, TTL, checksum changed.
        assert_eq!(ip_of(&frame).ttl, ttl - 1);
        let changed: Vec<usize> = (0..frame.len())
            .filter(|&i| frame[i] != before[i])
            .collect();
        assert!(
            changed
                .iter()
                .all(|&i| i < 12 || i == 22 || i == 24 || i == 25),
            "{changed:?}"
        );
    }
}

#[test]
fn ipv4_rewrite_with_options_updates_the_right_bytes() {
    let mut frame = with_ipv4_options(&udp4("10.0.0.1", "10.0.0.2", 1, 2), &[1, 1, 1, 0]);
    let ip = ip_of(&frame);
    rewrite_for_forward(&mut frame, &ip, GW_MAC, POD_B_MAC).expect("forwardable");
    assert!(checksum::verifies(&frame[14..38]));
    assert_eq!(frame[22], 63);
}

#[test]
fn ipv6_rewrite_decrements_hop_limit() {
    let mut frame = udp6("fd00::1", "fd00::2", 1, 2);
    let before = frame.clone();
    let ip = ip_of(&frame);
    rewrite_for_forward(&mut frame, &ip, GW_MAC, POD_B_MAC).expect("forwardable");
    assert_eq!(frame[21], 63);
    assert_eq!(&frame[0..6], &POD_B_MAC.0);
    assert_eq!(frame[22..], before[22..]);
}

#[test]
fn ttl_one_or_zero_is_dropped_untouched() {
    for ttl in [0u8, 1] {
        let mut frame = udp4_ttl("10.0.0.1", "10.0.0.2", ttl);
        let before = frame.clone();
        let ip = ip_of(&frame);
        assert_eq!(
            rewrite_for_forward(&mut frame, &ip, GW_MAC, POD_B_MAC),
            Err(DropReason::TtlExceeded)
        );
        assert_eq!(frame, before);
    }
    let mut frame = udp6("fd00::1", "fd00::2", 1, 2);
    frame[21] = 1;
    let ip = ip_of(&frame);
    assert_eq!(
        rewrite_for_forward(&mut frame, &ip, GW_MAC, POD_B_MAC),
        Err(DropReason::TtlExceeded)
    );
}
