//! `policybench`: the Kubernetes-shaped matcher benchmark in one run.
//!
//! `policybench [--namespaces N] [--pods M] [--policies P] [--flows F] [--reference-flows R]
//! [--repeat N]` prints one JSON line: sizes, load and compile time, snapshot bytes and
//! programs, the compiled matcher's ns per new-flow decision (single and batched; with
//! `--repeat`, the fastest of N passes each), the reference evaluator's ns per flow on the
//! first R flows, and how many of those R decisions differ (must be 0).

use std::process::ExitCode;

/// The allocator the `palisade` binary uses (compile time depends on it).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Instant;

use clap::Parser;
use palisade_bench::k8s::{K8sShape, k8s_flows, k8s_store_yaml, pod_ip};
use palisade_control::compile::compile;
use palisade_control::eval::reference::Failsafes;
use palisade_control::eval::{CompiledEngine, Engine, ReferenceEvaluator};
use palisade_control::store::Store;
use palisade_dataplane::FlowKey;
use palisade_dataplane::policy::{Decision, classify, classify_batch};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 100)]
    namespaces: usize,
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    #[arg(long, default_value_t = 1_000)]
    policies: usize,
    #[arg(long, default_value_t = 1_000_000)]
    flows: usize,
    #[arg(long, default_value_t = 2_000)]
    reference_flows: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time the single and batched passes this many times each (alternating) and report the
    /// fastest of each: on a shared machine the minimum is the least disturbed.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let shape = K8sShape {
        namespaces: args.namespaces.max(1),
        pods: args.pods.max(1),
        policies: args.policies,
        seed: args.seed,
    };
    let yaml = k8s_store_yaml(shape);
    let t = Instant::now();
    let store = match Store::from_text("generated.yaml", &yaml) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("policybench: generated store did not load: {e}");
            return ExitCode::from(2);
        }
    };
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let compiled = compile(&store, 1, &Failsafes::default());
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;
    let snap = &compiled.snapshot;
    if std::env::var_os("POLICYBENCH_STATS").is_some() {
        eprintln!("{}", program_stats(snap));
    }

    let keys: Vec<FlowKey> = k8s_flows(shape, args.flows.max(1))
        .into_iter()
        .filter_map(|(s, d, p, port)| {
            Some(FlowKey::new(
                s.parse().ok()?,
                d.parse().ok()?,
                p,
                40000,
                port,
            ))
        })
        .collect();
    let mut allowed = 0usize;
    let (mut single_ns, mut batch_ns) = (f64::INFINITY, f64::INFINITY);
    let mut out = vec![Decision::default(); 32];
    for _ in 0..args.repeat.max(1) {
        allowed = 0;
        let t = Instant::now();
        for k in &keys {
            allowed += usize::from(classify(snap, k).allow());
        }
        single_ns = single_ns.min(t.elapsed().as_secs_f64() * 1e9 / keys.len() as f64);
        let t = Instant::now();
        for chunk in keys.chunks(32) {
            classify_batch(snap, chunk, &mut out[..chunk.len()]);
            allowed += out[..chunk.len()].iter().filter(|d| d.allow()).count();
        }
        batch_ns = batch_ns.min(t.elapsed().as_secs_f64() * 1e9 / keys.len() as f64);
    }

    let reference = ReferenceEvaluator::new(&store);
    let engine = CompiledEngine::new(&compiled);
    let sample = &keys[..args.reference_flows.min(keys.len())];
    let t = Instant::now();
    let want: Vec<_> = sample.iter().map(|k| reference.decide(k)).collect();
    let reference_ns = t.elapsed().as_secs_f64() * 1e9 / sample.len().max(1) as f64;
    let mismatches = sample
        .iter()
        .zip(&want)
        .filter(|(k, w)| engine.decide(k) != **w)
        .count();
    let line = serde_json::json!({
        "namespaces": shape.namespaces,
        "pods": shape.pods,
        "policies": shape.policies,
        "load_ms": round(load_ms),
        "compile_ms": round(compile_ms),
        "snapshot_bytes": snap.heap_bytes(),
        "programs": snap.programs.len(),
        "rules": snap.rules.len(),
        "flows": keys.len(),
        "allowed_fraction": round(allowed as f64 / (2 * keys.len()) as f64),
        "ns_per_decision": round(single_ns),
        "ns_per_decision_batched": round(batch_ns),
        "reference_ns_per_decision": round(reference_ns),
        "speedup": round(reference_ns / single_ns),
        "mismatches": mismatches,
    });
    println!("{line}");
    if mismatches > 0 {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn program_stats(snap: &palisade_dataplane::policy::Snapshot) -> String {
    let ids = 0..snap.programs.len() as u32;
    let lens: Vec<usize> = ids.clone().map(|p| snap.programs.rule_count(p)).collect();
    let max = lens.iter().max().copied().unwrap_or(0);
    let avg = lens.iter().sum::<usize>() as f64 / lens.len().max(1) as f64;
    // Candidates for TCP/80 with pod 0 as the peer.
    let peer = pod_ip(0)
        .parse()
        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
    let cands: Vec<usize> = ids
        .map(|p| snap.programs.candidates(p, 6, 80, peer).len())
        .collect();
    let cmax = cands.iter().max().copied().unwrap_or(0);
    let cavg = cands.iter().sum::<usize>() as f64 / cands.len().max(1) as f64;
    let sets: Vec<usize> = (0..snap.endpoints.len())
        .filter_map(|i| pod_ip(i).parse().ok())
        .map(|a| snap.addr_sets(a).endpoint_sets.len())
        .collect();
    let smax = sets.iter().max().copied().unwrap_or(0);
    let savg = sets.iter().sum::<usize>() as f64 / sets.len().max(1) as f64;
    let staged_differs = snap
        .endpoints
        .iter()
        .filter(|e| e.staged_ingress != e.ingress || e.staged_egress != e.egress)
        .count();
    format!(
        "entries max {max} avg {avg:.1}; tcp/80 candidate words max {cmax} avg {cavg:.1}; \
         endpoint sets max {smax} avg {savg:.1}; endpoints with other staged programs \
         {staged_differs}; programs {} bytes ({} lists split by peer), rules {} bytes",
        snap.programs.heap_bytes(),
        snap.programs.splits(),
        snap.rules.heap_bytes()
    )
}
