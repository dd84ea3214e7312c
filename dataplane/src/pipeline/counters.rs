//! Per-pipeline counters: plain integers owned by one worker, published by copying.
//!
//! Contract: every received frame is counted once in `rx` and ends in exactly one of
//! `forwarded`, `replied` or `drops` (so `rx == forwarded + replied + drops.total()`).

use crate::packet::DropCounters;

/// What one pipeline has seen since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineCounters {
    /// Frames received.
    pub rx: u64,
    /// Frames forwarded.
    pub forwarded: u64,
    /// ARP/ND replies sent.
    pub replied: u64,
    /// Frames dropped, per reason.
    pub drops: DropCounters,
    /// Conntrack lookups that found the connection (ICMP errors related to one included).
    pub conntrack_hits: u64,
    /// Conntrack lookups that found nothing.
    pub conntrack_misses: u64,
    /// ICMP errors found related to a tracked connection.
    pub conntrack_related: u64,
    /// Flows the policy decided (new flows and re-checks).
    pub policy_decisions: u64,
    /// Of those, denied.
    pub policy_denies: u64,
    /// Tracked flows re-checked after a generation change.
    pub revalidations: u64,
    /// Of those, now denied (an established flow cut).
    pub revalidation_denies: u64,
}

impl PipelineCounters {
    /// Adds another pipeline's counters into these.
    pub fn merge(&mut self, o: &PipelineCounters) {
        self.rx += o.rx;
        self.forwarded += o.forwarded;
        self.replied += o.replied;
        self.drops.merge(&o.drops);
        self.conntrack_hits += o.conntrack_hits;
        self.conntrack_misses += o.conntrack_misses;
        self.conntrack_related += o.conntrack_related;
        self.policy_decisions += o.policy_decisions;
        self.policy_denies += o.policy_denies;
        self.revalidations += o.revalidations;
        self.revalidation_denies += o.revalidation_denies;
    }
}
