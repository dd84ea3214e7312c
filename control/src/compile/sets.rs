//! Address sets: selectors and CIDR lists interned to set ids, with their members.
//!
//! Contract: a selector set holds the endpoints whose labels match and the CIDRs of matching
//! network sets; a CIDR set holds its CIDRs. Each distinct selector is evaluated once over the
//! inventory; endpoint memberships come out sorted by set id.

use palisade_dataplane::IpNet;
use palisade_dataplane::policy::SetId;

use super::index::LabelIndex;
use super::{FastMap, Interner};
use crate::selector::Selector;
use crate::store::Store;

/// What membership resolution produced for the snapshot.
pub(crate) struct Memberships {
    pub(crate) endpoint_sets: Vec<Vec<SetId>>,
    pub(crate) cidrs_v4: Vec<(IpNet, SetId)>,
    pub(crate) cidrs_v6: Vec<(IpNet, SetId)>,
}

pub(crate) struct SetTable<'s> {
    store: &'s Store,
    by_selector: FastMap<Selector, SetId>,
    by_nets: FastMap<Vec<IpNet>, SetId>,
    next: SetId,
    endpoint_sets: Vec<Vec<SetId>>,
    cidrs: Vec<(IpNet, SetId)>,
    index: LabelIndex,
    pub(crate) port_names: Interner,
}

impl<'s> SetTable<'s> {
    pub(crate) fn new(store: &'s Store) -> Self {
        Self {
            store,
            by_selector: FastMap::default(),
            by_nets: FastMap::default(),
            next: 0,
            endpoint_sets: vec![Vec::new(); store.endpoints.len()],
            cidrs: Vec::new(),
            index: LabelIndex::new(&store.endpoints),
            port_names: Interner::default(),
        }
    }

    /// The set of addresses `sel` selects (endpoints and network sets).
    pub(crate) fn selector_set(&mut self, sel: &Selector) -> SetId {
        if let Some(&id) = self.by_selector.get(sel) {
            return id;
        }
        let id = self.next;
        self.next += 1;
        for i in self.members(sel) {
            self.endpoint_sets[i as usize].push(id);
        }
        for set in &self.store.network_sets {
            if sel.matches(&set.labels) {
                self.cidrs.extend(set.nets.iter().map(|n| (*n, id)));
            }
        }
        self.by_selector.insert(sel.clone(), id);
        id
    }

    /// The set of addresses inside any of `nets`.
    pub(crate) fn net_set(&mut self, nets: &[IpNet]) -> SetId {
        let mut key = nets.to_vec();
        key.sort_unstable();
        key.dedup();
        if let Some(&id) = self.by_nets.get(&key) {
            return id;
        }
        let id = self.next;
        self.next += 1;
        self.cidrs.extend(key.iter().map(|n| (*n, id)));
        self.by_nets.insert(key, id);
        id
    }

    /// The endpoints `sel` matches, ascending.
    pub(crate) fn members(&self, sel: &Selector) -> Vec<u32> {
        let endpoints = &self.store.endpoints;
        match self.index.candidates(sel) {
            Some((candidates, true)) => candidates.into_owned(),
            Some((candidates, false)) => candidates
                .iter()
                .copied()
                .filter(|&i| sel.matches(&endpoints[i as usize].labels))
                .collect(),
            None => (0..endpoints.len() as u32)
                .filter(|&i| sel.matches(&endpoints[i as usize].labels))
                .collect(),
        }
    }

    pub(crate) fn finish_memberships(&mut self) -> Memberships {
        let (v4, v6) = self.cidrs.iter().partition(|(n, _)| n.is_ipv4());
        Memberships {
            endpoint_sets: std::mem::take(&mut self.endpoint_sets),
            cidrs_v4: v4,
            cidrs_v6: v6,
        }
    }
}
