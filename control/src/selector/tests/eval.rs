//! Evaluation table: which label sets each selector matches, and label layering.

use super::*;

/// (selector, label sets it matches, label sets it does not match)
type EvalCase = (
    &'static str,
    &'static [&'static [(&'static str, &'static str)]],
    &'static [&'static [(&'static str, &'static str)]],
);

const EVAL: &[EvalCase] = &[
    (
        r#"a == "b""#,
        &[&[("a", "b")], &[("a", "b"), ("c", "d")]],
        &[&[], &[("a", "c")], &[("c", "d")], &[("a", "B")]],
    ),
    (
        r#"a == "b" && c == "d""#,
        &[&[("a", "b"), ("c", "d")]],
        &[
            &[],
            &[("a", "b"), ("c", "e")],
            &[("a", "c"), ("c", "d")],
            &[("c", "d")],
            &[("a", "b")],
        ],
    ),
    (
        r#"a == "b" || c == "d""#,
        &[&[("a", "b"), ("c", "d")], &[("a", "b")], &[("c", "d")]],
        &[&[], &[("a", "e"), ("c", "e")], &[("c", "e")], &[("a", "e")]],
    ),
    (
        r#"a in {"'", '"', "c"}"#,
        &[&[("a", "c")], &[("a", "\"")], &[("a", "'")]],
        &[&[], &[("a", "e")]],
    ),
    (
        r#"a not in {"'", '"', "c"}"#,
        &[&[], &[("a", "e")]],
        &[&[("a", "c")], &[("a", "\"")], &[("a", "'")]],
    ),
    (
        "a == 'a'",
        &[&[("a", "a")]],
        &[&[("a", "b")], &[], &[("a", "A")], &[("a", "a ")]],
    ),
    ("a == ''", &[&[("a", "")]], &[&[], &[("a", "x")]]),
    (
        "a != 'b'",
        &[&[("a", "a")], &[], &[("b", "b")], &[("a", "")]],
        &[&[("a", "b")]],
    ),
    ("a != 'a'", &[&[]], &[&[("a", "a")]]),
    (
        "a contains 'a'",
        &[&[("a", "a")], &[("a", "bab")], &[("a", "aaa"), ("b", "c")]],
        &[&[], &[("a", "b")], &[("b", "aaa")], &[("a", "A")]],
    ),
    ("a contains ''", &[&[("a", "")], &[("a", "x")]], &[&[]]),
    (
        "a starts with 'a'",
        &[&[("a", "a")], &[("a", "abb")], &[("a", "aaa"), ("b", "c")]],
        &[&[], &[("a", "b")], &[("a", "baa")], &[("b", "aaa")]],
    ),
    ("a starts with ''", &[&[("a", "")]], &[&[]]),
    (
        "a ends with 'a'",
        &[&[("a", "a")], &[("a", "bba")], &[("a", "aaa"), ("b", "c")]],
        &[&[], &[("a", "b")], &[("a", "aab")], &[("b", "aaa")]],
    ),
    ("a ends with ''", &[&[("a", "x")]], &[&[]]),
    ("a in {'a'}", &[&[("a", "a")]], &[&[("a", "b")], &[]]),
    ("!a in {'a'}", &[&[("a", "b")], &[]], &[&[("a", "a")]]),
    (
        "a in {'a', 'b'}",
        &[&[("a", "a")], &[("a", "b")]],
        &[&[("a", "c")], &[]],
    ),
    ("a in {}", &[], &[&[], &[("a", "")], &[("a", "x")]]),
    ("a not in {}", &[&[], &[("a", "")], &[("a", "x")]], &[]),
    ("a in {''}", &[&[("a", "")]], &[&[], &[("a", "x")]]),
    (
        "a not in {'d', 'e'}",
        &[&[("a", "a")], &[]],
        &[&[("a", "d")], &[("a", "e")]],
    ),
    (
        "has(a)",
        &[&[("a", "b")], &[("a", "")]],
        &[&[], &[("b", "a")], &[("A", "b")]],
    ),
    (
        "!has(a)",
        &[&[("b", "b")], &[]],
        &[&[("a", "b")], &[("a", "")]],
    ),
    ("!!has(b)", &[&[("b", "")]], &[&[("a", "b")]]),
    ("!!!has(a)", &[&[]], &[&[("a", "b")]]),
    ("", &[&[], &[("a", "b")]], &[]),
    (" ", &[&[]], &[]),
    ("all()", &[&[], &[("a", "b")]], &[]),
    ("global()", &[&[], &[("a", "b")]], &[]),
    ("!all()", &[], &[&[], &[("a", "b")]]),
    (
        "a == 'a1' && b == 'b1'",
        &[&[("a", "a1"), ("b", "b1")]],
        &[],
    ),
    (
        "a == 'a1' && b != 'b1'",
        &[&[("a", "a1")]],
        &[&[("a", "a1"), ("b", "b1")]],
    ),
    (
        "a != 'a1' && b == 'b1'",
        &[],
        &[&[("a", "a1"), ("b", "b1")]],
    ),
    (
        "a != 'a1' && b != 'b1'",
        &[&[]],
        &[&[("a", "a1"), ("b", "b1")]],
    ),
    (
        "a != 'a1' && !b == 'b1'",
        &[&[]],
        &[&[("a", "a1"), ("b", "b1")]],
    ),
    (
        "!a == 'a1' && b == 'b1'",
        &[&[("b", "b1")]],
        &[&[("a", "a1"), ("b", "b1")]],
    ),
    (
        "has(a) && !has(b)",
        &[&[("a", "a")]],
        &[&[("a", "a"), ("b", "")]],
    ),
    ("!has(b) && has(a)", &[&[("a", "a")]], &[&[]]),
    (
        "!(!has(a) || has(b))",
        &[&[("a", "a")]],
        &[&[], &[("a", "a"), ("b", "b")]],
    ),
    ("!(has(b) || !has(a))", &[&[("a", "a")]], &[&[("b", "b")]]),
    (
        "a == 'a1' || b == 'b1'",
        &[&[("a", "a1"), ("b", "b1")]],
        &[&[]],
    ),
    (
        "a == 'a1' || b != 'b1'",
        &[&[("a", "a1"), ("b", "b1")], &[]],
        &[&[("b", "b1")]],
    ),
    (
        "a != 'a1' || b == 'b1'",
        &[&[("a", "a1"), ("b", "b1")]],
        &[&[("a", "a1")]],
    ),
    (
        "a != 'a1' || b != 'b1'",
        &[&[("a", "a1")]],
        &[&[("a", "a1"), ("b", "b1")]],
    ),
    (
        "! a == 'a1' || ! b == 'b1'",
        &[&[]],
        &[&[("a", "a1"), ("b", "b1")]],
    ),
    // Precedence: || binds loosest.
    (
        "has(a) || has(b) && has(c)",
        &[&[("a", "")], &[("b", ""), ("c", "")]],
        &[&[("b", "")], &[("c", "")]],
    ),
    (
        "(has(a) || has(b)) && has(c)",
        &[&[("a", ""), ("c", "")]],
        &[&[("a", "")]],
    ),
    (
        "!has(a) && has(b)",
        &[&[("b", "")]],
        &[&[("a", ""), ("b", "")], &[]],
    ),
    (
        "!(has(a) && has(b))",
        &[&[], &[("a", "")]],
        &[&[("a", ""), ("b", "")]],
    ),
    // Label names are exact too.
    (
        "app.kubernetes.io/name == 'web'",
        &[&[("app.kubernetes.io/name", "web")]],
        &[&[("app.kubernetes.io/Name", "web")]],
    ),
    (
        "contains contains 'x'",
        &[&[("contains", "axb")]],
        &[&[("a", "x")]],
    ),
    ("not in {'x'}", &[&[("not", "x")]], &[&[], &[("not", "y")]]),
];

