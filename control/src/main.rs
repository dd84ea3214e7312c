//! The `palisade` binary: see `palisade --help`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    palisade_control::cli::main()
}
