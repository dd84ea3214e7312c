//! Frames for tests, built with etherparse's `PacketBuilder` (and patched by hand where a test
//! needs something etherparse will not build, such as IPv4 options or bad checksums).

// Helpers serve tests across the crate; not every test module uses every one.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, EtherType, PacketBuilder, TcpHeader};

use super::MacAddr;
use super::checksum;

pub const POD_A_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0a]);
pub const POD_B_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x0b]);
pub const GW_MAC: MacAddr = MacAddr([0xee, 0xee, 0xee, 0xee, 0xee, 0xee]);

pub fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("test address")
}

pub fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("test address")
}

fn eth(src: MacAddr) -> etherparse::PacketBuilderStep<etherparse::Ethernet2Header> {
    PacketBuilder::ethernet2(src.0, GW_MAC.0)
}

fn write<T>(b: etherparse::PacketBuilderStep<T>, payload: &[u8]) -> Vec<u8>
where
    etherparse::PacketBuilderStep<T>: Writable,
{
    b.to_vec(payload)
}

/// Bridges the per-step `write` methods of etherparse's builder.
pub trait Writable {
    fn to_vec(self, payload: &[u8]) -> Vec<u8>;
}

macro_rules! writable {
    ($($t:ty),*) => {$(
        impl Writable for etherparse::PacketBuilderStep<$t> {
            fn to_vec(self, payload: &[u8]) -> Vec<u8> {
                let mut out = Vec::with_capacity(self.size(payload.len()));
                self.write(&mut out, payload).expect("test frame");
                out
            }
        }
    )*};
}
writable!(
    etherparse::UdpHeader,
    etherparse::TcpHeader,
    etherparse::Icmpv4Header,
    etherparse::Icmpv6Header
);

pub fn udp4(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
    write(
        eth(POD_A_MAC)
            .ipv4(v4(src).octets(), v4(dst).octets(), 64)
            .udp(sport, dport),
        b"hello",
    )
}

pub fn udp4_ttl(src: &str, dst: &str, ttl: u8) -> Vec<u8> {
    write(
        eth(POD_A_MAC)
            .ipv4(v4(src).octets(), v4(dst).octets(), ttl)
            .udp(1000, 53),
        b"hello",
    )
}

pub fn udp6(src: &str, dst: &str, sport: u16, dport: u16) -> Vec<u8> {
    write(
        eth(POD_A_MAC)
            .ipv6(v6(src).octets(), v6(dst).octets(), 64)
            .udp(sport, dport),
        b"hello",
    )
}

pub fn tcp4(src: &str, dst: &str, sport: u16, dport: u16, syn: bool, ack: bool) -> Vec<u8> {
    let mut h = TcpHeader::new(sport, dport, 1, 65535);
    h.syn = syn;
    h.ack = ack;
    if ack {
        h.acknowledgment_number = 1;
    }
    write(
        eth(POD_A_MAC)
            .ipv4(v4(src).octets(), v4(dst).octets(), 64)
            .tcp_header(h),
        b"",
    )
}

pub fn icmp4_echo(src: &str, dst: &str, id: u16, request: bool) -> Vec<u8> {
    let b = eth(POD_A_MAC).ipv4(v4(src).octets(), v4(dst).octets(), 64);
    let b = if request {
        b.icmpv4_echo_request(id, 1)
    } else {
        b.icmpv4_echo_reply(id, 1)
    };
    write(b, b"ping")
}

pub fn icmp6_echo(src: &str, dst: &str, id: u16) -> Vec<u8> {
    write(
        eth(POD_A_MAC)
            .ipv6(v6(src).octets(), v6(dst).octets(), 64)
            .icmpv6_echo_request(id, 1),
        b"ping",
    )
}

/// An ICMPv4 error of `icmp_type`/`code` from `src` to `dst`, quoting `quoted` (an IP frame;
/// its IP header and the first 8 payload bytes are quoted, as RFC 792 asks).
pub fn icmp4_error(src: &str, dst: &str, icmp_type: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    let ihl = usize::from(quoted.get(14).copied().unwrap_or(0x45) & 0xf) * 4;
    let end = (14 + ihl + 8).min(quoted.len());
    let inner = quoted.get(14..end).unwrap_or_default();
    write(
        eth(POD_A_MAC)
            .ipv4(v4(src).octets(), v4(dst).octets(), 64)
            .icmpv4_raw(icmp_type, code, [0; 4]),
        inner,
    )
}

