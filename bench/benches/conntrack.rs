//! Criterion benchmarks for the conntrack (being written).

fn main() {}
