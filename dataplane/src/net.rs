//! IP networks (CIDRs) as plain data: parse, normalise, test membership.
//!
//! Contract: an `IpNet` always has its host bits cleared and a prefix length valid for its
//! family; `contains` never matches across families.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 network: address with host bits cleared, and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a string is not a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {input:?}: {reason}")]
pub struct IpNetError {
    pub input: String,
    pub reason: &'static str,
}

impl IpNet {
    /// A network from an address and prefix; host bits are cleared. `None` if the prefix is too long.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then(|| Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// The /32 or /128 holding exactly `addr`.
    pub fn host(addr: IpAddr) -> Self {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Self { addr, prefix }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// True for 0.0.0.0/0 and ::/0.
    pub fn is_catch_all(&self) -> bool {
        self.prefix == 0
    }

    /// True when `ip` is inside this network (same family only).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }

    /// True when every address of `other` is inside this network.
    pub fn contains_net(&self, other: &IpNet) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// The first and last address as integers (IPv4 in the low 32 bits).
    pub fn range_u128(&self) -> (u128, u128) {
        let bits = if self.is_ipv4() { 32 } else { 128 };
        let lo = addr_to_u128(self.addr);
        let host_bits = bits - u32::from(self.prefix);
        let span = if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        (lo, lo | span)
    }
}

/// An address as an integer (IPv4 in the low 32 bits).
pub fn addr_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;

    /// `a.b.c.d/len`, `x::y/len`, or a bare address (a host network), as Calico accepts.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| IpNetError {
            input: s.to_string(),
            reason,
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                let prefix: u8 = p
                    .parse()
                    .map_err(|_| err("the prefix length is not a number"))?;
                (a, Some(prefix))
            }
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| err("expected an IPv4 or IPv6 address"))?;
        match prefix {
            Some(p) => IpNet::new(addr, p).ok_or_else(|| err("the prefix length is too long")),
            None => Ok(IpNet::host(addr)),
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_normalises() {
        assert_eq!(net("1.2.3.4/24").to_string(), "1.2.3.0/24");
        assert_eq!(net("10.0.0.1").to_string(), "10.0.0.1/32");
        assert_eq!(net("fd00::1/64").to_string(), "fd00::/64");
        assert!("1.2.3.4/33".parse::<IpNet>().is_err());
        assert!("1.2.3/8".parse::<IpNet>().is_err());
        assert!("::/129".parse::<IpNet>().is_err());
    }

    #[test]
    fn membership_respects_family_and_prefix() {
        let n = net("172.17.0.0/16");
        assert!(n.contains("172.17.255.1".parse().unwrap()));
        assert!(!n.contains("172.18.0.1".parse().unwrap()));
        assert!(!n.contains("::ffff:172.17.0.1".parse().unwrap()));
        assert!(net("0.0.0.0/0").contains("8.8.8.8".parse().unwrap()));
        assert!(net("::/0").contains("::1".parse().unwrap()));
        assert!(n.contains_net(&net("172.17.1.0/24")));
        assert!(!net("172.17.1.0/24").contains_net(&n));
        assert_eq!(net("10.0.0.0/8").range_u128(), (0x0a00_0000, 0x0aff_ffff));
        assert_eq!(net("0.0.0.0/0").range_u128(), (0, 0xffff_ffff));
        assert_eq!(net("::/0").range_u128(), (0, u128::MAX));
    }
}
