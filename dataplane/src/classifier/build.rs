//! Builds one cut tree (see `tree`) from a priority-ordered list of rules.
//!
//! Contract: the tree built from rules `L` answers, for every header `h` and `m`, the smallest
//! index `i >= m` in `L` whose rule matches `h` (via `Tree::lookup_from`). Node choice is a
//! HiCuts-style heuristic: at each node and for each dimension, the largest power-of-two number
//! of equal cuts whose total rule replication stays within `spfac * n`; the dimension with the
//! smallest largest child wins. Rules after one that covers a node's whole region are moved to
//! that node's continuation, so they cost plain lookups nothing.

use rustc_hash::FxHashMap;

use super::ClassifierError;
use super::spec::{Addr, DIMS, PackedRule, dim_bits};
use super::tree::{Entry, FLAG_CONT, MAX_PENDING, Tree};

/// Tuning knobs of the tree builder.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BuildOptions {
    /// A node with at most this many (effective) rules becomes a leaf.
    pub leaf_size: usize,
    /// Space factor: a cut may store at most `spfac * n + 2^c` rule references in its children.
    pub spfac: f64,
    /// At most `2^max_cut_bits` children per node (at most 16).
    pub max_cut_bits: u32,
    /// A source or destination range is "small" when it spans at most `2^(width - threshold)`
    /// addresses; rules are grouped into trees by (small src, small dst). `0` = one tree.
    pub partition_bits: u32,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            leaf_size: 8,
            // 3, not 4: acl1_10k builds in ~13 instead of ~20 ms (-42 % instructions) into
            // 1.56 instead of 2.26 MB, for +1-5 % lookup instructions and equal cache misses
            // (module docs).
            spfac: 3.0,
            max_cut_bits: 8,
            partition_bits: 8,
        }
    }
}

/// A region: per dimension an aligned block `base .. base + 2^bits`.
type Region<A> = [(A, u32); DIMS];

/// Last offset of a block of `2^bits` values.
fn span<A: Addr>(bits: u32) -> A {
    if bits >= A::BITS {
        A::MAX
    } else {
        A::from_u128_lossy((1u128 << bits) - 1)
    }
}

/// Replication budget: past this many stored rule references, nodes stop being cut.
fn budget(rules: usize) -> usize {
    rules.saturating_mul(64).saturating_add(1 << 12)
}

pub(crate) struct TreeBuilder<'r, A: Addr> {
    /// Per dimension, per rule: inclusive bounds (structure of arrays: cut selection scans one
    /// dimension of many rules).
    lo: &'r [Vec<A>; DIMS],
    hi: &'r [Vec<A>; DIMS],
    packed: &'r [PackedRule<A>],
    opts: BuildOptions,
    children: Vec<Entry>,
    rules: Vec<PackedRule<A>>,
    /// Leaves by rule list, so identical leaves are stored once (FxHash: SipHash over these
    /// lists was a visible part of build time).
    leaves: FxHashMap<Vec<u32>, Entry>,
    stored: usize,
    budget: usize,
}

impl<'r, A: Addr> TreeBuilder<'r, A> {
    /// `lo[d]`, `hi[d]`, `packed` are indexed by rule index.
    pub fn new(
        lo: &'r [Vec<A>; DIMS],
        hi: &'r [Vec<A>; DIMS],
        packed: &'r [PackedRule<A>],
        opts: BuildOptions,
    ) -> Self {
        Self {
            lo,
            hi,
            packed,
            opts,
            children: Vec::new(),
            rules: Vec::new(),
            leaves: FxHashMap::default(),
            stored: 0,
            budget: budget(packed.len()),
        }
    }

    /// Builds the tree of `list` (rule indices, ascending) over the whole key space.
    pub fn build(mut self, list: &[u32]) -> Result<Tree<A>, ClassifierError> {
        let bits = dim_bits::<A>();
        let region: Region<A> = std::array::from_fn(|d| (A::default(), bits[d]));
        let root = if list.is_empty() {
            Entry::EMPTY
        } else {
            self.node(list, &region, 0)?
        };
        self.children.shrink_to_fit();
        self.rules.shrink_to_fit();
        Ok(Tree {
            root,
            children: self.children,
            rules: self.rules,
            min_rule: list.first().copied().unwrap_or(u32::MAX),
        })
    }

    fn covers(&self, rule: u32, region: &Region<A>) -> bool {
        let r = rule as usize;
        (0..DIMS).all(|d| {
            let (base, bits) = region[d];
            self.lo[d][r] <= base && self.hi[d][r] >= base.wrapping_add(span(bits))
        })
    }

