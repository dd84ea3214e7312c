//! `palisade eval`: load the store, read flows, decide each, print.

use std::io::{Read, Write};

use serde::Serialize;
use serde_json::Value;

use super::table::{mismatch_table, verdict_table};
use super::{EngineKind, EvalArgs, Format};
use crate::compile::compile;
use crate::eval::CompiledEngine;
use crate::eval::reference::Failsafes;
use crate::eval::{Engine, FlowDecision, ReferenceEvaluator, SideDecision, Verdict};
use crate::flows::{Expect, FlowLine, parse_flows};
use crate::store::Store;

/// How an evaluation ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalOutcome {
    Ok,
    Mismatches,
    InvalidInput,
}

#[derive(Serialize)]
struct OutputLine<'a> {
    id: &'a Value,
    verdict: Verdict,
    egress: &'a SideDecision,
    ingress: &'a SideDecision,
}

/// Run `palisade eval` with explicit output streams (testable without a process).
pub fn run_eval(args: &EvalArgs, out: &mut dyn Write, err: &mut dyn Write) -> EvalOutcome {
    let store = match Store::load_dir(&args.store) {
        Ok(store) => store,
        Err(e) => {
            let _ = writeln!(err, "palisade eval: invalid store: {e}");
            return EvalOutcome::InvalidInput;
        }
    };
    for w in &store.warnings {
        let _ = writeln!(err, "palisade eval: warning: {w}");
    }
    let (name, text) = match read_flows(args) {
        Ok(v) => v,
        Err(e) => {
            let _ = writeln!(err, "palisade eval: {e}");
            return EvalOutcome::InvalidInput;
        }
    };
    let flows = match parse_flows(&name, &text) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "palisade eval: invalid flow: {e}");
            return EvalOutcome::InvalidInput;
        }
    };
    let decisions: Vec<FlowDecision> = match args.engine {
        EngineKind::Reference => {
            let engine = ReferenceEvaluator::new(&store);
            flows.iter().map(|f| engine.decide(&f.key)).collect()
        }
        EngineKind::Compiled => {
            let compiled = compile(&store, 1, &Failsafes::default());
            let engine = CompiledEngine::new(&compiled);
            flows.iter().map(|f| engine.decide(&f.key)).collect()
        }
    };
    let written = match args.format {
        Format::Json => write_json(out, &flows, &decisions),
        Format::Table => out.write_all(verdict_table(&flows, &decisions).as_bytes()),
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        let _ = writeln!(err, "palisade eval: writing output: {e}");
        return EvalOutcome::InvalidInput;
    }
    if args.check {
        let mismatches: Vec<(&FlowLine, &FlowDecision)> = flows
            .iter()
            .zip(&decisions)
            .filter(|(f, d)| f.expect.is_some_and(|e| !expect_matches(e, d.verdict)))
            .collect();
        let checked = flows.iter().filter(|f| f.expect.is_some()).count();
        if !mismatches.is_empty() {
            let _ = write!(err, "{}", mismatch_table(&mismatches));
            let _ = writeln!(
                err,
                "palisade eval: {} of {checked} expectations failed",
                mismatches.len()
            );
            return EvalOutcome::Mismatches;
        }
        let _ = writeln!(err, "palisade eval: all {checked} expectations met");
    }
    EvalOutcome::Ok
}

fn expect_matches(expect: Expect, verdict: Verdict) -> bool {
    matches!(
        (expect, verdict),
        (Expect::Allow, Verdict::Allow) | (Expect::Deny, Verdict::Deny)
    )
}

fn read_flows(args: &EvalArgs) -> Result<(String, String), String> {
    match &args.flows {
        Some(path) => std::fs::read_to_string(path)
            .map(|t| (path.display().to_string(), t))
            .map_err(|e| format!("{}: {e}", path.display())),
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map(|_| ("<stdin>".to_string(), text))
                .map_err(|e| format!("<stdin>: {e}"))
        }
    }
}

fn write_json(
    out: &mut dyn Write,
    flows: &[FlowLine],
    decisions: &[FlowDecision],
) -> std::io::Result<()> {
    for (flow, d) in flows.iter().zip(decisions) {
        let line = OutputLine {
            id: &flow.id,
            verdict: d.verdict,
            egress: &d.egress,
            ingress: &d.ingress,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
