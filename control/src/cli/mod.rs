//! The `palisade` command line: argument parsing and the subcommands.
//!
//! Contract (DESIGN.md): `palisade eval --store DIR [--flows FILE] [--check] [--format json|table]`
//! exits 0 when all went well, 1 on `--check` mismatches, 2 on invalid input. `palisade demo`
//! is the main job on a fresh machine (see `demo`).

mod demo;
mod eval;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use demo::{DemoArgs, DemoOutcome, run_demo};
pub use eval::{EvalOutcome, run_eval};

/// Palisade: Kubernetes and Calico network policy, enforced in user space.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show Palisade at work on the embedded example store: verdicts with the deciding tier,
    /// policy and rule, checked against expectations and against the reference evaluator.
    Demo(DemoArgs),
    /// Evaluate flows offline against a policy store ("what would happen if...").
    Eval(EvalArgs),
    /// Enforce policy on this node: the privileged dataplane process (see DESIGN.md).
    Run(crate::run::RunArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Table,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Directory of manifests (*.yaml, *.yml, *.json, recursively).
    #[arg(long)]
    pub store: PathBuf,
    /// JSON Lines file of flows; standard input when absent.
    #[arg(long)]
    pub flows: Option<PathBuf>,
    /// Compare with each flow's `expect`; print mismatches on stderr and exit 1 if any.
    #[arg(long)]
    pub check: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Which engine decides: the compiled matcher the dataplane runs, or the reference
    /// evaluator (the readable oracle of SEMANTICS.md).
    #[arg(long, value_enum, default_value_t = EngineKind::Compiled)]
    pub engine: EngineKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    Compiled,
    Reference,
}

/// Run the command line; the exit code follows the contract.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Eval(args) => {
            let stdout = std::io::stdout();
            let stderr = std::io::stderr();
            match run_eval(&args, &mut stdout.lock(), &mut stderr.lock()) {
                EvalOutcome::Ok => ExitCode::SUCCESS,
                EvalOutcome::Mismatches => ExitCode::from(1),
                EvalOutcome::InvalidInput => ExitCode::from(2),
            }
        }
        Command::Demo(args) => {
            let stdout = std::io::stdout();
            match run_demo(&args, &mut stdout.lock()) {
                DemoOutcome::Ok => ExitCode::SUCCESS,
                DemoOutcome::ChecksFailed => ExitCode::from(1),
                DemoOutcome::InvalidInput => ExitCode::from(2),
            }
        }
        Command::Run(args) => crate::run::main(&args),
    }
}
