//! Helpers for Palisade's integration tests.
//!
//! - [`bpffs`]: a private bpffs mount for tests that pin BPF objects;
//! - [`cluster`]: a node namespace with many pods, TCP/UDP servers in each, a parallel probe
//!   matrix (the policy end-to-end tests);
//! - [`daemon`]: a `palisade run` process in a node namespace, its log, SIGHUP/SIGTERM;
//! - [`frames`]: hand-made (malformed) frames and their injection with trafgen;
//! - [`dataplane`]: the bare AF_XDP dataplane (XDP + one UMEM + bare forwarder) on a thread
//!   inside a node namespace;
//! - [`netns`]: namespace guards and veth pairs for privileged end-to-end tests (never touching
//!   the root namespace);
//! - [`pods`]: a node namespace and two pod namespaces wired like Palisade's pods, with UDP and
//!   ping helpers;
//! - [`scenario`]: a cluster, its store and config files, and `palisade run` started on them;
//! - [`traffic`]: a paced UDP stream between two pods, counted at both ends;
//! - [`verdicts`]: `palisade eval`'s verdicts for a set of probes;
//! - [`probe`]: short, parallel probes of what the kernel offers (network namespaces, XDP,
//!   AF_XDP), so privileged tests skip loudly, with the reason, only when a feature is missing.
#![forbid(unsafe_code)]

pub mod bpffs;
pub mod cluster;
pub mod daemon;
pub mod dataplane;
pub mod frames;
pub mod netns;
pub mod pods;
pub mod probe;
pub mod remote;
pub mod scenario;
pub mod traffic;
pub mod verdicts;
