//! `classbench --rules FILE[.gz] --trace FILE[.gz] [--repeat N]`: builds the dataplane classifier
//! from a ClassBench rule set, classifies the trace, and prints one JSON line `{"rules",
//! "packets", "build_ms", "ns_per_lookup", "ns_per_lookup_single", "mismatches", "bytes"}`.
//!
//! `ns_per_lookup` is the batched path (`lookup_batch`), `ns_per_lookup_single` one `lookup` per
//! header; each is the fastest of `repeat` passes over the trace. `mismatches` counts headers
//! whose batched or single answer differs from a linear scan (computed outside the timed
//! region). `bytes` is the classifier's heap memory including slack. Exit 2 on bad input.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use palisade_bench::classbench::{read_rules, read_trace};
use palisade_dataplane::classifier::{
    BuildOptions, Classifier, LinearClassifier, PacketHeader, RuleSpec,
};

#[derive(Parser, Debug)]
#[command(about = "Benchmark the Palisade classifier on a ClassBench rule set and trace")]
struct Args {
    /// Rule file (ClassBench format, plain or gzip).
    #[arg(long)]
    rules: PathBuf,
    /// Trace file (ClassBench format, plain or gzip).
    #[arg(long)]
    trace: PathBuf,
    /// Timed passes over the trace for each lookup path; the fastest counts.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
}

