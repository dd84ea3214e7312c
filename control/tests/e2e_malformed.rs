//! Privileged end-to-end: malformed and hostile frames written into a pod port.
//!
//! Two pods, x/a and y/b, in namespaces this test creates (removed on drop and on panic). From
//! inside x/a, `trafgen` writes hand-made frames verbatim onto its `eth0` (a packet socket: the
//! kernel neither checks nor fixes them), addressed like x/a's own traffic to y/b through the
//! gateway. Every malformed one must be dropped and counted under its reason in `palisade run`'s
//! final `drops by reason` line (each is sent twice, so each reason's count is exactly 2); a
//! frame with IP options must be forwarded, as a router would, and reach a socket in y/b; and
//! palisade must keep forwarding (new connections both ways after the barrage).
//!
//! IPv6 frames with broken extension headers, lengths or a later fragment are among them.
//!
//! A frame shorter than an Ethernet header cannot be written onto a veth (the kernel refuses
//! it before any XDP program sees it), so the shortest frames here are a bare Ethernet header;
//! `runt` itself is covered by the parser's unit tests.

use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
use std::time::Duration;

use palisade_tests::cluster::{PodSpec, Probe, Protocol, Servers};
use palisade_tests::daemon::{counter, drops_by_reason};
use palisade_tests::frames::{Ipv4Frame, ethernet, inject, ipv6, udp};
use palisade_tests::probe::{Feature, require};
use palisade_tests::scenario::Scenario;

const BIN: &str = env!("CARGO_BIN_EXE_palisade");
const A: Ipv4Addr = Ipv4Addr::new(10, 83, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 83, 0, 2);
const SERVED: u16 = 80;
const OPTIONS_PORT: u16 = 6000;
const UDP: u8 = 17;
const TCP: u8 = 6;

const CONFIG: &str = "
failure_mode: open
pin_workers: false
";

/// The frames and the drop reason each must be counted under (`None`: forwarded).
fn barrage(macs: ([u8; 6], [u8; 6])) -> Vec<(&'static str, Vec<u8>, Option<&'static str>)> {
    let (gw, pod) = macs;
    let base = |protocol, payload| Ipv4Frame::new(macs, A, B, protocol, payload);
    let to_b = || base(UDP, udp(40000, 9, b"hostile"));
    let mut header_only = to_b().build();
    header_only.truncate(14 + 12);
    let v6_pair = (
        Ipv6Addr::new(0xfd83, 0, 0, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0xfd83, 0, 0, 0, 0, 0, 0, 2),
    );
    let v6_udp = udp(40003, 9, b"v6");
    // Twelve destination-options headers (8 bytes each: next header, length 0, a PadN option).
    let deep: Vec<u8> = (0..12)
        .flat_map(|i| [if i == 11 { UDP } else { 60 }, 0, 1, 4, 0, 0, 0, 0])
        .chain(v6_udp.iter().copied())
        .collect();
    // A fragment header with offset 23 (non-first), then the fragment's bytes.
    let later_fragment: Vec<u8> = [UDP, 0, 0, 23 << 3, 0, 0, 0, 1]
        .into_iter()
        .chain(v6_udp.iter().copied())
        .collect();
    let tcp_offset_2 = {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40001u16.to_be_bytes());
        t[2..4].copy_from_slice(&SERVED.to_be_bytes());
        t[12] = 2 << 4;
        t[13] = 0x02;
        t
    };
    vec![
        (
            "a bare Ethernet header typed IPv4",
            ethernet(gw, pod, 0x0800),
            Some("truncated_ip_header"),
        ),
        (
            "a bare Ethernet header typed ARP",
            ethernet(gw, pod, 0x0806),
            Some("truncated_arp"),
        ),
        (
            "a truncated VLAN tag",
            [ethernet(gw, pod, 0x8100), vec![0, 5]].concat(),
            Some("truncated_vlan"),
        ),
        (
            "an unknown EtherType",
            [ethernet(gw, pod, 0x88b5), vec![0; 46]].concat(),
            Some("unsupported_ethertype"),
        ),
        (
            "12 bytes of IPv4 header",
            header_only,
            Some("truncated_ip_header"),
        ),
        (
            "IHL 4",
            Ipv4Frame {
                ihl: Some(4),
                ..to_b()
            }
            .build(),
            Some("bad_ihl"),
        ),
        (
            "IHL 15 with a 20-byte header",
            Ipv4Frame {
                ihl: Some(15),
                ..to_b()
            }
            .build(),
            Some("truncated_ip_header"),
        ),
        (
            "version 6 in an IPv4 frame",
            {
                let mut f = to_b().build();
                f[14] = 0x65;
                f
            },
            Some("bad_ip_version"),
        ),
        (
            "total length below the header",
            Ipv4Frame {
                total_len: Some(12),
                ..to_b()
            }
            .build(),
            Some("bad_total_length"),
        ),
        (
            "total length past the frame",
            Ipv4Frame {
                total_len: Some(400),
                ..to_b()
            }
            .build(),
            Some("length_exceeds_frame"),
        ),
        (
            "a wrong header checksum",
            Ipv4Frame {
                checksum: Some(0xbad0),
                ..to_b()
            }
            .build(),
            Some("bad_ipv4_checksum"),
        ),
        (
            "a non-first fragment",
            Ipv4Frame {
                flags_fragment: 185,
                ..to_b()
            }
            .build(),
            Some("fragment"),
        ),
        (
            "a UDP header cut to 4 bytes",
            base(UDP, vec![0x9c, 0x41, 0, 9]).build(),
            Some("truncated_l4"),
        ),
        (
            "a TCP data offset of 2 words",
            base(TCP, tcp_offset_2).build(),
            Some("bad_tcp_header"),
        ),
        (
            "a 20-byte IPv6 header",
            [ethernet(gw, pod, 0x86dd), vec![0x60; 20]].concat(),
            Some("truncated_ip_header"),
        ),
        (
            "an IPv6 payload length past the frame",
            ipv6(macs, v6_pair, UDP, Some(400), &v6_udp),
            Some("length_exceeds_frame"),
        ),
        (
            "a hop-by-hop header cut to 4 bytes",
            ipv6(macs, v6_pair, 0, None, &[UDP, 5, 0, 0]),
            Some("truncated_ext_header"),
        ),
        (
            "twelve IPv6 extension headers",
            ipv6(macs, v6_pair, 60, None, &deep),
            Some("too_many_ext_headers"),
        ),
        (
            "an IPv6 non-first fragment",
            ipv6(macs, v6_pair, 44, None, &later_fragment),
            Some("fragment"),
        ),
        (
            "TTL 1",
            Ipv4Frame { ttl: 1, ..to_b() }.build(),
            Some("ttl_exceeded"),
        ),
        (
            "a source address that is not x/a's",
            Ipv4Frame {
                src: Ipv4Addr::new(10, 83, 0, 99),
                ..to_b()
            }
            .build(),
            Some("spoofed_source"),
        ),
        (
            "IP options (7 NOPs and an end of list)",
            Ipv4Frame {
                options: vec![1, 1, 1, 1, 1, 1, 1, 0],
                ..base(UDP, udp(40002, OPTIONS_PORT, b"with options"))
            }
            .build(),
            None,
        ),
    ]
}

