//! The selector syntax tree, its evaluation and its canonical printing.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use super::labels::Labels;

/// One node of a selector.
///
/// The parser produces `And`/`Or` only with two or more operands, and never wraps a single
/// parenthesised expression in anything (`(a == "x")` is just `Equals`). `Not(Not(x))` only
/// arises from explicit parentheses (`!(!a == "x")`); a run of `!` is collapsed by the parser.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expr {
    /// `all()` (and the empty selector): always true.
    All,
    /// `global()`: always true when evaluated; the translation layer gives it meaning.
    Global,
    /// `has(label)`: the label is present (even with an empty value).
    Has(String),
    /// `label == "value"`: present and equal.
    Equals { label: String, value: String },
    /// `label != "value"`: absent, or present with another value.
    NotEquals { label: String, value: String },
    /// `label in {..}`: present and one of the values.
    In {
        label: String,
        values: BTreeSet<String>,
    },
    /// `label not in {..}`: absent, or present with none of the values.
    NotIn {
        label: String,
        values: BTreeSet<String>,
    },
    /// `label contains "s"`: present and the value contains `s`.
    Contains { label: String, value: String },
    /// `label starts with "s"`: present and the value starts with `s`.
    StartsWith { label: String, value: String },
    /// `label ends with "s"`: present and the value ends with `s`.
    EndsWith { label: String, value: String },
    /// `!x`.
    Not(Box<Expr>),
    /// `a && b && ...`; an empty `And` is true.
    And(Vec<Expr>),
    /// `a || b || ...`; an empty `Or` is false.
    Or(Vec<Expr>),
}

impl Expr {
    /// Evaluates this expression against a label set (§7.3). Never allocates.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        match self {
            Expr::All | Expr::Global => true,
            Expr::Has(label) => labels.get(label).is_some(),
            Expr::Equals { label, value } => labels.get(label).is_some_and(|v| v == value),
            Expr::NotEquals { label, value } => labels.get(label).is_none_or(|v| v != value),
            Expr::In { label, values } => labels.get(label).is_some_and(|v| values.contains(v)),
            Expr::NotIn { label, values } => labels.get(label).is_none_or(|v| !values.contains(v)),
            Expr::Contains { label, value } => labels
                .get(label)
                .is_some_and(|v| v.contains(value.as_str())),
            Expr::StartsWith { label, value } => labels
                .get(label)
                .is_some_and(|v| v.starts_with(value.as_str())),
            Expr::EndsWith { label, value } => labels
                .get(label)
                .is_some_and(|v| v.ends_with(value.as_str())),
            Expr::Not(inner) => !inner.matches(labels),
            Expr::And(operands) => operands.iter().all(|e| e.matches(labels)),
            Expr::Or(operands) => operands.iter().any(|e| e.matches(labels)),
        }
    }

    /// The label this node tests, for the label-testing leaves.
    pub fn label(&self) -> Option<&str> {
        match self {
            Expr::Has(label)
            | Expr::Equals { label, .. }
            | Expr::NotEquals { label, .. }
            | Expr::In { label, .. }
            | Expr::NotIn { label, .. }
            | Expr::Contains { label, .. }
            | Expr::StartsWith { label, .. }
            | Expr::EndsWith { label, .. } => Some(label),
            Expr::All | Expr::Global | Expr::Not(_) | Expr::And(_) | Expr::Or(_) => None,
        }
    }

    /// Calls `f` with every label name the expression tests, in print order (with repeats).
    pub fn for_each_label<'a>(&'a self, f: &mut impl FnMut(&'a str)) {
        match self {
            Expr::Not(inner) => inner.for_each_label(f),
            Expr::And(operands) | Expr::Or(operands) => {
                for e in operands {
                    e.for_each_label(f);
                }
            }
            leaf => {
                if let Some(label) = leaf.label() {
                    f(label);
                }
            }
        }
    }

    /// True if any node satisfies `pred` (pre-order).
    pub fn any_node(&self, pred: &mut impl FnMut(&Expr) -> bool) -> bool {
        if pred(self) {
            return true;
        }
        match self {
            Expr::Not(inner) => inner.any_node(pred),
            Expr::And(operands) | Expr::Or(operands) => operands.iter().any(|e| e.any_node(pred)),
            _ => false,
        }
    }

    /// Rebuilds the tree bottom-up, giving each rebuilt node to `f` (post-order).
    pub fn rewrite(&self, f: &mut impl FnMut(Expr) -> Expr) -> Expr {
        let rebuilt = match self {
            Expr::Not(inner) => Expr::Not(Box::new(inner.rewrite(f))),
            Expr::And(operands) => Expr::And(operands.iter().map(|e| e.rewrite(f)).collect()),
            Expr::Or(operands) => Expr::Or(operands.iter().map(|e| e.rewrite(f)).collect()),
            leaf => leaf.clone(),
        };
        f(rebuilt)
    }

    /// Returns the tree with every label name passed through `f`.
    pub fn map_labels(&self, f: &impl Fn(&str) -> String) -> Expr {
        self.rewrite(&mut |e| match e {
            Expr::Has(label) => Expr::Has(f(&label)),
            Expr::Equals { label, value } => Expr::Equals {
                label: f(&label),
                value,
            },
            Expr::NotEquals { label, value } => Expr::NotEquals {
                label: f(&label),
                value,
            },
            Expr::In { label, values } => Expr::In {
                label: f(&label),
                values,
            },
            Expr::NotIn { label, values } => Expr::NotIn {
                label: f(&label),
                values,
            },
            Expr::Contains { label, value } => Expr::Contains {
                label: f(&label),
                value,
            },
            Expr::StartsWith { label, value } => Expr::StartsWith {
                label: f(&label),
                value,
            },
            Expr::EndsWith { label, value } => Expr::EndsWith {
                label: f(&label),
                value,
            },
            other => other,
        })
    }

    /// Normal form used inside [`super::Selector`]: `And`/`Or` with fewer than two operands are
    /// replaced (`And[]` → `all()`, `Or[]` → `!all()`, `And[x]`/`Or[x]` → `x`), recursively.
    /// Every expression the parser produces is already normal.
    pub fn normalized(&self) -> Expr {
        self.rewrite(&mut |e| match e {
            Expr::And(mut v) if v.len() < 2 => v.pop().unwrap_or(Expr::All),
            Expr::Or(mut v) if v.len() < 2 => {
                v.pop().unwrap_or_else(|| Expr::Not(Box::new(Expr::All)))
            }
            other => other,
        })
    }

    /// True if every label name and value can be printed so that the parser reads it back:
    /// labels match `[A-Za-z0-9_./-]{1,512}` and no value contains both quote characters.
    /// Always true for parsed selectors; can be false after [`Expr::map_labels`] or hand-building.
    pub fn is_printable(&self) -> bool {
        !self.any_node(&mut |e| {
            let bad_label = e.label().is_some_and(|l| !super::is_valid_label(l));
            let bad_value = match e {
                Expr::Equals { value, .. }
                | Expr::NotEquals { value, .. }
                | Expr::Contains { value, .. }
                | Expr::StartsWith { value, .. }
                | Expr::EndsWith { value, .. } => !value_is_printable(value),
                Expr::In { values, .. } | Expr::NotIn { values, .. } => {
                    values.iter().any(|v| !value_is_printable(v))
                }
                _ => false,
            };
            bad_label || bad_value
        })
    }
}

