//! The `palisade` binary: see `palisade --help`.
#![forbid(unsafe_code)]

/// mimalloc: the workers allocate little, but the control thread compiles whole stores.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    palisade_control::cli::main()
}
