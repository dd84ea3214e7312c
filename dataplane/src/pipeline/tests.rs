//! End-to-end pipeline tests with the real conntrack and a fake policy (allow by destination
//! port), plus a property test that random frames never panic the pipeline.

use std::net::IpAddr;
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::conntrack::{ConntrackConfig, ConntrackTable, Timestamp, Verdict};
use crate::flow::{FlowKey, IpProto};
use crate::flowlog::{FlowEventReason, FlowLog};
use crate::forward::{PortId, RouteTable};
use crate::packet::testframes::*;
use crate::packet::{DropReason, MacAddr, checksum};

const UPLINK_MAC: MacAddr = MacAddr([0x02, 0xaa, 0, 0, 0, 1]);
const ROUTER_MAC: MacAddr = MacAddr([0x02, 0xbb, 0, 0, 0, 1]);
const UPLINK: PortId = 0;
const POD_A: PortId = 1;
const POD_B: PortId = 2;

/// Allows TCP/UDP flows to the listed destination ports and ICMP echo requests; denies the
/// rest. Rule id = the destination port (0 for ICMP), `u32::MAX` for the default deny.
#[derive(Debug)]
struct PortPolicy {
    generation: u64,
    ports: Vec<u16>,
    echo: bool,
}

impl PolicyDecider for PortPolicy {
    fn generation(&self) -> u64 {
        self.generation
    }

    fn decide(&self, key: &FlowKey) -> PolicyVerdict {
        if IpProto::has_ports(key.protocol) && self.ports.contains(&key.dst_port) {
            return PolicyVerdict::allow(u32::from(key.dst_port));
        }
        let echo_request = matches!(key.icmp.icmp_type, Some(8) | Some(128));
        if self.echo && IpProto::is_icmp(key.protocol) && echo_request {
            return PolicyVerdict::allow(0);
        }
        PolicyVerdict::deny(u32::MAX)
    }
}

