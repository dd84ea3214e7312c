//! The route table: ports, local pod addresses, and the uplink.
//!
//! Contract: built once through `RouteTableBuilder::build`, which rejects inconsistent input
//! (unknown or duplicate ports, two uplinks, an address twice, a pod address on the uplink);
//! lookups never allocate.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use crate::packet::{DropReason, MacAddr};

/// A port's index, as the I/O layer numbers its sockets/interfaces.
pub type PortId = u16;

/// What sits behind a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortRole {
    /// The host end of one pod's veth: Palisade answers ARP/ND here.
    Pod,
    /// The way off the node; `next_hop` is the MAC every non-local frame is sent to (none:
    /// non-local traffic is `NoRoute`).
    Uplink { next_hop: Option<MacAddr> },
}

/// A port as the route table knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub role: PortRole,
    /// The MAC Palisade uses as source on this port (and answers ARP/ND with).
    pub gateway_mac: MacAddr,
}

/// A local pod address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalRoute {
    pub port: PortId,
    /// The pod's MAC when configuration knows it (e.g. a WorkloadEndpoint's `mac`).
    pub mac: Option<MacAddr>,
}

/// Where a destination goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A pod on this node.
    Local(LocalRoute),
    /// Off the node, via the uplink's next hop.
    Uplink { port: PortId, next_hop: MacAddr },
}

/// Inconsistent route-table input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("port {port} is declared twice")]
    PortTwice { port: PortId },
    #[error("port {port} is a second uplink (the first is port {first})")]
    SecondUplink { port: PortId, first: PortId },
    #[error("address {addr} names port {port}, which is not declared")]
    UnknownPort { addr: IpAddr, port: PortId },
    #[error("address {addr} names port {port}, which is the uplink, not a pod port")]
    NotAPodPort { addr: IpAddr, port: PortId },
    #[error("address {addr} is given to port {first} and to port {second}")]
    AddressTwice {
        addr: IpAddr,
        first: PortId,
        second: PortId,
    },
}

/// A multiply-rotate hasher for addresses: the table is built from trusted configuration and
/// lookups never insert, so SipHash's flooding resistance buys nothing here.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(chunk) {
                *w = *b;
            }
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    #[inline]
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }

    #[inline]
    fn write_u16(&mut self, v: u16) {
        self.write_u64(u64::from(v));
    }

    #[inline]
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    #[inline]
    fn write_u128(&mut self, v: u128) {
        self.write_u64(v as u64);
        self.write_u64((v >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }

    #[inline]
    fn write_isize(&mut self, v: isize) {
        self.write_u64(v as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

pub(crate) type AddrMap<K, V> = HashMap<K, V, BuildHasherDefault<AddrHasher>>;

/// Ports, local addresses and the uplink. See the module contract.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    ports: Vec<Option<PortInfo>>,
    local: AddrMap<IpAddr, LocalRoute>,
    uplink: Option<PortId>,
}

impl RouteTable {
    pub fn builder() -> RouteTableBuilder {
        RouteTableBuilder::default()
    }

    /// The port `id`, if declared.
    #[inline]
    pub fn port(&self, id: PortId) -> Option<&PortInfo> {
        self.ports.get(usize::from(id))?.as_ref()
    }

    /// The local pod route for `addr`, if it is a local pod address.
    #[inline]
    pub fn local(&self, addr: IpAddr) -> Option<&LocalRoute> {
        self.local.get(&addr)
    }

    /// The uplink port, if any.
    pub fn uplink(&self) -> Option<PortId> {
        self.uplink
    }

    /// Number of local pod addresses.
    pub fn local_count(&self) -> usize {
        self.local.len()
    }

    /// Where `dst` goes: a local pod, the uplink's next hop, or `NoRoute`.
    #[inline]
    pub fn route(&self, dst: IpAddr) -> Result<Route, DropReason> {
        if let Some(local) = self.local.get(&dst) {
            return Ok(Route::Local(*local));
        }
        let port = self.uplink.ok_or(DropReason::NoRoute)?;
        match self.port(port).map(|p| p.role) {
            Some(PortRole::Uplink {
                next_hop: Some(next_hop),
            }) => Ok(Route::Uplink { port, next_hop }),
            _ => Err(DropReason::NoRoute),
        }
    }
}

/// Collects ports and addresses; `build` checks them.
#[derive(Clone, Debug, Default)]
pub struct RouteTableBuilder {
    ports: Vec<(PortId, PortInfo)>,
    local: Vec<(IpAddr, LocalRoute)>,
}

impl RouteTableBuilder {
    /// Declares a pod port whose gateway MAC is `gateway_mac`.
    pub fn pod_port(&mut self, port: PortId, gateway_mac: MacAddr) -> &mut Self {
        self.ports.push((
            port,
            PortInfo {
                role: PortRole::Pod,
                gateway_mac,
            },
        ));
        self
    }

    /// Declares the uplink port: frames leave with source `own_mac` towards `next_hop`.
    pub fn uplink_port(
        &mut self,
        port: PortId,
        own_mac: MacAddr,
        next_hop: Option<MacAddr>,
    ) -> &mut Self {
        self.ports.push((
            port,
            PortInfo {
                role: PortRole::Uplink { next_hop },
                gateway_mac: own_mac,
            },
        ));
        self
    }

    /// Declares a local pod address (a /32 or /128) behind pod port `port`.
    pub fn local(&mut self, addr: IpAddr, port: PortId, mac: Option<MacAddr>) -> &mut Self {
        self.local.push((addr, LocalRoute { port, mac }));
        self
    }

    /// Checks and freezes the table.
    pub fn build(&self) -> Result<RouteTable, RouteError> {
        let mut table = RouteTable::default();
        for &(port, info) in &self.ports {
            let slot = usize::from(port);
            if table.ports.len() <= slot {
                table.ports.resize(slot + 1, None);
            }
            match table.ports.get_mut(slot) {
                Some(Some(_)) => return Err(RouteError::PortTwice { port }),
                Some(entry) => *entry = Some(info),
                None => return Err(RouteError::PortTwice { port }),
            }
            if let PortRole::Uplink { .. } = info.role {
                if let Some(first) = table.uplink {
                    return Err(RouteError::SecondUplink { port, first });
                }
                table.uplink = Some(port);
            }
        }
        for &(addr, route) in &self.local {
            match table.port(route.port).map(|p| p.role) {
                None => {
                    return Err(RouteError::UnknownPort {
                        addr,
                        port: route.port,
                    });
                }
                Some(PortRole::Uplink { .. }) => {
                    return Err(RouteError::NotAPodPort {
                        addr,
                        port: route.port,
                    });
                }
                Some(PortRole::Pod) => {}
            }
            if let Some(prev) = table.local.insert(addr, route) {
                return Err(RouteError::AddressTwice {
                    addr,
                    first: prev.port,
                    second: route.port,
                });
            }
        }
        Ok(table)
    }
}

/// False for destinations a router must not forward: multicast, broadcast, link-local,
/// loopback and unspecified addresses (of either family).
pub fn is_routable_destination(dst: IpAddr) -> bool {
    match dst {
        IpAddr::V4(a) => {
            !(a.is_multicast()
                || a.is_broadcast()
                || a.is_link_local()
                || a.is_loopback()
                || a.is_unspecified())
        }
        IpAddr::V6(a) => {
            !(a.is_multicast()
                || a.is_unicast_link_local()
                || a.is_loopback()
                || a.is_unspecified())
        }
    }
}