#[test]
fn evaluation_table() {
    let mut failures = Vec::new();
    for &(sel, yes, no) in EVAL {
        let parsed = parse_ok(sel);
        let reparsed = parse_ok(&parsed.to_string());
        for (set, want) in yes
            .iter()
            .map(|s| (s, true))
            .chain(no.iter().map(|s| (s, false)))
        {
            let map = labels(set);
            let hash: HashMap<String, String> = map.clone().into_iter().collect();
            let got = [
                parsed.matches(&map),
                parsed.matches(&hash),
                parsed.matches(*set),
                reparsed.matches(&map),
                parsed.expr().matches(&map),
            ];
            if got.iter().any(|&g| g != want) {
                failures.push(format!("{sel:?} on {set:?}: got {got:?}, expected {want}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn label_layers_first_layer_wins() {
    let pod = labels(&[("app", "web"), ("projectcalico.org/namespace", "ns1")]);
    let ns = labels(&[("pcns.team", "a"), ("app", "shadowed")]);
    let sa: HashMap<String, String> = [("pcsa.role".to_string(), "".to_string())].into();
    let layers = [&pod as &dyn Labels, &ns, &sa];
    let view = LabelLayers(&layers);
    assert!(parse_ok("app == 'web' && pcns.team == 'a' && has(pcsa.role)").matches(&view));
    assert!(!parse_ok("app == 'shadowed'").matches(&view));
    assert!(parse_ok("app != 'shadowed'").matches(&view));
    assert!(!parse_ok("has(nothing)").matches(&view));
    assert!(parse_ok("all()").matches(&LabelLayers(&[])));
    assert!(!parse_ok("has(a)").matches(&NoLabels));
    assert!(parse_ok("a not in {'x'}").matches(&NoLabels));
}
