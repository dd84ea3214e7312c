//! Tokenizer decisions and the selector API: combinators, label rewriting, serde.

use super::super::parse::tokenize_kinds;
use super::*;

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