fn policy(generation: u64, ports: &[u16]) -> PortPolicy {
    PortPolicy {
        generation,
        ports: ports.to_vec(),
        echo: true,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn routes_with(next_hop: Option<MacAddr>) -> RouteTable {
    RouteTable::builder()
        .uplink_port(UPLINK, UPLINK_MAC, next_hop)
        .pod_port(POD_A, GW_MAC)
        .pod_port(POD_B, GW_MAC)
        .local(ip("10.0.0.1"), POD_A, None)
        .local(ip("fd00::1"), POD_A, None)
        .local(ip("10.0.0.2"), POD_B, Some(POD_B_MAC))
        .local(ip("fd00::2"), POD_B, Some(POD_B_MAC))
        .build()
        .expect("valid routes")
}

struct Harness {
    pipeline: Pipeline,
    routes: RouteTable,
    now: Timestamp,
}

impl Harness {
    fn new() -> Self {
        Self::with(routes_with(Some(ROUTER_MAC)), 1024)
    }

    fn with(routes: RouteTable, flowlog_capacity: usize) -> Self {
        Self::with_conntrack(
            routes,
            flowlog_capacity,
            ConntrackConfig::with_capacity(1024),
        )
    }

    fn with_conntrack(
        routes: RouteTable,
        flowlog_capacity: usize,
        config: ConntrackConfig,
    ) -> Self {
        let ct = ConntrackTable::new(config).expect("conntrack");
        Self {
            pipeline: Pipeline::new(
                PipelineConfig::default(),
                Arc::new(ct),
                Arc::new(FlowLog::new(flowlog_capacity)),
            ),
            routes,
            now: Timestamp::from_secs(100),
        }
    }

    /// Runs one batch; returns the actions and the frames' bytes afterwards (reply or
    /// rewritten frame, cut to the length the action transmits).
    fn run(
        &mut self,
        input: &[(Vec<u8>, PortId)],
        policy: &dyn PolicyDecider,
    ) -> Vec<(Action, Vec<u8>)> {
        let mut bufs: Vec<Vec<u8>> = input
            .iter()
            .map(|(f, _)| {
                let mut b = f.clone();
                b.resize(2048, 0);
                b
            })
            .collect();
        let mut frames: Vec<FrameRef<'_>> = bufs
            .iter_mut()
            .zip(input)
            .map(|(buf, (f, port))| FrameRef {
                buf: buf.as_mut_slice(),
                len: f.len(),
                port: *port,
            })
            .collect();
        let mut out = Vec::new();
        self.now = self.now.plus(std::time::Duration::from_millis(10));
        self.pipeline
            .process_batch(&mut frames, self.now, &self.routes, policy, &mut out);
        drop(frames);
        out.iter()
            .zip(bufs)
            .zip(input)
            .map(|((a, buf), (f, _))| {
                let len = match a {
                    Action::Reply { len, .. } => *len,
                    _ => f.len(),
                };
                (*a, buf[..len].to_vec())
            })
            .collect()
    }

    fn one(&mut self, frame: Vec<u8>, port: PortId, policy: &dyn PolicyDecider) -> Action {
        self.run(&[(frame, port)], policy)[0].0
    }

    fn check_invariant(&self) {
        let c = self.pipeline.counters();
        assert_eq!(c.rx, c.forwarded + c.replied + c.drops.total(), "{c:?}");
    }
}

fn forward(port: PortId) -> Action {
    Action::Forward { port }
}

fn dropped(reason: DropReason) -> Action {
    Action::Drop(reason)
}

#[test]
fn arp_for_the_gateway_is_answered_and_teaches_the_pod_mac() {
    let mut h = Harness::new();
    let p = policy(1, &[]);
    let out = h.run(&[(arp(1, POD_A_MAC, "10.0.0.1", "169.254.1.1"), POD_A)], &p);
    assert_eq!(
        out[0].0,
        Action::Reply {
            port: POD_A,
            len: 42
        }
    );
    assert_eq!(&out[0].1[0..12], &[POD_A_MAC.0, GW_MAC.0].concat()[..]);
    assert_eq!(
        h.pipeline.learned().lookup(POD_A, ip("10.0.0.1")),
        Some(POD_A_MAC)
    );
    let ns = neighbour_solicitation(POD_A_MAC, v6("fe80::a"), v6("fe80::1"), true);
    let out = h.run(&[(ns, POD_A)], &p);
    assert_eq!(
        out[0].0,
        Action::Reply {
            port: POD_A,
            len: 86
        }
    );
    assert_eq!(h.pipeline.counters().replied, 2);
    h.check_invariant();
}

#[test]
fn allowed_flow_is_forwarded_rewritten_and_logged() {
    let mut h = Harness::new();
    let p = policy(1, &[53]);
    let out = h.run(&[(udp4("10.0.0.1", "10.0.0.2", 1234, 53), POD_A)], &p);
    let (action, frame) = &out[0];
    assert_eq!(*action, forward(POD_B));
    assert_eq!(&frame[0..6], &POD_B_MAC.0);
    assert_eq!(&frame[6..12], &GW_MAC.0);
    assert_eq!(frame[22], 63);
    assert!(checksum::verifies(&frame[14..34]));
    let event = h.pipeline.flowlog().pop().expect("one event");
    assert_eq!(
        event.key,
        FlowKey::new(ip("10.0.0.1"), ip("10.0.0.2"), 17, 1234, 53)
    );
    assert_eq!(
        (event.verdict, event.rule_id, event.generation),
        (Verdict::Allow, 53, 1)
    );
    assert_eq!(event.reason, FlowEventReason::NewFlow);
    // The second packet is a conntrack hit: no new decision, no new event.
    assert_eq!(
        h.one(udp4("10.0.0.1", "10.0.0.2", 1234, 53), POD_A, &p),
        forward(POD_B)
    );
    let c = h.pipeline.counters();
    assert_eq!(
        (c.conntrack_misses, c.conntrack_hits, c.policy_decisions),
        (1, 1, 1)
    );
    assert!(h.pipeline.flowlog().is_empty());
    h.check_invariant();
}

#[test]
fn denied_flow_is_dropped_and_logged() {
    let mut h = Harness::new();
    let p = policy(1, &[53]);
    assert_eq!(
        h.one(udp4("10.0.0.1", "10.0.0.2", 1234, 80), POD_A, &p),
        dropped(DropReason::PolicyDenied)
    );
    let event = h.pipeline.flowlog().pop().expect("event");
    assert_eq!((event.verdict, event.rule_id), (Verdict::Deny, u32::MAX));
    // Cached: the second packet is dropped without asking the policy again.
    assert_eq!(
        h.one(udp4("10.0.0.1", "10.0.0.2", 1234, 80), POD_A, &p),
        dropped(DropReason::PolicyDenied)
    );
    assert_eq!(h.pipeline.counters().policy_decisions, 1);
    assert_eq!(h.pipeline.counters().drops.get(DropReason::PolicyDenied), 2);
}

#[test]
fn reply_of_an_allowed_flow_passes_though_the_reverse_alone_is_denied() {
    let mut h = Harness::new();
    let p = policy(1, &[53]);
    // B -> A:1234 on its own is denied (port 1234 is not allowed)...
    assert_eq!(
        h.one(udp4("10.0.0.2", "10.0.0.1", 53, 4321), POD_B, &p),
        dropped(DropReason::NoNeighbour),
        "A's MAC is not known before A has sent anything"
    );
    assert_eq!(
        h.one(udp4("10.0.0.1", "10.0.0.2", 1, 53), POD_A, &p),
        forward(POD_B)
    );
    assert_eq!(
        h.one(udp4("10.0.0.2", "10.0.0.1", 53, 4321), POD_B, &p),
        dropped(DropReason::PolicyDenied)
    );
    // ...but the reply of A:1234 -> B:53 passes.
    assert_eq!(
        h.one(udp4("10.0.0.1", "10.0.0.2", 1234, 53), POD_A, &p),
        forward(POD_B)
    );
    let out = h.run(&[(udp4("10.0.0.2", "10.0.0.1", 53, 1234), POD_B)], &p);
    assert_eq!(out[0].0, forward(POD_A));
    assert_eq!(&out[0].1[0..6], &POD_A_MAC.0, "learned from A's own frames");
    h.check_invariant();
}

#[test]
fn tcp_handshake_reply_passes_and_a_bare_syn_ack_does_not() {
    let mut h = Harness::new();
    let p = policy(1, &[80]);
    let syn = tcp4("10.0.0.1", "10.0.0.2", 40000, 80, true, false);
    let syn_ack = tcp4("10.0.0.2", "10.0.0.1", 80, 40000, true, true);
    let stray = tcp4("10.0.0.2", "10.0.0.1", 80, 40001, true, true);
    let out = h.run(&[(syn, POD_A), (syn_ack, POD_B), (stray, POD_B)], &p);
    let actions: Vec<Action> = out.iter().map(|(a, _)| *a).collect();
    assert_eq!(
        actions,
        [
            forward(POD_B),
            forward(POD_A),
            dropped(DropReason::ConntrackInvalid)
        ]
    );
}

#[test]
fn ping_and_its_reply() {
    let mut h = Harness::new();
    let p = policy(1, &[]);
    assert_eq!(
        h.one(icmp4_echo("10.0.0.1", "10.0.0.2", 9, true), POD_A, &p),
        forward(POD_B)
    );
    assert_eq!(
        h.one(icmp4_echo("10.0.0.2", "10.0.0.1", 9, false), POD_B, &p),
        forward(POD_A)
    );
    // An echo reply nobody asked for is invalid.
    assert_eq!(
        h.one(icmp4_echo("10.0.0.2", "10.0.0.1", 10, false), POD_B, &p),
        dropped(DropReason::ConntrackInvalid)
    );
}

#[test]
fn generation_bump_with_deny_cuts_an_established_flow() {
    let mut h = Harness::new();
    let allow = policy(1, &[53]);
    assert_eq!(
        h.one(udp4("10.0.0.1", "10.0.0.2", 1234, 53), POD_A, &allow),
        forward(POD_B)
    );
    assert_eq!(
        h.one(udp4("10.0.0.2", "10.0.0.1", 53, 1234), POD_B, &allow),
        forward(POD_A)
    );
    while h.pipeline.flowlog().pop().is_some() {}
    // Quarantine: generation 2 denies everything. The reply direction is re-checked with the
    // original-direction key and cut.
    let quarantine = policy(2, &[]);
    assert_eq!(
        h.one(udp4("10.0.0.2", "10.0.0.1", 53, 1234), POD_B, &quarantine),
        dropped(DropReason::PolicyDenied)
    );
    let event = h.pipeline.flowlog().pop().expect("revalidation event");
    assert_eq!(event.reason, FlowEventReason::Revalidated);
    assert_eq!(
        event.key,
        FlowKey::new(ip("10.0.0.1"), ip("10.0.0.2"), 17, 1234, 53)
    );
    assert_eq!((event.verdict, event.generation), (Verdict::Deny, 2));
    assert_eq!(
        h.one(udp4("10.0.0.1", "10.0.0.2", 1234, 53), POD_A, &quarantine),
        dropped(DropReason::PolicyDenied)
    );
    let c = h.pipeline.counters();
    assert_eq!(
        (c.revalidations, c.revalidation_denies),
        (1, 1),
        "re-checked once"
    );
    // Generation 3 allows again: the flow comes back after one more re-check.
    assert_eq!(
        h.one(
            udp4("10.0.0.1", "10.0.0.2", 1234, 53),
            POD_A,
            &policy(3, &[53])
        ),
        forward(POD_B)
    );
    assert_eq!(h.pipeline.counters().revalidations, 2);
}

#[test]
fn generation_bump_that_still_allows_keeps_the_flow() {
    let mut h = Harness::new();
    assert_eq!(
        h.one(
            udp4("10.0.0.1", "10.0.0.2", 1234, 53),
            POD_A,
            &policy(1, &[53])
        ),
        forward(POD_B)
    );
    let newer = policy(2, &[53, 80]);
    for _ in 0..3 {
        assert_eq!(
            h.one(udp4("10.0.0.1", "10.0.0.2", 1234, 53), POD_A, &newer),
            forward(POD_B)
        );
    }
    assert_eq!(h.pipeline.counters().revalidations, 1);
}

#[test]
fn icmp_error_related_to_a_tracked_flow_passes() {
    let mut h = Harness::new();
    let p = policy(1, &[53]);
    let query = udp4("10.0.0.1", "8.8.8.8", 5000, 53);
    let out = h.run(&[(query.clone(), POD_A)], &p);
    assert_eq!(out[0].0, forward(UPLINK));
    assert_eq!(&out[0].1[0..12], &[ROUTER_MAC.0, UPLINK_MAC.0].concat()[..]);
    // The remote answers with port unreachable, quoting the query; the policy alone would deny
    // ICMP type 3, but it is related to the tracked flow.
    let unreachable = icmp4_error("8.8.8.8", "10.0.0.1", 3, 3, &query);
    assert_eq!(h.one(unreachable, UPLINK, &p), forward(POD_A));
    assert_eq!(h.pipeline.counters().conntrack_related, 1);
    // An error quoting a flow nobody sent is dropped.
    let other = udp4("10.0.0.1", "8.8.4.4", 5001, 53);
    let stray = icmp4_error("8.8.4.4", "10.0.0.1", 3, 3, &other);
    assert_eq!(
        h.one(stray, UPLINK, &p),
        dropped(DropReason::UnrelatedIcmpError)
    );
    // IPv6: packet too big for a tracked flow.
    let query6 = udp6("fd00::1", "2001:db8::53", 6000, 53);
    assert_eq!(h.one(query6.clone(), POD_A, &p), forward(UPLINK));
    let too_big = icmp6_error("2001:db8::53", "fd00::1", 2, 0, &query6);
    assert_eq!(h.one(too_big, UPLINK, &p), forward(POD_A));
    h.check_invariant();
}

#[test]
fn related_icmp_error_is_cut_with_its_flow_after_a_deny() {
    let mut h = Harness::new();
    let query = udp4("10.0.0.1", "8.8.8.8", 5000, 53);
    assert_eq!(
        h.one(query.clone(), POD_A, &policy(1, &[53])),
        forward(UPLINK)
    );
    let unreachable = icmp4_error("8.8.8.8", "10.0.0.1", 3, 3, &query);
    assert_eq!(
        h.one(unreachable, UPLINK, &policy(2, &[])),
        dropped(DropReason::PolicyDenied)
    );
}

#[test]
fn routing_and_neighbour_drops() {
    let mut h = Harness::with(routes_with(None), 16);
    let p = policy(1, &[53, 80]);
    let mut mld = icmp6_raw(
        POD_A_MAC,
        v6("fe80::a"),
        v6("ff02::16"),
        1,
        143,
        [0; 4],
        &[],
    );
    mld.truncate(mld.len());
    let rs = icmp6_raw(
        POD_A_MAC,
        v6("fe80::a"),
        v6("ff02::2"),
        255,
        133,
        [0; 4],
        &[],
    );
    let dad = neighbour_solicitation(POD_A_MAC, v6("::"), v6("fd00::1"), false);
    let rows: Vec<(&str, Vec<u8>, PortId, Action)> = vec![
        (
            "no uplink next hop",
            udp4("10.0.0.1", "8.8.8.8", 1, 53),
            POD_A,
            dropped(DropReason::NoRoute),
        ),
        (
            "unknown port",
            udp4("10.0.0.1", "10.0.0.2", 1, 53),
            9,
            dropped(DropReason::UnknownPort),
        ),
        (
            "to the gateway",
            udp4("10.0.0.1", "169.254.1.1", 1, 53),
            POD_A,
            dropped(DropReason::ToGateway),
        ),
        (
            "broadcast",
            udp4("10.0.0.1", "255.255.255.255", 68, 67),
            POD_A,
            dropped(DropReason::NotRoutable),
        ),
        (
            "multicast",
            udp6("fe80::a", "ff02::fb", 5353, 5353),
            POD_A,
            dropped(DropReason::NotRoutable),
        ),
        (
            "spoofed source",
            udp4("10.0.0.2", "10.0.0.1", 1, 53),
            POD_A,
            dropped(DropReason::SpoofedSource),
        ),
        (
            "unknown source",
            udp4("10.9.9.9", "10.0.0.2", 1, 53),
            POD_A,
            dropped(DropReason::SpoofedSource),
        ),
        (
            "local source on the uplink",
            udp4("10.0.0.2", "10.0.0.1", 1, 53),
            UPLINK,
            dropped(DropReason::SpoofedSource),
        ),
        (
            "TTL 1",
            udp4_ttl("10.0.0.1", "10.0.0.2", 1),
            POD_A,
            dropped(DropReason::TtlExceeded),
        ),
        (
            "MLD report",
            mld,
            POD_A,
            dropped(DropReason::NeighbourChatter),
        ),
        (
            "router solicitation",
            rs,
            POD_A,
            dropped(DropReason::NeighbourChatter),
        ),
        ("DAD", dad, POD_A, dropped(DropReason::NeighbourChatter)),
        (
            "ARP for another pod",
            arp(1, POD_A_MAC, "10.0.0.1", "10.0.0.2"),
            POD_A,
            dropped(DropReason::NeighbourChatter),
        ),
        (
            "malformed",
            udp4("10.0.0.1", "10.0.0.2", 1, 53)[..30].to_vec(),
            POD_A,
            dropped(DropReason::TruncatedIpHeader),
        ),
    ];
    let input: Vec<(Vec<u8>, PortId)> = rows.iter().map(|(_, f, p, _)| (f.clone(), *p)).collect();
    let out = h.run(&input, &p);
    for ((name, _, _, expected), (got, _)) in rows.iter().zip(&out) {
        assert_eq!(got, expected, "{name}");
    }
    assert_eq!(
        h.pipeline.counters().policy_decisions,
        0,
        "nothing reached the policy"
    );
    assert_eq!(
        h.pipeline
            .counters()
            .drops
            .get(DropReason::NeighbourChatter),
        4
    );
    h.check_invariant();
}

#[test]
fn unknown_pod_mac_is_learned_from_its_arp() {
    let routes = RouteTable::builder()
        .pod_port(POD_A, GW_MAC)
        .pod_port(POD_B, GW_MAC)
        .local(ip("10.0.0.1"), POD_A, None)
        .local(ip("10.0.0.2"), POD_B, None)
        .build()
        .expect("valid");
    let mut h = Harness::with(routes, 16);
    let p = policy(1, &[53]);
    assert_eq!(
        h.one(udp4("10.0.0.1", "10.0.0.2", 1, 53), POD_A, &p),
        dropped(DropReason::NoNeighbour)
    );
    let out = h.run(&[(arp(1, POD_B_MAC, "10.0.0.2", "169.254.1.1"), POD_B)], &p);
    assert!(matches!(out[0].0, Action::Reply { port: POD_B, .. }));
    let out = h.run(&[(udp4("10.0.0.1", "10.0.0.2", 1, 53), POD_A)], &p);
    assert_eq!(out[0].0, forward(POD_B));
    assert_eq!(&out[0].1[0..6], &POD_B_MAC.0);
}

#[test]
fn a_full_flow_log_loses_events_but_never_blocks() {
    let mut h = Harness::with(routes_with(Some(ROUTER_MAC)), 2);
    let p = policy(1, &[53]);
    let input: Vec<(Vec<u8>, PortId)> = (0..5)
        .map(|i| (udp4("10.0.0.1", "10.0.0.2", 1000 + i, 53), POD_A))
        .collect();
    let out = h.run(&input, &p);
    assert!(out.iter().all(|(a, _)| *a == forward(POD_B)));
    assert_eq!(h.pipeline.flowlog().len(), 2);
    assert_eq!(h.pipeline.flowlog().lost(), 3);
}

#[test]
fn batch_with_repeated_new_flow_decides_and_forwards_all() {
    let mut h = Harness::new();
    let p = policy(1, &[53]);
    let frame = udp4("10.0.0.1", "10.0.0.2", 1234, 53);
    let out = h.run(&vec![(frame, POD_A); 40], &p);
    assert!(out.iter().all(|(a, _)| *a == forward(POD_B)));
    assert_eq!(h.pipeline.conntrack().stats().entries, 1);
    // All 40 missed the lookup and were decided (one event each); the first created the
    // entry, the other 39 (across two insert groups of 32) found it.
    let c = h.pipeline.counters();
    assert_eq!((c.conntrack_misses, c.policy_decisions), (40, 40));
    assert_eq!(h.pipeline.flowlog().len(), 40);
    assert_eq!(h.pipeline.conntrack().stats().inserts, 1);
    h.check_invariant();
}

#[test]
fn new_flow_and_its_reply_in_one_batch_share_one_entry() {
    let mut h = Harness::new();
    let p = policy(1, &[53]);
    let input = [
        (udp4("10.0.0.1", "10.0.0.2", 1234, 53), POD_A),
        // The reply: a miss at lookup like its request, and on its own it would be denied
        // (port 1234 is not allowed), but the request's entry created just before decides.
        (udp4("10.0.0.2", "10.0.0.1", 53, 1234), POD_B),
        (udp4("10.0.0.2", "10.0.0.1", 53, 4321), POD_B),
        (udp4("10.0.0.1", "10.0.0.2", 1234, 53), POD_A),
    ];
    let actions: Vec<Action> = h.run(&input, &p).into_iter().map(|(a, _)| a).collect();
    assert_eq!(
        actions,
        [
            forward(POD_B),
            forward(POD_A),
            dropped(DropReason::PolicyDenied),
            forward(POD_B)
        ]
    );
    let ct = h.pipeline.conntrack().stats();
    assert_eq!((ct.entries, ct.inserts), (2, 2), "{ct:?}");
    let c = h.pipeline.counters();
    assert_eq!((c.conntrack_misses, c.policy_decisions), (4, 4));
    // The next reply is a plain hit on the replied entry.
    let before = h.pipeline.counters().conntrack_hits;
    let out = h.run(&[(udp4("10.0.0.2", "10.0.0.1", 53, 1234), POD_B)], &p);
    assert_eq!(out[0].0, forward(POD_A));
    assert_eq!(h.pipeline.counters().conntrack_hits, before + 1);
    h.check_invariant();
}

#[test]
fn a_full_table_drops_new_flows_and_keeps_established_ones() {
    let config = ConntrackConfig::with_capacity(8);
    let mut h = Harness::with_conntrack(routes_with(Some(ROUTER_MAC)), 1024, config);
    let p = policy(1, &[53]);
    let request = |i: u16| (udp4("10.0.0.1", "10.0.0.2", 1000 + i, 53), POD_A);
    let reply = |i: u16| (udp4("10.0.0.2", "10.0.0.1", 53, 1000 + i), POD_B);
    // Eight connections, each request and reply in the same batch: established, replied,
    // never early-dropped.
    let input: Vec<_> = (0..8).flat_map(|i| [request(i), reply(i)]).collect();
    let out = h.run(&input, &p);
    assert!(out.iter().all(|(a, _)| matches!(a, Action::Forward { .. })));
    assert_eq!(h.pipeline.conntrack().stats().entries, 8);
    // A full table of established connections: new flows are dropped, the old ones pass.
    let out = h.run(&[request(8), reply(3), request(9), request(3)], &p);
    let actions: Vec<Action> = out.into_iter().map(|(a, _)| a).collect();
    assert_eq!(
        actions,
        [
            dropped(DropReason::ConntrackFull),
            forward(POD_A),
            dropped(DropReason::ConntrackFull),
            forward(POD_B)
        ]
    );
    let ct = h.pipeline.conntrack().stats();
    assert_eq!((ct.entries, ct.insert_failures), (8, 2), "{ct:?}");
    h.check_invariant();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random bytes and mutated real frames, on any port, never panic the pipeline, and every
    /// frame gets exactly one action.
    #[test]
    fn random_frames_never_panic(
        frames in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..120), 0u16..4, 0usize..6, any::<bool>()),
            1..16,
        ),
    ) {
        let mut h = Harness::new();
        let p = policy(1, &[53]);
        let input: Vec<(Vec<u8>, PortId)> = frames
            .into_iter()
            .map(|(noise, port, which, mutate)| {
                let base = match which {
                    0 => udp4("10.0.0.1", "10.0.0.2", 1, 53),
                    1 => tcp4("10.0.0.2", "10.0.0.1", 53, 1, true, true),
                    2 => icmp4_error("8.8.8.8", "10.0.0.1", 3, 3, &udp4("10.0.0.1", "8.8.8.8", 1, 53)),
                    3 => neighbour_solicitation(POD_A_MAC, v6("fe80::a"), v6("fe80::1"), true),
                    4 => arp(1, POD_A_MAC, "10.0.0.1", "169.254.1.1"),
                    _ => noise.clone(),
                };
                let frame = if mutate {
                    let mut f = base;
                    for (i, b) in noise.iter().enumerate().take(8) {
                        let at = 14 + usize::from(*b) % 80;
                        if let Some(x) = f.get_mut(at) {
                            *x ^= (i as u8).wrapping_add(1);
                        }
                    }
                    f
                } else {
                    base
                };
                (frame, port)
            })
            .collect();
        let out = h.run(&input, &p);
        prop_assert_eq!(out.len(), input.len());
        h.check_invariant();
    }
}

