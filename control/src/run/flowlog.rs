//! Flow-log lines of `palisade run`: why a flow was denied, in the operator's names.
//!
//! Contract: the control thread drains the workers' flow-log queue and [`FlowReporter::report`]
//! writes one line per denied flow at info level, naming what decided it as `palisade eval`
//! does (`knp:y/deny-all rule 2 (ingress)`, `end of tier security (ingress)`, ...) from the snapshot whose generation decided
//! (the published one; an event from an older generation is reported by indexes, with its
//! generation). At most `per_second` deny lines are written each second: the rest are counted
//! and summed up in one line when the second is over, so a denied flood cannot flood the log.
//! Allowed flows are logged at debug level only.

use std::time::{Duration, Instant};

use palisade_dataplane::conntrack::Verdict;
use palisade_dataplane::flow::{FlowKey, IpProto};
use palisade_dataplane::flowlog::{FlowEvent, FlowEventReason};
use palisade_dataplane::policy::{DecidingSide, Snapshot, UnpackedRule, unpack_rule_id};

/// Writes flow-log lines with a per-second budget for denies.
#[derive(Debug)]
pub struct FlowReporter {
    per_second: u32,
    window_start: Option<Instant>,
    written: u32,
    suppressed: u64,
}

impl FlowReporter {
    /// A reporter writing at most `per_second` deny lines per second.
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            window_start: None,
            written: 0,
            suppressed: 0,
        }
    }

    /// Reports `events` (drained at `now`) against the published `snapshot`; returns the deny
    /// lines written.
    pub fn report(&mut self, events: &[FlowEvent], snapshot: &Snapshot, now: Instant) -> usize {
        if self
            .window_start
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
        {
            if self.suppressed > 0 {
                tracing::info!(
                    "flow log: {} more denied flows in the last second not shown",
                    self.suppressed
                );
            }
            self.window_start = Some(now);
            self.written = 0;
            self.suppressed = 0;
        }
        let mut lines = 0;
        for e in events {
            if e.verdict == Verdict::Allow {
                tracing::debug!("flow allowed: {}", describe(e, snapshot));
            } else if self.written < self.per_second {
                self.written += 1;
                lines += 1;
                tracing::info!("flow denied: {}", describe(e, snapshot));
            } else {
                self.suppressed += 1;
            }
        }
        lines
    }
}

/// `udp 10.0.0.1:5000 -> 10.0.0.2:80, new flow, denied by knp:y/deny-all rule 2 (ingress),
/// generation 4` (rules numbered from 0 in the policy's ingress or egress list).
pub fn describe(e: &FlowEvent, snapshot: &Snapshot) -> String {
    let reason = match e.reason {
        FlowEventReason::NewFlow => "new flow",
        FlowEventReason::Revalidated => "re-checked after a policy change",
    };
    let verdict = match e.verdict {
        Verdict::Allow => "allowed",
        Verdict::Deny => "denied",
    };
    format!(
        "{}, {reason}, {verdict} by {}, generation {}",
        flow_text(&e.key),
        decider_text(e.rule_id, e.generation, snapshot),
        e.generation
    )
}

fn flow_text(k: &FlowKey) -> String {
    let proto = match k.protocol {
        IpProto::TCP => "tcp".to_string(),
        IpProto::UDP => "udp".to_string(),
        IpProto::SCTP => "sctp".to_string(),
        IpProto::UDPLITE => "udplite".to_string(),
        IpProto::ICMP => "icmp".to_string(),
        IpProto::ICMPV6 => "icmpv6".to_string(),
        p => format!("protocol {p}"),
    };
    if IpProto::has_ports(k.protocol) {
        format!(
            "{proto} {} -> {}",
            std::net::SocketAddr::new(k.src, k.src_port),
            std::net::SocketAddr::new(k.dst, k.dst_port)
        )
    } else if IpProto::is_icmp(k.protocol) {
        let field = |v: Option<u8>| v.map_or("?".to_string(), |v| v.to_string());
        format!(
            "{proto} {} -> {} type {} code {}",
            k.src,
            k.dst,
            field(k.icmp.icmp_type),
            field(k.icmp.code)
        )
    } else {
        format!("{proto} {} -> {}", k.src, k.dst)
    }
}

fn side_text(side: DecidingSide) -> &'static str {
    match side {
        DecidingSide::Egress => "egress",
        DecidingSide::Ingress => "ingress",
    }
}

