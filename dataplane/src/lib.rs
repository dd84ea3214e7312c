//! Palisade's dataplane: everything that touches a packet after the XDP redirect, as pure code.
//!
//! ```text
//!  rx batch -> parse -> ARP/ND -> route -> conntrack batch lookup
//!           -> (miss | stale generation) matcher(Snapshot) -> conntrack insert
//!           -> verdict -> rewrite L2 -> tx batch | drop (counted, flow-logged)
//! ```
//!
//! This crate knows nothing of YAML, labels or selectors: the control plane compiles those into
//! plain data. It reads no clock and opens no socket; time and frames are parameters.
#![forbid(unsafe_code)]

pub mod classifier;
pub mod conntrack;
pub mod flow;
pub mod flowlog;
pub mod forward;
pub mod neigh;
pub mod net;
pub mod packet;
pub mod pipeline;
pub mod policy;

pub use flow::{FlowKey, IcmpFields, IpProto};
pub use net::IpNet;
