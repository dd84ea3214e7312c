//! Builders for the neighbour frames Palisade sends: an ARP reply, a neighbour advertisement,
//! and a neighbour solicitation (to resolve a quiet IPv6 pod).
//!
//! Contract: each writes a complete frame at the start of `buf` (with an 802.1Q tag when
//! `vlan` is given) and returns its length, or `NoReplyRoom` if `buf` is too short. The
//! advertisement carries a correct ICMPv6 checksum and a target link-layer address option; the
//! solicitation goes to the target's solicited-node multicast group (RFC 4861 §7.2.2) with hop
//! limit 255, a correct checksum and a source link-layer address option, so the pod answers
//! with an advertisement to the sender's MAC.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::flow::IpProto;
use crate::packet::{DropReason, MacAddr, checksum, ether_type, icmpv6};

/// Length of an untagged ARP reply (no Ethernet padding: veths do not need it).
pub const ARP_REPLY_LEN: usize = 14 + 28;
/// Length of an untagged neighbour advertisement with a target link-layer address option.
pub const NEIGHBOUR_ADVERTISEMENT_LEN: usize = 14 + 40 + 32;
/// Length of an untagged neighbour solicitation with a source link-layer address option.
pub const NEIGHBOUR_SOLICITATION_LEN: usize = 14 + 40 + 32;

/// Neighbour advertisement flags (RFC 4861 §4.4), first byte of the reserved word.
pub const NA_FLAG_ROUTER: u8 = 0x80;
pub const NA_FLAG_SOLICITED: u8 = 0x40;
pub const NA_FLAG_OVERRIDE: u8 = 0x20;

/// Appends bytes to a fixed buffer; fails instead of growing.
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), DropReason> {
        let end = self.at + bytes.len();
        self.buf
            .get_mut(self.at..end)
            .ok_or(DropReason::NoReplyRoom)?
            .copy_from_slice(bytes);
        self.at = end;
        Ok(())
    }

    fn ethernet(
        &mut self,
        dst: MacAddr,
        src: MacAddr,
        vlan: Option<u16>,
        ether: u16,
    ) -> Result<(), DropReason> {
        self.put(&dst.0)?;
        self.put(&src.0)?;
        if let Some(id) = vlan {
            self.put(&ether_type::VLAN.to_be_bytes())?;
            self.put(&(id & 0x0fff).to_be_bytes())?;
        }
        self.put(&ether.to_be_bytes())
    }
}

/// An ARP reply from `our_mac`/`our_ip` to `to_mac`/`to_ip`.
pub fn build_arp_reply(
    buf: &mut [u8],
    vlan: Option<u16>,
    our_mac: MacAddr,
    our_ip: Ipv4Addr,
    to_mac: MacAddr,
    to_ip: Ipv4Addr,
) -> Result<usize, DropReason> {
    let needed = ARP_REPLY_LEN + if vlan.is_some() { 4 } else { 0 };
    if buf.len() < needed {
        return Err(DropReason::NoReplyRoom);
    }
    let mut w = Writer { buf, at: 0 };
    w.ethernet(to_mac, our_mac, vlan, ether_type::ARP)?;
    // Ethernet (1), IPv4, lengths 6 and 4, operation reply (2).
    w.put(&[0, 1, 0x08, 0x00, 6, 4, 0, 2])?;
    w.put(&our_mac.0)?;
    w.put(&our_ip.octets())?;
    w.put(&to_mac.0)?;
    w.put(&to_ip.octets())?;
    Ok(w.at)
}

