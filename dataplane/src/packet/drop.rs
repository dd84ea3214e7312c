//! Why a frame was not forwarded: a small `Copy` enum and a per-reason counter array.
//!
//! Contract: every frame the pipeline does not forward or answer ends with exactly one
//! `DropReason`; malformed input is such a value, never a panic. `DropCounters` is a plain
//! per-worker array indexed by reason (no atomics: the owning worker publishes it).

use std::fmt;

/// Why a frame was dropped. Parsing reasons first, then forwarding and policy reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DropReason {
    /// Shorter than an Ethernet header (14 bytes).
    Runt,
    /// An 802.1Q tag announced but cut short.
    TruncatedVlan,
    /// Neither ARP, IPv4 nor IPv6 (or a second VLAN tag).
    UnsupportedEtherType,
    /// ARP shorter than its own address lengths say.
    TruncatedArp,
    /// ARP for something other than Ethernet/IPv4.
    UnsupportedArp,
    /// The IP version nibble does not match the EtherType.
    BadIpVersion,
    /// IPv4 header length below 5 words.
    BadIhl,
    /// IPv4 (with options) or IPv6 fixed header cut short.
    TruncatedIpHeader,
    /// IPv4 total length smaller than its header.
    BadTotalLength,
    /// IPv4 total length or IPv6 payload length runs past the end of the frame.
    LengthExceedsFrame,
    /// The IPv4 header checksum does not verify.
    BadIpv4Checksum,
    /// An IPv6 extension header cut short.
    TruncatedExtHeader,
    /// More IPv6 extension headers than Palisade walks (8).
    TooManyExtHeaders,
    /// A non-first fragment: there is no reassembly, so its flow cannot be known.
    Fragment,
    /// TCP/UDP/UDPLite/SCTP/ICMP header cut short.
    TruncatedL4,
    /// TCP data offset below 5 words or past the end of the packet.
    BadTcpHeader,
    /// An ICMP error whose embedded packet cannot be read.
    BadIcmpError,
    /// ARP/ND/MLD/router-solicitation traffic that needs no answer (not malformed).
    NeighbourChatter,
    /// Destination is multicast, broadcast, link-local, loopback or unspecified.
    NotRoutable,
    /// Addressed to the gateway itself (Palisade answers only ARP/ND there).
    ToGateway,
    /// The frame arrived on a port the route table does not know.
    UnknownPort,
    /// The source address is not the sending port's: a pod port's frame whose source is not
    /// that pod's address, or an uplink frame claiming a local pod's address.
    SpoofedSource,
    /// No local route and no uplink with a next hop.
    NoRoute,
    /// Local destination whose MAC address is neither configured nor learned yet.
    NoNeighbour,
    /// TTL or hop limit would reach 0.
    TtlExceeded,
    /// The frame buffer has no room for the reply.
    NoReplyRoom,
    /// The policy denied the flow (new, or revalidated after a snapshot swap).
    PolicyDenied,
    /// Conntrack calls the packet invalid (e.g. TCP mid-stream without pickup).
    ConntrackInvalid,
    /// Conntrack has no room for a new flow.
    ConntrackFull,
    /// An ICMP error that belongs to no tracked flow.
    UnrelatedIcmpError,
}

impl DropReason {
    /// Number of reasons (the length of `ALL` and of a `DropCounters`).
    pub const COUNT: usize = 30;

    /// Every reason, in discriminant order.
    pub const ALL: [DropReason; Self::COUNT] = [
        Self::Runt,
        Self::TruncatedVlan,
        Self::UnsupportedEtherType,
        Self::TruncatedArp,
        Self::UnsupportedArp,
        Self::BadIpVersion,
        Self::BadIhl,
        Self::TruncatedIpHeader,
        Self::BadTotalLength,
        Self::LengthExceedsFrame,
        Self::BadIpv4Checksum,
        Self::TruncatedExtHeader,
        Self::TooManyExtHeaders,
        Self::Fragment,
        Self::TruncatedL4,
        Self::BadTcpHeader,
        Self::BadIcmpError,
        Self::NeighbourChatter,
        Self::NotRoutable,
        Self::ToGateway,
        Self::UnknownPort,
        Self::SpoofedSource,
        Self::NoRoute,
        Self::NoNeighbour,
        Self::TtlExceeded,
        Self::NoReplyRoom,
        Self::PolicyDenied,
        Self::ConntrackInvalid,
        Self::ConntrackFull,
        Self::UnrelatedIcmpError,
    ];

