//! The compiler: a resolved [`Store`] -> an immutable dataplane [`Snapshot`].
//!
//! Contract: pure and deterministic (same store and generation, same snapshot). Selectors are
//! interned and evaluated once each; endpoints refer to sets by id, so pod churn changes set
//! members, not rules. Endpoints with the same applicable policies (per direction and view)
//! share one program. Decisions on the snapshot equal the reference evaluator's, trace included
//! (tested by the differential property tests).

mod index;
mod programs;
mod sets;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use palisade_dataplane::policy::{
    EndpointEntry, IntervalMap, NamedPortDecl, SetRanges, Snapshot, SnapshotNames, SplitPolicy,
};

use crate::eval::reference::Failsafes;
use crate::policy::{Direction, PolicyId};
use crate::store::Store;

use programs::ProgramTable;
use sets::{Memberships, SetTable};

/// A snapshot plus what control needs to report its decisions in store terms.
#[derive(Debug, Clone)]
pub struct CompiledStore {
    pub snapshot: Snapshot,
    /// `policy_ids[i]` is the policy the snapshot calls `names.policies[i]`.
    pub policy_ids: Vec<PolicyId>,
}

/// The multiply-rotate hash of FxHash (as rustc uses), for the compiler's maps: SipHash over
/// selector, label and program keys was a fifth of compile time at 10,000 policies. Keys come
/// from the store being compiled, which the operator's API server already validated.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ (rest.len() as u64) << 59);
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
}

/// A hash map with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Interns strings to dense ids.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    pub(crate) names: Vec<String>,
    ids: FastMap<String, u32>,
}

impl Interner {
    pub(crate) fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }
}

/// Every set's addresses: its endpoints' addresses and its CIDRs.
fn set_ranges(memberships: &Memberships, addrs: &[Vec<std::net::IpAddr>]) -> SetRanges {
    let mut ranges = SetRanges::default();
    for (member_of, addrs) in memberships.endpoint_sets.iter().zip(addrs) {
        for &set in member_of {
            for &addr in addrs {
                ranges.add_addr(set, addr);
            }
        }
    }
    for &(net, set) in memberships.cidrs_v4.iter().chain(&memberships.cidrs_v6) {
        ranges.add_net(set, net);
    }
    ranges.finish();
    ranges
}

/// Compile `store` into a snapshot with `generation`.
pub fn compile(store: &Store, generation: u64, failsafes: &Failsafes) -> CompiledStore {
    compile_with(store, generation, failsafes, SplitPolicy::default())
}

/// [`compile`], splitting candidate lists by peer address under `split` (decisions are the
/// same under any policy; tests use [`SplitPolicy::ALWAYS`] to check that).
pub fn compile_with(
    store: &Store,
    generation: u64,
    failsafes: &Failsafes,
    split: SplitPolicy,
) -> CompiledStore {
    let mut sets = SetTable::new(store);
    let mut programs = ProgramTable::new(store, &sets, split);
    let mut endpoints = Vec::with_capacity(store.endpoints.len());
    for (i, ep) in store.endpoints.iter().enumerate() {
        let ingress = programs.program_for(&mut sets, i, Direction::Ingress, false);
        let egress = programs.program_for(&mut sets, i, Direction::Egress, false);
        let staged_ingress = programs.program_for(&mut sets, i, Direction::Ingress, true);
        let staged_egress = programs.program_for(&mut sets, i, Direction::Egress, true);
        let named_ports = ep
            .named_ports
            .iter()
            .map(|p| NamedPortDecl {
                name: sets.port_names.id(&p.name),
                protocol: p.protocol,
                port: p.port,
            })
            .collect();
        endpoints.push(EndpointEntry {
            name: ep.key.to_string(),
            is_host: ep.is_host(),
            ingress,
            egress,
            staged_ingress,
            staged_egress,
            sets: Vec::new(),
            named_ports,
        });
    }
    let memberships = sets.finish_memberships();
    let addrs: Vec<_> = store.endpoints.iter().map(|e| e.addrs.clone()).collect();
    let ranges = set_ranges(&memberships, &addrs);
    for (entry, member_of) in endpoints.iter_mut().zip(memberships.endpoint_sets) {
        entry.sets = member_of;
    }
    let (tier_names, policy_names, policy_ids, rules, program_list) = programs.finish(&ranges);
    let names = SnapshotNames {
        tiers: tier_names,
        policies: policy_names,
        port_names: sets.port_names.names.clone(),
    };
    let mut snapshot = Snapshot::new(
        generation,
        endpoints,
        &addrs,
        rules,
        program_list,
        (
            IntervalMap::build(&memberships.cidrs_v4),
            IntervalMap::build(&memberships.cidrs_v6),
        ),
        names,
    );
    snapshot.failsafe_inbound = failsafes
        .inbound
        .iter()
        .map(|f| (f.protocol, f.port))
        .collect();
    snapshot.failsafe_outbound = failsafes
        .outbound
        .iter()
        .map(|f| (f.protocol, f.port))
        .collect();
    CompiledStore {
        snapshot,
        policy_ids,
    }
}
