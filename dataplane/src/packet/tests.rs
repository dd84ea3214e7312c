//! Table tests for the parser: every parsing `DropReason`, offsets, ICMP details, and a
//! property test that random bytes never panic.

use std::net::IpAddr;

use proptest::prelude::*;

use super::testframes::*;
use super::*;
use crate::flow::{FlowKey, IcmpFields, IpProto};

fn ip(frame: &[u8]) -> IpInfo {
    match parse_frame(frame) {
        Ok(Parsed { l3: L3::Ip(ip), .. }) => ip,
        other => panic!("expected an IP packet, got {other:?}"),
    }
}

fn addr(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const DEST_OPTS: u8 = 60;

fn pad_ext() -> Vec<u8> {
    // hdr ext len 0 (8 bytes in all), PadN option of 4 zero bytes.
    vec![0, 1, 4, 0, 0, 0, 0]
}

fn fragment_ext(offset_units: u16, more: bool) -> Vec<u8> {
    let field = (offset_units << 3) | u16::from(more);
    let [hi, lo] = field.to_be_bytes();
    vec![0, hi, lo, 0, 0, 0, 7]
}

#[test]
fn udp_over_ipv4_gives_key_and_offsets() {
    let frame = udp4("10.0.0.1", "10.0.0.2", 1234, 53);
    let p = parse_frame(&frame).expect("valid");
    assert_eq!(p.eth_src, POD_A_MAC);
    assert_eq!(p.eth_dst, GW_MAC);
    assert_eq!((p.vlan, p.l3_offset), (None, 14));
    let L3::Ip(ip) = p.l3 else { panic!("not IP") };
    assert_eq!(
        ip.key,
        FlowKey::new(addr("10.0.0.1"), addr("10.0.0.2"), IpProto::UDP, 1234, 53)
    );
    assert_eq!((ip.l4_offset, ip.ttl_offset, ip.ttl), (34, 22, 64));
    assert_eq!(usize::from(ip.ip_end), frame.len());
    assert_eq!(ip.detail, L4Detail::None);
}

#[test]
fn trailing_ethernet_padding_is_not_part_of_the_packet() {
    let mut frame = udp4("10.0.0.1", "10.0.0.2", 1, 2);
    let len = frame.len();
    frame.resize(80, 0);
    assert_eq!(usize::from(ip(&frame).ip_end), len);
}

#[test]
fn vlan_tag_shifts_offsets() {
    let frame = udp4("10.0.0.1", "10.0.0.2", 1, 2);
    let mut tagged = frame[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x2a]);
    tagged.extend_from_slice(&frame[12..]);
    let p = parse_frame(&tagged).expect("valid");
    assert_eq!((p.vlan, p.l3_offset), (Some(42), 18));
    let L3::Ip(ip) = p.l3 else { panic!("not IP") };
    assert_eq!((ip.l4_offset, ip.ttl_offset), (38, 26));
}

#[test]
fn tcp_flags_and_ports() {
    let ip = ip(&tcp4("10.0.0.1", "10.0.0.2", 40000, 80, true, false));
    assert_eq!((ip.key.src_port, ip.key.dst_port), (40000, 80));
    assert_eq!(ip.tcp_flags & 0x12, 0x02, "SYN without ACK");
    let ip2 = parse_frame(&tcp4("10.0.0.2", "10.0.0.1", 80, 40000, true, true));
    let Ok(Parsed {
        l3: L3::Ip(ip2), ..
    }) = ip2
    else {
        panic!()
    };
    assert_eq!(ip2.tcp_flags & 0x12, 0x12, "SYN+ACK");
}

#[test]
fn icmp_echo_carries_id_in_both_ports() {
    let ip = ip(&icmp4_echo("10.0.0.1", "10.0.0.2", 77, true));
    let icmp = IcmpFields {
        icmp_type: Some(8),
        code: Some(0),
    };
    assert_eq!(
        ip.key,
        FlowKey::icmp(addr("10.0.0.1"), addr("10.0.0.2"), IpProto::ICMP, icmp, 77)
    );
    let ip6 = ip6(&icmp6_echo("fd00::1", "fd00::2", 99));
    assert_eq!((ip6.key.src_port, ip6.key.dst_port), (99, 99));
    assert_eq!(ip6.key.icmp.icmp_type, Some(128));
}