    /// The entry for `list` in `region`; `pending` continuations are outstanding above it.
    fn node(
        &mut self,
        list: &[u32],
        region: &Region<A>,
        pending: usize,
    ) -> Result<Entry, ClassifierError> {
        // Split into segments, each ending with a rule covering the region (except maybe the last).
        let mut segments = Vec::new();
        let mut start = 0;
        for (i, &r) in list.iter().enumerate() {
            if self.covers(r, region) {
                segments.push(&list[start..=i]);
                start = i + 1;
            }
        }
        if start < list.len() {
            segments.push(&list[start..]);
        }
        let mut cont: Option<Entry> = None;
        for seg in segments.into_iter().rev() {
            cont = Some(self.core(seg, region, pending, cont)?);
        }
        Ok(cont.unwrap_or(Entry::EMPTY))
    }

    /// A leaf or a cut node for `seg`, with continuation `cont`.
    fn core(
        &mut self,
        seg: &[u32],
        region: &Region<A>,
        pending: usize,
        cont: Option<Entry>,
    ) -> Result<Entry, ClassifierError> {
        let below = pending + usize::from(cont.is_some());
        if below >= MAX_PENDING {
            return Err(ClassifierError::TooLarge {
                what: "nested continuations",
                limit: MAX_PENDING,
            });
        }
        let cut = if seg.len() <= self.opts.leaf_size || self.stored > self.budget {
            None
        } else {
            self.choose_cut(seg, region)
        };
        let Some((dim, c)) = cut else {
            let leaf = self.leaf(seg)?;
            return match cont {
                None => Ok(leaf),
                Some(cont) => {
                    // A zero-bit node whose only child is the leaf, to carry the continuation.
                    let first = self.alloc(2)?;
                    self.children[first] = cont;
                    self.children[first + 1] = leaf;
                    Ok(Entry {
                        a: slot_u32(first + 1)?,
                        kind: FLAG_CONT,
                        shift: 0,
                        mask: 0,
                    })
                }
            };
        };
        let (base, bits) = region[dim];
        let shift = bits - c;
        let n_children = 1usize << c;
        // Counting sort of the rules into the children, in priority order.
        let spans: Vec<(usize, usize)> = seg
            .iter()
            .map(|&r| self.child_span(r, dim, base, bits, shift))
            .collect();
        // Rules per child from a difference array (a wide rule costs two updates, not one
        // per child it spans), then offsets as its running sum.
        let mut diff = vec![0isize; n_children + 1];
        for &(i0, i1) in &spans {
            diff[i0] += 1;
            diff[i1 + 1] -= 1;
        }
        let mut offsets = vec![0usize; n_children + 1];
        let mut overlapping = 0isize;
        for i in 0..n_children {
            overlapping += diff[i];
            offsets[i + 1] = offsets[i] + overlapping as usize;
        }
        let mut fill = offsets.clone();
        let mut flat = vec![0u32; offsets[n_children]];
        for (&r, &(i0, i1)) in seg.iter().zip(&spans) {
            for f in &mut fill[i0..=i1] {
                flat[*f] = r;
                *f += 1;
            }
        }
        let lists = (0..n_children).map(|i| &flat[offsets[i]..offsets[i + 1]]);
        let head = usize::from(cont.is_some());
        let block = self.alloc(head + n_children)?;
        if let Some(cont) = cont {
            self.children[block] = cont;
        }
        let first = block + head;
        for (i, l) in lists.enumerate() {
            let entry = if l.is_empty() {
                Entry::EMPTY
            } else {
                let mut child = *region;
                child[dim] = (
                    A::from_u128_lossy(base.to_u128() + ((i as u128) << shift)),
                    shift,
                );
                self.node(l, &child, below)?
            };
            self.children[first + i] = entry;
        }
        let kind = dim as u8 | if cont.is_some() { FLAG_CONT } else { 0 };
        Ok(Entry {
            a: slot_u32(first)?,
            kind,
            shift: shift as u8,
            mask: (n_children - 1) as u16,
        })
    }

    /// Children `i0..=i1` (of `2^(bits - shift)`) that rule `r` overlaps in dimension `dim`.
    fn child_span(&self, r: u32, dim: usize, base: A, bits: u32, shift: u32) -> (usize, usize) {
        let last = base.wrapping_add(span(bits));
        let lo = self.lo[dim][r as usize]
            .clamp(base, last)
            .wrapping_sub(base);
        let hi = self.hi[dim][r as usize]
            .clamp(base, last)
            .wrapping_sub(base);
        (lo.index(shift, u32::MAX), hi.index(shift, u32::MAX))
    }

