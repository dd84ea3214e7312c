//! L3 forwarding: the route table, learned pod MACs, and the in-place L2/L3 rewrite.
//!
//! Contract: `RouteTable` is built by the control plane and read-only afterwards (one per
//! snapshot): local pod addresses (/32, /128) map to a pod port and, if known, the pod's MAC;
//! everything else goes to the uplink port's configured next hop, or is `NoRoute`.
//! `LearnedMacs` is per worker (no locks) except its per-port MACs (`PortMacs`, atomic words
//! shared by the workers). `rewrite_for_forward` sets the MACs, decrements the
//! TTL / hop limit (IPv4 header checksum updated per RFC 1624) and never touches L4 checksums.

mod learned;
mod rewrite;
mod table;

#[cfg(test)]
mod tests;

pub use learned::{DEFAULT_PORTS, LearnedMacs, PortMacs};
pub use rewrite::rewrite_for_forward;
pub use table::{
    LocalRoute, PortId, PortInfo, PortRole, Route, RouteError, RouteTable, RouteTableBuilder,
    is_routable_destination,
};
