//! Human-readable tables for `palisade eval --format table` and `--check` mismatches.

use std::fmt::Write;

use serde_json::Value;

use crate::eval::{FlowDecision, Reason, SideDecision, Verdict};
use crate::flows::{Expect, FlowLine};
use crate::model::numorstring::protocol_name;

fn id_text(id: &Value) -> String {
    match id {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn flow_text(f: &FlowLine) -> String {
    let k = &f.key;
    let proto = protocol_name(k.protocol);
    if palisade_dataplane::IpProto::has_ports(k.protocol) {
        format!(
            "{}:{} -> {}:{} {proto}",
            k.src, k.src_port, k.dst, k.dst_port
        )
    } else if palisade_dataplane::IpProto::is_icmp(k.protocol) {
        let t = k.icmp.icmp_type.map_or("-".into(), |t| t.to_string());
        let c = k.icmp.code.map_or("-".into(), |c| c.to_string());
        format!("{} -> {} {proto} type {t} code {c}", k.src, k.dst)
    } else {
        format!("{} -> {} {proto}", k.src, k.dst)
    }
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
    }
}

/// "x/a: deny by gnp:foo rule 2 (tier security)" and the like.
pub fn side_text(s: &SideDecision) -> String {
    let who = s.endpoint.as_deref().unwrap_or("(not an endpoint)");
    let why = match s.reason {
        Reason::NoEndpoint => "nothing to enforce".to_string(),
        Reason::Profile => "profile".to_string(),
        Reason::Failsafe => "failsafe port".to_string(),
        Reason::EndOfTier => format!("end of tier {}", s.tier.as_deref().unwrap_or("?")),
        Reason::Rule => format!(
            "{} rule {} (tier {})",
            s.policy.as_ref().map_or("?".into(), |p| p.to_string()),
            s.rule.map_or("?".into(), |r| r.to_string()),
            s.tier.as_deref().unwrap_or("?")
        ),
    };
    let mut text = format!("{who}: {} by {why}", verdict_text(s.verdict));
    if s.staged_verdict != s.verdict {
        let _ = write!(text, " [staged: {}]", verdict_text(s.staged_verdict));
    }
    if !s.logged.is_empty() {
        let _ = write!(text, " [logged {}]", s.logged.len());
    }
    text
}

fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

/// One row per flow: id, flow, verdict, egress and ingress explanations.
pub fn verdict_table(flows: &[FlowLine], decisions: &[FlowDecision]) -> String {
    let mut rows = vec![vec![
        "ID".to_string(),
        "FLOW".into(),
        "VERDICT".into(),
        "EGRESS (source)".into(),
        "INGRESS (destination)".into(),
    ]];
    for (f, d) in flows.iter().zip(decisions) {
        rows.push(vec![
            id_text(&f.id),
            flow_text(f),
            verdict_text(d.verdict).to_uppercase(),
            side_text(&d.egress),
            side_text(&d.ingress),
        ]);
    }
    render(&rows)
}

/// One row per mismatching flow: line, id, expected, got, and why.
pub fn mismatch_table(mismatches: &[(&FlowLine, &FlowDecision)]) -> String {
    let mut rows = vec![vec![
        "LINE".to_string(),
        "ID".into(),
        "EXPECTED".into(),
        "GOT".into(),
        "FLOW".into(),
        "WHY".into(),
    ]];
    for (f, d) in mismatches {
        let expected = match f.expect {
            Some(Expect::Allow) => "allow",
            Some(Expect::Deny) => "deny",
            None => "-",
        };
        rows.push(vec![
            f.line.to_string(),
            id_text(&f.id),
            expected.into(),
            verdict_text(d.verdict).into(),
            flow_text(f),
            format!(
                "egress {}; ingress {}",
                side_text(&d.egress),
                side_text(&d.ingress)
            ),
        ]);
    }
    render(&rows)
}