fn ip6(frame: &[u8]) -> IpInfo {
    ip(frame)
}

#[test]
fn icmpv4_error_carries_the_embedded_flow() {
    let original = udp4("10.0.0.2", "10.0.0.9", 5000, 53);
    let err = icmp4_error("10.0.0.9", "10.0.0.2", 3, 3, &original);
    let info = ip(&err);
    assert_eq!(info.key.icmp.icmp_type, Some(3));
    assert_eq!((info.key.src_port, info.key.dst_port), (0, 0));
    assert_eq!(
        info.detail,
        L4Detail::IcmpError {
            inner: FlowKey::new(addr("10.0.0.2"), addr("10.0.0.9"), IpProto::UDP, 5000, 53)
        }
    );
    // A quoted echo request gives the echo id.
    let ping = icmp4_echo("10.0.0.2", "10.0.0.9", 31, true);
    let info = ip(&icmp4_error("10.0.0.7", "10.0.0.2", 11, 0, &ping));
    let L4Detail::IcmpError { inner } = info.detail else {
        panic!("{info:?}")
    };
    assert_eq!(
        (inner.protocol, inner.src_port, inner.icmp.icmp_type),
        (1, 31, Some(8))
    );
}

#[test]
fn icmpv6_errors_of_every_kind_carry_the_embedded_flow() {
    let original = udp6("fd00::2", "fd00::9", 5000, 53);
    for t in [1u8, 2, 3, 4] {
        let info = ip(&icmp6_error("fd00::9", "fd00::2", t, 0, &original));
        assert_eq!(
            info.detail,
            L4Detail::IcmpError {
                inner: FlowKey::new(addr("fd00::2"), addr("fd00::9"), IpProto::UDP, 5000, 53)
            },
            "type {t}"
        );
    }
    // Echo (128) is not an error.
    assert_eq!(
        ip(&icmp6_echo("fd00::1", "fd00::2", 1)).detail,
        L4Detail::None
    );
}

#[test]
fn icmp_error_with_unreadable_inner_packet_is_dropped() {
    let mut err = icmp4_error(
        "10.0.0.9",
        "10.0.0.2",
        3,
        1,
        &udp4("10.0.0.2", "10.0.0.9", 1, 2),
    );
    // Quoted header announces IPv6 inside ICMPv4.
    err[14 + 20 + 8] = 0x65;
    fix_ipv4_checksum(&mut err);
    assert_eq!(parse_frame(&err), Err(DropReason::BadIcmpError));
    let short = icmp4_error(
        "10.0.0.9",
        "10.0.0.2",
        3,
        1,
        &udp4("10.0.0.2", "10.0.0.9", 1, 2)[..30],
    );
    assert_eq!(parse_frame(&short), Err(DropReason::BadIcmpError));
}

#[test]
fn neighbour_solicitation_target_and_source_option() {
    let ns = neighbour_solicitation(POD_A_MAC, v6("fe80::a"), v6("fe80::1"), true);
    assert_eq!(
        ip(&ns).detail,
        L4Detail::NeighbourSolicitation {
            target: v6("fe80::1"),
            source_mac: Some(POD_A_MAC)
        }
    );
    let ns = neighbour_solicitation(POD_A_MAC, v6("::"), v6("fd00::a"), false);
    assert_eq!(
        ip(&ns).detail,
        L4Detail::NeighbourSolicitation {
            target: v6("fd00::a"),
            source_mac: None
        }
    );
}

