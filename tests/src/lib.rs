//! Helpers for Palisade's integration tests.
//!
//! - [`bpffs`]: a private bpffs mount for tests that pin BPF objects;
//! - [`dataplane`]: the bare AF_XDP dataplane (XDP + one UMEM + bare forwarder) on a thread
//!   inside a node namespace;
//! - [`netns`]: namespace guards and veth pairs for privileged end-to-end tests (never touching
//!   the root namespace);
//! - [`pods`]: a node namespace and two pod namespaces wired like Palisade's pods, with UDP and
//!   ping helpers;
//! - [`probe`]: short, parallel probes of what the kernel offers (network namespaces, XDP,
//!   AF_XDP), so privileged tests skip loudly, with the reason, only when a feature is missing.
#![forbid(unsafe_code)]

pub mod bpffs;
pub mod dataplane;
pub mod netns;
pub mod pods;
pub mod probe;
