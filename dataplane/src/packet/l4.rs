//! Transport headers: ports, TCP flags, ICMP type/code/echo id, the flow inside an ICMP error,
//! and the target of an ICMPv6 neighbour solicitation.
//!
//! Contract: `transport` reads only the bytes of the IP payload it is given. In `Mode::Frame`
//! a header shorter than its minimum is `TruncatedL4`; in `Mode::Embedded` (the packet inside an
//! ICMP error) only the first 8 bytes RFC 792 guarantees are needed.

use std::net::Ipv6Addr;

use etherparse::TcpHeaderSlice;
use etherparse::err::tcp;

use super::parse::{Mode, ipv4_header, ipv6_header};
use super::{DropReason, L4Detail, MacAddr, array, be16};
use crate::flow::{FlowKey, IcmpFields, IpProto};

/// ICMPv4 types Palisade names.
pub mod icmpv4 {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;
}

/// ICMPv6 types Palisade names.
pub mod icmpv6 {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAMETER_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const MLD_QUERY: u8 = 130;
    pub const MLD_REPORT: u8 = 131;
    pub const MLD_DONE: u8 = 132;
    pub const ROUTER_SOLICITATION: u8 = 133;
    pub const ROUTER_ADVERTISEMENT: u8 = 134;
    pub const NEIGHBOUR_SOLICITATION: u8 = 135;
    pub const NEIGHBOUR_ADVERTISEMENT: u8 = 136;
    pub const REDIRECT: u8 = 137;
    pub const MLDV2_REPORT: u8 = 143;
}

/// True for the ICMP/ICMPv6 types that carry the packet that caused them.
pub fn is_icmp_error(protocol: u8, icmp_type: u8) -> bool {
    match protocol {
        IpProto::ICMP => matches!(
            icmp_type,
            icmpv4::DEST_UNREACHABLE | icmpv4::TIME_EXCEEDED | icmpv4::PARAMETER_PROBLEM
        ),
        IpProto::ICMPV6 => matches!(
            icmp_type,
            icmpv6::DEST_UNREACHABLE
                | icmpv6::PACKET_TOO_BIG
                | icmpv6::TIME_EXCEEDED
                | icmpv6::PARAMETER_PROBLEM
        ),
        _ => false,
    }
}

fn is_echo(protocol: u8, icmp_type: u8) -> bool {
    match protocol {
        IpProto::ICMP => matches!(icmp_type, icmpv4::ECHO_REQUEST | icmpv4::ECHO_REPLY),
        IpProto::ICMPV6 => matches!(icmp_type, icmpv6::ECHO_REQUEST | icmpv6::ECHO_REPLY),
        _ => false,
    }
}

/// What the transport header contributes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Transport {
    /// Source port, or the echo identifier for ICMP echo.
    pub src_port: u16,
    pub dst_port: u16,
    /// Type and code for ICMP/ICMPv6 (of the matching family).
    pub icmp: Option<IcmpFields>,
    pub tcp_flags: u8,
    pub detail: L4Detail,
}

const NONE: Transport = Transport {
    src_port: 0,
    dst_port: 0,
    icmp: None,
    tcp_flags: 0,
    detail: L4Detail::None,
};

