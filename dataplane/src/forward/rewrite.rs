//! The in-place rewrite of a forwarded frame.
//!
//! Contract: `rewrite_for_forward` writes the Ethernet addresses, decrements the IPv4 TTL
//! (updating the header checksum incrementally, RFC 1624) or the IPv6 hop limit, and returns
//! `TtlExceeded` without touching the frame when the TTL is 1 or 0. It relies only on the
//! offsets `parse_frame` recorded for this same frame; a frame too short for them is reported as
//! `TruncatedIpHeader`, never a panic.

use crate::packet::{DropReason, IpInfo, MacAddr, checksum};

/// Offset of the IPv4 header checksum relative to the TTL byte.
const V4_CHECKSUM_AFTER_TTL: usize = 2;

/// Rewrites `frame` for forwarding: destination MAC `dst`, source MAC `src`, TTL − 1.
pub fn rewrite_for_forward(
    frame: &mut [u8],
    ip: &IpInfo,
    src: MacAddr,
    dst: MacAddr,
) -> Result<(), DropReason> {
    if ip.ttl <= 1 {
        return Err(DropReason::TtlExceeded);
    }
    let ttl_at = usize::from(ip.ttl_offset);
    let new_ttl = ip.ttl - 1;
    if ip.is_ipv6() {
        let hop_limit = frame.get_mut(ttl_at).ok_or(DropReason::TruncatedIpHeader)?;
        *hop_limit = new_ttl;
    } else {
        let sum_at = ttl_at + V4_CHECKSUM_AFTER_TTL;
        let Some([ttl, protocol, sum_hi, sum_lo]) = frame.get_mut(ttl_at..sum_at + 2) else {
            return Err(DropReason::TruncatedIpHeader);
        };
        let old_word = u16::from_be_bytes([*ttl, *protocol]);
        let new_word = u16::from_be_bytes([new_ttl, *protocol]);
        let old_sum = u16::from_be_bytes([*sum_hi, *sum_lo]);
        let [hi, lo] = checksum::update(old_sum, old_word, new_word).to_be_bytes();
        *ttl = new_ttl;
        *sum_hi = hi;
        *sum_lo = lo;
    }
    let Some(macs) = frame.get_mut(0..12) else {
        return Err(DropReason::Runt);
    };
    let (dst_field, src_field) = macs.split_at_mut(6);
    dst_field.copy_from_slice(&dst.0);
    src_field.copy_from_slice(&src.0);
    Ok(())
}
