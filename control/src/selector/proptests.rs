//! Property tests: random trees print and re-parse to themselves and evaluate as the §7.3 table
//! says; arbitrary input never panics, and whatever parses has a stable canonical form.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;

use super::*;

/// Operator words and function names, so that "not reserved" is exercised.
const WORDS: &[&str] = &[
    "a",
    "in",
    "not",
    "notin",
    "contains",
    "starts",
    "with",
    "startswith",
    "ends",
    "endswith",
    "all",
    "has",
    "global",
    "0",
    "-",
    "k8s.io/name",
];

fn wide_label() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[a-zA-Z0-9_./-]{1,12}",
        2 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        1 => "[a-z]{500,512}",
    ]
    .boxed()
}

/// Any text, except that one value cannot hold both quote characters.
fn wide_value() -> BoxedStrategy<String> {
    prop_oneof!["[a-c\"' é\n\t{}()!,&|=\\\\]{0,6}", any::<String>(),]
        .prop_map(|v| {
            if v.contains('"') {
                v.replace('\'', "")
            } else {
                v
            }
        })
        .boxed()
}

fn narrow_label() -> BoxedStrategy<String> {
    proptest::sample::select(&["a", "b", "c"][..])
        .prop_map(str::to_owned)
        .boxed()
}

fn narrow_value() -> BoxedStrategy<String> {
    proptest::sample::select(&["", "x", "y", "xy", "yx", "\"", "'"][..])
        .prop_map(str::to_owned)
        .boxed()
}

fn leaf(label: BoxedStrategy<String>, value: BoxedStrategy<String>) -> BoxedStrategy<Expr> {
    let lv = (label.clone(), value.clone());
    let set = (label.clone(), btree_set(value, 0..4));
    prop_oneof![
        1 => Just(Expr::All),
        1 => Just(Expr::Global),
        2 => label.prop_map(Expr::Has),
        2 => lv.clone().prop_map(|(label, value)| Expr::Equals { label, value }),
        2 => lv.clone().prop_map(|(label, value)| Expr::NotEquals { label, value }),
        1 => lv.clone().prop_map(|(label, value)| Expr::Contains { label, value }),
        1 => lv.clone().prop_map(|(label, value)| Expr::StartsWith { label, value }),
        1 => lv.prop_map(|(label, value)| Expr::EndsWith { label, value }),
        2 => set.clone().prop_map(|(label, values)| Expr::In { label, values }),
        2 => set.prop_map(|(label, values)| Expr::NotIn { label, values }),
    ]
    .boxed()
}

/// Trees in the parser's normal form (`And`/`Or` with at least two operands).
fn tree(leaf: BoxedStrategy<Expr>) -> BoxedStrategy<Expr> {
    leaf.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            vec(inner.clone(), 2..5).prop_map(Expr::And),
            vec(inner, 2..5).prop_map(Expr::Or),
        ]
    })
    .boxed()
}

fn label_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(narrow_label(), narrow_value(), 0..4)
}

/// §7.3, written out independently of `Expr::matches`.
fn reference_eval(e: &Expr, labels: &BTreeMap<String, String>) -> bool {
    let get = |l: &String| labels.get(l).map(String::as_str);
    match e {
        Expr::All | Expr::Global => true,
        Expr::Has(l) => labels.contains_key(l),
        Expr::Equals { label, value } => match get(label) {
            Some(v) => v == value,
            None => false,
        },
        Expr::NotEquals { label, value } => match get(label) {
            Some(v) => v != value,
            None => true,
        },
        Expr::In { label, values } => match get(label) {
            Some(v) => values.iter().any(|x| x == v),
            None => false,
        },
        Expr::NotIn { label, values } => match get(label) {
            Some(v) => values.iter().all(|x| x != v),
            None => true,
        },
        Expr::Contains { label, value } => {
            get(label).is_some_and(|v| v.find(value.as_str()).is_some())
        }
        Expr::StartsWith { label, value } => get(label).is_some_and(|v| {
            v.len() >= value.len() && v.as_bytes()[..value.len()] == *value.as_bytes()
        }),
        Expr::EndsWith { label, value } => get(label).is_some_and(|v| {
            v.len() >= value.len() && v.as_bytes()[v.len() - value.len()..] == *value.as_bytes()
        }),
        Expr::Not(x) => !reference_eval(x, labels),
        Expr::And(xs) => xs
            .iter()
            .fold(true, |acc, x| acc & reference_eval(x, labels)),
        Expr::Or(xs) => xs
            .iter()
            .fold(false, |acc, x| acc | reference_eval(x, labels)),
    }
}

