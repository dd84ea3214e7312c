//! The reference classifier: a linear scan over the rules in priority order.
//!
//! Contract: `lookup_from(h, m)` returns the smallest index `i >= m` whose rule matches `h`.
//! Obviously correct and O(rules) per lookup; it exists for tests and for checking benchmarks.

use super::spec::{Addr, PacketHeader, RuleSpec};

/// First-match classification by scanning every rule.
#[derive(Clone, Debug)]
pub struct LinearClassifier<A: Addr> {
    rules: Vec<RuleSpec<A>>,
}

impl<A: Addr> LinearClassifier<A> {
    /// Keeps a copy of the rules; rule `i` has priority `i` (lower wins).
    pub fn new(rules: &[RuleSpec<A>]) -> Self {
        Self {
            rules: rules.to_vec(),
        }
    }

    /// Index of the first rule matching `h`.
    pub fn lookup(&self, h: &PacketHeader<A>) -> Option<u32> {
        self.lookup_from(h, 0)
    }

    /// Index of the first rule with index `>= min_rule` matching `h`.
    pub fn lookup_from(&self, h: &PacketHeader<A>, min_rule: u32) -> Option<u32> {
        let start = usize::try_from(min_rule).unwrap_or(usize::MAX);
        self.rules
            .iter()
            .enumerate()
            .skip(start)
            .find(|(_, r)| r.matches(h))
            .and_then(|(i, _)| u32::try_from(i).ok())
    }
}
