//! An inverted label index over the inventory, so a selector is evaluated only on the
//! endpoints that can match it rather than on all of them.
//!
//! Contract: `candidates` returns a superset of the endpoints a selector matches (or `None`
//! when it cannot narrow: then every endpoint is a candidate); callers still evaluate the
//! selector on each candidate.

use std::collections::HashMap;

use crate::inventory::Endpoint;
use crate::selector::{Expr, Selector};

#[derive(Debug, Default)]
pub(crate) struct LabelIndex {
    by_value: HashMap<(String, String), Vec<u32>>,
    by_key: HashMap<String, Vec<u32>>,
}

impl LabelIndex {
    pub(crate) fn new(endpoints: &[Endpoint]) -> Self {
        let mut index = LabelIndex::default();
        for (i, ep) in endpoints.iter().enumerate() {
            for (k, v) in &ep.labels {
                index
                    .by_value
                    .entry((k.clone(), v.clone()))
                    .or_default()
                    .push(i as u32);
                index.by_key.entry(k.clone()).or_default().push(i as u32);
            }
        }
        index
    }

    /// Endpoints that may match `sel`, ascending; `None` = all may.
    pub(crate) fn candidates(&self, sel: &Selector) -> Option<Vec<u32>> {
        self.expr_candidates(sel.expr())
    }

    fn expr_candidates(&self, expr: &Expr) -> Option<Vec<u32>> {
        match expr {
            Expr::Equals { label, value } => Some(
                self.by_value
                    .get(&(label.clone(), value.clone()))
                    .cloned()
                    .unwrap_or_default(),
            ),
            Expr::In { label, values } => {
                let mut out: Vec<u32> = values
                    .iter()
                    .filter_map(|v| self.by_value.get(&(label.clone(), v.clone())))
                    .flatten()
                    .copied()
                    .collect();
                out.sort_unstable();
                out.dedup();
                Some(out)
            }
            Expr::Has(label)
            | Expr::Contains { label, .. }
            | Expr::StartsWith { label, .. }
            | Expr::EndsWith { label, .. } => {
                Some(self.by_key.get(label).cloned().unwrap_or_default())
            }
            Expr::And(parts) => parts
                .iter()
                .filter_map(|p| self.expr_candidates(p))
                .min_by_key(Vec::len),
            Expr::Or(parts) => {
                let mut out = Vec::new();
                for p in parts {
                    out.extend(self.expr_candidates(p)?);
                }
                out.sort_unstable();
                out.dedup();
                Some(out)
            }
            _ => None,
        }
    }
}
