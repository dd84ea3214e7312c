//! `palisade demo`: the main job on a fresh machine, with nothing to prepare.
//!
//! Contract: with no arguments it evaluates the store and flows embedded in the binary (the
//! `config/examples/shop` example, compiled in with `include_str!`), so it needs no files, no
//! privileges and no network. `--store DIR --flows FILE` runs the same on your own inputs.
//! It prints what the store holds and what compiling it cost, the verdict table (deciding tier,
//! policy and rule for both sides of every flow), then two checks: every flow's `expect` is met,
//! and the compiled matcher (what the dataplane runs) and the reference evaluator (the readable
//! oracle of SEMANTICS.md) reach the same decision, trace included, on every flow. Exit code 0
//! when both checks pass, 1 when one fails, 2 on invalid input. The closing line reports the
//! matcher's cost per decision on this machine: informative, measured, never asserted.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::table::verdict_table;
use palisade_dataplane::FlowKey;
use palisade_dataplane::policy::{Decision, classify_batch};

use crate::compile::{CompiledStore, compile};
use crate::eval::reference::Failsafes;
use crate::eval::{CompiledEngine, Engine, FlowDecision, ReferenceEvaluator, Verdict};
use crate::flows::{Expect, FlowLine, parse_flows};
use crate::store::{Loaded, Store, load_text};

/// The embedded example: files named as in the repository, so errors point somewhere real.
const EMBEDDED_STORE: [(&str, &str); 2] = [
    (
        "config/examples/shop/store/inventory.yaml",
        include_str!("../../../config/examples/shop/store/inventory.yaml"),
    ),
    (
        "config/examples/shop/store/policies.yaml",
        include_str!("../../../config/examples/shop/store/policies.yaml"),
    ),
];
const EMBEDDED_FLOWS: (&str, &str) = (
    "config/examples/shop/flows.jsonl",
    include_str!("../../../config/examples/shop/flows.jsonl"),
);

/// How long the closing speed measurement runs.
const SPEED_BUDGET: Duration = Duration::from_millis(200);

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// A store directory to use instead of the embedded example (needs --flows too).
    #[arg(long, requires = "flows")]
    pub store: Option<PathBuf>,
    /// A JSON Lines flow file to use instead of the embedded example (needs --store too).
    #[arg(long, requires = "store")]
    pub flows: Option<PathBuf>,
}

/// How the demo ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoOutcome {
    Ok,
    ChecksFailed,
    InvalidInput,
}

/// Run `palisade demo`, writing everything to `out`.
pub fn run_demo(args: &DemoArgs, out: &mut dyn Write) -> DemoOutcome {
    let (label, store, flows) = match inputs(args) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(out, "palisade demo: {e}");
            return DemoOutcome::InvalidInput;
        }
    };
    match present(&label, &store, &flows, out) {
        Ok(true) => DemoOutcome::Ok,
        Ok(false) => DemoOutcome::ChecksFailed,
        Err(e) => {
            let _ = writeln!(out, "palisade demo: writing output: {e}");
            DemoOutcome::InvalidInput
        }
    }
}

fn inputs(args: &DemoArgs) -> Result<(String, Store, Vec<FlowLine>), String> {
    match (&args.store, &args.flows) {
        (Some(dir), Some(flows)) => {
            let store = Store::load_dir(dir).map_err(|e| format!("invalid store: {e}"))?;
            let text =
                std::fs::read_to_string(flows).map_err(|e| format!("{}: {e}", flows.display()))?;
            let name = flows.display().to_string();
            let flows = parse_flows(&name, &text).map_err(|e| format!("invalid flow: {e}"))?;
            Ok((format!("the store in {}", dir.display()), store, flows))
        }
        _ => {
            let mut loaded = Loaded::default();
            for (name, text) in EMBEDDED_STORE {
                load_text(name.as_ref(), text, &mut loaded)
                    .map_err(|e| format!("embedded store: {e}"))?;
            }
            let store = Store::from_loaded(loaded).map_err(|e| format!("embedded store: {e}"))?;
            let (name, text) = EMBEDDED_FLOWS;
            let flows = parse_flows(name, text).map_err(|e| format!("embedded flows: {e}"))?;
            Ok((
                "the embedded example store (config/examples/shop)".into(),
                store,
                flows,
            ))
        }
    }
}

