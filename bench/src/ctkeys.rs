//! Conntrack benchmark inputs shared by `ctbench` and the criterion conntrack bench: the same
//! keys and the same index stream, so their numbers describe the same workload.

use std::net::{IpAddr, Ipv4Addr};

use palisade_dataplane::{FlowKey, IpProto};

/// The `i`th key: splitmix64 of the index spread over IPv4 addresses and TCP ports, so
/// consecutive indexes land far apart in the table (and miss the CPU cache).
pub fn key_of(i: u64) -> FlowKey {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let w = i.wrapping_mul(0xD605_BBB5_8C8A_BBFD).rotate_left(29) ^ z;
    FlowKey::new(
        IpAddr::V4(Ipv4Addr::from(z as u32)),
        IpAddr::V4(Ipv4Addr::from((z >> 32) as u32)),
        IpProto::TCP,
        w as u16,
        (w >> 16) as u16,
    )
}

/// A xorshift stream of indexes in `0..n`.
#[derive(Debug, Clone)]
pub struct Picker {
    state: u64,
    n: u64,
}

impl Picker {
    /// `seed` must not be 0 (xorshift would stay at 0).
    pub fn new(seed: u64, n: u64) -> Self {
        Self { state: seed, n }
    }

    #[inline]
    pub fn next_index(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        ((u128::from(self.state >> 32) * u128::from(self.n)) >> 32) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_stay_in_range_and_keys_differ() {
        let mut p = Picker::new(11, 1000);
        assert!((0..10_000).all(|_| p.next_index() < 1000));
        assert_ne!(key_of(0), key_of(1));
    }
}
