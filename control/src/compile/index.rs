//! An inverted label index over the inventory, so a selector is evaluated only on the
//! endpoints that can match it rather than on all of them.
//!
//! Contract: `candidates` returns a superset of the endpoints a selector matches, ascending
//! (or `None` when it cannot narrow: then every endpoint is a candidate), and whether it is
//! exact (then it *is* the matching set and callers need not evaluate the selector: equality,
//! `in`, `has` and their conjunctions and disjunctions). Conjunctions intersect the posting
//! lists of every narrowing operand. Lookups borrow posting lists; only `in` sets, `&&` and
//! `||` build new lists.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::inventory::Endpoint;
use crate::selector::{Expr, Selector};

#[derive(Debug, Default)]
pub(crate) struct LabelIndex {
    /// label -> value -> endpoints, ascending.
    by_value: HashMap<String, HashMap<String, Vec<u32>>>,
    /// label -> endpoints having it, ascending.
    by_key: HashMap<String, Vec<u32>>,
}

impl LabelIndex {
    pub(crate) fn new(endpoints: &[Endpoint]) -> Self {
        let mut index = LabelIndex::default();
        for (i, ep) in endpoints.iter().enumerate() {
            for (k, v) in &ep.labels {
                index
                    .by_value
                    .entry(k.clone())
                    .or_default()
                    .entry(v.clone())
                    .or_default()
                    .push(i as u32);
                index.by_key.entry(k.clone()).or_default().push(i as u32);
            }
        }
        index
    }

    /// Endpoints that may match `sel`, ascending, and whether exactly those match;
    /// `None` = all may.
    pub(crate) fn candidates(&self, sel: &Selector) -> Option<(Cow<'_, [u32]>, bool)> {
        self.expr_candidates(sel.expr())
    }

    fn with_value(&self, label: &str, value: &str) -> &[u32] {
        self.by_value
            .get(label)
            .and_then(|values| values.get(value))
            .map_or(&[], Vec::as_slice)
    }

    fn expr_candidates(&self, expr: &Expr) -> Option<(Cow<'_, [u32]>, bool)> {
        match expr {
            Expr::Equals { label, value } => {
                Some((Cow::Borrowed(self.with_value(label, value)), true))
            }
            Expr::In { label, values } => {
                let mut out: Vec<u32> = values
                    .iter()
                    .flat_map(|v| self.with_value(label, v))
                    .copied()
                    .collect();
                out.sort_unstable();
                out.dedup();
                Some((Cow::Owned(out), true))
            }
            Expr::Has(label) => Some((
                Cow::Borrowed(self.by_key.get(label).map_or(&[][..], Vec::as_slice)),
                true,
            )),
            Expr::Contains { label, .. }
            | Expr::StartsWith { label, .. }
            | Expr::EndsWith { label, .. } => Some((
                Cow::Borrowed(self.by_key.get(label).map_or(&[][..], Vec::as_slice)),
                false,
            )),
            Expr::And(parts) => {
                let mut narrowed: Vec<(Cow<'_, [u32]>, bool)> = Vec::new();
                let mut exact = true;
                for p in parts {
                    match self.expr_candidates(p) {
                        Some(c) => narrowed.push(c),
                        None => exact = false,
                    }
                }
                narrowed.sort_by_key(|(c, _)| c.len());
                let mut it = narrowed.into_iter();
                let (mut acc, first_exact) = it.next()?;
                exact &= first_exact;
                for (c, e) in it {
                    exact &= e;
                    acc = Cow::Owned(intersect(&acc, &c));
                }
                Some((acc, exact))
            }
            Expr::Or(parts) => {
                let mut out = Vec::new();
                let mut exact = true;
                for p in parts {
                    let (c, e) = self.expr_candidates(p)?;
                    out.extend_from_slice(&c);
                    exact &= e;
                }
                out.sort_unstable();
                out.dedup();
                Some((Cow::Owned(out), exact))
            }
            _ => None,
        }
    }
}

/// Elements of both ascending lists (`small` the shorter), ascending.
fn intersect(small: &[u32], large: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(small.len());
    let mut rest = large;
    for &x in small {
        let i = rest.partition_point(|y| *y < x);
        rest = &rest[i..];
        match rest.first() {
            Some(&y) if y == x => out.push(x),
            Some(_) => {}
            None => break,
        }
    }
    out
}