    /// The (dimension, cut bits) with the smallest largest child, or `None` if no cut makes
    /// progress. One pass over the rules per dimension: at the finest allowed cut, count rule
    /// starts per child and rules alive at each child's first value; a coarser child `j` then
    /// holds the rules alive at its first value plus those starting inside it.
    fn choose_cut(&self, seg: &[u32], region: &Region<A>) -> Option<(usize, u32)> {
        let n = seg.len();
        let mut best: Option<(usize, usize, u32, usize)> = None; // (max child, space, c, dim)
        let mut starts: Vec<u32> = Vec::new();
        let mut alive: Vec<i64> = Vec::new();
        // More than `spfac * n` children can never satisfy the space bound.
        let affordable = (self.opts.spfac * n as f64).max(2.0).log2().floor() as u32;
        for (dim, &(base, bits)) in region.iter().enumerate() {
            let max_c = bits.min(self.opts.max_cut_bits).min(affordable).min(16);
            if max_c == 0 {
                continue;
            }
            // A dimension in which every rule spans the whole region cannot separate them.
            let last = base.wrapping_add(span(bits));
            let (lo, hi) = (&self.lo[dim], &self.hi[dim]);
            if seg
                .iter()
                .all(|&r| lo[r as usize] <= base && hi[r as usize] >= last)
            {
                continue;
            }
            let fine = 1usize << max_c;
            starts.clear();
            starts.resize(fine, 0);
            alive.clear();
            alive.resize(fine + 1, 0);
            for &r in seg {
                let (i0, i1) = self.child_span(r, dim, base, bits, bits - max_c);
                starts[i0] += 1;
                alive[i0] += 1;
                alive[i1 + 1] -= 1;
            }
            // alive[i] := rules overlapping fine child i; starts[i] := prefix sum of starts.
            let mut run = 0i64;
            let mut acc = 0u32;
            for i in 0..fine {
                run += alive[i];
                alive[i] = run;
                acc += starts[i];
                starts[i] = acc;
            }
            let mut pick: Option<(usize, usize, u32)> = None;
            for c in 1..=max_c {
                let k = 1usize << c;
                let width = fine / k;
                let (mut total, mut max_child) = (0usize, 0usize);
                for j in 0..k {
                    let first = j * width;
                    let last = first + width - 1;
                    let inner = (starts[last] - starts[first]) as usize;
                    let count = alive[first] as usize + inner;
                    total += count;
                    max_child = max_child.max(count);
                }
                let space = total + k;
                if c > 1 && space as f64 > self.opts.spfac * n as f64 {
                    break;
                }
                pick = Some((max_child, space, c));
                if max_child <= 1 {
                    break;
                }
            }
            if let Some((m, s, c)) = pick {
                let better = match best {
                    None => true,
                    Some((bm, bs, _, _)) => (m, s) < (bm, bs),
                };
                if better {
                    best = Some((m, s, c, dim));
                }
            }
        }
        // A cut that leaves every rule in some child makes no progress: stop at a (big) leaf.
        best.filter(|&(m, _, _, _)| m < n)
            .map(|(_, _, c, dim)| (dim, c))
    }

    /// A leaf holding `seg`, shared with any identical leaf built before.
    fn leaf(&mut self, seg: &[u32]) -> Result<Entry, ClassifierError> {
        if let Some(&e) = self.leaves.get(seg) {
            return Ok(e);
        }
        let start = slot_u32(self.rules.len())?;
        let len = u32::try_from(seg.len())
            .ok()
            .filter(|&l| l < 1 << 24)
            .ok_or(ClassifierError::TooLarge {
                what: "rules in one leaf",
                limit: 1 << 24,
            })?;
        self.rules
            .extend(seg.iter().map(|&r| self.packed[r as usize]));
        self.stored += seg.len();
        let e = Entry::leaf(start, len);
        self.leaves.insert(seg.to_vec(), e);
        Ok(e)
    }

    /// Reserves `n` child slots, returning the first.
    fn alloc(&mut self, n: usize) -> Result<usize, ClassifierError> {
        let first = self.children.len();
        slot_u32(first + n)?;
        self.children.resize(first + n, Entry::EMPTY);
        self.stored += n;
        Ok(first)
    }
}

fn slot_u32(i: usize) -> Result<u32, ClassifierError> {
    u32::try_from(i).map_err(|_| ClassifierError::TooLarge {
        what: "tree slots",
        limit: u32::MAX as usize,
    })
}
