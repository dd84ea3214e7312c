//! Generic multi-field first-match packet classification.
//!
//! Contract: [`Classifier::build`] takes rules in priority order (index 0 wins) over five fields
//! — source and destination address ranges (IPv4 `u32` or IPv6 `u128`), source and destination
//! port ranges, protocol (exact or any) — and answers, for a [`PacketHeader`], the index of the
//! first matching rule ([`Classifier::lookup`]), or of the first one at or after a given index
//! ([`Classifier::lookup_from`], for Log/Pass chains). A built classifier is immutable plain
//! data (`Send + Sync`, no interior mutability); lookups take `&self`, never allocate and never
//! lock. [`LinearClassifier`] is the obviously-correct reference.
//!
//! # Algorithm
//!
//! Rules are split into up to four groups by whether their source and destination ranges are
//! "small" (at most 2^(width-8) addresses: a /8 or longer in IPv4), as in EffiCuts/CutSplit,
//! so wildcard-heavy rules do not replicate across the cuts that separate specific ones. Each
//! group gets a HiCuts-style decision tree (`build` chooses the cuts, `tree` walks them):
//! power-of-two equal cuts of aligned regions, so a level costs a shift, a mask and one 8-byte
//! load; leaves hold at most a handful of rules, packed as (lo, span) pairs for a branch-free
//! match. Rules behind one that covers a node's whole region are unreachable for plain lookups
//! and live in a continuation that only `lookup_from` visits. Trees are visited in order of
//! their best rule and a leaf scan stops at the best match found so far.
//!
//! # Why this design (measured on ClassBench 10k sets, 2 vCPU Xeon @ 2.8 GHz, shared machine)
//!
//! - Plain HiCuts over all rules (first version) replicated badly: acl1_10k built in 423 ms into
//!   10 MB, ipc1_10k in 1.4 s into 20 MB, because rules that overlap but do not cover a region
//!   (duplicates, staggered ranges) were cut down to single points. Stopping at a leaf when the
//!   best cut leaves some child with every rule: 36 ms / 2.0 MB, ~60 ns per lookup.
//! - Cut selection in one pass per dimension (counts at the finest cut, coarser cuts derived)
//!   and never trying more than `spfac * n` children: acl1_10k build 36 -> ~17 ms.
//! - Grouping by (small src, small dst): one tree for all rules costs fw1_10k 12.7 MB and
//!   ~660 ns; four groups at a 16-bit threshold 1.7 MB; at 8 bits 0.7 MB. At 100k the 8-bit
//!   threshold keeps fw1 at 8.6 MB and ipc1 at 3.9 MB (16 bits: 27.8 MB and 16.5 MB), with
//!   fewer node steps per lookup on ipc1 (4.2 vs 7.8), hence the default.
//! - Batch path: walking 16 headers level by level measured slower than a plain loop of
//!   single lookups (acl1 68 vs 54 ns, fw1 75 vs 47, ipc1 141 vs 90): the trees are cache
//!   resident and the out-of-order core already overlaps independent lookups, while the
//!   lock-step walk pays for the deepest header of each batch. So `lookup_batch` is the loop.
//! - Leaves as 4-byte rule indices into one packed table (instead of 32-byte rule copies):
//!   memory halves (acl1_10k 2.26 -> 1.19 MB, fw1_100k 8.6 -> 5.6 MB) but lookups were not
//!   faster (acl1_10k 56 -> 63..70 ns: one more dependent load per compared rule); not kept.
//! - Space factor (`spfac`), acl1_10k: 2 builds in ~8.5 ms into 0.99 MB but compares 8.3 leaf
//!   rules per lookup (299 vs 249 instructions in `lookup_batch`); 4 builds in ~20 ms into
//!   2.26 MB; 3 (the default since 2026-11-22) in ~13 ms into 1.56 MB. 3 against 4, callgrind,
//!   acl1 / fw1 / ipc1 10k: build instructions -42 / -41 / -16 %; lookup instructions +5 / +1
//!   / +2 %, D1 misses within 3 %, L2 misses (1.25 MiB model) -11 / -2 / -4 %; 100k sets
//!   within 1.5 %. Wall-clock lookups equal within this machine's noise. So 3 meets the build
//!   goal (under 15 ms) at no measurable lookup cost.
//! - Leaves as blocks of 8 rules laid out field by field (structure of arrays), scanned without
//!   branches into a byte mask (safe code, left to the autovectoriser): branch mispredictions
//!   per acl1_10k lookup 2.33 -> 1.45 (callgrind's model), but instructions 249 -> 405, D1
//!   misses 3.6 -> 4.9 and memory +14 % (fw1_10k +250 %: its leaves are short, padding to 8
//!   quadruples them); lookups 25-140 % slower (fw1 worst). The baseline x86-64 target has
//!   only SSE2: the vectoriser turned half the lanes into scalar code, and unsigned compares
//!   need extra instructions. Not kept; it needs AVX2 (a target feature, i.e. `unsafe` or a
//!   build flag) to pay off.
//! - Leaf scan in groups of 4 rules matched without a branch (one branch per group; `min` of
//!   the matching ids): acl1 / fw1 / ipc1 10k 261 / 337 / 302 -> 284 / 444 / 340 instructions
//!   per lookup, and no fewer mispredictions (the compiler turned the selects back into
//!   branches; forcing them with arithmetic: 409 / 643 / 495). Not kept.
//! - Builder: folding the "every rule spans the whole region" pre-check into the counting pass
//!   of `choose_cut`: +10 % build instructions (the pre-check stops at the first rule that does
//!   not span, and skips the counting for all-wildcard dimensions). Not kept.
//! - Not tried (time): bit-vector intersection (n-bit vectors per elementary interval and
//!   field, quadratic memory), RFC (known to explode on fw-like sets), TupleMerge (reference
//!   here ~137 ns on acl1_10k: one hash probe per tuple, serially).
//!
//! Current numbers and how to reproduce them: `bench/README.md`, "Classifier (ClassBench)".

