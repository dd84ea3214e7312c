//! The snapshot: everything the matcher needs, as immutable plain data with a generation.
//!
//! Contract: built once by the control plane's compiler and never mutated; `generation` only
//! grows across snapshots a process publishes. Endpoint programs are shared: an endpoint refers
//! to programs by index, and endpoints with the same applicable policies share one. Programs
//! refer to rules in one rule table, where each policy's rules appear once.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::program::Programs;
use super::rules::RuleTable;
use super::sets::{AddrSets, IntervalMap, SetId, family_key};

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

/// What the matcher reads of an endpoint address on every decision, stored in the address
/// hash map itself so a side costs one hash probe: the endpoint, its programs (arena offsets,
/// no indirection through a program table) and where its selector sets, followed by the CIDR
/// sets covering this address, sit in `Snapshot::set_pool` (resolved at build time, so endpoint
/// addresses need no interval lookup). 24 bytes: the staged programs, rarely different from
/// the enforced ones, live in `Snapshot::staged_at`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AddrRecord {
    pub(crate) endpoint: u32,
    pub(crate) ingress_at: u32,
    pub(crate) egress_at: u32,
    sets_at: u32,
    sets_len: u32,
    /// CIDR set count (low 30 bits), `HOST` and `STAGED_DIFFERS`.
    cidr_len_flags: u32,
}

const HOST: u32 = 1 << 31;
const STAGED_DIFFERS: u32 = 1 << 30;
const CIDR_LEN_MASK: u32 = STAGED_DIFFERS - 1;

impl AddrRecord {
    #[inline]
    pub(crate) fn is_host(&self) -> bool {
        self.cidr_len_flags & HOST != 0
    }

    /// Do the staged programs differ from the enforced ones?
    #[inline]
    pub(crate) fn staged_differs(&self) -> bool {
        self.cidr_len_flags & STAGED_DIFFERS != 0
    }
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
    pub programs: Programs,
    pub rules: RuleTable,
    pub names: SnapshotNames,
    /// Failsafe (protocol, port) pairs for host endpoints, inbound and outbound.
    pub failsafe_inbound: Vec<(u8, u16)>,
    pub failsafe_outbound: Vec<(u8, u16)>,
    set_pool: Vec<SetId>,
    /// Per endpoint: staged (ingress, egress) program offsets.
    staged_at: Vec<(u32, u32)>,
    by_v4: FxHashMap<u32, AddrRecord>,
    by_v6: FxHashMap<u128, AddrRecord>,
    cidrs_v4: IntervalMap,
    cidrs_v6: IntervalMap,
}

