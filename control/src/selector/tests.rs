//! Table tests: valid selectors and their canonical forms, invalid selectors and where they fail,
//! evaluation, tokenizer decisions, and the rewriting API.
//!
//! The cases re-express upstream's `parser_test.go` / `tokenizer_test.go` tables plus the lexical
//! edge cases of SEMANTICS.md §7.4.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::parse::tokenize_kinds;
use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse_ok(input: &str) -> Selector {
    match Selector::parse(input) {
        Ok(s) => s,
        Err(e) => panic!("{input:?} should parse: {e}\n{}", e.caret()),
    }
}

/// (input, canonical form)
const VALID: &[(&str, &str)] = &[
    // Empty and trivial selectors.
    ("", "all()"),
    (" ", "all()"),
    ("\t \t", "all()"),
    ("all()", "all()"),
    (" all() ", "all()"),
    (" (all() )", "all()"),
    ("all( )", "all()"),
    ("all(\t)", "all()"),
    ("global()", "global()"),
    ("global( )", "global()"),
    (" global()", "global()"),
    ("((((all()))))", "all()"),
    // Upstream canonicalisation table.
    ("! (has( b)||! has(a ))", "!(has(b) || !has(a))"),
    (r#"! (a == "b"&&! c != "d")"#, r#"!(a == "b" && !c != "d")"#),
    (r#"a == "'""#, r#"a == "'""#),
    (r#"a == '"'"#, r#"a == '"'"#),
    (r#"a contains '"'"#, r#"a contains '"'"#),
    (r#"a contains "'""#, r#"a contains "'""#),
    (r#"a startswith '"'"#, r#"a starts with '"'"#),
    (r#"a endswith "'""#, r#"a ends with "'""#),
    (r#"a!='"'"#, r#"a != '"'"#),
    (r#"a in {"d"}"#, r#"a in {"d"}"#),
    (r#"a in {"a", "b"}"#, r#"a in {"a", "b"}"#),
    (r#"a in {"d", "a", "b"}"#, r#"a in {"a", "b", "d"}"#),
    (
        r#"a in {"z", "x", "y", "a"}"#,
        r#"a in {"a", "x", "y", "z"}"#,
    ),
    (
        r#"a in {"z", "z", "x", "y", "x", "a"}"#,
        r#"a in {"a", "x", "y", "z"}"#,
    ),
    // Quotes: single-quoted input prints double-quoted unless the value holds a ".
    ("a == 'b'", r#"a == "b""#),
    (r#"a in {"'", '"', "c"}"#, r#"a in {'"', "'", "c"}"#),
    (r#"a not in {"'", '"', "c"}"#, r#"a not in {'"', "'", "c"}"#),
    ("a == ''", r#"a == """#),
    // Strings have no escapes and run to the next matching quote; anything may be inside,
    // including a newline and non-ASCII text.
    (r#"a == "x\""#, r#"a == "x\""#),
    ("a == \"line\nbreak\"", "a == \"line\nbreak\""),
    ("a == 'é ü {} () && || !'", r#"a == "é ü {} () && || !""#),
    // Operators, with and without spaces.
    (r#"a=="b""#, r#"a == "b""#),
    (r#"a!="b""#, r#"a != "b""#),
    (r#"a	==	"b""#, r#"a == "b""#),
    (r#"label contains"value""#, r#"label contains "value""#),
    (r#"label startswith "v""#, r#"label starts with "v""#),
    (r#"label starts with "v""#, r#"label starts with "v""#),
    (r#"label starts  	with "v""#, r#"label starts with "v""#),
    (r#"label endswith "v""#, r#"label ends with "v""#),
    (r#"label ends   with"v""#, r#"label ends with "v""#),
    (r#"a notin {"x"}"#, r#"a not in {"x"}"#),
    (r#"a not in{"x"}"#, r#"a not in {"x"}"#),
    (r#"a not 	  in {"x"}"#, r#"a not in {"x"}"#),
    (r#"a notin{}"#, r#"a not in {}"#),
    (r#"a in{"x"}"#, r#"a in {"x"}"#),
    // Sets: empty, trailing comma, duplicates.
    ("a in {}", "a in {}"),
    ("a in { }", "a in {}"),
    ("a not in {}", "a not in {}"),
    (r#"a in {"a",}"#, r#"a in {"a"}"#),
    (r#"a in {"b","a" , }"#, r#"a in {"a", "b"}"#),
    (r#"a in {"", ""}"#, r#"a in {""}"#),
    // Operator words are not reserved.
    (
        r#"contains contains "contains""#,
        r#"contains contains "contains""#,
    ),
    ("contains contains 'x'", r#"contains contains "x""#),
    (r#"in in {"a"}"#, r#"in in {"a"}"#),
    (r#"not in {"x"}"#, r#"not in {"x"}"#),
    (r#"not not in {"x"}"#, r#"not not in {"x"}"#),
    (r#"notin notin {"x"}"#, r#"notin not in {"x"}"#),
    ("all == 'x'", r#"all == "x""#),
    ("has == 'x'", r#"has == "x""#),
    ("global != 'x'", r#"global != "x""#),
    (
        r#"startswith starts with "value""#,
        r#"startswith starts with "value""#,
    ),
    (
        r#"endswith ends with "value""#,
        r#"endswith ends with "value""#,
    ),
    (r#"starts starts with "s""#, r#"starts starts with "s""#),
    (r#"with == "w""#, r#"with == "w""#),
    ("has(has)", "has(has)"),
    ("has(all)", "has(all)"),
    ("has( in )", "has(in)"),
    // Label characters and Kubernetes keys.
    ("has(calico/k8s_ns)", "has(calico/k8s_ns)"),
    ("has(calico/k8s_NS-.1/role)", "has(calico/k8s_NS-.1/role)"),
    (
        r#"calico/k8s_ns == "kube-system" && k8s-app == "kube-dns""#,
        r#"(calico/k8s_ns == "kube-system" && k8s-app == "kube-dns")"#,
    ),
    (
        r#"kubernetes.io/metadata.name == "default""#,
        r#"kubernetes.io/metadata.name == "default""#,
    ),
    (
        "app.kubernetes.io/name in {'web'}",
        r#"app.kubernetes.io/name in {"web"}"#,
    ),
    (r#"0abc == "x""#, r#"0abc == "x""#),
    (r#"123 == "x""#, r#"123 == "x""#),
    (r#"-a == "x""#, r#"-a == "x""#),
    (r#"/._- == "x""#, r#"/._- == "x""#),
    (
        "pcns.projectcalico.org/name == 'ns1'",
        r#"pcns.projectcalico.org/name == "ns1""#,
    ),
    // Negation: an even number of ! cancels out.
    ("!has(a)", "!has(a)"),
    ("! has(a)", "!has(a)"),
    ("!!has(a)", "has(a)"),
    ("!!!has(a)", "!has(a)"),
    ("!! ! has(a)", "!has(a)"),
    ("! !!has(a)", "!has(a)"),
    ("!!!!has(a)", "has(a)"),
    ("!all()", "!all()"),
    ("!(a == 'x')", r#"!a == "x""#),
    ("!(!a == 'x')", r#"!(!a == "x")"#),
    ("!(!(!a == 'x'))", r#"!(!(!a == "x"))"#),
    ("!(!(a == 'x'))", r#"!(!a == "x")"#),
    // Precedence: match operators, parentheses, !, &&, ||.
    ("!a == 'x' && b == 'y'", r#"(!a == "x" && b == "y")"#),
    (
        "a == 'x' || b == 'y' && c == 'z'",
        r#"(a == "x" || (b == "y" && c == "z"))"#,
    ),
    (
        "a == 'x' && b == 'y' || c == 'z'",
        r#"((a == "x" && b == "y") || c == "z")"#,
    ),
    (
        "(a == 'x' || b == 'y') && c == 'z'",
        r#"((a == "x" || b == "y") && c == "z")"#,
    ),
    (
        "a == 'x' && b == 'y' && c == 'z'",
        r#"(a == "x" && b == "y" && c == "z")"#,
    ),
    (
        "a == 'x' && (b == 'y' && c == 'z')",
        r#"(a == "x" && (b == "y" && c == "z"))"#,
    ),
    (
        "(a == 'x' && b == 'y') && c == 'z'",
        r#"((a == "x" && b == "y") && c == "z")"#,
    ),
    ("has(a)&&has(b)||has(c)", "((has(a) && has(b)) || has(c))"),
    ("!(has(a) || has(b))", "!(has(a) || has(b))"),
    ("!has(a) || !has(b)", "(!has(a) || !has(b))"),
    ("all() && global()", "(all() && global())"),
    ("has(a) && !global()", "(has(a) && !global())"),
    (
        "!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))",
        r#"!(!((k == "v" && has(t)) || all()) && a in {"b", "c"})"#,
    ),
];

/// (input, byte position of the error)
const INVALID: &[(&str, usize)] = &[
    // Upstream's bad-selector table.
    ("b == b", 5),
    ("b contains b", 11),
    // Upstream skips the spaces after `starts with` / `ends with` / `not in` before checking for a
    // word boundary, so a label there makes the operator itself unrecognised.
    ("b starts with b", 2),
    ("b ends with b", 2),
    ("b not in b", 2),
    ("b starts with", 13),
    ("'b1' == b", 0),
    ("b", 1),
    ("a b", 2),
    ("!", 1),
    (r#"foo == "bar" &"#, 13),
    (r#"foo == "bar" |"#, 13),
    ("foo != ||", 7),
    (r#"foo in {"", ||"#, 12),
    (r#"foo in """#, 7),
    (r#""FOO"#, 0),
    (r#""FOO'"#, 0),
    ("'FOO", 0),
    ("(", 1),
    (r#"(a == "foo""#, 11),
    (")", 0),
    ("()", 1),
    ("%", 0),
    (r#"a == "b" && %"#, 12),
    (r#"a == "b" || %"#, 12),
    ("a ", 2),
    ("has(foo) &&", 11),
    // Upstream's tokenizer failures.
    (r#"label == "value"#, 9),
    ("label == 'value", 9),
    (r#"label = "value""#, 6),
    ("all(", 4),
    ("global(", 7),
    ("has()", 4),
    ("has(foo", 7),
    ("has( foo ", 9),
    (r#"a == "b" & has(foo)"#, 9),
    (r#"a == "b" | has(foo)"#, 9),
    (r#"label starts foo "value""#, 6),
    (r#"label inf "value""#, 6),
    (r#"label ends foo "value""#, 6),
    (r#"label ends withs "value""#, 6),
    (r#"label squiggles "value""#, 6),
    (r#"a not in "bar""#, 9),
    (r#"b in c"#, 5),
    // Single = & |.
    ("a = 'x'", 2),
    ("a == 'x' & b == 'y'", 9),
    ("a == 'x' | b == 'y'", 9),
    ("a === 'x'", 4),
    ("a !== 'x'", 4),
    ("a ! = 'x'", 2),
    ("!= 'x'", 0),
    ("a == 'x' && != 'y'", 12),
    // No space allowed before the ( of has/all/global.
    ("has (a)", 4),
    ("all ()", 4),
    ("global ()", 7),
    ("has(a b)", 6),
    ("has('a')", 4),
    ("has(a)b", 6),
    ("all(a)", 4),
    // Word operators must end on a word boundary.
    ("a containsx 'y'", 2),
    ("a in_ {'x'}", 2),
    ("a in-x", 2),
    ("a in.{'x'}", 2),
    ("a notinx {'x'}", 2),
    ("a startswithx 'y'", 2),
    ("a starts", 2),
    ("a ends", 2),
    ("a not", 2),
    ("a contain 'x'", 2),
    ("a IN {'x'}", 2),
    ("a Contains 'x'", 2),
    ("a == x", 5),
    // Missing operands.
    ("a contains", 10),
    ("a starts with", 13),
    ("a startswith", 12),
    ("a notin", 7),
    ("a in", 4),
    ("a ==", 4),
    ("a == 'x' &&", 11),
    ("a == 'x' && ", 12),
    ("a == 'x' ||", 11),
    ("a == 'x' && !", 13),
    ("&& a == 'x'", 0),
    ("|| a == 'x'", 0),
    // Sets.
    ("a in {,}", 6),
    (r#"a in {"a" "b"}"#, 10),
    (r#"a in {"a",,}"#, 10),
    (r#"a in {"a""#, 9),
    (r#"a in {"a"}}"#, 10),
    ("a in 'x'", 5),
    ("a in ('x')", 5),
    ("a in {a}", 6),
    ("a in {'a', b}", 11),
    ("a == {'a'}", 5),
    ("a contains {'a'}", 11),
    // Trailing or misplaced content.
    ("a == 'x' b == 'y'", 9),
    ("a == 'x')", 8),
    ("((a == 'x')", 11),
    ("(a == 'x'))", 10),
    ("a == 'x' ()", 9),
    ("has(a) has(b)", 7),
    ("all() all()", 6),
    ("a == 'x' 'y'", 9),
    ("'x' == a", 0),
    ("a", 1),
    ("has", 3),
    ("{}", 0),
    (",", 0),
    ("!!", 2),
    ("!()", 2),
    // Only space and TAB are whitespace.
    ("\n", 0),
    ("a == 'x'\n", 8),
    ("a ==\n'x'", 4),
    ("a == 'x' &&\nb == 'y'", 11),
    ("\ra == 'x'", 0),
    ("a\u{a0}== 'x'", 1),
    ("\u{feff}a == 'x'", 0),
    ("é == 'x'", 0),
    ("a == 'x' && é == 'y'", 12),
    ("a\0 == 'x'", 1),
];

#[test]
fn valid_selectors_and_canonical_forms() {
    let mut failures = Vec::new();
    for &(input, canonical) in VALID {
        match Selector::parse(input) {
            Ok(sel) => {
                if sel.to_string() != canonical {
                    failures.push(format!("{input:?}: printed {sel} expected {canonical}"));
                }
            }
            Err(e) => failures.push(format!("{input:?}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn canonical_forms_round_trip() {
    for &(input, canonical) in VALID {
        let sel = parse_ok(input);
        let again = parse_ok(canonical);
        assert_eq!(sel, again, "{input:?} vs its canonical form {canonical:?}");
        assert_eq!(
            again.to_string(),
            canonical,
            "canonical form of {canonical:?} is not stable"
        );
    }
}

#[test]
fn invalid_selectors_fail_at_the_expected_position() {
    let mut failures = Vec::new();
    for &(input, position) in INVALID {
        match Selector::parse(input) {
            Ok(sel) => failures.push(format!("{input:?} parsed as {sel}")),
            Err(e) => {
                if e.position != position || e.input != input {
                    failures.push(format!(
                        "{input:?}: got position {}, expected {position}: {e}",
                        e.position
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_messages() {
    let e = Selector::parse("a = 'x'").unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"invalid selector "a = 'x'" at position 2: expected ==, !=, in, not in, contains, starts with, ends with"#
    );
    assert_eq!(e.caret(), "a = 'x'\n  ^");
    let expected = |input: &str| Selector::parse(input).unwrap_err().expected;
    assert_eq!(expected("a == 'x' %"), "&&, || or end of selector");
    assert_eq!(expected("(a == 'x' %"), "&&, || or )");
    assert_eq!(
        expected("%"),
        "a label, has(label), all(), global(), ! or ("
    );
    assert_eq!(expected("a == "), "a quoted string");
    assert_eq!(expected("a in 'x'"), "{");
    assert_eq!(expected("a in {'x' 'y'}"), ", or }");
    assert_eq!(expected("a in {,}"), "a quoted string or }");
    assert_eq!(expected("has()"), "a label");
    assert_eq!(expected("has(a"), ")");
    assert_eq!(
        expected("a == 'x"),
        "a closing ' for the string starting here"
    );
    assert_eq!(expected("a & b"), EXPECT_OPERATOR_TEXT);
    assert_eq!(expected("a == 'x' & b"), "&&");
    assert_eq!(
        expected(&"a".repeat(513)),
        "a label of at most 512 characters"
    );
    // Non-ASCII input: the position is a byte offset, the caret is placed by characters.
    let e = Selector::parse("a == 'é' && ü").unwrap_err();
    assert_eq!(e.position, "a == 'é' && ".len());
    assert_eq!(e.caret(), "a == 'é' && ü\n            ^");
}

const EXPECT_OPERATOR_TEXT: &str = "==, !=, in, not in, contains, starts with, ends with";

#[test]
fn label_length_limit() {
    let l512 = "a".repeat(512);
    let l513 = "a".repeat(513);
    let sel = parse_ok(&format!("{l512} == 'v'"));
    assert_eq!(sel.to_string(), format!(r#"{l512} == "v""#));
    parse_ok(&format!("has({l512})"));
    parse_ok(&format!("{l512} in {{}}"));
    for input in [
        format!("{l513} == 'v'"),
        format!("has({l513})"),
        format!("has( {l513} )"),
    ] {
        let e = Selector::parse(&input).unwrap_err();
        assert_eq!(e.expected, "a label of at most 512 characters", "{input}");
    }
    assert_eq!(
        Selector::parse(&format!("{l513} == 'v'"))
            .unwrap_err()
            .position,
        0
    );
    assert_eq!(
        Selector::parse(&format!("has( {l513})"))
            .unwrap_err()
            .position,
        5
    );
    assert!(is_valid_label(&l512));
    assert!(!is_valid_label(&l513));
    assert!(!is_valid_label(""));
    assert!(is_valid_label("kubernetes.io/metadata.name"));
    assert!(!is_valid_label("a b"));
}

#[test]
fn nesting_limit() {
    let nested = |n: usize| format!("{}has(a){}", "(".repeat(n), ")".repeat(n));
    parse_ok(&nested(MAX_NESTING_DEPTH));
    let e = Selector::parse(&nested(MAX_NESTING_DEPTH + 1)).unwrap_err();
    assert_eq!(e.position, MAX_NESTING_DEPTH);
    assert_eq!(e.expected, "at most 256 levels of nesting");
    // Huge inputs fail cleanly rather than overflowing the stack.
    assert!(Selector::parse(&nested(100_000)).is_err());
    assert!(Selector::parse(&"(".repeat(100_000)).is_err());
    assert!(Selector::parse(&"!(".repeat(100_000)).is_err());

    // Tree depth is limited too, so the canonical form of anything accepted parses again.
    let not_chain = |n: usize| format!("{}has(a){}", "!(".repeat(n), ")".repeat(n));
    let sel = parse_ok(&not_chain(MAX_NESTING_DEPTH));
    assert_eq!(parse_ok(&sel.to_string()), sel);
    assert!(Selector::parse(&not_chain(MAX_NESTING_DEPTH + 1)).is_err());
    // Each level here adds three tree nodes (! over || over &&) for one parenthesis.
    let mut s = "has(x)".to_string();
    for _ in 0..100 {
        s = format!("!(has(a) || has(b) && {s})");
    }
    let e = Selector::parse(&s).unwrap_err();
    assert_eq!(e.expected, "at most 256 levels of nesting");
    let mut s = "has(x)".to_string();
    for _ in 0..80 {
        s = format!("!(has(a) || has(b) && {s})");
    }
    let sel = parse_ok(&s);
    assert_eq!(parse_ok(&sel.to_string()), sel);

    // Long flat inputs are fine: && / || chains and ! runs are not recursive.
    let chain = vec!["has(a)"; 50_000].join(" && ");
    assert!(parse_ok(&chain).matches(&labels(&[("a", "")])));
    let bangs = format!("{}has(a)", "!".repeat(100_001));
    assert_eq!(parse_ok(&bangs).to_string(), "!has(a)");
}

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

#[test]
fn tokenizer_decisions() {
    let toks = |s: &str| tokenize_kinds(s).unwrap_or_else(|p| panic!("{s:?} failed at {p}"));
    assert_eq!(toks(r#"a=="b""#), ["Label(\"a\")", "Eq", "Str(\"b\")"]);
    assert_eq!(
        toks(r#"contains contains "contains""#),
        ["Label(\"contains\")", "Contains", "Str(\"contains\")"]
    );
    assert_eq!(
        toks(r#"startswith starts with "v""#),
        ["Label(\"startswith\")", "StartsWith", "Str(\"v\")"]
    );
    // The tokenizer alone accepts `not in "bar"` and `in c`; the parser rejects them.
    assert_eq!(
        toks(r#"a  not  in  "bar"  &&  ! has( foo )  ||  b  in  c "#),
        [
            "Label(\"a\")",
            "NotIn",
            "Str(\"bar\")",
            "And",
            "Not",
            "Has(\"foo\")",
            "Or",
            "Label(\"b\")",
            "In",
            "Label(\"c\")"
        ]
    );
    assert_eq!(
        toks(r#"a notin"bar"&&!has(foo)||b in"c""#),
        [
            "Label(\"a\")",
            "NotIn",
            "Str(\"bar\")",
            "And",
            "Not",
            "Has(\"foo\")",
            "Or",
            "Label(\"b\")",
            "In",
            "Str(\"c\")"
        ]
    );
    // `!=` is one token wherever it appears; a lone `!` is negation.
    assert_eq!(toks("!=!"), ["Ne", "Not"]);
    assert_eq!(
        toks("not in {}"),
        ["Label(\"not\")", "In", "LBrace", "RBrace"]
    );
    assert_eq!(toks("all( ) global(\t)"), ["All", "Global"]);
    for bad in [
        r#"label ends withs "value""#,
        "label inf 'v'",
        "all(",
        "has()",
        "a\n",
    ] {
        assert!(tokenize_kinds(bad).is_err(), "{bad:?} should not tokenize");
    }
}

#[test]
fn api_basics() {
    assert!(Selector::all().is_all());
    assert!(parse_ok("").is_all());
    assert!(parse_ok(" ( all( ) ) ").is_all());
    assert!(parse_ok("!!all()").is_all());
    assert!(!parse_ok("!all()").is_all());
    assert!(!parse_ok("all() && all()").is_all());
    assert_eq!(Selector::default(), Selector::all());
    assert_eq!(Selector::all().to_string(), "all()");

    assert!(parse_ok("global()").is_exactly_global());
    assert!(parse_ok("global()").contains_global());
    assert!(!parse_ok("!global()").is_exactly_global());
    assert!(parse_ok("has(a) && !(has(b) || global())").contains_global());
    assert!(!parse_ok("global == 'x'").contains_global());
    assert!(!Selector::all().contains_global());

    let s: Selector = "a == 'x'".parse().unwrap();
    assert_eq!(Selector::try_from("a == \"x\"").unwrap(), s);
    assert_eq!(
        s.expr(),
        &Expr::Equals {
            label: "a".into(),
            value: "x".into()
        }
    );
    assert_eq!(s.clone().into_expr(), *s.expr());

    assert_eq!(
        parse_ok("b == 'x' && has(a) || c in {} && has(a)")
            .label_names()
            .into_iter()
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
}

#[test]
fn and_combinator() {
    let a = parse_ok("a == 'x'");
    let b = parse_ok("has(b)");
    assert_eq!(Selector::and(Selector::all(), b.clone()), b);
    assert_eq!(Selector::and(a.clone(), Selector::all()), a);
    assert!(Selector::and(Selector::all(), Selector::all()).is_all());
    let ab = Selector::and(a.clone(), b.clone());
    assert_eq!(ab.to_string(), r#"(a == "x" && has(b))"#);
    assert_eq!(ab, parse_ok(&format!("({a}) && {b}")));
    // Not flattened: matches what upstream's "(<sel>) && <extra>" parses to.
    let abc = Selector::and(ab.clone(), parse_ok("has(c)"));
    assert_eq!(abc.to_string(), r#"((a == "x" && has(b)) && has(c))"#);
    assert_eq!(abc, parse_ok(&format!("({ab}) && has(c)")));
    assert_eq!(parse_ok(&abc.to_string()), abc);
    // all() nested deeper is not removed.
    let nested = Selector::and(parse_ok("all() || has(z)"), b);
    assert_eq!(nested.to_string(), "((all() || has(z)) && has(b))");
}

#[test]
fn map_labels_prefixes_every_label() {
    // Upstream's PrefixVisitor table.
    let cases = [
        ("k == 'v'", r#"visited/k == "v""#),
        ("k != 'v'", r#"visited/k != "v""#),
        ("k contains 'v'", r#"visited/k contains "v""#),
        ("k starts with 'v'", r#"visited/k starts with "v""#),
        ("k ends with 'v'", r#"visited/k ends with "v""#),
        (
            "k == 'v' && x == 'y'",
            r#"(visited/k == "v" && visited/x == "y")"#,
        ),
        (
            "k == 'v' || has(x)",
            r#"(visited/k == "v" || has(visited/x))"#,
        ),
        ("!(k == 'v')", r#"!visited/k == "v""#),
        ("k in {'v'}", r#"visited/k in {"v"}"#),
        ("k not in {'v'}", r#"visited/k not in {"v"}"#),
        (
            "!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))",
            r#"!(!((visited/k == "v" && has(visited/t)) || all()) && visited/a in {"b", "c"})"#,
        ),
        ("all()", "all()"),
        ("global() || has(g)", "(global() || has(visited/g))"),
    ];
    for (input, want) in cases {
        let mapped = parse_ok(input).map_labels(|l| format!("visited/{l}"));
        assert_eq!(mapped.to_string(), want, "{input}");
        assert_eq!(parse_ok(want), mapped);
    }
    let ns = parse_ok("team in {'a'} && !has(restricted)").map_labels(|l| format!("pcns.{l}"));
    assert_eq!(
        ns.to_string(),
        r#"(pcns.team in {"a"} && !has(pcns.restricted))"#
    );
    assert!(ns.matches(&labels(&[("pcns.team", "a")])));
    assert!(!ns.matches(&labels(&[("team", "a")])));
}

#[test]
fn replace_all_and_global() {
    let has_ns = Expr::Has("projectcalico.org/namespace".into());
    let s = parse_ok("all() && (has(a) || !all())");
    assert_eq!(
        s.replace_all(&has_ns).to_string(),
        "(has(projectcalico.org/namespace) && (has(a) || !has(projectcalico.org/namespace)))"
    );
    assert_eq!(
        parse_ok("").replace_all(&has_ns).to_string(),
        "has(projectcalico.org/namespace)"
    );
    // Values and label names that merely spell all() are untouched.
    assert_eq!(
        parse_ok("a == 'all()'").replace_all(&has_ns),
        parse_ok("a == 'all()'")
    );
    assert_eq!(
        parse_ok("all == 'x'").replace_all(&has_ns),
        parse_ok("all == 'x'")
    );

    let not_ns = Expr::Not(Box::new(has_ns.clone()));
    let g = parse_ok("global()");
    let replaced = g.replace_global(&not_ns);
    assert_eq!(replaced.to_string(), "!has(projectcalico.org/namespace)");
    assert!(!replaced.contains_global());
    // A replacement under a ! keeps the tree exact (and printable).
    let r = parse_ok("!global() && has(x)").replace_global(&not_ns);
    assert_eq!(
        r.to_string(),
        "(!(!has(projectcalico.org/namespace)) && has(x))"
    );
    assert_eq!(parse_ok(&r.to_string()), r);
    // The replacement is normalised like from_expr.
    let r = parse_ok("global()").replace_global(&Expr::And(vec![Expr::Has("q".into())]));
    assert_eq!(r.to_string(), "has(q)");
    // replace_global leaves all() alone and vice versa.
    assert_eq!(parse_ok("all()").replace_global(&has_ns), Selector::all());
    assert_eq!(
        parse_ok("global()").replace_all(&has_ns),
        parse_ok("global()")
    );
}

#[test]
fn from_expr_normalises() {
    let h = |l: &str| Expr::Has(l.into());
    assert!(Selector::from_expr(Expr::And(vec![])).is_all());
    assert_eq!(
        Selector::from_expr(Expr::And(vec![h("a")])),
        parse_ok("has(a)")
    );
    assert_eq!(
        Selector::from_expr(Expr::Or(vec![h("a")])),
        parse_ok("has(a)")
    );
    assert_eq!(Selector::from_expr(Expr::Or(vec![])), parse_ok("!all()"));
    assert_eq!(
        Selector::from_expr(Expr::Not(Box::new(Expr::And(vec![
            Expr::Or(vec![h("a")]),
            h("b")
        ])))),
        parse_ok("!(has(a) && has(b))")
    );
    // Degenerate shapes still print as something equivalent.
    assert_eq!(Expr::And(vec![]).to_string(), "all()");
    assert_eq!(Expr::Or(vec![]).to_string(), "!all()");
    assert_eq!(Expr::And(vec![h("a")]).to_string(), "(has(a))");
    assert!(Expr::And(vec![]).matches(&NoLabels));
    assert!(!Expr::Or(vec![]).matches(&NoLabels));

    assert!(parse_ok("a in {'\"', \"'\"}").expr().is_printable());
    let unprintable = Expr::Equals {
        label: "a".into(),
        value: "both ' and \"".into(),
    };
    assert!(!unprintable.is_printable());
    assert!(!Expr::Has("bad label".into()).is_printable());
    assert!(!Expr::Has("a".repeat(513)).is_printable());
}

#[test]
fn serde_as_string() {
    let s: Selector = serde_json::from_str(r#""a in {'y', 'x'}""#).unwrap();
    assert_eq!(
        serde_json::to_string(&s).unwrap(),
        r#""a in {\"x\", \"y\"}""#
    );
    let empty: Selector = serde_json::from_str(r#""""#).unwrap();
    assert!(empty.is_all());
    let err = serde_json::from_str::<Selector>(r#""a = 'x'""#).unwrap_err();
    assert!(err.to_string().contains("at position 2"), "{err}");
    assert!(serde_json::from_str::<Selector>("3").is_err());
}

#[test]
fn set_values_compare_bytewise_like_go() {
    let s = parse_ok("a in {'b', 'B', 'é', 'a', '', 'aa', 'Z'}");
    assert_eq!(s.to_string(), r#"a in {"", "B", "Z", "a", "aa", "b", "é"}"#);
    let expected: BTreeSet<String> = ["", "B", "Z", "a", "aa", "b", "é"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        s.expr(),
        &Expr::In {
            label: "a".into(),
            values: expected
        }
    );
}
