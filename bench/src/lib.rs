//! Shared helpers for Palisade's benchmark binaries and criterion benches.
#![forbid(unsafe_code)]
