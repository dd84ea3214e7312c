//! Criterion benchmarks for the classifier (being written).

fn main() {}
