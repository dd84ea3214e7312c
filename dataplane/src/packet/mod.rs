//! Wire parsing: one pass over a frame into a compact `Parsed` value.
//!
//! Contract: `parse_frame` reads a frame once, through etherparse's checked header slices and
//! bounds-checked reads, and returns either a `Parsed` (Ethernet + ARP, or Ethernet + IP with the
//! `FlowKey`, offsets, TTL position, TCP flags and ICMP details) or the `DropReason` that says why
//! the frame is unusable. It never panics, whatever the bytes. Later stages read `Parsed`, not
//! the frame; only the rewrite and the reply builders touch the bytes again, at recorded offsets.

pub mod checksum;
mod drop;
mod l4;
mod parse;

#[cfg(test)]
pub(crate) mod testframes;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::flow::FlowKey;

pub use drop::{DropCounters, DropReason};
pub use l4::{icmpv4, icmpv6, is_icmp_error};
pub use parse::parse_frame;

/// EtherTypes Palisade reads.
pub mod ether_type {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86dd;
}

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// True for group (multicast and broadcast) addresses.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }

    /// True for an address a single station may own (not group, not all-zero).
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast() && *self != Self::ZERO
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// A frame after one parsing pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub eth_dst: MacAddr,
    pub eth_src: MacAddr,
    /// The VLAN identifier of a single 802.1Q tag, if the frame carries one.
    pub vlan: Option<u16>,
    /// Offset of the ARP or IP header in the frame (14, or 18 with a VLAN tag).
    pub l3_offset: u16,
    pub l3: L3,
}

/// What follows the Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3 {
    Arp(ArpInfo),
    Ip(IpInfo),
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpInfo {
    /// 1 = request, 2 = reply (others are carried as they are).
    pub operation: u16,
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpInfo {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

/// An IPv4 or IPv6 packet, read down to its transport header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpInfo {
    /// The flow as this packet carries it (ICMP: type, code, echo id in both ports).
    pub key: FlowKey,
    /// Offset of the transport header (after IPv4 options and IPv6 extension headers).
    pub l4_offset: u16,
    /// Offset one past the IP packet; bytes after it (Ethernet padding) are not part of it.
    pub ip_end: u16,
    /// Offset of the TTL (IPv4) or hop-limit (IPv6) byte.
    pub ttl_offset: u16,
    /// The TTL or hop limit as received.
    pub ttl: u8,
    /// TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ...); 0 otherwise.
    pub tcp_flags: u8,
    /// What the transport header says beyond the flow key.
    pub detail: L4Detail,
}

impl IpInfo {
    /// True for IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.key.is_ipv6()
    }
}

/// Transport details some stages need beyond the flow key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4Detail {
    /// Nothing more.
    None,
    /// An ICMP/ICMPv6 error (destination unreachable, time exceeded, packet too big, parameter
    /// problem): `inner` is the flow of the embedded packet, in the direction it was sent.
    IcmpError { inner: FlowKey },
    /// An ICMPv6 neighbour solicitation.
    NeighbourSolicitation {
        target: Ipv6Addr,
        /// The source link-layer address option, if present.
        source_mac: Option<MacAddr>,
    },
}

/// Reads a big-endian u16 at `at`, if the bytes are there.
#[inline]
pub(crate) fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    match bytes.get(at..at.checked_add(2)?) {
        Some(&[a, b]) => Some(u16::from_be_bytes([a, b])),
        _ => None,
    }
}

/// Reads `N` bytes at `at`, if they are there.
#[inline]
pub(crate) fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}