/// Prints the whole demo; true when both checks pass.
fn present(
    label: &str,
    store: &Store,
    flows: &[FlowLine],
    out: &mut dyn Write,
) -> std::io::Result<bool> {
    let tiers: std::collections::BTreeSet<&str> =
        store.policies.iter().map(|p| p.tier.as_str()).collect();
    writeln!(
        out,
        "Palisade demo: {label}: {} endpoints, {} network sets, {} policies in {} tiers, {} flows",
        store.endpoints.len(),
        store.network_sets.len(),
        store.policies.len(),
        tiers.len(),
        flows.len(),
    )?;
    for w in &store.warnings {
        writeln!(out, "warning: {w}")?;
    }

    let started = Instant::now();
    let compiled = compile(store, 1, &Failsafes::default());
    let compile_time = started.elapsed();
    writeln!(
        out,
        "compiled into a dataplane snapshot in {:.2} ms ({} KiB)\n",
        compile_time.as_secs_f64() * 1e3,
        compiled.snapshot.heap_bytes().div_ceil(1024),
    )?;

    let engine = CompiledEngine::new(&compiled);
    let decisions: Vec<FlowDecision> = flows.iter().map(|f| engine.decide(&f.key)).collect();
    out.write_all(verdict_table(flows, &decisions).as_bytes())?;
    writeln!(out)?;

    let expectations_ok = report_expectations(flows, &decisions, out)?;
    let engines_ok = report_agreement(store, flows, &decisions, out)?;
    report_speed(&compiled, flows, out)?;
    Ok(expectations_ok && engines_ok)
}

fn report_expectations(
    flows: &[FlowLine],
    decisions: &[FlowDecision],
    out: &mut dyn Write,
) -> std::io::Result<bool> {
    let mut checked = 0;
    let mut failed = Vec::new();
    for (flow, decision) in flows.iter().zip(decisions) {
        let Some(expect) = flow.expect else { continue };
        checked += 1;
        let want = match expect {
            Expect::Allow => Verdict::Allow,
            Expect::Deny => Verdict::Deny,
        };
        if decision.verdict != want {
            failed.push(flow.line);
        }
    }
    if failed.is_empty() {
        writeln!(out, "check: all {checked} expected verdicts met")?;
    } else {
        writeln!(
            out,
            "check FAILED: {} of {checked} expected verdicts not met (flow lines {failed:?})",
            failed.len()
        )?;
    }
    Ok(failed.is_empty())
}

fn report_agreement(
    store: &Store,
    flows: &[FlowLine],
    compiled: &[FlowDecision],
    out: &mut dyn Write,
) -> std::io::Result<bool> {
    let reference = ReferenceEvaluator::new(store);
    let differ: Vec<usize> = flows
        .iter()
        .zip(compiled)
        .filter(|(f, d)| reference.decide(&f.key) != **d)
        .map(|(f, _)| f.line)
        .collect();
    if differ.is_empty() {
        writeln!(
            out,
            "check: the compiled matcher and the reference evaluator agree on all {} flows, \
             deciding rule and log hits included",
            flows.len()
        )?;
    } else {
        writeln!(
            out,
            "check FAILED: the compiled matcher and the reference evaluator differ on flow \
             lines {differ:?}"
        )?;
    }
    Ok(differ.is_empty())
}

/// Classifies the flows over and over for a fixed budget with the matcher the workers run
/// (`classify_batch`, allocation-free) and prints the mean cost of one new-flow decision (both
/// sides, staged view included) on this machine.
fn report_speed(
    compiled: &CompiledStore,
    flows: &[FlowLine],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    if flows.is_empty() {
        return Ok(());
    }
    let keys: Vec<FlowKey> = flows.iter().map(|f| f.key).collect();
    let mut decisions = vec![Decision::default(); keys.len()];
    let started = Instant::now();
    let mut decided = 0u64;
    let mut allowed = 0u64;
    while started.elapsed() < SPEED_BUDGET {
        for _ in 0..64 {
            classify_batch(
                &compiled.snapshot,
                std::hint::black_box(&keys),
                &mut decisions,
            );
            allowed += decisions.iter().filter(|d| d.allow()).count() as u64;
        }
        decided += 64 * keys.len() as u64;
    }
    let ns = started.elapsed().as_secs_f64() * 1e9 / decided as f64;
    std::hint::black_box(allowed);
    writeln!(
        out,
        "speed: {ns:.0} ns per new-flow decision with the dataplane's matcher on this machine \
         ({decided} decisions, one thread; bench/README.md has the benchmarks)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_demo_passes_both_checks() {
        let mut out = Vec::new();
        let outcome = run_demo(
            &DemoArgs {
                store: None,
                flows: None,
            },
            &mut out,
        );
        let text = String::from_utf8(out).unwrap_or_default();
        assert_eq!(outcome, DemoOutcome::Ok, "{text}");
        assert!(
            text.contains("check: all 11 expected verdicts met"),
            "{text}"
        );
        assert!(text.contains("agree on all 11 flows"), "{text}");
        assert!(text.contains("security.quarantine"), "{text}");
    }

    #[test]
    fn a_missing_store_is_invalid_input() {
        let mut out = Vec::new();
        let outcome = run_demo(
            &DemoArgs {
                store: Some("/nonexistent/palisade-demo".into()),
                flows: Some("/nonexistent/flows.jsonl".into()),
            },
            &mut out,
        );
        assert_eq!(outcome, DemoOutcome::InvalidInput);
        let text = String::from_utf8(out).unwrap_or_default();
        assert!(text.contains("/nonexistent/palisade-demo"), "{text}");
    }
}