mod build;
mod linear;
mod spec;
mod tree;

#[cfg(test)]
mod tests;

pub use build::BuildOptions;
pub use linear::LinearClassifier;
pub use spec::{Addr, PacketHeader, RuleSpec};

use build::TreeBuilder;
use spec::{DIMS, PackedRule};
use tree::{Tree, key_of};

/// Why a classifier could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifierError {
    /// Some internal index would overflow its encoding.
    #[error("classifier too large: more than {limit} {what}")]
    TooLarge { what: &'static str, limit: usize },
}

/// An immutable first-match classifier over rules keyed by address width `A`.
#[derive(Clone, Debug)]
pub struct Classifier<A: Addr = u32> {
    /// Trees in ascending order of their smallest rule index.
    trees: Vec<Tree<A>>,
    rules: u32,
}

/// The work one lookup did: trees walked, node steps taken, leaf rules compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupCost {
    pub trees: usize,
    pub steps: usize,
    pub rules_compared: usize,
}

/// IPv4 classifier.
pub type Classifier4 = Classifier<u32>;
/// IPv6 classifier.
pub type Classifier6 = Classifier<u128>;

impl<A: Addr> Classifier<A> {
    /// Builds with [`BuildOptions::default`].
    pub fn build(rules: &[RuleSpec<A>]) -> Result<Self, ClassifierError> {
        Self::build_with(rules, BuildOptions::default())
    }

