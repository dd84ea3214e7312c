//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Contract: pure functions over byte slices; odd lengths are padded with a zero byte as the
//! RFC says. `verifies` is true when a header that carries its own checksum sums to 0xffff.

use std::net::Ipv6Addr;

/// The one's-complement sum of `data` folded to 16 bits, added to `initial` (not inverted).
#[inline]
pub fn sum(initial: u32, data: &[u8]) -> u32 {
    let mut acc = u64::from(initial);
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        if let &[hi, lo] = pair {
            acc += u64::from(u16::from_be_bytes([hi, lo]));
        }
    }
    if let &[last] = chunks.remainder() {
        acc += u64::from(u16::from_be_bytes([last, 0]));
    }
    fold(acc)
}

/// Folds a wide one's-complement accumulator to 16 bits.
#[inline]
pub fn fold(mut acc: u64) -> u32 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u32
}

/// The checksum field value for `data` (whose checksum field must be zero).
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    !(sum(0, data) as u16)
}

/// True when `data`, including its checksum field, sums to 0xffff.
#[inline]
pub fn verifies(data: &[u8]) -> bool {
    sum(0, data) == 0xffff
}

/// The sum of the IPv6 pseudo-header (RFC 8200 §8.1) for an upper-layer packet.
pub fn ipv6_pseudo_header_sum(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    upper_len: u32,
    next_header: u8,
) -> u32 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    fold(
        u64::from(acc)
            + u64::from(upper_len >> 16)
            + u64::from(upper_len & 0xffff)
            + u64::from(next_header),
    )
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit word of the covered data changes from
/// `old_word` to `new_word`: HC' = ~(~HC + ~m + m').
#[inline]
pub fn update(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let acc = u64::from(!old_checksum) + u64::from(!old_word) + u64::from(new_word);
    !(fold(acc) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        assert_eq!(
            sum(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        assert_eq!(sum(0, &[0xab]), 0xab00);
    }

    #[test]
    fn incremental_update_equals_recomputation() {
        let mut header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = checksum(&header);
        assert_eq!(c, 0xb861, "the well-known example header");
        header[10..12].copy_from_slice(&c.to_be_bytes());
        assert!(verifies(&header));
        for ttl in [0x40u8, 0x01, 0xff, 0x80] {
            let old_word = u16::from_be_bytes([header[8], header[9]]);
            let old_sum = u16::from_be_bytes([header[10], header[11]]);
            header[8] = ttl.wrapping_sub(1);
            let new_word = u16::from_be_bytes([header[8], header[9]]);
            let updated = update(old_sum, old_word, new_word);
            header[10..12].copy_from_slice(&[0, 0]);
            assert_eq!(updated, checksum(&header), "ttl {ttl}");
            header[10..12].copy_from_slice(&updated.to_be_bytes());
            assert!(verifies(&header));
        }
    }
}
