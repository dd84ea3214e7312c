//! `palisade run` input errors (no privileges needed: they stop before anything is attached).

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_palisade");

fn shop() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/examples/shop/store"
    ))
}

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .arg("run")
        .args(args)
        .output()
        .expect("palisade runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_local_endpoint_is_invalid_input() {
    let store = shop().to_string_lossy().into_owned();
    let (code, err) = run(&["--store", &store, "--node", "no-such-node"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no local endpoint on node"), "{err}");
}

#[test]
fn invalid_config_and_store_are_invalid_input() {
    let dir = std::env::temp_dir().join(format!("palisade-run-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("palisade.yaml");
    std::fs::write(&config, "ring_size: 1000\n").expect("config");
    let store = shop().to_string_lossy().into_owned();
    let conf = config.to_string_lossy().into_owned();
    let (code, err) = run(&["--store", &store, "--node", "node-1", "--config", &conf]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`ring_size`"), "{err}");

    let bad_store = dir.join("store");
    std::fs::create_dir_all(&bad_store).expect("store dir");
    std::fs::write(bad_store.join("x.yaml"), "kind: Pod\nmetadata: 3\n").expect("manifest");
    let bad = bad_store.to_string_lossy().into_owned();
    let (code, err) = run(&["--store", &bad, "--node", "node-1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("invalid store"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_names_the_contract() {
    let out = Command::new(BIN)
        .args(["run", "--help"])
        .output()
        .expect("palisade runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--store", "--node", "--config"] {
        assert!(text.contains(flag), "{text}");
    }
}