impl Snapshot {
    /// Assemble a snapshot; `addrs[i]` are the addresses of `endpoints[i]`, `cidrs` the
    /// IPv4 and IPv6 CIDR-set maps.
    pub fn new(
        generation: u64,
        mut endpoints: Vec<EndpointEntry>,
        addrs: &[Vec<IpAddr>],
        rules: RuleTable,
        programs: Programs,
        (cidrs_v4, cidrs_v6): (IntervalMap, IntervalMap),
        names: SnapshotNames,
    ) -> Self {
        let mut by_v4 = FxHashMap::default();
        let mut by_v6 = FxHashMap::default();
        let mut set_pool = Vec::new();
        let mut staged_at = Vec::with_capacity(endpoints.len());
        for (i, e) in endpoints.iter_mut().enumerate() {
            let sets = std::mem::take(&mut e.sets);
            let (ingress_at, egress_at) = (programs.offset(e.ingress), programs.offset(e.egress));
            let staged = (
                programs.offset(e.staged_ingress),
                programs.offset(e.staged_egress),
            );
            staged_at.push(staged);
            let mut flags = 0;
            if e.is_host {
                flags |= HOST;
            }
            if staged != (ingress_at, egress_at) {
                flags |= STAGED_DIFFERS;
            }
            for a in addrs.get(i).map_or(&[][..], Vec::as_slice) {
                let (v6, key) = family_key(*a);
                let cidr = if v6 {
                    cidrs_v6.lookup(key)
                } else {
                    cidrs_v4.lookup(key)
                };
                let record = AddrRecord {
                    endpoint: i as u32,
                    ingress_at,
                    egress_at,
                    sets_at: set_pool.len() as u32,
                    sets_len: sets.len() as u32,
                    cidr_len_flags: (cidr.len() as u32).min(CIDR_LEN_MASK) | flags,
                };
                set_pool.extend_from_slice(&sets);
                set_pool.extend_from_slice(&cidr[..cidr.len().min(CIDR_LEN_MASK as usize)]);
                match a {
                    IpAddr::V4(v4) => {
                        by_v4.insert(u32::from(*v4), record);
                    }
                    IpAddr::V6(_) => {
                        by_v6.insert(key, record);
                    }
                }
            }
        }
        Snapshot {
            generation,
            set_pool,
            staged_at,
            endpoints,
            programs,
            rules,
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
        self.record(addr).map(|r| r.endpoint)
    }

    #[inline]
    fn record(&self, addr: IpAddr) -> Option<&AddrRecord> {
        match addr {
            IpAddr::V4(v4) => self.by_v4.get(&u32::from(v4)),
            IpAddr::V6(v6) => self.by_v6.get(&u128::from(v6)),
        }
    }

    fn pool(&self, at: u32, len: u32) -> &[SetId] {
        self.set_pool
            .get(at as usize..at as usize + len as usize)
            .unwrap_or(&[])
    }

    /// Every set `addr` belongs to.
    #[inline]
    pub fn addr_sets(&self, addr: IpAddr) -> AddrSets<'_> {
        self.resolve(addr).0
    }

    /// `addr`'s sets and, when it is an endpoint's, its record.
    #[inline]
    pub(crate) fn resolve(&self, addr: IpAddr) -> (AddrSets<'_>, Option<&AddrRecord>) {
        if let Some(r) = self.record(addr) {
            let sets = AddrSets {
                endpoint: Some(r.endpoint),
                endpoint_sets: self.pool(r.sets_at, r.sets_len),
                cidr_sets: self.pool(
                    r.sets_at.saturating_add(r.sets_len),
                    r.cidr_len_flags & CIDR_LEN_MASK,
                ),
            };
            return (sets, Some(r));
        }
        let (v6, key) = family_key(addr);
        let cidr_sets = if v6 {
            self.cidrs_v6.lookup(key)
        } else {
            self.cidrs_v4.lookup(key)
        };
        let sets = AddrSets {
            endpoint: None,
            endpoint_sets: &[],
            cidr_sets,
        };
        (sets, None)
    }

    /// Staged (ingress, egress) program offsets of `endpoint`.
    #[inline]
    pub(crate) fn staged_at(&self, endpoint: u32) -> (u32, u32) {
        self.staged_at
            .get(endpoint as usize)
            .copied()
            .unwrap_or((u32::MAX, u32::MAX))
    }

    /// Heap memory of the snapshot, slack included (approximate for hash maps).
    pub fn heap_bytes(&self) -> usize {
        let endpoints: usize = self
            .endpoints
            .iter()
            .map(|e| e.name.capacity() + e.sets.capacity() * 4 + e.named_ports.capacity() * 8)
            .sum::<usize>()
            + self.endpoints.capacity() * std::mem::size_of::<EndpointEntry>();
        let programs = self.programs.heap_bytes() + self.rules.heap_bytes();
        let record = std::mem::size_of::<AddrRecord>();
        let maps = self.by_v4.capacity() * (5 + record) + self.by_v6.capacity() * (17 + record);
        let pool = self.set_pool.capacity() * 4 + self.staged_at.capacity() * 8;
        endpoints + pool + programs + maps + self.cidrs_v4.heap_bytes() + self.cidrs_v6.heap_bytes()
    }
}
