//! The flow key: the 5-tuple every stage after parsing works on.
//!
//! Contract: a `FlowKey` is plain `Copy` data, built once per frame by the parser (or once per
//! line by `palisade eval`). Ports are meaningful for TCP, UDP, SCTP and UDPLite. For ICMP and
//! ICMPv6 the type and code live in `icmp`; for echo request/reply both ports carry the echo
//! identifier (so conntrack can pair a request with its reply); for every other protocol the
//! ports are 0.

use std::net::IpAddr;

/// IP protocol numbers Palisade gives a name to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpProto;

impl IpProto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
    pub const UDPLITE: u8 = 136;

    /// True for the protocols whose header starts with 16-bit source and destination ports.
    pub const fn has_ports(protocol: u8) -> bool {
        matches!(protocol, Self::TCP | Self::UDP | Self::SCTP | Self::UDPLITE)
    }

    /// True for ICMP and ICMPv6.
    pub const fn is_icmp(protocol: u8) -> bool {
        matches!(protocol, Self::ICMP | Self::ICMPV6)
    }
}

/// ICMP type and code; either may be unknown (only in offline evaluation, never on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct IcmpFields {
    pub icmp_type: Option<u8>,
    pub code: Option<u8>,
}

/// One direction of a flow as its first packet carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub icmp: IcmpFields,
}

impl FlowKey {
    /// A key for a protocol with ports (TCP, UDP, SCTP, UDPLite) or without (ports ignored).
    pub fn new(src: IpAddr, dst: IpAddr, protocol: u8, src_port: u16, dst_port: u16) -> Self {
        let (src_port, dst_port) = if IpProto::has_ports(protocol) {
            (src_port, dst_port)
        } else {
            (0, 0)
        };
        Self {
            src,
            dst,
            protocol,
            src_port,
            dst_port,
            icmp: IcmpFields::default(),
        }
    }

    /// A key for ICMP/ICMPv6; `echo_id` is the identifier of an echo request/reply, else 0.
    pub fn icmp(src: IpAddr, dst: IpAddr, protocol: u8, icmp: IcmpFields, echo_id: u16) -> Self {
        Self {
            src,
            dst,
            protocol,
            src_port: echo_id,
            dst_port: echo_id,
            icmp,
        }
    }

    /// True when source and destination are IPv6 addresses.
    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// The key of the reply direction (addresses and ports swapped, ICMP fields kept).
    pub fn reversed(&self) -> Self {
        Self {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_dropped_for_protocols_without_ports() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let key = FlowKey::new(a, b, 47, 1, 2);
        assert_eq!((key.src_port, key.dst_port), (0, 0));
        let key = FlowKey::new(a, b, IpProto::UDP, 1, 2);
        assert_eq!(key.reversed().src_port, 2);
        assert_eq!(key.reversed().reversed(), key);
    }
}
