//! Helpers for Palisade's integration tests.
//!
//! - [`bpffs`]: a private bpffs mount for tests that pin BPF objects;
//! - [`netns`]: namespace guards and veth pairs for privileged end-to-end tests (never touching
//!   the root namespace);
//! - [`probe`]: short, parallel probes of what the kernel offers (network namespaces, XDP,
//!   AF_XDP), so privileged tests skip loudly, with the reason, only when a feature is missing.
#![forbid(unsafe_code)]

pub mod bpffs;
pub mod netns;
pub mod probe;