#[test]
fn ipv4_options_and_ipv6_extension_headers_are_forwarded() {
    let mut h = Harness::new();
    let p = policy(1, &[53]);
    let with_options = with_ipv4_options(&udp4("10.0.0.1", "10.0.0.2", 7, 53), &[1, 1, 1, 0]);
    let out = h.run(&[(with_options.clone(), POD_A)], &p);
    assert_eq!(out[0].0, forward(POD_B));
    assert_eq!(out[0].1.len(), with_options.len());
    assert_eq!(&out[0].1[34..38], &[1, 1, 1, 0], "options kept");
    assert!(checksum::verifies(&out[0].1[14..38]));
    let hop_by_hop = (0u8, vec![0, 1, 4, 0, 0, 0, 0]);
    let v6 = ipv6_with_exts(
        "fd00::1",
        "fd00::2",
        &[hop_by_hop],
        IpProto::UDP,
        &udp_bytes(9, 53),
    );
    let out = h.run(&[(v6.clone(), POD_A)], &p);
    assert_eq!(out[0].0, forward(POD_B));
    assert_eq!(out[0].1[21], 63, "hop limit decremented");
    assert_eq!(
        out[0].1[22..],
        v6[22..],
        "nothing else changed after the hop limit"
    );
}

#[test]
fn traffic_from_the_uplink_reaches_pods_and_transit_is_refused() {
    let mut h = Harness::new();
    let p = policy(1, &[80]);
    let out = h.run(
        &[(
            tcp4("192.168.5.5", "10.0.0.2", 5555, 80, true, false),
            UPLINK,
        )],
        &p,
    );
    assert_eq!(out[0].0, forward(POD_B));
    assert_eq!(&out[0].1[0..12], &[POD_B_MAC.0, GW_MAC.0].concat()[..]);
    // Off-node to off-node through the node is not Palisade's to carry.
    assert_eq!(
        h.one(udp4("192.168.5.5", "8.8.8.8", 1, 80), UPLINK, &p),
        dropped(DropReason::NoRoute)
    );
}

#[test]
fn ipv6_ping_between_pods() {
    let mut h = Harness::new();
    let p = policy(1, &[]);
    // A announces itself (its MAC is learned per port from any frame), then pings B.
    let ns = neighbour_solicitation(POD_A_MAC, v6("fe80::a"), v6("fe80::1"), true);
    assert!(matches!(h.one(ns, POD_A, &p), Action::Reply { .. }));
    assert_eq!(
        h.one(icmp6_echo("fd00::1", "fd00::2", 5), POD_A, &p),
        forward(POD_B)
    );
    let mut reply = icmp6_echo("fd00::2", "fd00::1", 5);
    reply[54] = 129; // echo reply (the checksum is not checked by a router)
    let out = h.run(&[(reply, POD_B)], &p);
    assert_eq!(out[0].0, forward(POD_A));
    assert_eq!(&out[0].1[0..6], &POD_A_MAC.0);
}
