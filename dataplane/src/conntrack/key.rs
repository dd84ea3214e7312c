//! The normalised connection key: both directions of a flow map to one `CtKey`.
//!
//! Contract: `CtKey::new(k)` and `CtKey::new(&k.reversed())` give the same key bits (everything
//! under `META_KEY_MASK`, plus the four address words); `packet_is_b` tells which endpoint the
//! packet came from. The key is five `u64` words, laid out as they are stored in a slot.

use std::net::IpAddr;
#[cfg(test)]
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::flow::{FlowKey, IcmpFields, IpProto};

/// Bits of the meta word that identify the connection (ports, protocol, family).
pub(crate) const META_KEY_MASK: u64 = (1 << 41) - 1;
const META_V6: u64 = 1 << 40;
/// Set when the original direction's source is endpoint `b` of the normalised key.
pub(crate) const META_ORIG_IS_B: u64 = 1 << 41;
const META_ICMP_TYPE: u64 = 1 << 42;
const META_ICMP_CODE: u64 = 1 << 43;

/// A normalised, direction-free connection key. Endpoint `a` sorts before endpoint `b` by
/// (address, port). IPv4 addresses occupy the low 32 bits of the `lo` words, `hi` words are 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct CtKey {
    /// port a (0..16) | port b (16..32) | protocol (32..40) | IPv6 (40) | original-is-b (41)
    /// | ICMP type present (42) | code present (43) | type (48..56) | code (56..64)
    pub meta: u64,
    pub a_lo: u64,
    pub b_lo: u64,
    pub a_hi: u64,
    pub b_hi: u64,
}

fn split(addr: IpAddr, v6: bool) -> (u64, u64) {
    let bits: u128 = match addr {
        IpAddr::V4(a) if v6 => u128::from(a.to_ipv6_mapped()),
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    ((bits >> 64) as u64, bits as u64)
}

#[cfg(test)]
fn join(hi: u64, lo: u64, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from((u128::from(hi) << 64) | u128::from(lo)))
    } else {
        IpAddr::V4(Ipv4Addr::from(lo as u32))
    }
}

impl CtKey {
    /// Normalises `k`. Returns the key (with `META_ORIG_IS_B` set as if `k` were the original
    /// direction, and `k`'s ICMP fields) and whether `k`'s source is endpoint `b`.
    #[inline]
    pub fn new(k: &FlowKey) -> (Self, bool) {
        if let (IpAddr::V4(s), IpAddr::V4(d)) = (k.src, k.dst) {
            // The common case: one comparison of (address, port) packed in a u64.
            let src = (u64::from(u32::from(s)) << 16) | u64::from(k.src_port);
            let dst = (u64::from(u32::from(d)) << 16) | u64::from(k.dst_port);
            let swap = dst < src;
            let (a, b) = if swap { (dst, src) } else { (src, dst) };
            let meta = (a & 0xFFFF)
                | ((b & 0xFFFF) << 16)
                | (u64::from(k.protocol) << 32)
                | if swap { META_ORIG_IS_B } else { 0 }
                | icmp_bits(k);
            let key = Self {
                meta,
                a_lo: a >> 16,
                b_lo: b >> 16,
                a_hi: 0,
                b_hi: 0,
            };
            return (key, swap);
        }
        Self::new_slow(k)
    }

    fn new_slow(k: &FlowKey) -> (Self, bool) {
        let v6 = k.src.is_ipv6() || k.dst.is_ipv6();
        let (s_hi, s_lo) = split(k.src, v6);
        let (d_hi, d_lo) = split(k.dst, v6);
        let swap = (d_hi, d_lo, k.dst_port) < (s_hi, s_lo, k.src_port);
        let (a_hi, a_lo, pa, b_hi, b_lo, pb) = if swap {
            (d_hi, d_lo, k.dst_port, s_hi, s_lo, k.src_port)
        } else {
            (s_hi, s_lo, k.src_port, d_hi, d_lo, k.dst_port)
        };
        let mut meta = u64::from(pa) | (u64::from(pb) << 16) | (u64::from(k.protocol) << 32);
        if v6 {
            meta |= META_V6;
        }
        if swap {
            meta |= META_ORIG_IS_B;
        }
        meta |= icmp_bits(k);
        let key = Self {
            meta,
            a_lo,
            b_lo,
            a_hi,
            b_hi,
        };
        (key, swap)
    }

    #[inline]
    pub fn is_v6(&self) -> bool {
        self.meta & META_V6 != 0
    }

    #[inline]
    pub fn protocol(&self) -> u8 {
        (self.meta >> 32) as u8
    }

    /// True when `self` and `other` name the same connection (direction and ICMP fields aside).
    #[inline]
    pub fn same_connection(&self, other: &Self) -> bool {
        (self.meta ^ other.meta) & META_KEY_MASK == 0
            && self.a_lo == other.a_lo
            && self.b_lo == other.b_lo
            && (!self.is_v6() || (self.a_hi == other.a_hi && self.b_hi == other.b_hi))
    }

    /// The ICMP fields the key was built with.
    pub fn icmp(&self) -> IcmpFields {
        icmp_of_meta(self.meta)
    }