/// An ICMPv6 error quoting as much of `quoted` (an IP frame) as given.
pub fn icmp6_error(src: &str, dst: &str, icmp_type: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    write(
        eth(POD_A_MAC)
            .ipv6(v6(src).octets(), v6(dst).octets(), 64)
            .icmpv6_raw(icmp_type, code, [0; 4]),
        quoted.get(14..).unwrap_or_default(),
    )
}

/// An ICMPv6 message of any type (for ND/MLD/RS) with a raw body after the 4 bytes of rest.
pub fn icmp6_raw(
    src_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    icmp_type: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    write(
        PacketBuilder::ethernet2(src_mac.0, [0x33, 0x33, 0xff, 0, 0, 1])
            .ipv6(src.octets(), dst.octets(), hop_limit)
            .icmpv6_raw(icmp_type, 0, rest),
        body,
    )
}

/// A neighbour solicitation for `target` from `src`, with a source link-layer option if
/// `with_sllao`.
pub fn neighbour_solicitation(
    src_mac: MacAddr,
    src: Ipv6Addr,
    target: Ipv6Addr,
    with_sllao: bool,
) -> Vec<u8> {
    let mut body = target.octets().to_vec();
    if with_sllao {
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(&src_mac.0);
    }
    let t = target.octets();
    let solicited_node = Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(t[13]),
        u16::from_be_bytes([t[14], t[15]]),
    );
    icmp6_raw(src_mac, src, solicited_node, 255, 135, [0; 4], &body)
}

pub fn arp(operation: u16, sender_mac: MacAddr, sender: &str, target: &str) -> Vec<u8> {
    let packet = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation(operation),
        &sender_mac.0,
        &v4(sender).octets(),
        &[0; 6],
        &v4(target).octets(),
    )
    .expect("arp sizes");
    let mut out = Vec::new();
    PacketBuilder::ethernet2(sender_mac.0, MacAddr::BROADCAST.0)
        .arp(packet)
        .write(&mut out)
        .expect("arp frame");
    out
}

/// Recomputes the IPv4 header checksum of an untagged frame.
pub fn fix_ipv4_checksum(frame: &mut [u8]) {
    let ihl = usize::from(frame[14] & 0xf) * 4;
    frame[24..26].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(&frame[14..14 + ihl]);
    frame[24..26].copy_from_slice(&c.to_be_bytes());
}

/// Inserts `options` (a multiple of 4 bytes) into the IPv4 header of an untagged frame and
/// fixes IHL, total length and checksum.
pub fn with_ipv4_options(frame: &[u8], options: &[u8]) -> Vec<u8> {
    let ihl = usize::from(frame[14] & 0xf) * 4;
    let mut out = frame[..14 + ihl].to_vec();
    out.extend_from_slice(options);
    out.extend_from_slice(&frame[14 + ihl..]);
    out[14] = 0x40 | ((ihl + options.len()) / 4) as u8;
    let total = u16::from_be_bytes([out[16], out[17]]) + options.len() as u16;
    out[16..18].copy_from_slice(&total.to_be_bytes());
    fix_ipv4_checksum(&mut out);
    out
}

/// An untagged IPv6 frame whose fixed header is followed by the extension headers `exts`
/// (each: header type, body after the next-header byte) and then `l4` of protocol `proto`.
pub fn ipv6_with_exts(
    src: &str,
    dst: &str,
    exts: &[(u8, Vec<u8>)],
    proto: u8,
    l4: &[u8],
) -> Vec<u8> {
    let mut payload = Vec::new();
    for (i, (_, body)) in exts.iter().enumerate() {
        let next = exts.get(i + 1).map_or(proto, |(t, _)| *t);
        payload.push(next);
        payload.extend_from_slice(body);
    }
    payload.extend_from_slice(l4);
    let first = exts.first().map_or(proto, |(t, _)| *t);
    let mut out = Vec::new();
    out.extend_from_slice(&GW_MAC.0);
    out.extend_from_slice(&POD_A_MAC.0);
    out.extend_from_slice(&0x86ddu16.to_be_bytes());
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.push(first);
    out.push(64);
    out.extend_from_slice(&v6(src).octets());
    out.extend_from_slice(&v6(dst).octets());
    out.extend_from_slice(&payload);
    out
}

/// A UDP header (checksum 0) with 4 payload bytes.
pub fn udp_bytes(sport: u16, dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&12u16.to_be_bytes());
    v.extend_from_slice(&[0, 0, 1, 2, 3, 4]);
    v
}