#[derive(serde::Serialize)]
struct Report {
    rules: usize,
    packets: usize,
    build_ms: f64,
    ns_per_lookup: f64,
    ns_per_lookup_single: f64,
    mismatches: usize,
    bytes: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(mode) = std::env::var_os("CLASSBENCH_PROFILE") {
        return match profile(&mode.to_string_lossy(), &args) {
            Ok(message) => {
                eprintln!("{message}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("classbench: {e}");
                ExitCode::from(2)
            }
        };
    }
    match run(&args) {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("classbench: {e}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("classbench: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<Report, Box<dyn std::error::Error>> {
    let rules = read_rules(&args.rules)?;
    let trace = read_trace(&args.trace)?;
    let headers = &trace.headers;
    let packets = headers.len();

    // Build: best of three, the first also warms the allocator.
    let mut build_ms = f64::INFINITY;
    let mut classifier = None;
    for _ in 0..3 {
        let t = Instant::now();
        let c = Classifier::build_with(&rules, options()?)?;
        build_ms = build_ms.min(t.elapsed().as_secs_f64() * 1e3);
        classifier = Some(black_box(c));
    }
    let classifier = classifier.ok_or("no classifier built")?;
    if std::env::var_os("CLASSBENCH_STATS").is_some() {
        eprintln!(
            "trees (min rule, slots, stored rules): {:?}",
            classifier.tree_stats()
        );
        let (mut t, mut st, mut rc) = (0, 0, 0);
        let mut steps_histogram = vec![0usize; 1];
        for h in headers {
            let c = classifier.lookup_cost(h);
            (t, st, rc) = (t + c.trees, st + c.steps, rc + c.rules_compared);
            if steps_histogram.len() <= c.steps {
                steps_histogram.resize(c.steps + 1, 0);
            }
            steps_histogram[c.steps] += 1;
        }
        eprintln!("lookups by node steps (0, 1, ..): {steps_histogram:?}");
        let n = packets.max(1) as f64;
        eprintln!(
            "per lookup: {:.2} trees, {:.2} steps, {:.2} rules compared",
            t as f64 / n,
            st as f64 / n,
            rc as f64 / n
        );
    }

    let expected = linear_answers(&rules, headers);

    // Each path: the fastest of `repeat` passes over the trace (robust to other load).
    let mut batch = vec![None; packets];
    classifier.lookup_batch(headers, &mut batch); // warm-up
    let mut batch_ns = f64::INFINITY;
    for _ in 0..args.repeat {
        let t = Instant::now();
        classifier.lookup_batch(black_box(headers), &mut batch);
        black_box(&mut batch);
        batch_ns = batch_ns.min(t.elapsed().as_nanos() as f64);
    }

    let mut single = vec![None; packets];
    let mut single_ns = f64::INFINITY;
    for _ in 0..args.repeat {
        let t = Instant::now();
        for (h, o) in black_box(headers).iter().zip(single.iter_mut()) {
            *o = classifier.lookup(h);
        }
        black_box(&mut single);
        single_ns = single_ns.min(t.elapsed().as_nanos() as f64);
    }

    let mismatches = expected
        .iter()
        .zip(&batch)
        .zip(&single)
        .filter(|((e, b), s)| e != b || e != s)
        .count();
    let lookups = packets.max(1) as f64;
    Ok(Report {
        rules: rules.len(),
        packets,
        build_ms: round(build_ms, 3),
        ns_per_lookup: round(batch_ns / lookups, 2),
        ns_per_lookup_single: round(single_ns / lookups, 2),
        mismatches,
        bytes: classifier.heap_bytes(),
    })
}

/// `CLASSBENCH_PROFILE=build|lookup` (a tuning aid for callgrind/perf, no JSON line): one build,
/// then for `lookup` `repeat` batched passes over the trace; no linear reference. Returns the
/// message to print.
fn profile(mode: &str, args: &Args) -> Result<String, Box<dyn std::error::Error>> {
    let rules = read_rules(&args.rules)?;
    let headers = &read_trace(&args.trace)?.headers;
    let t = Instant::now();
    let classifier = black_box(Classifier::build_with(&rules, options()?)?);
    let build_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut out = vec![None; headers.len()];
    let mut found = 0usize;
    match mode {
        "build" => {}
        "lookup" => {
            for _ in 0..args.repeat {
                classifier.lookup_batch(black_box(headers), &mut out);
                found += out.iter().filter(|o| o.is_some()).count();
            }
        }
        _ => return Err(format!("CLASSBENCH_PROFILE={mode:?}: expected build or lookup").into()),
    }
    Ok(format!(
        "profile {mode}: build {build_ms:.3} ms, {} bytes, {found} matches (no JSON line)",
        classifier.heap_bytes()
    ))
}

/// First-match answers by linear scan, split across the available cores.
fn linear_answers(rules: &[RuleSpec<u32>], headers: &[PacketHeader<u32>]) -> Vec<Option<u32>> {
    let reference = LinearClassifier::new(rules);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = headers.len().div_ceil(threads).max(1);
    let mut out = vec![None; headers.len()];
    std::thread::scope(|s| {
        for (hs, os) in headers.chunks(chunk).zip(out.chunks_mut(chunk)) {
            let reference = &reference;
            s.spawn(move || {
                for (h, o) in hs.iter().zip(os) {
                    *o = reference.lookup(h);
                }
            });
        }
    });
    out
}

/// Build options: the defaults, or `CLASSBENCH_OPTS=leaf_size,spfac,max_cut_bits,partition_bits`
/// (a tuning aid; not part of the output contract).
fn options() -> Result<BuildOptions, String> {
    let Some(spec) = std::env::var_os("CLASSBENCH_OPTS") else {
        return Ok(BuildOptions::default());
    };
    let spec = spec.to_string_lossy().into_owned();
    let bad = || {
        format!("CLASSBENCH_OPTS={spec:?}: expected leaf_size,spfac,max_cut_bits,partition_bits")
    };
    let parts: Vec<&str> = spec.split(',').collect();
    let [leaf, spfac, cut, part] = parts[..] else {
        return Err(bad());
    };
    Ok(BuildOptions {
        leaf_size: leaf.parse().map_err(|_| bad())?,
        spfac: spfac.parse().map_err(|_| bad())?,
        max_cut_bits: cut.parse().map_err(|_| bad())?,
        partition_bits: part.parse().map_err(|_| bad())?,
    })
}

fn round(v: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v * p).round() / p
}