#[test]
fn arp_request_fields() {
    let frame = arp(1, POD_A_MAC, "10.0.0.1", "169.254.1.1");
    let p = parse_frame(&frame).expect("valid");
    assert_eq!(p.eth_dst, MacAddr::BROADCAST);
    assert_eq!(
        p.l3,
        L3::Arp(ArpInfo {
            operation: ArpInfo::REQUEST,
            sender_mac: POD_A_MAC,
            sender_ip: v4("10.0.0.1"),
            target_mac: MacAddr::ZERO,
            target_ip: v4("169.254.1.1"),
        })
    );
}

#[test]
fn ipv4_options_are_accepted_and_skipped() {
    // Two NOPs and an end-of-options list padded to 4 bytes... then 4 more (8 bytes).
    let frame = with_ipv4_options(
        &udp4("10.0.0.1", "10.0.0.2", 7, 8),
        &[1, 1, 1, 0, 0, 0, 0, 0],
    );
    let ip = ip(&frame);
    assert_eq!(ip.l4_offset, 14 + 28);
    assert_eq!((ip.key.src_port, ip.key.dst_port), (7, 8));
}

#[test]
fn ipv6_extension_headers_are_walked() {
    let l4 = udp_bytes(1111, 2222);
    let chains: Vec<Vec<(u8, Vec<u8>)>> = vec![
        vec![(HOP_BY_HOP, pad_ext())],
        vec![
            (HOP_BY_HOP, pad_ext()),
            (ROUTING, vec![0, 0, 0, 0, 0, 0, 0]),
        ],
        vec![(DEST_OPTS, pad_ext()), (FRAGMENT, fragment_ext(0, true))],
        vec![(FRAGMENT, fragment_ext(0, false)), (DEST_OPTS, pad_ext())],
    ];
    for exts in chains {
        let frame = ipv6_with_exts("fd00::1", "fd00::2", &exts, IpProto::UDP, &l4);
        let info = ip(&frame);
        assert_eq!(
            (info.key.protocol, info.key.src_port, info.key.dst_port),
            (17, 1111, 2222),
            "{exts:?}"
        );
        assert_eq!(usize::from(info.l4_offset), 14 + 40 + 8 * exts.len());
        assert_eq!(info.ttl_offset, 21);
    }
}