#[test]
fn e2e_malformed_frames_are_dropped_and_counted() {
    if !require(
        "e2e_malformed_frames_are_dropped_and_counted",
        &[Feature::Netns, Feature::Xdp, Feature::AfXdp],
    ) {
        return;
    }
    let pods = vec![
        PodSpec::new("x", "a", A, "hxa"),
        PodSpec::new("y", "b", B, "hyb"),
    ];
    let s = Scenario::new(BIN, "node-malformed", pods).expect("topology");
    let cluster = &s.cluster;
    let (pod_a, pod_b) = (&cluster.pods[0].1, &cluster.pods[1].1);
    let _servers = Servers::start(cluster, &[SERVED]).expect("servers");
    let options_rx = pod_b
        .run_in(|| UdpSocket::bind((B, OPTIONS_PORT)))
        .expect("enter y/b")
        .expect("bind in y/b");
    options_rx
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let config = s.config("palisade.yaml", CONFIG).expect("config");
    let daemon = s.start(Some(&config)).expect("palisade run starts");

    let both_ways = Probe::all(
        &[(0, 1), (1, 0)],
        &[Protocol::Tcp, Protocol::Udp],
        &[SERVED],
    );
    assert_eq!(
        cluster.probe(&both_ways, Duration::from_secs(3)),
        vec![true; both_ways.len()],
        "x/a and y/b reach each other before the barrage"
    );

    let macs = (
        cluster.node.mac("hxa").expect("gateway MAC"),
        pod_a.mac("eth0").expect("x/a's MAC"),
    );
    let frames = barrage(macs);
    let bytes: Vec<Vec<u8>> = frames.iter().map(|(_, f, _)| f.clone()).collect();
    let twice = [bytes.clone(), bytes].concat();
    inject(pod_a, "eth0", &twice).expect("trafgen writes the frames");

    let mut buf = [0u8; 64];
    let mut options_received = 0;
    while options_received < 2 {
        match options_rx.recv(&mut buf) {
            Ok(n) if &buf[..n] == b"with options" => options_received += 1,
            Ok(_) => {}
            Err(e) => panic!(
                "the frame with IP options must be forwarded ({options_received} of 2 arrived): {e}"
            ),
        }
    }
    assert_eq!(
        cluster.probe(&both_ways, Duration::from_secs(3)),
        vec![true; both_ways.len()],
        "palisade keeps forwarding after the barrage"
    );

    let (status, log) = daemon.stop(Duration::from_secs(20)).expect("stop");
    assert!(status.success(), "clean exit: {status}");
    let drops = drops_by_reason(&log, "final counters");
    let mut expected = std::collections::BTreeMap::<&str, u64>::new();
    for (_, _, reason) in &frames {
        if let Some(r) = reason {
            *expected.entry(r).or_default() += 2;
        }
    }
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(reason, n)| drops.get(**reason).copied().unwrap_or(0) != **n)
        .map(|(reason, n)| {
            let what: Vec<&str> = frames
                .iter()
                .filter(|(_, _, r)| r == &Some(*reason))
                .map(|(what, _, _)| *what)
                .collect();
            format!(
                "{reason}: expected {n} ({what:?}), counted {}",
                drops.get(*reason).copied().unwrap_or(0)
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "drops by reason: {drops:?}\n{}",
        wrong.join("\n")
    );
    let io_anomalies = counter(&log, "final counters", "io_anomalies");
    assert_eq!(io_anomalies, Some(0), "no I/O anomalies");
}
