//! The flow input of `palisade eval`: JSON Lines, one flow per line (DESIGN.md contract).
//!
//! Contract: every line is validated completely — unknown keys, ports on protocols without
//! ports, ICMP fields on non-ICMP protocols, mixed address families are errors naming the line.

use std::net::IpAddr;

use serde_json::{Map, Value};

use palisade_dataplane::{FlowKey, IcmpFields, IpProto};

use crate::model::numorstring::protocol_from_name;

/// A flow line: the key to evaluate plus the carried fields.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowLine {
    /// 1-based line number in the input.
    pub line: usize,
    pub id: Value,
    pub note: Option<String>,
    pub expect: Option<Expect>,
    pub key: FlowKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Allow,
    Deny,
}

/// An invalid flow line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: line {line}: {field}: {message}")]
pub struct FlowError {
    pub source_name: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

const KNOWN_KEYS: &[&str] = &[
    "id",
    "note",
    "expect",
    "src",
    "dst",
    "protocol",
    "src_port",
    "dst_port",
    "icmp_type",
    "icmp_code",
];

/// Parse every non-blank line of `text`.
pub fn parse_flows(source_name: &str, text: &str) -> Result<Vec<FlowLine>, FlowError> {
    let mut flows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line = i + 1;
        let err = |field: &str, message: String| FlowError {
            source_name: source_name.to_string(),
            line,
            field: field.to_string(),
            message,
        };
        let value: Value =
            serde_json::from_str(raw).map_err(|e| err("(line)", format!("not JSON: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(err("(line)", "expected a JSON object".into()));
        };
        flows.push(parse_flow(line, &obj).map_err(|(f, m)| err(&f, m))?);
    }
    Ok(flows)
}

type FieldResult<T> = Result<T, (String, String)>;

fn parse_flow(line: usize, obj: &Map<String, Value>) -> FieldResult<FlowLine> {
    if let Some(k) = obj.keys().find(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        return Err((
            k.clone(),
            format!("unknown key: expected one of {}", KNOWN_KEYS.join(", ")),
        ));
    }
    let src = parse_addr(obj, "src")?;
    let dst = parse_addr(obj, "dst")?;
    if src.is_ipv4() != dst.is_ipv4() {
        return Err((
            "dst".into(),
            "src and dst must be of the same IP family".into(),
        ));
    }
    let protocol = parse_protocol(obj)?;
    let has_ports = IpProto::has_ports(protocol);
    let is_icmp = IpProto::is_icmp(protocol);
    for key in ["src_port", "dst_port"] {
        if !has_ports && obj.contains_key(key) {
            return Err((
                key.into(),
                "only TCP, UDP, SCTP and UDPLite flows have ports".into(),
            ));
        }
    }
    for key in ["icmp_type", "icmp_code"] {
        if !is_icmp && obj.contains_key(key) {
            return Err((
                key.into(),
                "only ICMP and ICMPv6 flows have ICMP fields".into(),
            ));
        }
    }
    if protocol == IpProto::ICMP && src.is_ipv6() {
        return Err((
            "protocol".into(),
            "ICMP with IPv6 addresses: use ICMPv6".into(),
        ));
    }
    if protocol == IpProto::ICMPV6 && src.is_ipv4() {
        return Err((
            "protocol".into(),
            "ICMPv6 with IPv4 addresses: use ICMP".into(),
        ));
    }
    let key = if has_ports {
        let dst_port = parse_u16(obj, "dst_port")?.ok_or_else(|| {
            (
                "dst_port".to_string(),
                format!("required for {} flows", protocol_label(protocol)),
            )
        })?;
        let src_port = parse_u16(obj, "src_port")?.unwrap_or(0);
        FlowKey::new(src, dst, protocol, src_port, dst_port)
    } else if is_icmp {
        let icmp = IcmpFields {
            icmp_type: parse_u8(obj, "icmp_type")?,
            code: parse_u8(obj, "icmp_code")?,
        };
        FlowKey::icmp(src, dst, protocol, icmp, 0)
    } else {
        FlowKey::new(src, dst, protocol, 0, 0)
    };
    let expect = match obj.get("expect") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "allow" => Some(Expect::Allow),
        Some(Value::String(s)) if s == "deny" => Some(Expect::Deny),
        Some(_) => return Err(("expect".into(), "expected \"allow\" or \"deny\"".into())),
    };
    let note = match obj.get("note") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    Ok(FlowLine {
        line,
        id: obj.get("id").cloned().unwrap_or(Value::Null),
        note,
        expect,
        key,
    })
}

fn protocol_label(protocol: u8) -> String {
    crate::model::numorstring::protocol_name(protocol)
}

fn parse_addr(obj: &Map<String, Value>, key: &str) -> FieldResult<IpAddr> {
    match obj.get(key) {
        Some(Value::String(s)) => s.parse().map_err(|_| {
            (
                key.to_string(),
                format!("{s:?} is not an IPv4 or IPv6 address"),
            )
        }),
        Some(_) => Err((key.to_string(), "expected an address string".into())),
        None => Err((key.to_string(), "required".into())),
    }
}

fn parse_protocol(obj: &Map<String, Value>) -> FieldResult<u8> {
    let err = |m: String| ("protocol".to_string(), m);
    match obj.get("protocol") {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| err(format!("{n} is not a protocol number 0-255"))),
        Some(Value::String(s)) => match s.parse::<u8>() {
            Ok(n) => Ok(n),
            Err(_) => protocol_from_name(s).ok_or_else(|| {
                err(format!(
                    "unknown protocol {s:?}: expected TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or 0-255"
                ))
            }),
        },
        Some(_) => Err(err("expected a protocol name or number".into())),
        None => Err(err("required".into())),
    }
}

