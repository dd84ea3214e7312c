//! MAC addresses learned from pods: per (port, IP) and, as a fallback, per port.
//!
//! Contract: one table per worker, no locks. Only unicast MACs are learned. The per-address map
//! holds at most `capacity` entries (new addresses beyond it are not learned, existing ones are
//! still updated); the per-port fallback exists because a pod port is one veth with one pod
//! behind it, whose IPv6 neighbour solicitations come from its link-local address rather than
//! the address traffic is routed to.

use std::net::IpAddr;

use super::table::{AddrMap, PortId};
use crate::packet::MacAddr;

/// Learned pod MACs. See the module contract.
#[derive(Clone, Debug)]
pub struct LearnedMacs {
    by_addr: AddrMap<(PortId, IpAddr), MacAddr>,
    by_port: Vec<Option<MacAddr>>,
    capacity: usize,
    refused: u64,
}

impl LearnedMacs {
    /// An empty table holding at most `capacity` (port, address) entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            by_addr: AddrMap::default(),
            by_port: Vec::new(),
            capacity,
            refused: 0,
        }
    }

    /// Records that `mac` sent from `addr` on `port` (and is the MAC behind `port`).
    /// Returns false when nothing was learned (not unicast, or the table is full).
    pub fn learn(&mut self, port: PortId, addr: IpAddr, mac: MacAddr) -> bool {
        if !mac.is_unicast() {
            return false;
        }
        self.learn_port(port, mac);
        if let Some(known) = self.by_addr.get_mut(&(port, addr)) {
            *known = mac;
            return true;
        }
        if self.by_addr.len() >= self.capacity {
            self.refused += 1;
            return false;
        }
        self.by_addr.insert((port, addr), mac);
        true
    }

    /// Records that `mac` is the station behind `port`.
    pub fn learn_port(&mut self, port: PortId, mac: MacAddr) {
        if !mac.is_unicast() {
            return;
        }
        let slot = usize::from(port);
        if self.by_port.len() <= slot {
            self.by_port.resize(slot + 1, None);
        }
        if let Some(entry) = self.by_port.get_mut(slot) {
            *entry = Some(mac);
        }
    }

    /// The MAC learned for `addr` on `port`, else the last MAC seen behind `port`.
    #[inline]
    pub fn lookup(&self, port: PortId, addr: IpAddr) -> Option<MacAddr> {
        if let Some(mac) = self.by_addr.get(&(port, addr)) {
            return Some(*mac);
        }
        self.by_port.get(usize::from(port)).copied().flatten()
    }

    /// Number of (port, address) entries.
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }

    /// New addresses not learned because the table was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}
