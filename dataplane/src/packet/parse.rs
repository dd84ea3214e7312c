//! Ethernet, ARP, IPv4 and IPv6 (with extension headers) down to the transport header.
//!
//! Contract: `parse_frame` is the only entry point; it validates each header once (lengths,
//! versions, IPv4 IHL, total length and header checksum, IPv6 payload length) and maps every
//! failure to a `DropReason`. The same IP readers, in `Mode::Embedded`, read the truncated packet
//! an ICMP error carries, where lengths and checksums are not checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::err::{ipv4, ipv6};
use etherparse::{
    ArpPacketSlice, Ethernet2HeaderSlice, IpAuthHeaderSlice, IpNumber, Ipv4HeaderSlice,
    Ipv6FragmentHeaderSlice, Ipv6HeaderSlice, Ipv6RawExtHeaderSlice, SingleVlanHeaderSlice,
};

use super::l4::{self, Transport};
use super::{ArpInfo, DropReason, IpInfo, L3, MacAddr, Parsed, array, checksum, ether_type};
use crate::flow::FlowKey;

/// The most IPv6 extension headers walked before giving up.
pub(super) const MAX_EXT_HEADERS: usize = 8;

/// Whether an IP header is the frame's own or one embedded in an ICMP error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Validate lengths and checksum; a non-first fragment is `DropReason::Fragment`.
    Frame,
    /// Lenient: the packet may be cut anywhere after its fixed header; no checksum.
    Embedded,
}

/// An IP header read down to the transport layer.
#[derive(Clone, Copy, Debug)]
pub(super) struct IpHeader {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    /// Offset of the transport header, relative to the IP header.
    pub l4_start: usize,
    /// Length of the IP packet within the slice given (≤ the slice).
    pub len: usize,
    /// Offset of the TTL / hop-limit byte, relative to the IP header.
    pub ttl_at: usize,
    pub ttl: u8,
    /// True for a fragment other than the first (only in `Mode::Embedded`).
    pub later_fragment: bool,
}

/// Parses one frame. See the module contract.
#[inline]
pub fn parse_frame(frame: &[u8]) -> Result<Parsed, DropReason> {
    let eth = Ethernet2HeaderSlice::from_slice(frame).map_err(|_| DropReason::Runt)?;
    let eth_dst = MacAddr(eth.destination());
    let eth_src = MacAddr(eth.source());
    let mut ether = eth.ether_type().0;
    let mut l3_offset = eth.slice().len();
    let mut vlan = None;
    if ether == ether_type::VLAN {
        let rest = frame.get(l3_offset..).unwrap_or_default();
        let tag = SingleVlanHeaderSlice::from_slice(rest).map_err(|_| DropReason::TruncatedVlan)?;
        vlan = Some(tag.vlan_identifier().value());
        ether = tag.ether_type().0;
        l3_offset += tag.slice().len();
    }
    let l3_bytes = frame.get(l3_offset..).unwrap_or_default();
    let l3 = match ether {
        ether_type::ARP => L3::Arp(arp(l3_bytes)?),
        ether_type::IPV4 => L3::Ip(ip_packet(l3_bytes, l3_offset, false)?),
        ether_type::IPV6 => L3::Ip(ip_packet(l3_bytes, l3_offset, true)?),
        _ => return Err(DropReason::UnsupportedEtherType),
    };
    Ok(Parsed {
        eth_dst,
        eth_src,
        vlan,
        l3_offset: l3_offset as u16,
        l3,
    })
}

fn arp(bytes: &[u8]) -> Result<ArpInfo, DropReason> {
    let arp = ArpPacketSlice::from_slice(bytes).map_err(|_| DropReason::TruncatedArp)?;
    if arp.hw_addr_type().0 != 1
        || arp.proto_addr_type().0 != ether_type::IPV4
        || arp.hw_addr_size() != 6
        || arp.proto_addr_size() != 4
    {
        return Err(DropReason::UnsupportedArp);
    }
    let mac = |s: &[u8]| {
        array::<6>(s, 0)
            .map(MacAddr)
            .ok_or(DropReason::TruncatedArp)
    };
    let ip = |s: &[u8]| {
        array::<4>(s, 0)
            .map(Ipv4Addr::from)
            .ok_or(DropReason::TruncatedArp)
    };
    Ok(ArpInfo {
        operation: arp.operation().0,
        sender_mac: mac(arp.sender_hw_addr())?,
        sender_ip: ip(arp.sender_protocol_addr())?,
        target_mac: mac(arp.target_hw_addr())?,
        target_ip: ip(arp.target_protocol_addr())?,
    })
}

