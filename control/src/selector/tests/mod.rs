//! Table tests: valid selectors and their canonical forms and invalid selectors and where they
//! fail (here), evaluation (`eval`), tokenizer decisions and the rewriting API (`api`).
//!
//! The cases re-express upstream's `parser_test.go` / `tokenizer_test.go` tables plus the lexical
//! edge cases of SEMANTICS.md §7.4.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::*;

mod api;
mod eval;

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
