//! Test helpers: a full consistency audit of index and slots, and the live entries' expiries.
//!
//! Contract: test-only; reads the table without stopping writers (call it when none run).

use super::super::bucket::WAYS;
use super::super::key::CtKey;
use super::super::slot::{Slot, expiry};
use super::ConntrackTable;

impl ConntrackTable {
    /// Test helper: every live entry's key, checking index/slot agreement on the way.
    pub(crate) fn audit(&self) -> Vec<CtKey> {
        let mut seen = vec![false; self.slots.len()];
        let mut keys = Vec::new();
        for (b, bucket) in self.buckets.iter().enumerate() {
            for pos in (0..WAYS).filter(|&p| bucket.tag(p) != 0) {
                let idx = bucket.index(pos) as usize;
                assert!(!seen[idx], "slot {idx} indexed twice");
                seen[idx] = true;
                let view = self.slots[idx].read().expect("indexed slot is live");
                let loc = self.locate(&view.key);
                assert_eq!(loc.tag, bucket.tag(pos));
                assert!(
                    b as u32 == loc.b1 || b as u32 == loc.b2,
                    "entry outside its buckets"
                );
                keys.push(view.key);
            }
        }
        for (idx, slot) in self.slots.iter().enumerate() {
            assert_eq!(
                slot.read().is_some(),
                seen[idx],
                "slot {idx} live but not indexed"
            );
        }
        keys
    }

    /// Test helper: the expiry tick of every live entry.
    pub(crate) fn live_expiries(&self) -> Vec<u32> {
        self.slots
            .iter()
            .filter_map(Slot::read)
            .map(|v| expiry(v.hot))
            .collect()
    }
}
