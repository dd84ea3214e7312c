//! Criterion benchmarks of the compiled policy matcher on Kubernetes-shaped stores:
//! per-new-flow decision cost (compiled, batched, reference) and full compile time at
//! 100 / 1,000 / 10,000 policies with 10,000 pods.

use std::hint::black_box;

/// The allocator the `palisade` binary uses (compile time depends on it).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use palisade_bench::k8s::{K8sShape, k8s_flows, k8s_store_yaml};
use palisade_control::compile::compile;
use palisade_control::eval::reference::Failsafes;
use palisade_control::eval::{Engine, ReferenceEvaluator};
use palisade_control::store::Store;
use palisade_dataplane::FlowKey;
use palisade_dataplane::policy::{Decision, classify, classify_batch};

fn shape(policies: usize) -> K8sShape {
    K8sShape {
        namespaces: 100,
        pods: 10_000,
        policies,
        seed: 1,
    }
}

fn keys(s: K8sShape, n: usize) -> Vec<FlowKey> {
    k8s_flows(s, n)
        .into_iter()
        .filter_map(|(a, b, p, port)| {
            Some(FlowKey::new(
                a.parse().ok()?,
                b.parse().ok()?,
                p,
                40000,
                port,
            ))
        })
        .collect()
}

fn matcher(c: &mut Criterion) {
    let mut group = c.benchmark_group("k8s_decision");
    for policies in [100, 1_000, 10_000] {
        let s = shape(policies);
        let store = Store::from_text("g.yaml", &k8s_store_yaml(s)).expect("generated store loads");
        let compiled = compile(&store, 1, &Failsafes::default());
        let flows = keys(s, 4096);
        group.bench_with_input(
            BenchmarkId::new("compiled", policies),
            &flows,
            |b, flows| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % flows.len();
                    black_box(classify(&compiled.snapshot, &flows[i]))
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("compiled_batch32", policies),
            &flows,
            |b, flows| {
                let mut out = vec![Decision::default(); 32];
                let mut i = 0;
                b.iter(|| {
                    i = (i + 32) % (flows.len() - 32);
                    classify_batch(&compiled.snapshot, &flows[i..i + 32], &mut out);
                    black_box(&out);
                })
            },
        );
        let reference = ReferenceEvaluator::new(&store);
        group.bench_with_input(
            BenchmarkId::new("reference", policies),
            &flows,
            |b, flows| {
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) % flows.len();
                    black_box(reference.decide(&flows[i]))
                })
            },
        );
    }
    group.finish();
}

fn compile_time(c: &mut Criterion) {
    let mut group = c.benchmark_group("k8s_compile");
    group.sample_size(10);
    for policies in [100, 1_000, 10_000] {
        let store = Store::from_text("g.yaml", &k8s_store_yaml(shape(policies))).expect("loads");
        group.bench_function(BenchmarkId::from_parameter(policies), |b| {
            b.iter(|| black_box(compile(&store, 1, &Failsafes::default())))
        });
    }
    group.finish();
}

criterion_group!(benches, matcher, compile_time);
criterion_main!(benches);
