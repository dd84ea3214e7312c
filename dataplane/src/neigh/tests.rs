//! ARP reply bytes, neighbour advertisement bytes and checksum (checked against etherparse's
//! independent implementation), and the chatter that must not be answered.

use etherparse::{Icmpv6Header, Icmpv6Type};

use super::*;
use crate::forward::{PortInfo, RouteTable};
use crate::packet::testframes::*;
use crate::packet::{DropReason, L3, L4Detail, MacAddr, Parsed, parse_frame};

const UPLINK_MAC: MacAddr = MacAddr([0x02, 0xaa, 0, 0, 0, 1]);
const ROUTER_MAC: MacAddr = MacAddr([0x02, 0xbb, 0, 0, 0, 1]);

fn routes() -> RouteTable {
    RouteTable::builder()
        .pod_port(1, GW_MAC)
        .uplink_port(0, UPLINK_MAC, Some(ROUTER_MAC))
        .local("10.0.0.1".parse().expect("addr"), 1, None)
        .local("fd00::1".parse().expect("addr"), 1, None)
        .build()
        .expect("valid")
}

fn port(routes: &RouteTable, id: u16) -> PortInfo {
    *routes.port(id).expect("declared")
}

fn arp_answer(frame: &[u8], port_id: u16, buf: &mut [u8]) -> Result<usize, DropReason> {
    let parsed = parse_frame(frame).expect("valid");
    let L3::Arp(arp) = parsed.l3 else {
        panic!("not ARP")
    };
    let r = routes();
    answer_arp(
        &NeighConfig::default(),
        &parsed,
        &arp,
        &port(&r, port_id),
        &r,
        buf,
    )
}

fn ns_answer(frame: &[u8], port_id: u16, buf: &mut [u8]) -> Result<usize, DropReason> {
    let parsed: Parsed = parse_frame(frame).expect("valid");
    let L3::Ip(ip) = parsed.l3 else {
        panic!("not IP")
    };
    let L4Detail::NeighbourSolicitation { target, source_mac } = ip.detail else {
        panic!("not NS: {ip:?}")
    };
    let r = routes();
    answer_neighbour_solicitation(
        &NeighConfig::default(),
        &parsed,
        &ip,
        target,
        source_mac,
        &port(&r, port_id),
        &r,
        buf,
    )
}

#[test]
fn arp_request_for_the_gateway_gets_the_exact_reply() {
    let request = arp(1, POD_A_MAC, "10.0.0.1", "169.254.1.1");
    let mut buf = [0u8; 2048];
    let len = arp_answer(&request, 1, &mut buf).expect("answered");
    let mut expected = Vec::new();
    expected.extend_from_slice(&POD_A_MAC.0); // to the requester
    expected.extend_from_slice(&GW_MAC.0); // from the gateway
    expected.extend_from_slice(&[0x08, 0x06]);
    expected.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 2]);
    expected.extend_from_slice(&GW_MAC.0);
    expected.extend_from_slice(&[169, 254, 1, 1]);
    expected.extend_from_slice(&POD_A_MAC.0);
    expected.extend_from_slice(&[10, 0, 0, 1]);
    assert_eq!(&buf[..len], &expected[..]);
    assert_eq!(len, ARP_REPLY_LEN);
    // etherparse reads it back as an ARP reply.
    let back = parse_frame(&buf[..len]).expect("valid");
    let L3::Arp(a) = back.l3 else {
        panic!("not ARP")
    };
    assert_eq!(
        (a.operation, a.sender_mac, a.target_ip),
        (2, GW_MAC, v4("10.0.0.1"))
    );
}

#[test]
fn arp_reply_can_overwrite_the_request_in_place() {
    let mut frame = arp(1, POD_A_MAC, "10.0.0.1", "169.254.1.1");
    let copy = frame.clone();
    let len = arp_answer(&copy, 1, &mut frame).expect("answered");
    assert_eq!(len, frame.len());
    assert_eq!(&frame[0..6], &POD_A_MAC.0);
}