/// Reads the transport header of `protocol` from `l4` (the IP payload).
#[inline]
pub(super) fn transport(
    protocol: u8,
    v6: bool,
    l4: &[u8],
    mode: Mode,
) -> Result<Transport, DropReason> {
    let icmp_of_family = (protocol == IpProto::ICMP && !v6) || (protocol == IpProto::ICMPV6 && v6);
    if icmp_of_family {
        return icmp(protocol, v6, l4, mode);
    }
    if !IpProto::has_ports(protocol) {
        return Ok(NONE);
    }
    let ports = |min: usize| -> Result<Transport, DropReason> {
        match (l4.len() >= min, be16(l4, 0), be16(l4, 2)) {
            (true, Some(src_port), Some(dst_port)) => Ok(Transport {
                src_port,
                dst_port,
                ..NONE
            }),
            _ => Err(DropReason::TruncatedL4),
        }
    };
    match (protocol, mode) {
        (IpProto::TCP, Mode::Frame) => {
            let h = TcpHeaderSlice::from_slice(l4).map_err(|e| match e {
                tcp::HeaderSliceError::Len(l) if l.required_len <= 20 => DropReason::TruncatedL4,
                _ => DropReason::BadTcpHeader,
            })?;
            Ok(Transport {
                src_port: h.source_port(),
                dst_port: h.destination_port(),
                tcp_flags: l4.get(13).copied().unwrap_or(0),
                ..NONE
            })
        }
        (IpProto::TCP, Mode::Embedded) => ports(4),
        (IpProto::SCTP, Mode::Frame) => ports(12),
        (_, Mode::Frame) => ports(8),
        (_, Mode::Embedded) => ports(4),
    }
}

fn icmp(protocol: u8, v6: bool, l4: &[u8], mode: Mode) -> Result<Transport, DropReason> {
    let min = if mode == Mode::Frame { 8 } else { 2 };
    let (Some(&icmp_type), Some(&code), true) = (l4.first(), l4.get(1), l4.len() >= min) else {
        return Err(DropReason::TruncatedL4);
    };
    let icmp = Some(IcmpFields {
        icmp_type: Some(icmp_type),
        code: Some(code),
    });
    let echo_id = if is_echo(protocol, icmp_type) {
        be16(l4, 4).unwrap_or(0)
    } else {
        0
    };
    let base = Transport {
        src_port: echo_id,
        dst_port: echo_id,
        icmp,
        ..NONE
    };
    if mode == Mode::Embedded {
        return Ok(base);
    }
    let detail = if is_icmp_error(protocol, icmp_type) {
        L4Detail::IcmpError {
            inner: embedded_flow(v6, l4.get(8..).unwrap_or_default())?,
        }
    } else if v6 && icmp_type == icmpv6::NEIGHBOUR_SOLICITATION {
        neighbour_solicitation(l4)?
    } else {
        L4Detail::None
    };
    Ok(Transport { detail, ..base })
}

/// The flow of the packet embedded in an ICMP error, as its sender sent it.
fn embedded_flow(v6: bool, bytes: &[u8]) -> Result<FlowKey, DropReason> {
    let ip = if v6 {
        ipv6_header(bytes, Mode::Embedded)
    } else {
        ipv4_header(bytes, Mode::Embedded)
    }
    .map_err(|_| DropReason::BadIcmpError)?;
    let t = if ip.later_fragment {
        NONE
    } else {
        let l4 = bytes.get(ip.l4_start..ip.len).unwrap_or_default();
        transport(ip.protocol, v6, l4, Mode::Embedded).map_err(|_| DropReason::BadIcmpError)?
    };
    Ok(match t.icmp {
        Some(icmp) => FlowKey::icmp(ip.src, ip.dst, ip.protocol, icmp, t.src_port),
        None => FlowKey::new(ip.src, ip.dst, ip.protocol, t.src_port, t.dst_port),
    })
}

/// RFC 4861 §4.3: reserved (4 bytes), target address (16), options.
fn neighbour_solicitation(l4: &[u8]) -> Result<L4Detail, DropReason> {
    let target = array::<16>(l4, 8)
        .map(Ipv6Addr::from)
        .ok_or(DropReason::TruncatedL4)?;
    let mut source_mac = None;
    let mut options = l4.get(24..).unwrap_or_default();
    // Options: type (1), length in units of 8 bytes (1), value. Length 0 is invalid (§4.6).
    while let (Some(&kind), Some(&units)) = (options.first(), options.get(1)) {
        let len = usize::from(units) * 8;
        if len == 0 || len > options.len() {
            break;
        }
        if kind == 1 && source_mac.is_none() {
            source_mac = array::<6>(options, 2).map(MacAddr);
        }
        options = options.get(len..).unwrap_or_default();
    }
    Ok(L4Detail::NeighbourSolicitation { target, source_mac })
}
