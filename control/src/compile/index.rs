//! An inverted label index over the inventory, so a selector is evaluated only on the
//! endpoints that can match it rather than on all of them.
//!
//! Contract: `candidates` returns a superset of the endpoints a selector matches, ascending
//! (or `None` when it cannot narrow: then every endpoint is a candidate); callers still
//! evaluate the selector on each candidate. Lookups borrow posting lists; only `in` sets and
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

    /// Endpoints that may match `sel`, ascending; `None` = all may.
    pub(crate) fn candidates(&self, sel: &Selector) -> Option<Cow<'_, [u32]>> {
        self.expr_candidates(sel.expr())
    }

    fn with_value(&self, label: &str, value: &str) -> &[u32] {
        self.by_value
            .get(label)
            .and_then(|values| values.get(value))
            .map_or(&[], Vec::as_slice)
    }

    fn expr_candidates(&self, expr: &Expr) -> Option<Cow<'_, [u32]>> {
        match expr {
            Expr::Equals { label, value } => Some(Cow::Borrowed(self.with_value(label, value))),
            Expr::In { label, values } => {
                let mut out: Vec<u32> = values
                    .iter()
                    .flat_map(|v| self.with_value(label, v))
                    .copied()
                    .collect();
                out.sort_unstable();
                out.dedup();
                Some(Cow::Owned(out))
            }
            Expr::Has(label)
            | Expr::Contains { label, .. }
            | Expr::StartsWith { label, .. }
            | Expr::EndsWith { label, .. } => Some(Cow::Borrowed(
                self.by_key.get(label).map_or(&[][..], Vec::as_slice),
            )),
            Expr::And(parts) => parts
                .iter()
                .filter_map(|p| self.expr_candidates(p))
                .min_by_key(|c| c.len()),
            Expr::Or(parts) => {
                let mut out = Vec::new();
                for p in parts {
                    out.extend_from_slice(&self.expr_candidates(p)?);
                }
                out.sort_unstable();
                out.dedup();
                Some(Cow::Owned(out))
            }
            _ => None,
        }
    }
}