/// The frame's own IP packet, starting at `l3_offset`.
#[inline]
fn ip_packet(bytes: &[u8], l3_offset: usize, v6: bool) -> Result<IpInfo, DropReason> {
    let ip = if v6 {
        ipv6_header(bytes, Mode::Frame)?
    } else {
        ipv4_header(bytes, Mode::Frame)?
    };
    let l4_bytes = bytes.get(ip.l4_start..ip.len).unwrap_or_default();
    let t: Transport = l4::transport(ip.protocol, v6, l4_bytes, Mode::Frame)?;
    let key = match t.icmp {
        Some(icmp) => FlowKey::icmp(ip.src, ip.dst, ip.protocol, icmp, t.src_port),
        None => FlowKey::new(ip.src, ip.dst, ip.protocol, t.src_port, t.dst_port),
    };
    Ok(IpInfo {
        key,
        l4_offset: (l3_offset + ip.l4_start) as u16,
        ip_end: (l3_offset + ip.len) as u16,
        ttl_offset: (l3_offset + ip.ttl_at) as u16,
        ttl: ip.ttl,
        tcp_flags: t.tcp_flags,
        detail: t.detail,
    })
}

/// Reads an IPv4 header (with options).
#[inline]
pub(super) fn ipv4_header(bytes: &[u8], mode: Mode) -> Result<IpHeader, DropReason> {
    let h = Ipv4HeaderSlice::from_slice(bytes).map_err(|e| match e {
        ipv4::HeaderSliceError::Len(_) => DropReason::TruncatedIpHeader,
        ipv4::HeaderSliceError::Content(ipv4::HeaderError::UnexpectedVersion { .. }) => {
            DropReason::BadIpVersion
        }
        ipv4::HeaderSliceError::Content(ipv4::HeaderError::HeaderLengthSmallerThanHeader {
            ..
        }) => DropReason::BadIhl,
    })?;
    let header_len = h.slice().len();
    let total = usize::from(h.total_len());
    let len = match mode {
        Mode::Frame => {
            if total < header_len {
                return Err(DropReason::BadTotalLength);
            }
            if total > bytes.len() {
                return Err(DropReason::LengthExceedsFrame);
            }
            if !checksum::verifies(h.slice()) {
                return Err(DropReason::BadIpv4Checksum);
            }
            total
        }
        Mode::Embedded => total.clamp(header_len, bytes.len()),
    };
    let later_fragment = h.fragments_offset().value() != 0;
    if later_fragment && mode == Mode::Frame {
        return Err(DropReason::Fragment);
    }
    Ok(IpHeader {
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        protocol: h.protocol().0,
        l4_start: header_len,
        len,
        ttl_at: 8,
        ttl: h.ttl(),
        later_fragment,
    })
}

/// Reads an IPv6 header and walks its extension headers to the transport header.
pub(super) fn ipv6_header(bytes: &[u8], mode: Mode) -> Result<IpHeader, DropReason> {
    let h = Ipv6HeaderSlice::from_slice(bytes).map_err(|e| match e {
        ipv6::HeaderSliceError::Len(_) => DropReason::TruncatedIpHeader,
        ipv6::HeaderSliceError::Content(_) => DropReason::BadIpVersion,
    })?;
    let fixed = h.slice().len();
    let total = fixed + usize::from(h.payload_length());
    let len = match mode {
        Mode::Frame if total > bytes.len() => return Err(DropReason::LengthExceedsFrame),
        Mode::Frame => total,
        Mode::Embedded => total.min(bytes.len()),
    };
    let packet = bytes.get(..len).unwrap_or_default();
    let mut next = h.next_header();
    let mut at = fixed;
    let mut later_fragment = false;
    for _ in 0..=MAX_EXT_HEADERS {
        let rest = packet.get(at..).unwrap_or_default();
        let (step, following) = match next {
            IpNumber::IPV6_HEADER_HOP_BY_HOP
            | IpNumber::IPV6_ROUTE_HEADER
            | IpNumber::IPV6_DESTINATION_OPTIONS => {
                let e = Ipv6RawExtHeaderSlice::from_slice(rest)
                    .map_err(|_| DropReason::TruncatedExtHeader)?;
                (e.slice().len(), e.next_header())
            }
            IpNumber::IPV6_FRAGMENTATION_HEADER => {
                let f = Ipv6FragmentHeaderSlice::from_slice(rest)
                    .map_err(|_| DropReason::TruncatedExtHeader)?;
                if f.fragment_offset().value() != 0 {
                    if mode == Mode::Frame {
                        return Err(DropReason::Fragment);
                    }
                    later_fragment = true;
                }
                (f.slice().len(), f.next_header())
            }
            IpNumber::AUTHENTICATION_HEADER => {
                let a = IpAuthHeaderSlice::from_slice(rest)
                    .map_err(|_| DropReason::TruncatedExtHeader)?;
                (a.slice().len(), a.next_header())
            }
            transport => {
                return Ok(IpHeader {
                    src: IpAddr::V6(Ipv6Addr::from(h.source())),
                    dst: IpAddr::V6(Ipv6Addr::from(h.destination())),
                    protocol: transport.0,
                    l4_start: at,
                    len,
                    ttl_at: 7,
                    ttl: h.hop_limit(),
                    later_fragment,
                });
            }
        };
        at += step;
        next = following;
    }
    Err(DropReason::TooManyExtHeaders)
}
