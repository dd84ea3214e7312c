//! The Calico selector language (SEMANTICS.md §7): parsing, evaluation, canonical printing and the
//! rewrites the policy translation needs (label prefixes, `all()`/`global()` replacement).
//!
//! ```
//! use std::collections::BTreeMap;
//! use palisade_control::selector::Selector;
//!
//! let sel: Selector = "app == 'web' && tier in {'b', 'a', 'b'}".parse().unwrap();
//! assert_eq!(sel.to_string(), r#"(app == "web" && tier in {"a", "b"})"#);
//! let labels = BTreeMap::from([("app".to_string(), "web".to_string()), ("tier".to_string(), "a".to_string())]);
//! assert!(sel.matches(&labels));
//! ```

mod ast;
mod labels;
mod parse;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use ast::Expr;
pub use labels::{LabelLayers, Labels, NoLabels};
pub use parse::{MAX_LABEL_LEN, MAX_NESTING_DEPTH, SelectorError, is_valid_label};

/// A parsed selector. Equality and hashing are structural on the (normalised) tree, so two
/// parsed selectors are equal exactly when their canonical strings (`Display`) are equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Selector {
    expr: Expr,
}

impl Selector {
    /// Parses a selector. Empty or whitespace-only (space/TAB) input is `all()`.
    pub fn parse(input: &str) -> Result<Selector, SelectorError> {
        parse::parse(input).map(|expr| Selector { expr })
    }

    /// `all()`: matches everything.
    pub fn all() -> Selector {
        Selector { expr: Expr::All }
    }

    /// Evaluates the selector against a label set. Never allocates.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        self.expr.matches(labels)
    }

    /// The root of the tree.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Consumes the selector, returning its tree.
    pub fn into_expr(self) -> Expr {
        self.expr
    }

    /// Wraps a tree, normalising it ([`Expr::normalized`]: `And`/`Or` with fewer than two
    /// operands are replaced). Labels and values are not checked; see [`Expr::is_printable`].
    pub fn from_expr(e: Expr) -> Selector {
        Selector {
            expr: e.normalized(),
        }
    }

    /// `a && b`, with a literal `all()` on either side dropped (`and(all(), b) == b`).
    /// Operands are not flattened: `and((x && y), z)` prints as `((x && y) && z)`, which is what
    /// upstream's `(<a>) && <b>` string concatenation parses to.
    ///
    /// Caution for GlobalNetworkPolicy `namespaceSelector` translation: upstream rewrites every
    /// `all()` of the *combined* selector, including a `selector: all()`, so call
    /// [`Selector::replace_all`] on both parts *before* combining them with `and`, which would
    /// otherwise drop the `all()` that had to be rewritten.
    pub fn and(a: Selector, b: Selector) -> Selector {
        if a.is_all() {
            b
        } else if b.is_all() {
            a
        } else {
            Selector {
                expr: Expr::And(vec![a.expr, b.expr]),
            }
        }
    }

    /// True if the selector is literally `all()` (or was empty).
    pub fn is_all(&self) -> bool {
        self.expr == Expr::All
    }

    /// True if a `global()` term appears anywhere.
    pub fn contains_global(&self) -> bool {
        self.expr.any_node(&mut |e| *e == Expr::Global)
    }

    /// True if the selector is exactly `global()`.
    pub fn is_exactly_global(&self) -> bool {
        self.expr == Expr::Global
    }

    /// Rewrites every label name (in `has()`, comparisons and set tests) through `f`; used to add
    /// the `pcns.`/`pcsa.` prefixes (§5). `all()`/`global()` are left alone.
    pub fn map_labels(&self, f: impl Fn(&str) -> String) -> Selector {
        Selector {
            expr: self.expr.map_labels(&f),
        }
    }

    /// Replaces every `all()` term by `replacement` (GlobalNetworkPolicy namespaceSelector
    /// translation, §12.5). Unlike upstream's textual replacement this does not touch `"all()"`
    /// inside a quoted value, and it also catches `all( )` written with inner spaces.
    pub fn replace_all(&self, replacement: &Expr) -> Selector {
        self.replace_leaf(&Expr::All, replacement)
    }

    /// Replaces every `global()` term by `replacement` (upstream uses
    /// `!has(projectcalico.org/namespace)` in rule namespaceSelectors).
    pub fn replace_global(&self, replacement: &Expr) -> Selector {
        self.replace_leaf(&Expr::Global, replacement)
    }

    fn replace_leaf(&self, leaf: &Expr, replacement: &Expr) -> Selector {
        let replacement = replacement.normalized();
        let expr = self
            .expr
            .rewrite(&mut |e| if e == *leaf { replacement.clone() } else { e });
        Selector { expr }
    }

    /// The distinct label names the selector tests, sorted.
    pub fn label_names(&self) -> std::collections::BTreeSet<&str> {
        let mut names = std::collections::BTreeSet::new();
        self.expr.for_each_label(&mut |l| {
            names.insert(l);
        });
        names
    }
}

impl Default for Selector {
    /// `all()`.
    fn default() -> Self {
        Selector::all()
    }
}

impl From<Expr> for Selector {
    fn from(e: Expr) -> Self {
        Selector::from_expr(e)
    }
}

/// The canonical form (§7.4): `&&`/`||` groups in parentheses, sets sorted and de-duplicated,
/// double quotes unless the value contains `"`, `starts with`/`ends with`/`not in` spelled out,
/// `all()` for the empty selector. Parsing the canonical form gives back an equal selector.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.expr, f)
    }
}

impl FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

impl TryFrom<&str> for Selector {
    type Error = SelectorError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Selector::parse(s)
    }
}

/// Serialises as the canonical string.
impl serde::Serialize for Selector {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Deserialises from a selector string (empty string = `all()`), failing with the parse error.
impl<'de> serde::Deserialize<'de> for Selector {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Selector;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Calico selector string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Selector, E> {
                Selector::parse(s).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}
