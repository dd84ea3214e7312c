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

use super::FastMap;
use crate::inventory::Endpoint;
use crate::selector::{Expr, Selector};

#[derive(Debug, Default)]
pub(crate) struct LabelIndex {
    /// label -> value -> endpoints, ascending.
    by_value: FastMap<String, FastMap<String, Vec<u32>>>,
    /// label -> endpoints having it, ascending.
    by_key: FastMap<String, Vec<u32>>,
}

impl LabelIndex {
    pub(crate) fn new(endpoints: &[Endpoint]) -> Self {
        let mut index = LabelIndex::default();
        for (i, ep) in endpoints.iter().enumerate() {
            for (k, v) in &ep.labels {
                // Look up before inserting: keys repeat on every endpoint, so cloning them for
                // `entry` would allocate per label.
                let values = match index.by_value.get_mut(k.as_str()) {
                    Some(values) => values,
                    None => index.by_value.entry(k.clone()).or_default(),
                };
                match values.get_mut(v.as_str()) {
                    Some(list) => list.push(i as u32),
                    None => {
                        values.insert(v.clone(), vec![i as u32]);
                    }
                }
                match index.by_key.get_mut(k.as_str()) {
                    Some(list) => list.push(i as u32),
                    None => {
                        index.by_key.insert(k.clone(), vec![i as u32]);
                    }
                }
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
                // Already ascending runs: the stable sort merges them in linear time.
                out.sort();
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
                // Start from the shortest posting list an operand borrows, then narrow it by
                // every other operand without materialising theirs (an `in` over two busy
                // values would otherwise build and sort a long union per selector).
                let seed = parts
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| Some((i, self.posting(p)?)))
                    .min_by_key(|(_, list)| list.len());
                let Some((seed, list)) = seed else {
                    return self.and_by_materialising(parts);
                };
                let mut acc = list.to_vec();
                let mut exact = true;
                for (i, p) in parts.iter().enumerate() {
                    if i == seed {
                        continue;
                    }
                    match self.filter(&acc, p) {
                        Some(next) => acc = next,
                        None => exact = false,
                    }
                }
                Some((Cow::Owned(acc), exact))
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

impl LabelIndex {
    /// The posting list an equality or `has` operand borrows.
    fn posting(&self, expr: &Expr) -> Option<&[u32]> {
        match expr {
            Expr::Equals { label, value } => Some(self.with_value(label, value)),
            Expr::Has(label) => Some(self.by_key.get(label).map_or(&[][..], Vec::as_slice)),
            _ => None,
        }
    }

    /// The endpoints of ascending `acc` that match `expr`, if the index can tell exactly.
    fn filter(&self, acc: &[u32], expr: &Expr) -> Option<Vec<u32>> {
        match expr {
            Expr::Equals { .. } | Expr::Has(_) => Some(intersect(acc, self.posting(expr)?)),
            Expr::In { label, values } => {
                let mut out: Vec<u32> = values
                    .iter()
                    .flat_map(|v| intersect(acc, self.with_value(label, v)))
                    .collect();
                out.sort_unstable();
                out.dedup();
                Some(out)
            }
            Expr::And(parts) => {
                let mut acc = acc.to_vec();
                for p in parts {
                    acc = self.filter(&acc, p)?;
                }
                Some(acc)
            }
            Expr::Or(parts) => {
                let mut out = Vec::new();
                for p in parts {
                    out.extend(self.filter(acc, p)?);
                }
                out.sort_unstable();
                out.dedup();
                Some(out)
            }
            _ => None,
        }
    }

    /// A conjunction with no equality or `has` operand: intersect what the operands narrow to.
    fn and_by_materialising(&self, parts: &[Expr]) -> Option<(Cow<'_, [u32]>, bool)> {
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
}

/// Elements of both ascending lists, ascending. Galloping from the shorter list into the
/// longer: linear when their lengths are alike, logarithmic per element when one is a long
/// posting list (such as every endpoint of a namespace-wide label).
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(small.len());
    let mut rest = large;
    for &x in small {
        // Exponential probe for the first element >= x, then a binary search inside it.
        let mut step = 1;
        while step < rest.len() && rest[step - 1] < x {
            step *= 2;
        }
        let window = &rest[..step.min(rest.len())];
        let i = window.partition_point(|y| *y < x);
        rest = &rest[i..];
        match rest.first() {
            Some(&y) if y == x => out.push(x),
            Some(_) => {}
            None => break,
        }
    }
    out
}
