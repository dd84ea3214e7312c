//! `palisade eval`'s verdicts for a set of probes, to compare with what the dataplane lets
//! through.
//!
//! Contract: [`eval`] writes one flow per [`Probe`] (TCP/UDP with the destination port; ICMP as
//! an echo request — ICMPv6 type 128 between IPv6 pods, ICMP type 8 otherwise), runs
//! `<binary> eval --store DIR` on them and returns, in probe order, whether each flow is
//! allowed. Any failure (the command, a missing or unreadable verdict) is an error naming it.
//! [`disagreements`] probes a cluster and describes every probe whose outcome differs from the
//! expected verdict twice in a row (a disagreeing probe is retried once, with twice the
//! timeout: the machine may be loaded).

use std::{
    fmt::Write as _,
    io::Write as _,
    path::Path,
    process::{Command, Stdio},
};

use std::time::Duration;

use crate::cluster::{Cluster, PodSpec, Probe, Protocol};
use crate::netns::HarnessError;

fn failed(what: String) -> HarnessError {
    HarnessError::Thread { what }
}

/// The flows, as JSON Lines.
fn flows(specs: &[PodSpec], probes: &[Probe]) -> Result<String, HarnessError> {
    let mut flows = String::new();
    for (i, p) in probes.iter().enumerate() {
        let (Some(src), Some(dst)) = (specs.get(p.from), specs.get(p.to)) else {
            return Err(failed(format!("probe {i} names a pod that does not exist")));
        };
        let (src, dst) = (src.ip, dst.ip);
        let _ = match p.protocol {
            Protocol::Icmp if dst.is_ipv6() => writeln!(
                flows,
                r#"{{"id": {i}, "src": "{src}", "dst": "{dst}", "protocol": "ICMPv6", "icmp_type": 128, "icmp_code": 0}}"#
            ),
            Protocol::Icmp => writeln!(
                flows,
                r#"{{"id": {i}, "src": "{src}", "dst": "{dst}", "protocol": "ICMP", "icmp_type": 8, "icmp_code": 0}}"#
            ),
            _ => writeln!(
                flows,
                r#"{{"id": {i}, "src": "{src}", "dst": "{dst}", "protocol": "{}", "dst_port": {}}}"#,
                p.protocol.as_str(),
                p.port
            ),
        };
    }
    Ok(flows)
}

/// The string value of `"verdict"` in one output line.
fn verdict(line: &str) -> Option<&str> {
    let rest = &line[line.find("\"verdict\"")? + "\"verdict\"".len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    rest.split('"').next()
}

/// See the module contract.
pub fn eval(
    binary: &Path,
    store: &Path,
    specs: &[PodSpec],
    probes: &[Probe],
) -> Result<Vec<bool>, HarnessError> {
    let input = flows(specs, probes)?;
    let mut cmd = Command::new(binary);
    cmd.args(["eval", "--store"])
        .arg(store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| HarnessError::Spawn {
        command: format!("{cmd:?}"),
        source,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|source| HarnessError::Io {
                what: "writing flows to palisade eval",
                source,
            })?;
    }
    let out = child
        .wait_with_output()
        .map_err(|source| HarnessError::Io {
            what: "waiting for palisade eval",
            source,
        })?;
    if !out.status.success() {
        return Err(HarnessError::Command {
            command: format!("{cmd:?}"),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let verdicts = text
        .lines()
        .map(|l| {
            verdict(l)
                .map(|v| v == "allow")
                .ok_or_else(|| failed(format!("no verdict in palisade eval's line {l:?}")))
        })
        .collect::<Result<Vec<bool>, _>>()?;
    if verdicts.len() != probes.len() {
        return Err(failed(format!(
            "palisade eval answered {} flows for {} probes",
            verdicts.len(),
            probes.len()
        )));
    }
    Ok(verdicts)
}

/// `ns/pod -> ns/pod PROTO/port`.
pub fn describe(specs: &[PodSpec], p: &Probe) -> String {
    let name = |i: usize| {
        specs.get(i).map_or_else(
            || format!("pod #{i}"),
            |s| format!("{}/{}", s.namespace, s.name),
        )
    };
    format!(
        "{} -> {} {}/{}",
        name(p.from),
        name(p.to),
        p.protocol.as_str(),
        p.port
    )
}

/// See the module contract.
pub fn disagreements(
    cluster: &Cluster,
    probes: &[Probe],
    expected: &[bool],
    timeout: Duration,
) -> Vec<String> {
    let specs: Vec<PodSpec> = cluster.pods.iter().map(|(s, _)| s.clone()).collect();
    let observed = cluster.probe(probes, timeout);
    let suspects: Vec<usize> = (0..probes.len())
        .filter(|&i| observed.get(i) != expected.get(i))
        .collect();
    if suspects.is_empty() {
        return Vec::new();
    }
    let again: Vec<Probe> = suspects
        .iter()
        .filter_map(|&i| probes.get(i))
        .copied()
        .collect();
    let second = cluster.probe(&again, timeout * 2);
    suspects
        .iter()
        .zip(second)
        .filter_map(|(&i, ok)| {
            let want = *expected.get(i)?;
            (ok != want).then(|| {
                format!(
                    "{}: eval says {}, observed {}",
                    probes
                        .get(i)
                        .map_or_else(String::new, |p| describe(&specs, p)),
                    if want { "allow" } else { "deny" },
                    if ok { "reachable" } else { "unreachable" }
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_with_or_without_spaces() {
        assert_eq!(
            verdict(r#"{"id": 0, "verdict": "allow", "egress": {"verdict": "deny"}}"#),
            Some("allow")
        );
        assert_eq!(verdict(r#"{"id":1,"verdict":"deny"}"#), Some("deny"));
        assert_eq!(verdict(r#"{"id":1}"#), None);
    }

    #[test]
    fn icmp_flows_follow_the_address_family() {
        let specs = [
            PodSpec::new("x", "a", [10, 0, 0, 1], "ha"),
            PodSpec::new("x", "b", [10, 0, 0, 2], "hb"),
            PodSpec::new(
                "y",
                "a",
                "fd00::1".parse::<std::net::Ipv6Addr>().unwrap(),
                "h6a",
            ),
            PodSpec::new(
                "y",
                "b",
                "fd00::2".parse::<std::net::Ipv6Addr>().unwrap(),
                "h6b",
            ),
        ];
        let icmp = |from, to| Probe {
            from,
            to,
            protocol: Protocol::Icmp,
            port: 0,
        };
        let text = flows(&specs, &[icmp(0, 1), icmp(2, 3)]).expect("flows");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains(r#""protocol": "ICMP", "icmp_type": 8"#),
            "{text}"
        );
        assert!(
            lines[1].contains(r#""protocol": "ICMPv6", "icmp_type": 128"#),
            "{text}"
        );
        assert!(flows(&specs, &[icmp(0, 9)]).is_err());
    }
}
