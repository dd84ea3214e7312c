//! Rule and header types shared by every classifier, and the address-width abstraction.
//!
//! Contract: a [`RuleSpec`] matches a [`PacketHeader`] when every field of the header lies in the
//! rule's inclusive range for that field (`proto: None` matches any protocol). A rule whose range
//! is empty (`lo > hi`) matches nothing. Addresses are integers: IPv4 as `u32`, IPv6 as `u128`.

use std::fmt::Debug;
use std::hash::Hash;
use std::ops::RangeInclusive;

/// An address width the classifier can be keyed by: `u32` (IPv4) or `u128` (IPv6).
pub trait Addr: Copy + Ord + Eq + Hash + Debug + Default + Send + Sync + 'static {
    /// Width of the address in bits.
    const BITS: u32;
    /// The largest address.
    const MAX: Self;
    /// Widens a port or protocol number to this width.
    fn from_u16(v: u16) -> Self;
    /// Lossless widening to `u128` (used at build time only).
    fn to_u128(self) -> u128;
    /// Narrowing from `u128`; only called with values that fit (build time only).
    fn from_u128_lossy(v: u128) -> Self;
    /// `(self >> shift) & mask` as an index; `shift < BITS`.
    fn index(self, shift: u32, mask: u32) -> usize;
    /// `self - other` modulo 2^BITS.
    fn wrapping_sub(self, other: Self) -> Self;
    /// `self + other` modulo 2^BITS.
    fn wrapping_add(self, other: Self) -> Self;
}

impl Addr for u32 {
    const BITS: u32 = 32;
    const MAX: Self = u32::MAX;
    #[inline(always)]
    fn from_u16(v: u16) -> Self {
        u32::from(v)
    }
    fn to_u128(self) -> u128 {
        u128::from(self)
    }
    fn from_u128_lossy(v: u128) -> Self {
        v as u32
    }
    #[inline(always)]
    fn index(self, shift: u32, mask: u32) -> usize {
        ((self >> shift) & mask) as usize
    }
    #[inline(always)]
    fn wrapping_sub(self, other: Self) -> Self {
        u32::wrapping_sub(self, other)
    }
    #[inline(always)]
    fn wrapping_add(self, other: Self) -> Self {
        u32::wrapping_add(self, other)
    }
}

impl Addr for u128 {
    const BITS: u32 = 128;
    const MAX: Self = u128::MAX;
    #[inline(always)]
    fn from_u16(v: u16) -> Self {
        u128::from(v)
    }
    fn to_u128(self) -> u128 {
        self
    }
    fn from_u128_lossy(v: u128) -> Self {
        v
    }
    #[inline(always)]
    fn index(self, shift: u32, mask: u32) -> usize {
        ((self >> shift) as u32 & mask) as usize
    }
    #[inline(always)]
    fn wrapping_sub(self, other: Self) -> Self {
        u128::wrapping_sub(self, other)
    }
    #[inline(always)]
    fn wrapping_add(self, other: Self) -> Self {
        u128::wrapping_add(self, other)
    }
}

/// The five header fields a rule can constrain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PacketHeader<A: Addr> {
    pub src: A,
    pub dst: A,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

/// One rule: an inclusive range per field. Its priority is its index in the rule slice.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleSpec<A: Addr> {
    pub src: RangeInclusive<A>,
    pub dst: RangeInclusive<A>,
    pub sport: RangeInclusive<u16>,
    pub dport: RangeInclusive<u16>,
    /// `Some(p)`: exactly protocol `p`; `None`: any protocol.
    pub proto: Option<u8>,
}

impl<A: Addr> RuleSpec<A> {
    /// A rule matching every header.
    pub fn any() -> Self {
        Self {
            src: A::default()..=A::MAX,
            dst: A::default()..=A::MAX,
            sport: 0..=u16::MAX,
            dport: 0..=u16::MAX,
            proto: None,
        }
    }

