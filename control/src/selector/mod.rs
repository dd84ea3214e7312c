//! The Calico selector language (placeholder; being written).
