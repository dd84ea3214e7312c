//! The per-worker batch pipeline and the policy interface it calls.
//!
//! ```text
//!  frames -> parse -> ARP/ND (reply in place) -> route (+ source check) -> conntrack batch
//!         -> hit: cached verdict (re-checked if the generation moved) | miss: policy batch,
//!            insert | ICMP error: related lookup -> rewrite -> Action per frame
//! ```
//!
//! Contract: pure — frames, time, routes and the policy are parameters; counters are plain
//! fields; flow-log events go to a bounded queue that never blocks.
//!
//! Documented limitations:
//! - No reassembly: a non-first fragment is `DropReason::Fragment`; a first fragment is judged
//!   by its ports like any packet.
//! - No ICMP generation: TTL expiry is a counted drop, not a time-exceeded message.
//! - Pod MACs come from configuration (`RouteTable`), or are learned per port from any frame
//!   the pod sends (its DAD, router solicitations and MLD reports at link-up suffice) and per
//!   address from its ARP/ND; a pod that has sent nothing and has no configured MAC is
//!   `NoNeighbour` (the pipeline sends no ARP requests; `palisade run`'s worker probes such
//!   pods). The per-port MACs may be shared between pipelines (`Pipeline::with_port_macs`).
//! - Within one batch, conntrack lookups run before the batch's inserts; packets that looked
//!   invalid (a reply whose request is in the same batch) are looked up again after them.
//! - An 802.1Q tag is kept as received (pod ports are untagged in practice).

mod batch;
mod counters;
mod frame;
mod policy;

#[cfg(test)]
mod tests;

pub use batch::{Pipeline, PipelineConfig};
pub use counters::PipelineCounters;
pub use frame::{Action, FrameRef};
pub use policy::{FixedDecider, PolicyDecider, PolicyVerdict};
