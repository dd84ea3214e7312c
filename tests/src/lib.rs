//! Helpers for Palisade's integration tests (scenario runner, network-namespace guards).
#![forbid(unsafe_code)]
