//! Criterion benchmarks of the dataplane classifier on the ClassBench sets in `data/classbench`:
//! build time, single lookups and batched lookups (per header: throughput in elements), for
//! acl1/fw1/ipc1 at 1k, 10k and 100k rules. Heap memory is printed once per set.
//!
//! `cargo bench -p palisade-bench --bench classifier [-- FILTER]`, e.g. `-- acl1_10k`.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_bench::classbench::{read_rules, read_trace};
use palisade_dataplane::classifier::Classifier;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/classbench")
        .join(name)
}

fn bench_set(c: &mut Criterion, set: &str, size: &str) {
    let name = format!("{set}_{size}");
    let (rules, trace) = match (
        read_rules(&data(&format!("{name}.gz"))),
        read_trace(&data(&format!("{name}_trace.gz"))),
    ) {
        (Ok(r), Ok(t)) => (r, t),
        (Err(e), _) | (_, Err(e)) => panic!("cannot read ClassBench set {name}: {e}"),
    };
    let classifier = Classifier::build(&rules).expect("build");
    eprintln!(
        "classifier/{name}: {} rules, {} heap bytes",
        rules.len(),
        classifier.heap_bytes()
    );
    let headers = &trace.headers;
    let mut out = vec![None; headers.len()];

    let mut group = c.benchmark_group(format!("classifier/{name}"));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    if size == "100k" {
        group.sample_size(10);
    }
    group.throughput(Throughput::Elements(headers.len() as u64));
    group.bench_function("lookup_single", |b| {
        b.iter(|| {
            for (h, o) in black_box(headers).iter().zip(out.iter_mut()) {
                *o = classifier.lookup(h);
            }
        })
    });
    group.bench_function("lookup_batch", |b| {
        b.iter(|| classifier.lookup_batch(black_box(headers), &mut out))
    });
    group.throughput(Throughput::Elements(rules.len() as u64));
    group.bench_function("build", |b| {
        b.iter(|| Classifier::build(black_box(&rules)).expect("build"))
    });
    group.finish();
}

fn classifier(c: &mut Criterion) {
    for size in ["1k", "10k", "100k"] {
        for set in ["acl1", "fw1", "ipc1"] {
            bench_set(c, set, size);
        }
    }
}

criterion_group!(benches, classifier);
criterion_main!(benches);