    /// The original-direction `FlowKey` this key was built from.
    #[cfg(test)]
    pub fn original(&self) -> FlowKey {
        let v6 = self.is_v6();
        let a = join(self.a_hi, self.a_lo, v6);
        let b = join(self.b_hi, self.b_lo, v6);
        let (pa, pb) = (self.meta as u16, (self.meta >> 16) as u16);
        let (src, dst, sp, dp) = if self.meta & META_ORIG_IS_B != 0 {
            (b, a, pb, pa)
        } else {
            (a, b, pa, pb)
        };
        let protocol = self.protocol();
        if IpProto::is_icmp(protocol) {
            FlowKey::icmp(src, dst, protocol, self.icmp(), sp)
        } else {
            FlowKey {
                src,
                dst,
                protocol,
                src_port: sp,
                dst_port: dp,
                icmp: self.icmp(),
            }
        }
    }

    /// The keyed hash of the connection bits (direction-free by construction).
    #[inline]
    pub fn hash(&self, seed: &[u64; 4]) -> u64 {
        let m = self.meta & META_KEY_MASK;
        if !self.is_v6() {
            // Both IPv4 addresses fit one word.
            let x = folded_multiply((self.a_lo << 32 | self.b_lo) ^ seed[0], m ^ seed[1]);
            return folded_multiply(x ^ seed[2], seed[3]);
        }
        let x = folded_multiply(self.a_lo ^ seed[0], self.b_lo ^ seed[1]);
        let y = folded_multiply(self.a_hi ^ seed[2], self.b_hi ^ m ^ seed[3]);
        folded_multiply(x ^ m.rotate_left(29), y ^ seed[0].rotate_left(17))
    }
}

/// The ICMP fields recorded in a meta word.
pub(crate) fn icmp_of_meta(meta: u64) -> IcmpFields {
    IcmpFields {
        icmp_type: (meta & META_ICMP_TYPE != 0).then_some((meta >> 48) as u8),
        code: (meta & META_ICMP_CODE != 0).then_some((meta >> 56) as u8),
    }
}

/// The meta bits of `k`'s ICMP type and code (none for protocols other than ICMP/ICMPv6).
#[inline]
fn icmp_bits(k: &FlowKey) -> u64 {
    if !IpProto::is_icmp(k.protocol) {
        return 0;
    }
    let mut m = 0;
    if let Some(t) = k.icmp.icmp_type {
        m |= META_ICMP_TYPE | (u64::from(t) << 48);
    }
    if let Some(c) = k.icmp.code {
        m |= META_ICMP_CODE | (u64::from(c) << 56);
    }
    m
}

/// The 64x64->128 multiply folded to 64 bits (the core of foldhash/wyhash).
#[inline]
fn folded_multiply(x: u64, y: u64) -> u64 {
    let p = u128::from(x) * u128::from(y);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Expands one seed into the four hash keys; never yields a zero key.
pub(crate) fn expand_seed(seed: u64) -> [u64; 4] {
    let mut s = seed;
    let mut next = || {
        // splitmix64
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) | 1
    };
    [next(), next(), next(), next()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn both_directions_normalise_to_one_key() {
        let keys = [
            FlowKey::new(ip("10.0.0.2"), ip("10.0.0.1"), IpProto::TCP, 40000, 80),
            FlowKey::new(ip("10.0.0.1"), ip("10.0.0.1"), IpProto::UDP, 53, 5353),
            FlowKey::new(ip("fd00::1"), ip("fd00::2"), IpProto::SCTP, 1, 2),
            FlowKey::new(ip("fd00::1"), ip("10.0.0.1"), 47, 0, 0),
        ];
        let seed = expand_seed(7);
        for k in keys {
            let (fwd, fwd_b) = CtKey::new(&k);
            let (rev, rev_b) = CtKey::new(&k.reversed());
            assert!(fwd.same_connection(&rev));
            assert_eq!(fwd.hash(&seed), rev.hash(&seed));
            assert!(fwd_b != rev_b || (k.src == k.dst && k.src_port == k.dst_port));
        }
    }

    #[test]
    fn original_round_trips() {
        let icmp = IcmpFields {
            icmp_type: Some(8),
            code: Some(0),
        };
        let keys = [
            FlowKey::new(ip("10.0.0.2"), ip("10.0.0.1"), IpProto::TCP, 40000, 80),
            FlowKey::new(ip("fd00::9"), ip("fd00::2"), IpProto::UDPLITE, 9, 2),
            FlowKey::icmp(ip("10.1.0.9"), ip("10.0.0.1"), IpProto::ICMP, icmp, 77),
            FlowKey::new(ip("10.0.0.1"), ip("10.0.0.2"), 47, 0, 0),
        ];
        for k in keys {
            assert_eq!(CtKey::new(&k).0.original(), k);
        }
    }

    #[test]
    fn different_connections_differ() {
        let a = FlowKey::new(ip("10.0.0.2"), ip("10.0.0.1"), IpProto::TCP, 40000, 80);
        let b = FlowKey::new(ip("10.0.0.2"), ip("10.0.0.1"), IpProto::UDP, 40000, 80);
        let c = FlowKey::new(ip("10.0.0.2"), ip("10.0.0.1"), IpProto::TCP, 40001, 80);
        let d = FlowKey::new(ip("::ffff:10.0.0.2"), ip("::ffff:10.0.0.1"), 6, 40000, 80);
        let ka = CtKey::new(&a).0;
        for other in [b, c, d] {
            assert!(!ka.same_connection(&CtKey::new(&other).0));
        }
    }
}
