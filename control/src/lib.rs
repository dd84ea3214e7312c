//! Palisade's control plane: manifests in, verdicts (reference evaluator) and snapshots out.
#![forbid(unsafe_code)]

pub mod selector;