    /// The address range of the prefix `addr/len`; `None` if `len` exceeds the width.
    pub fn prefix(addr: A, len: u32) -> Option<RangeInclusive<A>> {
        if len > A::BITS {
            return None;
        }
        let host = A::BITS - len;
        let span = if host == 0 {
            0
        } else if host >= 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        };
        let lo = addr.to_u128() & !span;
        Some(A::from_u128_lossy(lo)..=A::from_u128_lossy(lo | span))
    }

    /// True when `h` lies in every field range of this rule.
    pub fn matches(&self, h: &PacketHeader<A>) -> bool {
        self.src.contains(&h.src)
            && self.dst.contains(&h.dst)
            && self.sport.contains(&h.sport)
            && self.dport.contains(&h.dport)
            && self.proto.is_none_or(|p| p == h.proto)
    }

    /// True when no header can match (some range is empty).
    pub fn is_empty(&self) -> bool {
        self.src.is_empty() || self.dst.is_empty() || self.sport.is_empty() || self.dport.is_empty()
    }

    /// Inclusive bounds per dimension (src, dst, sport, dport, proto), widened to `u128`.
    pub(crate) fn bounds(&self) -> ([u128; DIMS], [u128; DIMS]) {
        let (plo, phi) = match self.proto {
            Some(p) => (u128::from(p), u128::from(p)),
            None => (0, 255),
        };
        (
            [
                self.src.start().to_u128(),
                self.dst.start().to_u128(),
                u128::from(*self.sport.start()),
                u128::from(*self.dport.start()),
                plo,
            ],
            [
                self.src.end().to_u128(),
                self.dst.end().to_u128(),
                u128::from(*self.sport.end()),
                u128::from(*self.dport.end()),
                phi,
            ],
        )
    }
}

/// Number of classified dimensions.
pub(crate) const DIMS: usize = 5;

/// Width in bits of each dimension for address width `A`.
pub(crate) fn dim_bits<A: Addr>() -> [u32; DIMS] {
    [A::BITS, A::BITS, 16, 16, 8]
}

/// A rule as stored in leaves: lower bound and span per field, so that a field matches when
/// `value - lo <= span` (one wrapping subtraction and one comparison), plus the rule index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackedRule<A: Addr> {
    pub src_lo: A,
    pub src_span: A,
    pub dst_lo: A,
    pub dst_span: A,
    pub sport_lo: u16,
    pub sport_span: u16,
    pub dport_lo: u16,
    pub dport_span: u16,
    pub id: u32,
    pub proto_lo: u8,
    pub proto_span: u8,
}

impl<A: Addr> PackedRule<A> {
    /// Packs a non-empty rule.
    pub fn new(spec: &RuleSpec<A>, id: u32) -> Self {
        let (plo, pspan) = match spec.proto {
            Some(p) => (p, 0),
            None => (0, u8::MAX),
        };
        Self {
            src_lo: *spec.src.start(),
            src_span: spec.src.end().wrapping_sub(*spec.src.start()),
            dst_lo: *spec.dst.start(),
            dst_span: spec.dst.end().wrapping_sub(*spec.dst.start()),
            sport_lo: *spec.sport.start(),
            sport_span: spec.sport.end().wrapping_sub(*spec.sport.start()),
            dport_lo: *spec.dport.start(),
            dport_span: spec.dport.end().wrapping_sub(*spec.dport.start()),
            id,
            proto_lo: plo,
            proto_span: pspan,
        }
    }

    /// Branch-free match of one header.
    #[inline(always)]
    pub fn matches(&self, h: &PacketHeader<A>) -> bool {
        (h.src.wrapping_sub(self.src_lo) <= self.src_span)
            & (h.dst.wrapping_sub(self.dst_lo) <= self.dst_span)
            & (h.sport.wrapping_sub(self.sport_lo) <= self.sport_span)
            & (h.dport.wrapping_sub(self.dport_lo) <= self.dport_span)
            & (h.proto.wrapping_sub(self.proto_lo) <= self.proto_span)
    }
}
