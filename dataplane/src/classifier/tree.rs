//! One cut tree: its flat arrays and the lookups that walk them.
//!
//! Contract: a [`Tree`] is immutable plain data. An internal node cuts one dimension of its
//! (power-of-two aligned) region into `2^c` equal children, so the child slot is
//! `first_child + ((field >> shift) & mask)`: one load per level. A leaf is a run of
//! [`PackedRule`]s in priority order. A node may carry a *continuation* (in the slot just before
//! its children): the tree of the rules that come after a rule covering the node's whole region.
//! Plain lookups never need it (the covering rule always matches); `lookup_from` does.

use super::spec::{Addr, PackedRule, PacketHeader};

/// Kind byte values of an [`Entry`]; `0..DIMS` is an internal node cutting that dimension.
pub(crate) const KIND_LEAF: u8 = 5;
pub(crate) const KIND_EMPTY: u8 = 6;
/// Flag on internal nodes: a continuation sits in `children[first_child - 1]`.
pub(crate) const FLAG_CONT: u8 = 0x80;

/// Upper bound on pending continuations during `lookup_from`: each one on the stack comes from
/// a node whose region strictly contains the next one's, so their number is at most the sum of
/// the dimension widths (2 * 128 + 16 + 16 + 8 for IPv6), plus one. The builder checks it.
pub(crate) const MAX_PENDING: usize = 2 * 128 + 16 + 16 + 8 + 1;

/// One 8-byte slot: an internal node (its cut), a leaf (its rule run), or nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Entry {
    /// Internal: index of the first child slot. Leaf: index of the first rule.
    pub a: u32,
    pub kind: u8,
    /// Internal: right shift. Leaf: bits 16..24 of the length.
    pub shift: u8,
    /// Internal: child index mask. Leaf: bits 0..16 of the length.
    pub mask: u16,
}

impl Entry {
    pub const EMPTY: Entry = Entry {
        a: 0,
        kind: KIND_EMPTY,
        shift: 0,
        mask: 0,
    };

    pub fn leaf(start: u32, len: u32) -> Entry {
        Entry {
            a: start,
            kind: KIND_LEAF,
            shift: (len >> 16) as u8,
            mask: len as u16,
        }
    }

    #[inline(always)]
    pub fn is_internal(self) -> bool {
        (self.kind & !FLAG_CONT) < KIND_LEAF
    }

    #[inline(always)]
    fn leaf_range(self) -> (usize, usize) {
        let len = (usize::from(self.shift) << 16) | usize::from(self.mask);
        let start = self.a as usize;
        (start, start + len)
    }
}

/// A cut tree over one partition of the rules.
#[derive(Clone, Debug)]
pub(crate) struct Tree<A: Addr> {
    pub root: Entry,
    pub children: Vec<Entry>,
    pub rules: Vec<PackedRule<A>>,
    /// Smallest rule index stored in this tree.
    pub min_rule: u32,
}

/// A header widened to one array so that a node can index its dimension; padded to 8 so that
/// any `kind & 7` indexes it without a bounds check.
pub(crate) type Key<A> = [A; 8];

#[inline(always)]
pub(crate) fn key_of<A: Addr>(h: &PacketHeader<A>) -> Key<A> {
    let z = A::default();
    [
        h.src,
        h.dst,
        A::from_u16(h.sport),
        A::from_u16(h.dport),
        A::from_u16(u16::from(h.proto)),
        z,
        z,
        z,
    ]
}

impl<A: Addr> Tree<A> {
    /// Moves from an internal node to the child the key falls in.
    #[inline(always)]
    pub fn step(&self, e: Entry, key: &Key<A>) -> Entry {
        let field = key[usize::from(e.kind & 7)];
        let slot = e.a as usize + field.index(u32::from(e.shift), u32::from(e.mask));
        self.children.get(slot).copied().unwrap_or(Entry::EMPTY)
    }

    /// Walks from the root to the leaf (or empty slot) the key falls in.
    #[inline(always)]
    pub fn descend(&self, key: &Key<A>) -> Entry {
        let mut e = self.root;
        while e.is_internal() {
            e = self.step(e, key);
        }
        e
    }

    /// First rule of leaf `e` matching `h` with index below `best`; `best` if none.
    #[inline(always)]
    pub fn scan(&self, e: Entry, h: &PacketHeader<A>, best: u32) -> u32 {
        if e.kind != KIND_LEAF {
            return best;
        }
        let (start, end) = e.leaf_range();
        for r in self.rules.get(start..end).unwrap_or(&[]) {
            if r.id >= best {
                break;
            }
            if r.matches(h) {
                return r.id;
            }
        }
        best
    }

    /// First matching rule with index in `min_rule..best`; `best` if none. Follows
    /// continuations depth-first, so later rules are only looked at when earlier ones fail.
    pub fn lookup_from(&self, h: &PacketHeader<A>, min_rule: u32, best: u32) -> u32 {
        if self.min_rule >= best {
            return best;
        }
        let key = key_of(h);
        let mut stack = [0u32; MAX_PENDING];
        let mut sp = 0usize;
        let mut e = self.root;
        loop {
            if e.is_internal() {
                if e.kind & FLAG_CONT != 0
                    && let Some(slot) = stack.get_mut(sp)
                {
                    *slot = e.a.wrapping_sub(1);
                    sp += 1;
                }
                e = self.step(e, &key);
                continue;
            }
            if e.kind == KIND_LEAF {
                let (start, end) = e.leaf_range();
                for r in self.rules.get(start..end).unwrap_or(&[]) {
                    if r.id >= best {
                        return best;
                    }
                    if r.id >= min_rule && r.matches(h) {
                        return r.id;
                    }
                }
            }
            if sp == 0 {
                return best;
            }
            sp -= 1;
            let slot = stack.get(sp).copied().unwrap_or(u32::MAX) as usize;
            e = self.children.get(slot).copied().unwrap_or(Entry::EMPTY);
        }
    }

    /// Like `descend` + `scan`, counting (node steps, rules compared).
    pub fn cost(&self, h: &PacketHeader<A>, best: u32) -> (u32, usize, usize) {
        let key = key_of(h);
        let mut e = self.root;
        let mut steps = 0;
        while e.is_internal() {
            e = self.step(e, &key);
            steps += 1;
        }
        let mut compared = 0;
        if e.kind == KIND_LEAF {
            let (start, end) = e.leaf_range();
            for r in self.rules.get(start..end).unwrap_or(&[]) {
                if r.id >= best {
                    break;
                }
                compared += 1;
                if r.matches(h) {
                    return (r.id, steps, compared);
                }
            }
        }
        (best, steps, compared)
    }

    /// Heap memory of this tree, counting capacity.
    pub fn heap_bytes(&self) -> usize {
        self.children.capacity() * size_of::<Entry>()
            + self.rules.capacity() * size_of::<PackedRule<A>>()
    }
}