fn value_is_printable(v: &str) -> bool {
    !(v.contains('"') && v.contains('\''))
}

fn write_quoted(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    let quote = if value.contains('"') { '\'' } else { '"' };
    f.write_char(quote)?;
    f.write_str(value)?;
    f.write_char(quote)
}

fn write_set(f: &mut fmt::Formatter<'_>, values: &BTreeSet<String>) -> fmt::Result {
    f.write_char('{')?;
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_quoted(f, v)?;
    }
    f.write_char('}')
}

fn write_joined(f: &mut fmt::Formatter<'_>, operands: &[Expr], sep: &str) -> fmt::Result {
    f.write_char('(')?;
    for (i, e) in operands.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        fmt::Display::fmt(e, f)?;
    }
    f.write_char(')')
}

/// Canonical form (§7.4), identical to upstream's `String()` for every parsed selector except
/// `!(!x)`, which upstream prints lossily as `!!x` and we print as `!(!x)` so that printing and
/// re-parsing gives back the same tree.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::All => f.write_str("all()"),
            Expr::Global => f.write_str("global()"),
            Expr::Has(label) => write!(f, "has({label})"),
            Expr::Equals { label, value } => {
                write!(f, "{label} == ")?;
                write_quoted(f, value)
            }
            Expr::NotEquals { label, value } => {
                write!(f, "{label} != ")?;
                write_quoted(f, value)
            }
            Expr::Contains { label, value } => {
                write!(f, "{label} contains ")?;
                write_quoted(f, value)
            }
            Expr::StartsWith { label, value } => {
                write!(f, "{label} starts with ")?;
                write_quoted(f, value)
            }
            Expr::EndsWith { label, value } => {
                write!(f, "{label} ends with ")?;
                write_quoted(f, value)
            }
            Expr::In { label, values } => {
                write!(f, "{label} in ")?;
                write_set(f, values)
            }
            Expr::NotIn { label, values } => {
                write!(f, "{label} not in ")?;
                write_set(f, values)
            }
            Expr::Not(inner) => match &**inner {
                Expr::Not(_) => write!(f, "!({inner})"),
                _ => write!(f, "!{inner}"),
            },
            // Degenerate shapes (only reachable by printing a hand-built, un-normalised Expr).
            Expr::And(operands) if operands.is_empty() => f.write_str("all()"),
            Expr::Or(operands) if operands.is_empty() => f.write_str("!all()"),
            Expr::And(operands) => write_joined(f, operands, " && "),
            Expr::Or(operands) => write_joined(f, operands, " || "),
        }
    }
}
