//! `ctbench` benchmark binary (being written).

fn main() {}
