//! `classbench` benchmark binary (being written).

fn main() {}