/// What decided, named from `snapshot` when it is the generation that decided.
fn decider_text(rule_id: u32, generation: u64, snapshot: &Snapshot) -> String {
    let names = (snapshot.generation == generation).then_some(&snapshot.names);
    let tier = |t: u32| {
        names
            .and_then(|n| n.tiers.get(t as usize))
            .map_or(format!("#{t}"), Clone::clone)
    };
    match unpack_rule_id(rule_id) {
        UnpackedRule::Rule { side, policy, rule } => {
            let name = names
                .and_then(|n| n.policies.get(policy as usize))
                .map_or(format!("policy #{policy}"), Clone::clone);
            format!("{name} rule {rule} ({})", side_text(side))
        }
        UnpackedRule::EndOfTier { side, tier: t } => {
            format!("end of tier {} ({})", tier(t), side_text(side))
        }
        UnpackedRule::Failsafe { side } => format!("failsafe port ({})", side_text(side)),
        UnpackedRule::Other { side } => format!("profile ({})", side_text(side)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_dataplane::conntrack::Timestamp;
    use palisade_dataplane::policy::{Origin, RuleRef, SnapshotNames, pack_rule_id};
    use std::net::{IpAddr, Ipv4Addr};

    fn snapshot(generation: u64) -> Snapshot {
        let mut s = Snapshot::default();
        s.generation = generation;
        s.names = SnapshotNames {
            tiers: vec!["security".into(), "default".into()],
            policies: vec!["gnp:quarantine".into(), "knp:y/deny-all".into()],
            port_names: Vec::new(),
        };
        s
    }

    fn event(verdict: Verdict, origin: Origin, generation: u64) -> FlowEvent {
        FlowEvent {
            key: FlowKey::new(
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                IpProto::UDP,
                5000,
                80,
            ),
            verdict,
            rule_id: pack_rule_id(DecidingSide::Ingress, &origin),
            generation,
            reason: FlowEventReason::NewFlow,
            at: Timestamp::from_nanos(0),
        }
    }

    fn rule(policy: u32, rule: u32) -> Origin {
        Origin::Rule(RuleRef {
            tier: 1,
            policy,
            rule,
        })
    }

    #[test]
    fn a_denied_flow_names_the_policy_and_rule_of_its_generation() {
        let e = event(Verdict::Deny, rule(1, 2), 4);
        assert_eq!(
            describe(&e, &snapshot(4)),
            "udp 10.0.0.1:5000 -> 10.0.0.2:80, new flow, denied by knp:y/deny-all rule 2 \
             (ingress), generation 4"
        );
        let end = event(Verdict::Deny, Origin::EndOfTier { tier: 0 }, 4);
        assert!(
            describe(&end, &snapshot(4)).contains("denied by end of tier security (ingress)"),
            "{}",
            describe(&end, &snapshot(4))
        );
    }

    #[test]
    fn an_event_of_an_older_generation_is_reported_by_indexes() {
        let e = event(Verdict::Deny, rule(1, 2), 3);
        let text = describe(&e, &snapshot(4));
        assert!(text.contains("policy #1 rule 2 (ingress)"), "{text}");
        assert!(text.ends_with("generation 3"), "{text}");
    }

    #[test]
    fn deny_lines_are_capped_per_second_and_allowed_flows_are_not_counted() {
        let mut r = FlowReporter::new(3);
        let s = snapshot(1);
        let t0 = Instant::now();
        let denies = vec![event(Verdict::Deny, rule(0, 0), 1); 5];
        let allows = vec![event(Verdict::Allow, rule(0, 0), 1); 5];
        assert_eq!(r.report(&allows, &s, t0), 0);
        assert_eq!(r.report(&denies, &s, t0), 3);
        assert_eq!(r.suppressed, 2);
        assert_eq!(r.report(&denies, &s, t0 + Duration::from_millis(500)), 0);
        assert_eq!(r.suppressed, 7);
        assert_eq!(r.report(&denies, &s, t0 + Duration::from_secs(1)), 3);
        assert_eq!(r.suppressed, 2, "a new second, a new budget");
    }

    #[test]
    fn icmp_and_portless_flows_read_naturally() {
        let mut e = event(Verdict::Deny, Origin::Failsafe, 1);
        e.key = FlowKey::new(e.key.src, e.key.dst, IpProto::ICMP, 7, 7);
        e.key.icmp.icmp_type = Some(8);
        e.key.icmp.code = Some(0);
        let text = describe(&e, &snapshot(1));
        assert!(
            text.starts_with("icmp 10.0.0.1 -> 10.0.0.2 type 8 code 0"),
            "{text}"
        );
        e.key = FlowKey::new(e.key.src, e.key.dst, 47, 0, 0);
        assert!(
            describe(&e, &snapshot(1)).starts_with("protocol 47 10.0.0.1 -> 10.0.0.2"),
            "{}",
            describe(&e, &snapshot(1))
        );
    }
}