fn parse_u16(obj: &Map<String, Value>, key: &str) -> FieldResult<Option<u16>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| (key.to_string(), format!("{n} is not a port 0-65535"))),
        Some(_) => Err((key.to_string(), "expected a number 0-65535".into())),
    }
}

fn parse_u8(obj: &Map<String, Value>, key: &str) -> FieldResult<Option<u8>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| (key.to_string(), format!("{n} is not a number 0-255"))),
        Some(_) => Err((key.to_string(), "expected a number 0-255".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Result<FlowLine, FlowError> {
        parse_flows("t", line).map(|mut v| v.remove(0))
    }

    #[test]
    fn parses_the_contract_fields() {
        let f = one(r#"{"id": "a", "src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "tcp", "src_port": 5, "dst_port": 80, "expect": "allow"}"#).unwrap();
        assert_eq!(f.key.protocol, 6);
        assert_eq!((f.key.src_port, f.key.dst_port), (5, 80));
        assert_eq!(f.expect, Some(Expect::Allow));
        let f =
            one(r#"{"src": "fd00::1", "dst": "fd00::2", "protocol": "ICMPv6", "icmp_type": 128}"#)
                .unwrap();
        assert_eq!(f.key.icmp.icmp_type, Some(128));
        assert_eq!(f.key.icmp.code, None);
        let f = one(r#"{"src": "10.0.0.1", "dst": "10.0.0.2", "protocol": 47}"#).unwrap();
        assert_eq!(f.key.protocol, 47);
    }

    #[test]
    fn rejects_bad_lines_with_the_field() {
        let cases = [
            (
                r#"{"src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "TCP"}"#,
                "dst_port",
            ),
            (
                r#"{"src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "ICMP", "dst_port": 1}"#,
                "dst_port",
            ),
            (
                r#"{"src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "UDP", "dst_port": 1, "icmp_type": 1}"#,
                "icmp_type",
            ),
            (
                r#"{"src": "10.0.0.1", "dst": "fd00::2", "protocol": "UDP", "dst_port": 1}"#,
                "dst",
            ),
            (
                r#"{"src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "UDP", "dst_port": 70000}"#,
                "dst_port",
            ),
            (
                r#"{"src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "GRE"}"#,
                "protocol",
            ),
            (
                r#"{"src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "UDP", "dst_port": 1, "colour": 1}"#,
                "colour",
            ),
            (
                r#"{"src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "UDP", "dst_port": 1, "expect": "maybe"}"#,
                "expect",
            ),
            (r#"[1]"#, "(line)"),
            (r#"{"#, "(line)"),
        ];
        for (line, field) in cases {
            let e = one(line).unwrap_err();
            assert_eq!(e.field, field, "{line}");
            assert_eq!(e.line, 1);
        }
    }
}