/// What must hold for any input: no panic (the caller relies on that), a sane error position, and
/// for accepted input a canonical form that parses back to the same selector.
fn check_any_input(input: &str) -> Result<(), TestCaseError> {
    match Selector::parse(input) {
        Ok(sel) => {
            let canonical = sel.to_string();
            let again = Selector::parse(&canonical);
            prop_assert_eq!(
                again.as_ref().ok(),
                Some(&sel),
                "canonical form {:?} of {:?}",
                canonical,
                input
            );
        }
        Err(e) => {
            prop_assert!(e.position <= input.len());
            prop_assert!(input.is_char_boundary(e.position));
            prop_assert_eq!(&e.input, input);
            prop_assert!(!e.expected.is_empty());
            let _ = e.caret();
        }
    }
    Ok(())
}

/// Fragments that recombine into near-selectors.
const FRAGMENTS: &[&str] = &[
    "a", "b.c/d", " ", "\t", "==", "=", "!", "!=", "&&", "&", "||", "|", "(", ")", "{", "}", ",",
    "\"x\"", "'y'", "\"", "'", "in", "not", "contains", "starts", "with", "ends", "has(", "all(",
    "global(", "\n", "é", "%",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_print_and_parse_back(e in tree(leaf(wide_label(), wide_value()))) {
        let sel = Selector::from_expr(e.clone());
        prop_assert_eq!(sel.expr(), &e);
        prop_assert!(e.is_printable());
        let printed = sel.to_string();
        let reparsed = Selector::parse(&printed);
        prop_assert_eq!(reparsed.as_ref().ok(), Some(&sel), "printed {:?}: {:?}", printed, reparsed);
        prop_assert_eq!(reparsed.map(|s| s.to_string()).ok(), Some(printed));
    }

    #[test]
    fn evaluation_follows_the_table(
        e in tree(leaf(narrow_label(), narrow_value())),
        maps in vec((label_map(), any::<u8>()), 1..6),
    ) {
        let sel = Selector::from_expr(e.clone());
        let reparsed = Selector::parse(&sel.to_string()).map_err(|err| TestCaseError::fail(err.to_string()))?;
        for (map, split) in &maps {
            let want = reference_eval(&e, map);
            prop_assert_eq!(sel.matches(map), want, "{} on {:?}", sel, map);
            prop_assert_eq!(reparsed.matches(map), want);
            let hash: std::collections::HashMap<String, String> = map.clone().into_iter().collect();
            prop_assert_eq!(sel.matches(&hash), want);
            // The same labels as two layers, with the second layer shadowed by the first.
            let (mut front, mut back) = (BTreeMap::new(), BTreeMap::new());
            for (i, (k, v)) in map.iter().enumerate() {
                if split & (1 << (i % 8)) != 0 {
                    front.insert(k.clone(), v.clone());
                    back.insert(k.clone(), format!("shadowed-{v}"));
                } else {
                    back.insert(k.clone(), v.clone());
                }
            }
            let layers = [&front as &dyn Labels, &back];
            prop_assert_eq!(sel.matches(&LabelLayers(&layers)), want);
            prop_assert_eq!(Expr::Not(Box::new(e.clone())).matches(map), !want);
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        check_any_input(&input)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..64)) {
        check_any_input(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn near_selectors_never_panic(parts in vec(proptest::sample::select(FRAGMENTS), 0..16)) {
        check_any_input(&parts.concat())?;
    }

    #[test]
    fn mutated_selectors_never_panic(
        e in tree(leaf(wide_label(), wide_value())),
        at in any::<prop::sample::Index>(),
        insert in proptest::sample::select(FRAGMENTS),
        delete in 0usize..4,
    ) {
        let printed = Selector::from_expr(e).to_string();
        let mut cut = at.index(printed.len() + 1);
        while !printed.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = printed.split_at(cut);
        let tail: String = tail.chars().skip(delete).collect();
        check_any_input(&format!("{head}{insert}{tail}"))?;
        check_any_input(&format!("{head}{tail}"))?;
    }

    #[test]
    fn map_labels_then_print_round_trips(e in tree(leaf(narrow_label(), narrow_value()))) {
        let sel = Selector::from_expr(e);
        let mapped = sel.map_labels(|l| format!("pcns.{l}"));
        prop_assert_eq!(Selector::parse(&mapped.to_string()).ok(), Some(mapped.clone()));
        let names: BTreeSet<&str> = mapped.label_names();
        prop_assert!(names.iter().all(|n| n.starts_with("pcns.")));
        // Prefixed selectors see only prefixed labels.
        let plain = BTreeMap::from([("a".to_string(), "x".to_string())]);
        let prefixed = BTreeMap::from([("pcns.a".to_string(), "x".to_string())]);
        prop_assert_eq!(sel.matches(&plain), mapped.matches(&prefixed));
    }
}