/// One row per parsing drop reason (and a few that must parse).
#[test]
fn malformed_frames_table() {
    let udp = udp4("10.0.0.1", "10.0.0.2", 1, 2);
    let tcp = tcp4("10.0.0.1", "10.0.0.2", 1, 2, true, false);
    let mutate = |base: &[u8], f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = base.to_vec();
        f(&mut v);
        v
    };
    let l4 = udp_bytes(1, 2);
    let rows: Vec<(&str, Vec<u8>, Result<(), DropReason>)> = vec![
        ("empty", vec![], Err(DropReason::Runt)),
        ("runt", udp[..13].to_vec(), Err(DropReason::Runt)),
        (
            "ethernet only",
            udp[..14].to_vec(),
            Err(DropReason::TruncatedIpHeader),
        ),
        (
            "truncated VLAN tag",
            mutate(&udp[..16], &|v| v[12..14].copy_from_slice(&[0x81, 0])),
            Err(DropReason::TruncatedVlan),
        ),
        (
            "double VLAN",
            mutate(&udp, &|v| {
                v.splice(12..12, [0x81, 0, 0, 1, 0x81, 0, 0, 2]);
            }),
            Err(DropReason::UnsupportedEtherType),
        ),
        (
            "LLDP",
            mutate(&udp, &|v| v[12..14].copy_from_slice(&[0x88, 0xcc])),
            Err(DropReason::UnsupportedEtherType),
        ),
        (
            "truncated ARP",
            arp(1, POD_A_MAC, "10.0.0.1", "10.0.0.2")[..30].to_vec(),
            Err(DropReason::TruncatedArp),
        ),
        (
            "ARP for IPv6",
            mutate(&arp(1, POD_A_MAC, "10.0.0.1", "10.0.0.2"), &|v| {
                v[16..18].copy_from_slice(&[0x86, 0xdd])
            }),
            Err(DropReason::UnsupportedArp),
        ),
        (
            "IPv4 version 6",
            mutate(&udp, &|v| {
                v[14] = 0x65;
            }),
            Err(DropReason::BadIpVersion),
        ),
        (
            "IPv6 ethertype, version 4",
            mutate(&udp6("fd00::1", "fd00::2", 1, 2), &|v| {
                v[14] = 0x40;
            }),
            Err(DropReason::BadIpVersion),
        ),
        (
            "IHL 4",
            mutate(&udp, &|v| {
                v[14] = 0x44;
                fix_ipv4_checksum(v);
            }),
            Err(DropReason::BadIhl),
        ),
        (
            "IHL past frame",
            mutate(&udp[..40], &|v| {
                v[14] = 0x4f;
            }),
            Err(DropReason::TruncatedIpHeader),
        ),
        (
            "truncated IPv4 header",
            udp[..30].to_vec(),
            Err(DropReason::TruncatedIpHeader),
        ),
        (
            "truncated IPv6 header",
            udp6("fd00::1", "fd00::2", 1, 2)[..50].to_vec(),
            Err(DropReason::TruncatedIpHeader),
        ),
        (
            "total length below header",
            mutate(&udp, &|v| {
                v[16..18].copy_from_slice(&[0, 19]);
                fix_ipv4_checksum(v);
            }),
            Err(DropReason::BadTotalLength),
        ),
        (
            "total length past frame",
            mutate(&udp, &|v| {
                let n = v.len();
                v.truncate(n - 1);
            }),
            Err(DropReason::LengthExceedsFrame),
        ),
        (
            "IPv6 payload past frame",
            mutate(&udp6("fd00::1", "fd00::2", 1, 2), &|v| {
                let n = v.len();
                v.truncate(n - 1);
            }),
            Err(DropReason::LengthExceedsFrame),
        ),
        (
            "wrong header checksum",
            mutate(&udp, &|v| {
                v[24] ^= 0x01;
            }),
            Err(DropReason::BadIpv4Checksum),
        ),
        (
            "TTL changed without checksum",
            mutate(&udp, &|v| {
                v[22] -= 1;
            }),
            Err(DropReason::BadIpv4Checksum),
        ),
        (
            "IPv4 first fragment",
            mutate(&udp, &|v| {
                v[20] = 0x20;
                fix_ipv4_checksum(v);
            }),
            Ok(()),
        ),
        (
            "IPv4 later fragment",
            mutate(&udp, &|v| {
                v[20] = 0x20;
                v[21] = 0x10;
                fix_ipv4_checksum(v);
            }),
            Err(DropReason::Fragment),
        ),
        (
            "IPv4 last fragment",
            mutate(&udp, &|v| {
                v[21] = 0x10;
                fix_ipv4_checksum(v);
            }),
            Err(DropReason::Fragment),
        ),
        (
            "IPv6 later fragment",
            ipv6_with_exts(
                "fd00::1",
                "fd00::2",
                &[(FRAGMENT, fragment_ext(185, true))],
                17,
                &l4,
            ),
            Err(DropReason::Fragment),
        ),
        (
            "IPv6 truncated ext header",
            ipv6_with_exts(
                "fd00::1",
                "fd00::2",
                &[(HOP_BY_HOP, vec![1, 0, 0, 0, 0, 0, 0])],
                17,
                &l4[..2],
            ),
            Err(DropReason::TruncatedExtHeader),
        ),
        (
            "IPv6 too many ext headers",
            ipv6_with_exts(
                "fd00::1",
                "fd00::2",
                &vec![(DEST_OPTS, pad_ext()); 9],
                17,
                &l4,
            ),
            Err(DropReason::TooManyExtHeaders),
        ),
        (
            "IPv6 eight ext headers",
            ipv6_with_exts(
                "fd00::1",
                "fd00::2",
                &vec![(DEST_OPTS, pad_ext()); 8],
                17,
                &l4,
            ),
            Ok(()),
        ),
        (
            "truncated UDP",
            mutate(&udp, &|v| {
                v.truncate(14 + 20 + 6);
                v[16..18].copy_from_slice(&26u16.to_be_bytes());
                fix_ipv4_checksum(v);
            }),
            Err(DropReason::TruncatedL4),
        ),
        (
            "truncated TCP",
            mutate(&tcp, &|v| {
                v.truncate(14 + 20 + 12);
                v[16..18].copy_from_slice(&32u16.to_be_bytes());
                fix_ipv4_checksum(v);
            }),
            Err(DropReason::TruncatedL4),
        ),
        (
            "TCP data offset 4",
            mutate(&tcp, &|v| {
                v[14 + 20 + 12] = 0x40;
            }),
            Err(DropReason::BadTcpHeader),
        ),
        (
            "TCP data offset past packet",
            mutate(&tcp, &|v| {
                v[14 + 20 + 12] = 0xf0;
            }),
            Err(DropReason::BadTcpHeader),
        ),
        (
            "truncated ICMP",
            mutate(&icmp4_echo("10.0.0.1", "10.0.0.2", 1, true), &|v| {
                v.truncate(14 + 20 + 4);
                v[16..18].copy_from_slice(&24u16.to_be_bytes());
                fix_ipv4_checksum(v);
            }),
            Err(DropReason::TruncatedL4),
        ),
        (
            "unknown protocol has no ports",
            mutate(&udp, &|v| {
                v[23] = 47;
                fix_ipv4_checksum(v);
            }),
            Ok(()),
        ),
    ];
    for (name, frame, expected) in rows {
        assert_eq!(parse_frame(&frame).map(|_| ()), expected, "{name}");
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_frame(&bytes);
    }

    /// Valid frames with random bytes overwritten after the Ethernet header still never panic,
    /// and a frame that parses reports offsets inside it.
    #[test]
    fn mutated_valid_frames_never_panic(
        which in 0usize..5,
        edits in proptest::collection::vec((14usize..120, any::<u8>()), 1..6),
        cut in 0usize..140,
    ) {
        let mut frame = match which {
            0 => udp4("10.0.0.1", "10.0.0.2", 1, 2),
            1 => tcp4("10.0.0.1", "10.0.0.2", 1, 2, true, false),
            2 => icmp4_error("10.0.0.9", "10.0.0.2", 3, 3, &udp4("10.0.0.2", "10.0.0.9", 5, 6)),
            3 => icmp6_error("fd00::9", "fd00::2", 1, 0, &udp6("fd00::2", "fd00::9", 5, 6)),
            _ => neighbour_solicitation(POD_A_MAC, v6("fe80::a"), v6("fe80::1"), true),
        };
        for (at, b) in edits {
            if let Some(x) = frame.get_mut(at) {
                *x = b;
            }
        }
        frame.truncate(cut.max(14));
        if let Ok(Parsed { l3: L3::Ip(ip), .. }) = parse_frame(&frame) {
            prop_assert!(usize::from(ip.ip_end) <= frame.len());
            prop_assert!(ip.l4_offset <= ip.ip_end);
            prop_assert!(usize::from(ip.ttl_offset) < frame.len());
        }
    }
}

#[test]
fn udplite_and_sctp_carry_ports() {
    for proto in [IpProto::UDPLITE, IpProto::SCTP] {
        let mut frame = udp4("10.0.0.1", "10.0.0.2", 4000, 5000);
        frame[23] = proto;
        fix_ipv4_checksum(&mut frame);
        let info = ip(&frame);
        assert_eq!(
            (info.key.protocol, info.key.src_port, info.key.dst_port),
            (proto, 4000, 5000)
        );
    }
    // SCTP's common header is 12 bytes: 8 are not enough.
    let mut frame = udp4("10.0.0.1", "10.0.0.2", 4000, 5000);
    frame.truncate(14 + 20 + 8);
    frame[16..18].copy_from_slice(&28u16.to_be_bytes());
    frame[23] = IpProto::SCTP;
    fix_ipv4_checksum(&mut frame);
    assert_eq!(parse_frame(&frame), Err(DropReason::TruncatedL4));
}
