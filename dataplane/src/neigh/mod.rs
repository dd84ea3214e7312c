//! The ARP and IPv6 neighbour-discovery responder.
//!
//! Contract: on a pod port Palisade is the pod's gateway: it answers ARP requests for the
//! gateway IPv4 address (169.254.1.1 by default) and neighbour solicitations for the gateway
//! IPv6 address (fe80::1 by default) with the port's gateway MAC. On the uplink it answers for
//! local pod addresses (proxy ARP/ND), so the next hop can reach them. Everything else of the
//! neighbour family — requests for other targets, replies, gratuitous ARP, ARP probes, DAD
//! solicitations (unspecified source), router solicitations, MLD — is `NeighbourChatter`: not
//! malformed, not answered. Replies are written into a caller-provided buffer; the request
//! frame's own buffer may be reused. Learning MACs from requests is the caller's job. To resolve
//! a pod that has not spoken, the caller sends ARP requests (IPv4) or
//! [`build_neighbour_solicitation`] (IPv6) from the gateway; the pod's answer is learned like
//! any frame of its port.

mod reply;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::forward::{PortInfo, PortRole, RouteTable};
use crate::packet::{ArpInfo, DropReason, IpInfo, MacAddr, Parsed};

pub use reply::{
    ARP_REPLY_LEN, NA_FLAG_OVERRIDE, NA_FLAG_ROUTER, NA_FLAG_SOLICITED,
    NEIGHBOUR_ADVERTISEMENT_LEN, NEIGHBOUR_SOLICITATION_LEN, build_arp_reply,
    build_neighbour_advertisement, build_neighbour_solicitation, solicited_node,
};

/// The gateway addresses Palisade answers for on pod ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighConfig {
    pub gateway_v4: Ipv4Addr,
    pub gateway_v6: Ipv6Addr,
}

impl Default for NeighConfig {
    /// Calico's convention: 169.254.1.1 and fe80::1.
    fn default() -> Self {
        Self {
            gateway_v4: Ipv4Addr::new(169, 254, 1, 1),
            gateway_v6: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
        }
    }
}

impl NeighConfig {
    /// True when `addr` is one of the two gateway addresses.
    pub fn is_gateway(&self, addr: IpAddr) -> bool {
        match addr {
            IpAddr::V4(a) => a == self.gateway_v4,
            IpAddr::V6(a) => a == self.gateway_v6,
        }
    }

    /// True when Palisade answers for `target` on `port`.
    fn answers_for(&self, port: &PortInfo, target: IpAddr, routes: &RouteTable) -> bool {
        match port.role {
            PortRole::Pod => self.is_gateway(target),
            PortRole::Uplink { .. } => routes.local(target).is_some(),
        }
    }
}

/// Answers an ARP packet that arrived on `port`: the reply's length in `buf`, or why not.
pub fn answer_arp(
    config: &NeighConfig,
    parsed: &Parsed,
    arp: &ArpInfo,
    port: &PortInfo,
    routes: &RouteTable,
    buf: &mut [u8],
) -> Result<usize, DropReason> {
    let is_probe = arp.sender_ip.is_unspecified();
    let is_gratuitous = arp.sender_ip == arp.target_ip;
    if arp.operation != ArpInfo::REQUEST
        || is_probe
        || is_gratuitous
        || !arp.sender_mac.is_unicast()
        || !config.answers_for(port, IpAddr::V4(arp.target_ip), routes)
    {
        return Err(DropReason::NeighbourChatter);
    }
    build_arp_reply(
        buf,
        parsed.vlan,
        port.gateway_mac,
        arp.target_ip,
        arp.sender_mac,
        arp.sender_ip,
    )
}

/// Answers a neighbour solicitation (`ip` with `L4Detail::NeighbourSolicitation`) that arrived
/// on `port`: the advertisement's length in `buf`, or why not.
#[allow(clippy::too_many_arguments)]
pub fn answer_neighbour_solicitation(
    config: &NeighConfig,
    parsed: &Parsed,
    ip: &IpInfo,
    target: Ipv6Addr,
    source_mac: Option<MacAddr>,
    port: &PortInfo,
    routes: &RouteTable,
    buf: &mut [u8],
) -> Result<usize, DropReason> {
    let IpAddr::V6(src) = ip.key.src else {
        return Err(DropReason::NeighbourChatter);
    };
    // RFC 4861 §7.1.1: hop limit 255 and code 0, or the solicitation is not valid.
    let valid = ip.ttl == 255 && ip.key.icmp.code == Some(0);
    let dad = src.is_unspecified();
    let to_mac = source_mac.unwrap_or(parsed.eth_src);
    if !valid
        || dad
        || !to_mac.is_unicast()
        || !config.answers_for(port, IpAddr::V6(target), routes)
    {
        return Err(DropReason::NeighbourChatter);
    }
    let flags = match port.role {
        // We are the pod's router.
        PortRole::Pod => NA_FLAG_ROUTER | NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE,
        // Proxy advertisement: no override (RFC 4861 §7.2.8), not a router for the next hop.
        PortRole::Uplink { .. } => NA_FLAG_SOLICITED,
    };
    build_neighbour_advertisement(
        buf,
        parsed.vlan,
        port.gateway_mac,
        target,
        to_mac,
        src,
        flags,
    )
}