    /// A stable snake_case name for metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Runt => "runt",
            Self::TruncatedVlan => "truncated_vlan",
            Self::UnsupportedEtherType => "unsupported_ethertype",
            Self::TruncatedArp => "truncated_arp",
            Self::UnsupportedArp => "unsupported_arp",
            Self::BadIpVersion => "bad_ip_version",
            Self::BadIhl => "bad_ihl",
            Self::TruncatedIpHeader => "truncated_ip_header",
            Self::BadTotalLength => "bad_total_length",
            Self::LengthExceedsFrame => "length_exceeds_frame",
            Self::BadIpv4Checksum => "bad_ipv4_checksum",
            Self::TruncatedExtHeader => "truncated_ext_header",
            Self::TooManyExtHeaders => "too_many_ext_headers",
            Self::Fragment => "fragment",
            Self::TruncatedL4 => "truncated_l4",
            Self::BadTcpHeader => "bad_tcp_header",
            Self::BadIcmpError => "bad_icmp_error",
            Self::NeighbourChatter => "neighbour_chatter",
            Self::NotRoutable => "not_routable",
            Self::ToGateway => "to_gateway",
            Self::UnknownPort => "unknown_port",
            Self::SpoofedSource => "spoofed_source",
            Self::NoRoute => "no_route",
            Self::NoNeighbour => "no_neighbour",
            Self::TtlExceeded => "ttl_exceeded",
            Self::NoReplyRoom => "no_reply_room",
            Self::PolicyDenied => "policy_denied",
            Self::ConntrackInvalid => "conntrack_invalid",
            Self::ConntrackFull => "conntrack_full",
            Self::UnrelatedIcmpError => "unrelated_icmp_error",
        }
    }

    /// True for reasons that mean the frame itself is malformed.
    pub const fn is_malformed(self) -> bool {
        (self as u8) <= (Self::BadIcmpError as u8) && !matches!(self, Self::Fragment)
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Frames dropped, per reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropCounters([u64; DropReason::COUNT]);

impl Default for DropCounters {
    fn default() -> Self {
        Self([0; DropReason::COUNT])
    }
}

impl DropCounters {
    /// Counts one drop.
    #[inline]
    pub fn record(&mut self, reason: DropReason) {
        // The discriminant is always below COUNT; `get_mut` keeps this panic-free regardless.
        if let Some(c) = self.0.get_mut(reason as usize) {
            *c += 1;
        }
    }

    /// Drops counted for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0.get(reason as usize).copied().unwrap_or(0)
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// (reason, count) for every reason, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.get(r)))
    }

    /// Adds another worker's counters into these.
    pub fn merge(&mut self, other: &DropCounters) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_discriminant_order_and_names_are_unique() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }

    #[test]
    fn counters_count_per_reason() {
        let mut c = DropCounters::default();
        c.record(DropReason::Fragment);
        c.record(DropReason::Fragment);
        c.record(DropReason::UnrelatedIcmpError);
        assert_eq!(c.get(DropReason::Fragment), 2);
        assert_eq!(c.get(DropReason::UnrelatedIcmpError), 1);
        assert_eq!(c.get(DropReason::Runt), 0);
        assert_eq!(c.total(), 3);
        let mut d = DropCounters::default();
        d.merge(&c);
        d.merge(&c);
        assert_eq!(d.get(DropReason::Fragment), 4);
        assert!(DropReason::BadIhl.is_malformed());
        assert!(!DropReason::Fragment.is_malformed());
        assert!(!DropReason::NeighbourChatter.is_malformed());
    }
}
