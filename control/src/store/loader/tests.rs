//! The caching loader against a fresh `Store::load_dir` after every kind of change.

use std::path::PathBuf;

use super::*;

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: NAME, labels: {team: T}}\n";
const POLICY: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: NAME, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress: [{ports: [{protocol: TCP, port: 80}]}]
";

/// A directory of its own below the system temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("palisade-loader-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).expect("temp dir");
        TempDir(dir)
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.0.join(file), text).expect("write");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn render(result: &Result<Store, StoreError>) -> String {
    match result {
        Ok(store) => format!("{store:?}"),
        Err(e) => format!("error: {e}"),
    }
}

/// Load through `loader` and check the result against a fresh load; returns files parsed.
fn load_and_compare(loader: &mut StoreLoader, dir: &Path) -> usize {
    let cached = loader.load_dir(dir);
    assert_eq!(render(&cached), render(&Store::load_dir(dir)));
    loader.last_parsed()
}

#[test]
fn reloads_parse_only_changed_files() {
    let dir = TempDir::new("changed");
    dir.write("a.yaml", &NS.replace("NAME", "x").replace('T', "one"));
    dir.write(
        "sub/b.yaml",
        &format!(
            "{}---\n{}",
            POLICY.replace("NAME", "p1"),
            POLICY.replace("NAME", "p2")
        ),
    );
    let mut loader = StoreLoader::new();
    assert_eq!(load_and_compare(&mut loader, &dir.0), 2);
    assert_eq!(load_and_compare(&mut loader, &dir.0), 0);
    // Same size, different text: seen although size and maybe mtime are unchanged.
    dir.write("a.yaml", &NS.replace("NAME", "x").replace('T', "two"));
    assert_eq!(load_and_compare(&mut loader, &dir.0), 1);
    assert!(format!("{:?}", loader.load_dir(&dir.0)).contains("two"));
    // A new file, then a removed one.
    dir.write("c.yml", &POLICY.replace("NAME", "p3"));
    assert_eq!(load_and_compare(&mut loader, &dir.0), 1);
    std::fs::remove_file(dir.0.join("sub/b.yaml")).expect("remove");
    assert_eq!(load_and_compare(&mut loader, &dir.0), 0);
    assert_eq!(loader.load_dir(&dir.0).expect("store").policies.len(), 1);
}

#[test]
fn errors_match_a_fresh_load_and_are_not_cached() {
    let dir = TempDir::new("errors");
    dir.write("a.yaml", &NS.replace("NAME", "x").replace('T', "one"));
    dir.write("b.yaml", &POLICY.replace("NAME", "p1"));
    let mut loader = StoreLoader::new();
    assert_eq!(load_and_compare(&mut loader, &dir.0), 2);
    // A field error, then a syntax error, in the second document of b.yaml.
    let bad_field = format!(
        "{}---\n{}",
        POLICY.replace("NAME", "p1"),
        POLICY.replace("port: 80", "port: 80, bogus: 1")
    );
    dir.write("b.yaml", &bad_field);
    load_and_compare(&mut loader, &dir.0);
    let err = loader.load_dir(&dir.0).expect_err("bogus field");
    assert!(err.to_string().contains("b.yaml: document 2"), "{err}");
    dir.write("b.yaml", "kind: [unclosed\n");
    load_and_compare(&mut loader, &dir.0);
    // A duplicate across files is found although one file comes from the cache.
    dir.write("b.yaml", &NS.replace("NAME", "x").replace('T', "one"));
    load_and_compare(&mut loader, &dir.0);
    assert!(loader.load_dir(&dir.0).is_err());
    // Fixed: loads, and the failing text was never cached.
    dir.write("b.yaml", &POLICY.replace("NAME", "p1"));
    assert_eq!(load_and_compare(&mut loader, &dir.0), 1);
}
