//! Calico's `numorstring` types: protocols and ports given as a number or a string.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use palisade_dataplane::IpProto;

/// A protocol as written in a manifest: a name (any case) or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolSpec {
    Number(u64),
    Name(String),
}

impl ProtocolSpec {
    /// Resolve to an IP protocol number, or explain what would be valid.
    pub fn resolve(&self) -> Result<u8, String> {
        match self {
            ProtocolSpec::Number(n) if (1..=255).contains(n) => Ok(*n as u8),
            ProtocolSpec::Number(n) => Err(format!("protocol number {n} is out of range 1-255")),
            ProtocolSpec::Name(name) => protocol_from_name(name).ok_or_else(|| {
                format!(
                    "unknown protocol {name:?}: expected TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255"
                )
            }),
        }
    }
}

/// Protocol names Calico accepts (case-insensitive), or a decimal number in a string.
pub fn protocol_from_name(name: &str) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "tcp" => Some(IpProto::TCP),
        "udp" => Some(IpProto::UDP),
        "icmp" => Some(IpProto::ICMP),
        "icmpv6" => Some(IpProto::ICMPV6),
        "sctp" => Some(IpProto::SCTP),
        "udplite" => Some(IpProto::UDPLITE),
        _ => lower.parse::<u8>().ok().filter(|n| *n >= 1),
    }
}

/// Canonical name of a protocol number, for messages and tables.
pub fn protocol_name(protocol: u8) -> String {
    match protocol {
        IpProto::TCP => "TCP".into(),
        IpProto::UDP => "UDP".into(),
        IpProto::ICMP => "ICMP".into(),
        IpProto::ICMPV6 => "ICMPv6".into(),
        IpProto::SCTP => "SCTP".into(),
        IpProto::UDPLITE => "UDPLite".into(),
        n => n.to_string(),
    }
}

impl<'de> Deserialize<'de> for ProtocolSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumOrStrVisitor).map(|v| match v {
            NumOrStr::Num(n) => ProtocolSpec::Number(n),
            NumOrStr::Str(s) => ProtocolSpec::Name(s),
        })
    }
}

/// A port as written in a manifest: a number, a string holding a number, a range `lo:hi`,
/// or a named port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    Number(u64),
    Text(String),
}

/// A port entry after parsing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortMatch {
    /// Inclusive numeric range.
    Range(u16, u16),
    /// A named port, resolved per endpoint.
    Named(String),
}

impl PortSpec {
    /// Parse as Calico's `PortFromString` does: number, `lo:hi`, or any other string as a name.
    pub fn resolve(&self) -> Result<PortMatch, String> {
        match self {
            PortSpec::Number(n) => u16::try_from(*n)
                .map(|p| PortMatch::Range(p, p))
                .map_err(|_| format!("port {n} is out of range 0-65535")),
            PortSpec::Text(s) => parse_port_text(s),
        }
    }
}

fn parse_port_text(s: &str) -> Result<PortMatch, String> {
    if let Some((lo, hi)) = s.split_once(':') {
        let lo: u16 = lo
            .parse()
            .map_err(|_| format!("port range {s:?}: {lo:?} is not a port number 0-65535"))?;
        let hi: u16 = hi
            .parse()
            .map_err(|_| format!("port range {s:?}: {hi:?} is not a port number 0-65535"))?;
        if lo > hi {
            return Err(format!(
                "port range {s:?}: the low end must not exceed the high end"
            ));
        }
        return Ok(PortMatch::Range(lo, hi));
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u16>()
            .map(|p| PortMatch::Range(p, p))
            .map_err(|_| format!("port {s:?} is out of range 0-65535"));
    }
    validate_port_name(s).map(|()| PortMatch::Named(s.to_string()))
}

/// Calico's named-port rule: 1-128 characters of `[a-zA-Z0-9_.-]`... upstream allows a wider
/// set; we accept what Kubernetes container port names allow plus `_` and `.`.
fn validate_port_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid port {s:?}: expected a number, a range \"lo:hi\" or a port name"
        ))
    }
}

impl<'de> Deserialize<'de> for PortSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumOrStrVisitor).map(|v| match v {
            NumOrStr::Num(n) => PortSpec::Number(n),
            NumOrStr::Str(s) => PortSpec::Text(s),
        })
    }
}

/// A Kubernetes `IntOrString` port (NetworkPolicyPort.port).
pub type IntOrString = PortSpec;

enum NumOrStr {
    Num(u64),
    Str(String),
}

struct NumOrStrVisitor;

impl<'de> Visitor<'de> for NumOrStrVisitor {
    type Value = NumOrStr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a string")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumOrStr, E> {
        Ok(NumOrStr::Num(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumOrStr, E> {
        u64::try_from(v)
            .map(NumOrStr::Num)
            .map_err(|_| E::custom(format!("{v} is negative")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumOrStr, E> {
        Err(E::custom(format!("{v} is not a whole number")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NumOrStr, E> {
        Ok(NumOrStr::Str(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_like_calico() {
        let r = |s: &str| PortSpec::Text(s.into()).resolve();
        assert_eq!(r("80"), Ok(PortMatch::Range(80, 80)));
        assert_eq!(r("1:65535"), Ok(PortMatch::Range(1, 65535)));
        assert_eq!(r("http"), Ok(PortMatch::Named("http".into())));
        assert!(r("9:8").is_err());
        assert!(r("70000").is_err());
        assert!(r("a:b").is_err());
        assert!(r("").is_err());
        assert!(PortSpec::Number(65536).resolve().is_err());
    }

    #[test]
    fn protocols_resolve_case_insensitively() {
        assert_eq!(ProtocolSpec::Name("tcp".into()).resolve(), Ok(6));
        assert_eq!(ProtocolSpec::Name("ICMPv6".into()).resolve(), Ok(58));
        assert_eq!(ProtocolSpec::Name("UdpLite".into()).resolve(), Ok(136));
        assert_eq!(ProtocolSpec::Number(47).resolve(), Ok(47));
        assert!(ProtocolSpec::Number(0).resolve().is_err());
        assert!(ProtocolSpec::Number(256).resolve().is_err());
        assert!(ProtocolSpec::Name("tcpx".into()).resolve().is_err());
    }
}