/// A neighbour advertisement for `target` (owned by `our_mac`) to `to_mac`/`to_ip`, with
/// `flags` (a combination of `NA_FLAG_*`), hop limit 255 and a target link-layer option.
pub fn build_neighbour_advertisement(
    buf: &mut [u8],
    vlan: Option<u16>,
    our_mac: MacAddr,
    target: Ipv6Addr,
    to_mac: MacAddr,
    to_ip: Ipv6Addr,
    flags: u8,
) -> Result<usize, DropReason> {
    let needed = NEIGHBOUR_ADVERTISEMENT_LEN + if vlan.is_some() { 4 } else { 0 };
    if buf.len() < needed {
        return Err(DropReason::NoReplyRoom);
    }
    const ICMP_LEN: u16 = 32;
    let mut w = Writer { buf, at: 0 };
    w.ethernet(to_mac, our_mac, vlan, ether_type::IPV6)?;
    w.put(&[0x60, 0, 0, 0])?;
    w.put(&ICMP_LEN.to_be_bytes())?;
    w.put(&[IpProto::ICMPV6, 255])?;
    w.put(&target.octets())?;
    w.put(&to_ip.octets())?;
    let icmp_at = w.at;
    w.put(&[icmpv6::NEIGHBOUR_ADVERTISEMENT, 0, 0, 0, flags, 0, 0, 0])?;
    w.put(&target.octets())?;
    // Target link-layer address option: type 2, length 1 (8 bytes).
    w.put(&[2, 1])?;
    w.put(&our_mac.0)?;
    let end = w.at;
    let pseudo =
        checksum::ipv6_pseudo_header_sum(&target, &to_ip, u32::from(ICMP_LEN), IpProto::ICMPV6);
    let icmp = w.buf.get_mut(icmp_at..end).ok_or(DropReason::NoReplyRoom)?;
    let sum = !(checksum::sum(pseudo, icmp) as u16);
    if let Some(field) = icmp.get_mut(2..4) {
        field.copy_from_slice(&sum.to_be_bytes());
    }
    Ok(end)
}

/// The solicited-node multicast address of `target` (ff02::1:ffXX:XXXX, RFC 4291 §2.7.1).
pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let t = target.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, t[13], t[14], t[15],
    ])
}

/// A neighbour solicitation for `target` from `our_mac`/`our_ip` (a link-local address, the
/// gateway's), multicast to `target`'s solicited-node group.
pub fn build_neighbour_solicitation(
    buf: &mut [u8],
    vlan: Option<u16>,
    our_mac: MacAddr,
    our_ip: Ipv6Addr,
    target: Ipv6Addr,
) -> Result<usize, DropReason> {
    let needed = NEIGHBOUR_SOLICITATION_LEN + if vlan.is_some() { 4 } else { 0 };
    if buf.len() < needed {
        return Err(DropReason::NoReplyRoom);
    }
    const ICMP_LEN: u16 = 32;
    let group = solicited_node(target);
    let g = group.octets();
    let group_mac = MacAddr([0x33, 0x33, g[12], g[13], g[14], g[15]]);
    let mut w = Writer { buf, at: 0 };
    w.ethernet(group_mac, our_mac, vlan, ether_type::IPV6)?;
    w.put(&[0x60, 0, 0, 0])?;
    w.put(&ICMP_LEN.to_be_bytes())?;
    w.put(&[IpProto::ICMPV6, 255])?;
    w.put(&our_ip.octets())?;
    w.put(&group.octets())?;
    let icmp_at = w.at;
    w.put(&[icmpv6::NEIGHBOUR_SOLICITATION, 0, 0, 0, 0, 0, 0, 0])?;
    w.put(&target.octets())?;
    // Source link-layer address option: type 1, length 1 (8 bytes).
    w.put(&[1, 1])?;
    w.put(&our_mac.0)?;
    let end = w.at;
    let pseudo =
        checksum::ipv6_pseudo_header_sum(&our_ip, &group, u32::from(ICMP_LEN), IpProto::ICMPV6);
    let icmp = w.buf.get_mut(icmp_at..end).ok_or(DropReason::NoReplyRoom)?;
    let sum = !(checksum::sum(pseudo, icmp) as u16);
    if let Some(field) = icmp.get_mut(2..4) {
        field.copy_from_slice(&sum.to_be_bytes());
    }
    Ok(end)
}
