//! The snapshot: everything the matcher needs, as immutable plain data with a generation.
//!
//! Contract: built once by the control plane's compiler and never mutated; `generation` only
//! grows across snapshots a process publishes. Endpoint programs are shared: an endpoint refers
//! to programs by index, and endpoints with the same applicable policies share one.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::program::Program;
use super::sets::{AddrSets, IntervalMap, SetId, family_key};
use crate::net::addr_to_u128;

/// A named port an endpoint declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NamedPortDecl {
    pub name: u32,
    pub protocol: u8,
    pub port: u16,
}

/// One endpoint: its programs and what selectors resolved it into.
#[derive(Debug, Clone, Default)]
pub struct EndpointEntry {
    /// Display name (`ns/pod` or `hostendpoint/name`).
    pub name: String,
    pub is_host: bool,
    pub ingress: u32,
    pub egress: u32,
    pub staged_ingress: u32,
    pub staged_egress: u32,
    /// Selector sets this endpoint belongs to, ascending. An input: `Snapshot::new` moves the
    /// lists into its membership pool and leaves this empty.
    pub sets: Vec<SetId>,
    pub named_ports: Vec<NamedPortDecl>,
}

/// What the matcher reads of an endpoint on every decision, packed (28 bytes) so a side
/// costs one hash probe and a line or two; its set list lives in `Snapshot::set_pool`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EndpointHot {
    pub(crate) ingress: u32,
    pub(crate) egress: u32,
    pub(crate) staged_ingress: u32,
    pub(crate) staged_egress: u32,
    pub(crate) sets_at: u32,
    pub(crate) sets_len: u32,
    pub(crate) is_host: bool,
}

/// Names for reporting decisions.
#[derive(Debug, Clone, Default)]
pub struct SnapshotNames {
    pub tiers: Vec<String>,
    /// `knp:ns/name`, `gnp:name`, ...
    pub policies: Vec<String>,
    pub port_names: Vec<String>,
}

/// An immutable compiled policy store.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub generation: u64,
    pub endpoints: Vec<EndpointEntry>,
    pub programs: Vec<Program>,
    pub names: SnapshotNames,
    /// Failsafe (protocol, port) pairs for host endpoints, inbound and outbound.
    pub failsafe_inbound: Vec<(u8, u16)>,
    pub failsafe_outbound: Vec<(u8, u16)>,
    hot: Vec<EndpointHot>,
    set_pool: Vec<SetId>,
    by_v4: FxHashMap<u32, u32>,
    by_v6: FxHashMap<u128, u32>,
    cidrs_v4: IntervalMap,
    cidrs_v6: IntervalMap,
}

impl Snapshot {
    /// Assemble a snapshot; `addrs[i]` are the addresses of `endpoints[i]`.
    pub fn new(
        generation: u64,
        mut endpoints: Vec<EndpointEntry>,
        addrs: &[Vec<IpAddr>],
        programs: Vec<Program>,
        cidrs_v4: IntervalMap,
        cidrs_v6: IntervalMap,
        names: SnapshotNames,
    ) -> Self {
        let mut by_v4 = FxHashMap::default();
        let mut by_v6 = FxHashMap::default();
        for (i, list) in addrs.iter().enumerate() {
            for a in list {
                match a {
                    IpAddr::V4(v4) => {
                        by_v4.insert(u32::from(*v4), i as u32);
                    }
                    IpAddr::V6(_) => {
                        by_v6.insert(addr_to_u128(*a), i as u32);
                    }
                }
            }
        }
        let mut set_pool = Vec::new();
        let hot = endpoints
            .iter_mut()
            .map(|e| {
                let sets = std::mem::take(&mut e.sets);
                let sets_at = set_pool.len() as u32;
                set_pool.extend_from_slice(&sets);
                EndpointHot {
                    ingress: e.ingress,
                    egress: e.egress,
                    staged_ingress: e.staged_ingress,
                    staged_egress: e.staged_egress,
                    sets_at,
                    sets_len: sets.len() as u32,
                    is_host: e.is_host,
                }
            })
            .collect();
        Snapshot {
            generation,
            hot,
            set_pool,
            endpoints,
            programs,
            names,
            failsafe_inbound: Vec::new(),
            failsafe_outbound: Vec::new(),
            by_v4,
            by_v6,
            cidrs_v4,
            cidrs_v6,
        }
    }

    /// The endpoint owning `addr`.
    #[inline]
    pub fn endpoint_of(&self, addr: IpAddr) -> Option<u32> {
        match addr {
            IpAddr::V4(v4) => self.by_v4.get(&u32::from(v4)).copied(),
            IpAddr::V6(v6) => self.by_v6.get(&u128::from(v6)).copied(),
        }
    }

    /// Every set `addr` belongs to.
    #[inline]
    pub fn addr_sets(&self, addr: IpAddr) -> AddrSets<'_> {
        let endpoint = self.endpoint_of(addr);
        let endpoint_sets = endpoint
            .and_then(|e| self.hot.get(e as usize))
            .and_then(|h| {
                let at = h.sets_at as usize;
                self.set_pool.get(at..at + h.sets_len as usize)
            })
            .unwrap_or(&[]);
        let (v6, key) = family_key(addr);
        let cidr_sets = if v6 {
            self.cidrs_v6.lookup(key)
        } else {
            self.cidrs_v4.lookup(key)
        };
        AddrSets {
            endpoint,
            endpoint_sets,
            cidr_sets,
        }
    }

    /// The packed per-decision view of endpoint `index`.
    #[inline]
    pub(crate) fn hot(&self, index: u32) -> Option<&EndpointHot> {
        self.hot.get(index as usize)
    }

    /// Heap memory of the snapshot, slack included (approximate for hash maps).
    pub fn heap_bytes(&self) -> usize {
        let endpoints: usize = self
            .endpoints
            .iter()
            .map(|e| e.name.capacity() + e.sets.capacity() * 4 + e.named_ports.capacity() * 8)
            .sum::<usize>()
            + self.endpoints.capacity() * std::mem::size_of::<EndpointEntry>();
        let programs: usize = self.programs.iter().map(Program::heap_bytes).sum::<usize>()
            + self.programs.capacity() * std::mem::size_of::<Program>();
        let maps = self.by_v4.capacity() * 9 + self.by_v6.capacity() * 21;
        let hot =
            self.hot.capacity() * std::mem::size_of::<EndpointHot>() + self.set_pool.capacity() * 4;
        endpoints + hot + programs + maps + self.cidrs_v4.heap_bytes() + self.cidrs_v6.heap_bytes()
    }
}
