//! MAC addresses learned from pods: per (port, IP) and, as a fallback, per port.
//!
//! Contract: the per-address map is one worker's, no locks. The per-port table ([`PortMacs`])
//! may be shared by all workers: with several workers a pod's frames land on whichever RX
//! queue the veth picks, so the worker that must forward to a pod is not always one that heard
//! from it; one relaxed atomic word per port makes a MAC learned by any worker usable by all
//! (written only when it changes). Only unicast MACs are learned. The per-address map holds
//! at most `capacity` entries (new addresses beyond it are not learned, existing ones are still
//! updated); the per-port fallback exists because a pod port is one veth with one pod behind
//! it, whose IPv6 neighbour solicitations come from its link-local address rather than the
//! address traffic is routed to.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::table::{AddrMap, PortId};
use crate::packet::MacAddr;

/// Ports a [`LearnedMacs::new`] table learns MACs for (ports `0..DEFAULT_PORTS`).
pub const DEFAULT_PORTS: usize = 4096;

/// The MAC last seen behind each port, readable and writable from any worker.
///
/// A slot holds `1 << 48 | mac` (0: nothing learned); ports beyond [`PortMacs::len`] are not
/// learned.
#[derive(Debug)]
pub struct PortMacs {
    slots: Box<[AtomicU64]>,
}

impl PortMacs {
    /// A table for ports `0..ports`.
    pub fn new(ports: usize) -> Self {
        Self {
            slots: (0..ports).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Ports covered.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn encode(mac: MacAddr) -> u64 {
        let mut word = [0u8; 8];
        word[2..].copy_from_slice(&mac.0);
        u64::from_be_bytes(word) | 1 << 48
    }

    /// The MAC behind `port`, if learned.
    #[inline]
    pub fn get(&self, port: PortId) -> Option<MacAddr> {
        let word = self.slots.get(usize::from(port))?.load(Ordering::Relaxed);
        if word == 0 {
            return None;
        }
        let bytes = word.to_be_bytes();
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&bytes[2..]);
        Some(MacAddr(mac))
    }

    /// Records `mac` behind `port` (a store only when it changes: no cache-line ping-pong
    /// between workers that keep seeing the same pod).
    #[inline]
    pub fn set(&self, port: PortId, mac: MacAddr) {
        if let Some(slot) = self.slots.get(usize::from(port)) {
            let word = Self::encode(mac);
            if slot.load(Ordering::Relaxed) != word {
                slot.store(word, Ordering::Relaxed);
            }
        }
    }
}

/// Learned pod MACs. See the module contract.
#[derive(Debug)]
pub struct LearnedMacs {
    by_addr: AddrMap<(PortId, IpAddr), MacAddr>,
    by_port: Arc<PortMacs>,
    capacity: usize,
    refused: u64,
}

impl LearnedMacs {
    /// An empty table holding at most `capacity` (port, address) entries, with its own
    /// per-port table for ports `0..DEFAULT_PORTS`.
    pub fn new(capacity: usize) -> Self {
        Self::with_port_macs(capacity, Arc::new(PortMacs::new(DEFAULT_PORTS)))
    }

    /// An empty table whose per-port MACs are `by_port` (shared with other workers).
    pub fn with_port_macs(capacity: usize, by_port: Arc<PortMacs>) -> Self {
        Self {
            by_addr: AddrMap::default(),
            by_port,
            capacity,
            refused: 0,
        }
    }

    /// The per-port table.
    pub fn port_macs(&self) -> &Arc<PortMacs> {
        &self.by_port
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
    #[inline]
    pub fn learn_port(&mut self, port: PortId, mac: MacAddr) {
        if mac.is_unicast() {
            self.by_port.set(port, mac);
        }
    }

    /// The MAC learned for `addr` on `port`, else the last MAC seen behind `port`.
    #[inline]
    pub fn lookup(&self, port: PortId, addr: IpAddr) -> Option<MacAddr> {
        if let Some(mac) = self.by_addr.get(&(port, addr)) {
            return Some(*mac);
        }
        self.by_port.get(port)
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