#[test]
fn vlan_tagged_request_gets_a_tagged_reply() {
    let untagged = arp(1, POD_A_MAC, "10.0.0.1", "169.254.1.1");
    let mut tagged = untagged[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
    tagged.extend_from_slice(&untagged[12..]);
    let mut buf = [0u8; 128];
    let len = arp_answer(&tagged, 1, &mut buf).expect("answered");
    assert_eq!(len, ARP_REPLY_LEN + 4);
    assert_eq!(&buf[12..18], &[0x81, 0x00, 0x00, 0x07, 0x08, 0x06]);
    assert_eq!(parse_frame(&buf[..len]).expect("valid").vlan, Some(7));
}

#[test]
fn arp_chatter_is_not_answered() {
    let mut buf = [0u8; 128];
    let rows = [
        ("other target", arp(1, POD_A_MAC, "10.0.0.1", "10.0.0.2"), 1),
        ("reply", arp(2, POD_A_MAC, "10.0.0.1", "169.254.1.1"), 1),
        ("probe", arp(1, POD_A_MAC, "0.0.0.0", "169.254.1.1"), 1),
        ("gratuitous", arp(1, POD_A_MAC, "10.0.0.1", "10.0.0.1"), 1),
        (
            "group sender",
            arp(1, MacAddr::BROADCAST, "10.0.0.1", "169.254.1.1"),
            1,
        ),
        (
            "gateway asked on the uplink",
            arp(1, ROUTER_MAC, "192.168.0.1", "169.254.1.1"),
            0,
        ),
        (
            "non-local asked on the uplink",
            arp(1, ROUTER_MAC, "192.168.0.1", "10.0.0.9"),
            0,
        ),
    ];
    for (name, frame, port_id) in rows {
        assert_eq!(
            arp_answer(&frame, port_id, &mut buf),
            Err(DropReason::NeighbourChatter),
            "{name}"
        );
    }
}

#[test]
fn uplink_proxies_arp_for_local_pods() {
    let mut buf = [0u8; 128];
    let len =
        arp_answer(&arp(1, ROUTER_MAC, "192.168.0.1", "10.0.0.1"), 0, &mut buf).expect("answered");
    assert_eq!(&buf[0..6], &ROUTER_MAC.0);
    assert_eq!(&buf[6..12], &UPLINK_MAC.0);
    assert_eq!(&buf[28..32], &[10, 0, 0, 1]);
    assert_eq!(len, ARP_REPLY_LEN);
}

#[test]
fn no_room_for_the_reply() {
    let mut buf = [0u8; ARP_REPLY_LEN - 1];
    assert_eq!(
        arp_answer(&arp(1, POD_A_MAC, "10.0.0.1", "169.254.1.1"), 1, &mut buf),
        Err(DropReason::NoReplyRoom)
    );
    let mut buf = [0u8; NEIGHBOUR_ADVERTISEMENT_LEN - 1];
    let ns = neighbour_solicitation(POD_A_MAC, v6("fe80::a"), v6("fe80::1"), true);
    assert_eq!(ns_answer(&ns, 1, &mut buf), Err(DropReason::NoReplyRoom));
}

/// Checks every field of an advertisement and its checksum against etherparse's.
fn check_advertisement(
    frame: &[u8],
    to_mac: MacAddr,
    from_mac: MacAddr,
    target: &str,
    to_ip: &str,
    flags: u8,
) {
    assert_eq!(frame.len(), NEIGHBOUR_ADVERTISEMENT_LEN);
    assert_eq!(&frame[0..6], &to_mac.0);
    assert_eq!(&frame[6..12], &from_mac.0);
    assert_eq!(&frame[12..14], &[0x86, 0xdd]);
    assert_eq!(&frame[14..22], &[0x60, 0, 0, 0, 0, 32, 58, 255]);
    assert_eq!(&frame[22..38], &v6(target).octets());
    assert_eq!(&frame[38..54], &v6(to_ip).octets());
    let icmp = &frame[54..];
    assert_eq!(&icmp[0..2], &[136, 0]);
    assert_eq!(&icmp[4..8], &[flags, 0, 0, 0]);
    assert_eq!(&icmp[8..24], &v6(target).octets());
    assert_eq!(&icmp[24..26], &[2, 1]);
    assert_eq!(&icmp[26..32], &from_mac.0);
    let reference = Icmpv6Header::with_checksum(
        Icmpv6Type::Unknown {
            type_u8: 136,
            code_u8: 0,
            bytes5to8: [flags, 0, 0, 0],
        },
        v6(target).octets(),
        v6(to_ip).octets(),
        &icmp[8..],
    )
    .expect("small payload");
    assert_eq!(u16::from_be_bytes([icmp[2], icmp[3]]), reference.checksum);
}

#[test]
fn neighbour_solicitation_for_the_gateway_gets_an_advertisement() {
    let mut buf = [0u8; 2048];
    let ns = neighbour_solicitation(POD_A_MAC, v6("fe80::a"), v6("fe80::1"), true);
    let len = ns_answer(&ns, 1, &mut buf).expect("answered");
    check_advertisement(
        &buf[..len],
        POD_A_MAC,
        GW_MAC,
        "fe80::1",
        "fe80::a",
        NA_FLAG_ROUTER | NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE,
    );
    // Without a source link-layer option the reply goes to the Ethernet source.
    let ns = neighbour_solicitation(POD_A_MAC, v6("fd00::1"), v6("fe80::1"), false);
    let len = ns_answer(&ns, 1, &mut buf).expect("answered");
    check_advertisement(&buf[..len], POD_A_MAC, GW_MAC, "fe80::1", "fd00::1", 0xe0);
}

#[test]
fn uplink_proxies_neighbour_discovery_for_local_pods() {
    let mut buf = [0u8; 2048];
    let ns = neighbour_solicitation(ROUTER_MAC, v6("fe80::99"), v6("fd00::1"), true);
    let len = ns_answer(&ns, 0, &mut buf).expect("answered");
    check_advertisement(
        &buf[..len],
        ROUTER_MAC,
        UPLINK_MAC,
        "fd00::1",
        "fe80::99",
        NA_FLAG_SOLICITED,
    );
    let ns = neighbour_solicitation(ROUTER_MAC, v6("fe80::99"), v6("fd00::9"), true);
    assert_eq!(
        ns_answer(&ns, 0, &mut buf),
        Err(DropReason::NeighbourChatter)
    );
}

#[test]
fn neighbour_chatter_is_not_answered() {
    let mut buf = [0u8; 2048];
    let dad = neighbour_solicitation(POD_A_MAC, v6("::"), v6("fe80::1"), false);
    assert_eq!(
        ns_answer(&dad, 1, &mut buf),
        Err(DropReason::NeighbourChatter),
        "DAD"
    );
    let other = neighbour_solicitation(POD_A_MAC, v6("fe80::a"), v6("fe80::b"), true);
    assert_eq!(
        ns_answer(&other, 1, &mut buf),
        Err(DropReason::NeighbourChatter),
        "other target"
    );
    let mut routed = neighbour_solicitation(POD_A_MAC, v6("fe80::a"), v6("fe80::1"), true);
    routed[21] = 254; // hop limit below 255: it crossed a router, not valid ND
    assert_eq!(
        ns_answer(&routed, 1, &mut buf),
        Err(DropReason::NeighbourChatter),
        "hop limit"
    );
}

#[test]
fn solicitation_of_a_quiet_pod_goes_to_its_solicited_node_group() {
    assert_eq!(
        solicited_node(v6("fd79:6::12:3456")),
        v6("ff02::1:ff12:3456")
    );
    let mut buf = [0u8; 2048];
    let gateway = NeighConfig::default().gateway_v6;
    let len = build_neighbour_solicitation(&mut buf, None, GW_MAC, gateway, v6("fd00::1"))
        .expect("built");
    assert_eq!(len, NEIGHBOUR_SOLICITATION_LEN);
    let frame = &buf[..len];
    assert_eq!(&frame[0..6], &[0x33, 0x33, 0xff, 0, 0, 1]);
    assert_eq!(&frame[6..12], &GW_MAC.0);
    assert_eq!(&frame[14..22], &[0x60, 0, 0, 0, 0, 32, 58, 255]);
    assert_eq!(&frame[22..38], &gateway.octets());
    assert_eq!(&frame[38..54], &v6("ff02::1:ff00:1").octets());
    let icmp = &frame[54..];
    assert_eq!(&icmp[0..2], &[135, 0]);
    assert_eq!(&icmp[4..8], &[0, 0, 0, 0]);
    let reference = Icmpv6Header::with_checksum(
        Icmpv6Type::Unknown {
            type_u8: 135,
            code_u8: 0,
            bytes5to8: [0, 0, 0, 0],
        },
        gateway.octets(),
        v6("ff02::1:ff00:1").octets(),
        &icmp[8..],
    )
    .expect("small payload");
    assert_eq!(u16::from_be_bytes([icmp[2], icmp[3]]), reference.checksum);
    // Our own parser reads it as a solicitation for the pod with our MAC as its source.
    let parsed = parse_frame(frame).expect("valid");
    let L3::Ip(ip) = parsed.l3 else {
        panic!("not IP")
    };
    assert_eq!(
        ip.detail,
        L4Detail::NeighbourSolicitation {
            target: v6("fd00::1"),
            source_mac: Some(GW_MAC),
        }
    );
    assert_eq!(ip.ttl, 255);
}

#[test]
fn tagged_solicitation_and_no_room() {
    let mut buf = [0u8; 2048];
    let gateway = NeighConfig::default().gateway_v6;
    let len = build_neighbour_solicitation(&mut buf, Some(7), GW_MAC, gateway, v6("fd00::1"))
        .expect("built");
    assert_eq!(len, NEIGHBOUR_SOLICITATION_LEN + 4);
    assert_eq!(&buf[12..16], &[0x81, 0x00, 0, 7]);
    let parsed = parse_frame(&buf[..len]).expect("valid");
    assert_eq!(parsed.vlan, Some(7));
    let mut small = [0u8; NEIGHBOUR_SOLICITATION_LEN - 1];
    assert_eq!(
        build_neighbour_solicitation(&mut small, None, GW_MAC, gateway, v6("fd00::1")),
        Err(DropReason::NoReplyRoom)
    );
}
