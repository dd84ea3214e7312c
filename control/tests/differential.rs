//! Differential tests: the compiled matcher agrees with the reference evaluator on random
//! stores and random flows — verdict, reason, deciding tier/policy/rule, Log rules and staged
//! verdict. The CI run covers thousands of stores; `--ignored` runs at least a million flows.

#![allow(clippy::unwrap_used)]

mod storegen;

use palisade_control::compile::compile_with;
use palisade_control::eval::reference::Failsafes;
use palisade_control::eval::{CompiledEngine, Engine, ReferenceEvaluator};
use palisade_control::flows::parse_flows;
use palisade_control::store::Store;
use palisade_dataplane::policy::{Decision, SplitPolicy, classify, classify_batch};

/// Check one seed: returns (whether the store was valid, flows compared).
fn check_seed(seed: u64, flows_per_store: usize) -> (bool, usize) {
    let split = SplitPolicy::default();
    check_store(seed, &storegen::store_yaml(seed), flows_per_store, split).0
}

/// Check one generated store; also returns how many candidate lists the compiler split by
/// peer address.
fn check_store(
    seed: u64,
    yaml: &str,
    flows_per_store: usize,
    split: SplitPolicy,
) -> ((bool, usize), usize) {
    let store = match Store::from_text("gen.yaml", yaml) {
        Ok(s) => s,
        Err(_) => return ((false, 0), 0),
    };
    let compiled = compile_with(&store, 1, &Failsafes::default(), split);
    let reference = ReferenceEvaluator::new(&store);
    let engine = CompiledEngine::new(&compiled);
    let mut rng = storegen::Rng::new(seed ^ 0x5555);
    let text: String = (0..flows_per_store)
        .map(|_| storegen::flow_json(&mut rng) + "\n")
        .collect();
    let flows = parse_flows("gen", &text).expect("generated flows are valid");
    // The batch path decides exactly as the single-flow path.
    let keys: Vec<_> = flows.iter().map(|f| f.key).collect();
    let mut batch = vec![Decision::default(); keys.len()];
    classify_batch(&compiled.snapshot, &keys, &mut batch);
    for (key, got) in keys.iter().zip(&batch) {
        assert_eq!(
            *got,
            classify(&compiled.snapshot, key),
            "seed {seed}: batch differs"
        );
    }
    for f in &flows {
        let want = reference.decide(&f.key);
        let got = engine.decide(&f.key);
        assert_eq!(got, want, "seed {seed}: flow {:?}\nstore:\n{yaml}", f.key);
    }
    ((true, flows.len()), compiled.snapshot.programs.splits())
}

#[test]
fn compiled_agrees_with_reference_on_random_stores() {
    let (mut valid, mut flows) = (0, 0);
    for seed in 0..2500u64 {
        let (ok, n) = check_seed(seed, 40);
        valid += usize::from(ok);
        flows += n;
    }
    // The generator must mostly produce valid stores, or this test tests little.
    assert!(
        valid > 2000,
        "only {valid} of 2500 generated stores were valid"
    );
    eprintln!("differential: {valid} stores, {flows} flows agreed");
}

/// Stores with many policies, compiled with every candidate list split by peer address that
/// can be: the split lists must decide exactly as the whole ones.
#[test]
fn compiled_agrees_with_reference_when_every_list_is_split() {
    let (mut valid, mut flows, mut splits) = (0, 0, 0);
    for seed in 0..400u64 {
        let yaml = storegen::store_yaml_with(seed, if seed.is_multiple_of(2) { 6 } else { 40 });
        let ((ok, n), s) = check_store(seed, &yaml, 60, SplitPolicy::ALWAYS);
        valid += usize::from(ok);
        flows += n;
        splits += s;
    }
    assert!(valid > 300, "only {valid} of 400 stores were valid");
    // Lists with no peer-bounded rule cannot split; enough must, or this tests nothing.
    assert!(
        splits > 50,
        "only {splits} split candidate lists in {valid} stores"
    );
    eprintln!("differential (split): {valid} stores, {flows} flows agreed, {splits} splits");
}

#[test]
#[ignore = "long run: cargo test --release -p palisade-control --test differential -- --ignored"]
fn compiled_agrees_with_reference_on_a_million_flows() {
    let (mut valid, mut flows, mut splits) = (0usize, 0usize, 0usize);
    let mut seed = 1_000_000u64;
    while flows < 1_000_000 {
        // Every fourth store is large and compiled with every list split by peer address.
        let ((ok, n), s) = if seed.is_multiple_of(4) {
            let yaml = storegen::store_yaml_with(seed, 40);
            check_store(seed, &yaml, 200, SplitPolicy::ALWAYS)
        } else {
            (check_seed(seed, 200), 0)
        };
        valid += usize::from(ok);
        flows += n;
        splits += s;
        seed += 1;
    }
    eprintln!("differential (long): {valid} stores, {flows} flows agreed, {splits} splits");
}

#[test]
fn generated_stores_are_mostly_valid() {
    let mut errors = std::collections::BTreeMap::new();
    for seed in 0..300u64 {
        if let Err(e) = Store::from_text("gen.yaml", &storegen::store_yaml(seed)) {
            let msg = e.to_string();
            let key = msg.split(": ").nth(2).unwrap_or("?").to_string();
            *errors.entry(key).or_insert(0) += 1;
        }
    }
    let total: usize = errors.values().sum();
    assert!(total < 60, "too many invalid generated stores: {errors:?}");
}
