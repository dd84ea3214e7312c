//! Every conformance scenario (copied from the public set into `tests/scenarios`) passes
//! `palisade eval --check`, through the real binary.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

fn scenarios() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/scenarios exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("flows.jsonl").exists())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_scenario_passes_check() {
    let dirs = scenarios();
    assert!(
        dirs.len() >= 8,
        "expected the public scenarios, found {dirs:?}"
    );
    for dir in dirs {
        let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .arg("eval")
            .arg("--store")
            .arg(dir.join("store"))
            .arg("--flows")
            .arg(dir.join("flows.jsonl"))
            .arg("--check")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: exit {:?}\n{}",
            dir.display(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = String::from_utf8(out.stdout).unwrap();
        let expected = std::fs::read_to_string(dir.join("flows.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count();
        assert_eq!(lines.lines().count(), expected, "{}", dir.display());
    }
}

#[test]
fn bundled_example_store_passes_check() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/examples/shop");
    let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["eval", "--format", "table", "--check", "--store"])
        .arg(root.join("store"))
        .arg("--flows")
        .arg(root.join("flows.jsonl"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("gnp:security.quarantine rule 1 (tier security)"),
        "{table}"
    );
}