    /// Builds with explicit tuning knobs (benchmarks compare them).
    pub fn build_with(rules: &[RuleSpec<A>], opts: BuildOptions) -> Result<Self, ClassifierError> {
        let count = u32::try_from(rules.len())
            .ok()
            .filter(|&n| n < u32::MAX)
            .ok_or(ClassifierError::TooLarge {
                what: "rules",
                limit: u32::MAX as usize - 1,
            })?;
        let mut lo: [Vec<A>; DIMS] = Default::default();
        let mut hi: [Vec<A>; DIMS] = Default::default();
        let mut packed = Vec::with_capacity(rules.len());
        let mut groups: [Vec<u32>; 4] = Default::default();
        let small = |l: u128, h: u128| {
            opts.partition_bits > 0
                && opts.partition_bits <= A::BITS
                && (A::BITS - opts.partition_bits >= 128
                    || h - l < 1u128 << (A::BITS - opts.partition_bits))
        };
        for (i, r) in (0..count).zip(rules) {
            let (l, h) = r.bounds();
            packed.push(PackedRule::new(r, i));
            if !r.is_empty() {
                let g = usize::from(small(l[0], h[0])) * 2 + usize::from(small(l[1], h[1]));
                groups[g].push(i);
            }
            for d in 0..DIMS {
                lo[d].push(A::from_u128_lossy(l[d]));
                hi[d].push(A::from_u128_lossy(h[d]));
            }
        }
        let mut trees = Vec::new();
        for g in groups.iter().filter(|g| !g.is_empty()) {
            trees.push(TreeBuilder::new(&lo, &hi, &packed, opts).build(g)?);
        }
        trees.sort_by_key(|t| t.min_rule);
        Ok(Self {
            trees,
            rules: count,
        })
    }

    /// Number of rules the classifier was built from.
    pub fn len(&self) -> usize {
        self.rules as usize
    }

    /// True when built from no rules.
    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// Index of the first rule matching `h`.
    #[inline]
    pub fn lookup(&self, h: &PacketHeader<A>) -> Option<u32> {
        let key = key_of(h);
        let mut best = u32::MAX;
        for t in &self.trees {
            if t.min_rule >= best {
                break;
            }
            best = t.scan(t.descend(&key), h, best);
        }
        (best != u32::MAX).then_some(best)
    }

    /// Index of the first rule with index `>= min_rule` matching `h`.
    pub fn lookup_from(&self, h: &PacketHeader<A>, min_rule: u32) -> Option<u32> {
        if min_rule == 0 {
            return self.lookup(h);
        }
        let mut best = u32::MAX;
        for t in &self.trees {
            best = t.lookup_from(h, min_rule, best);
        }
        (best != u32::MAX).then_some(best)
    }

    /// Classifies `keys[i]` into `out[i]` for `i < min(keys.len(), out.len())`.
    ///
    /// A plain loop over [`lookup`](Self::lookup): lookups are independent, so the out-of-order
    /// core already overlaps their cache misses; an explicit level-by-level interleave of 16
    /// headers measured slower (see the module docs). Never inlined: one call per batch costs
    /// nothing, and profilers can attribute the batch loop to it.
    #[inline(never)]
    pub fn lookup_batch(&self, keys: &[PacketHeader<A>], out: &mut [Option<u32>]) {
        for (h, o) in keys.iter().zip(out.iter_mut()) {
            *o = self.lookup(h);
        }
    }

    /// What `lookup(h)` costs, for diagnostics and benchmark reports.
    pub fn lookup_cost(&self, h: &PacketHeader<A>) -> LookupCost {
        let mut cost = LookupCost::default();
        let mut best = u32::MAX;
        for t in &self.trees {
            if t.min_rule >= best {
                break;
            }
            let (b, steps, compared) = t.cost(h, best);
            best = b;
            cost.trees += 1;
            cost.steps += steps;
            cost.rules_compared += compared;
        }
        cost
    }

    /// Heap memory held, counting allocated capacity.
    pub fn heap_bytes(&self) -> usize {
        self.trees.capacity() * size_of::<Tree<A>>()
            + self.trees.iter().map(Tree::heap_bytes).sum::<usize>()
    }

    /// Per-tree statistics, for benchmarks: (smallest rule index, child slots, stored rule copies).
    pub fn tree_stats(&self) -> Vec<(u32, usize, usize)> {
        self.trees
            .iter()
            .map(|t| (t.min_rule, t.children.len(), t.rules.len()))
            .collect()
    }
}
