//! Compiles `src/redirect.bpf.c` with `clang -O2 -target bpf` into `$OUT_DIR/redirect.bpf.o`,
//! which the loader embeds with `include_bytes!`. Needs Debian's `clang` (scripts/install-deps.sh).

use std::{env, path::PathBuf, process::Command};

fn main() {
    let src = "src/redirect.bpf.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=PALISADE_CLANG");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj = out_dir.join("redirect.bpf.o");
    let clang = env::var("PALISADE_CLANG").unwrap_or_else(|_| "clang".to_owned());
    let status = Command::new(&clang)
        .args([
            "-O2", "-g", "-target", "bpf", "-Wall", "-Werror", "-c", src, "-o",
        ])
        .arg(&obj)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{clang} failed to compile {src} ({s})"),
        Err(e) => panic!(
            "cannot run {clang} to compile {src}: {e}; install it with scripts/install-deps.sh"
        ),
    }
}
