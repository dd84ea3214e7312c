//! Unit tests: per protocol and state transition, timeouts, revalidation, eviction, expiry,
//! batch lookups, and a two-thread stress test.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::flow::IcmpFields;

const SYN: u8 = TcpFlags::SYN;
const SYNACK: u8 = TcpFlags::SYN | TcpFlags::ACK;
const ACK: u8 = TcpFlags::ACK;
const FINACK: u8 = TcpFlags::FIN | TcpFlags::ACK;
const RST: u8 = TcpFlags::RST;
const T0: Timestamp = Timestamp::from_secs(1_000);

pub(super) fn config(capacity: usize) -> ConntrackConfig {
    ConntrackConfig {
        hash_seed: 0x1234_5678,
        ..ConntrackConfig::with_capacity(capacity)
    }
}

pub(super) fn table(capacity: usize) -> ConntrackTable {
    ConntrackTable::new(config(capacity)).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tcp(src: &str, sport: u16, dst: &str, dport: u16) -> FlowKey {
    FlowKey::new(ip(src), ip(dst), IpProto::TCP, sport, dport)
}

fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> FlowKey {
    FlowKey::new(ip(src), ip(dst), IpProto::UDP, sport, dport)
}

fn echo(src: &str, dst: &str, icmp_type: u8, id: u16) -> FlowKey {
    let proto = if ip(src).is_ipv6() {
        IpProto::ICMPV6
    } else {
        IpProto::ICMP
    };
    let icmp = IcmpFields {
        icmp_type: Some(icmp_type),
        code: Some(0),
    };
    FlowKey::icmp(ip(src), ip(dst), proto, icmp, id)
}

pub(super) fn allow(generation: u64) -> Decision {
    Decision {
        verdict: Verdict::Allow,
        rule_id: 7,
        generation,
    }
}

fn deny(generation: u64) -> Decision {
    Decision {
        verdict: Verdict::Deny,
        rule_id: 9,
        generation,
    }
}

fn after(t: Timestamp, secs: u64, millis: u64) -> Timestamp {
    t.plus(Duration::from_secs(secs) + Duration::from_millis(millis))
}

#[track_caller]
fn hit(r: Lookup) -> Hit {
    match r {
        Lookup::Hit(h) | Lookup::Related(h) => h,
        other => panic!("expected a hit, got {other:?}"),
    }
}

#[test]
fn tcp_handshake_data_and_close() {
    let t = table(64);
    let c = tcp("10.0.0.1", 40000, "10.0.0.2", 80);
    assert_eq!(t.lookup(&c, SYN, T0), Lookup::Miss);
    assert_eq!(t.insert(&c, SYN, allow(1), T0), Ok(Inserted::New));
    let h = hit(t.lookup(&c, SYN, T0));
    assert_eq!(
        (h.direction, h.state, h.replied),
        (Direction::Original, State::TcpSynSent, false)
    );
    let h = hit(t.lookup(&c.reversed(), SYNACK, T0));
    assert_eq!(
        (h.direction, h.state, h.replied),
        (Direction::Reply, State::TcpSynReceived, true)
    );
    assert_eq!(hit(t.lookup(&c, ACK, T0)).state, State::TcpEstablished);
    // Established: alive for an hour of silence, not a millisecond more.
    let t1 = after(T0, 3600, 0);
    assert_eq!(
        hit(t.lookup(&c.reversed(), ACK, t1)).state,
        State::TcpEstablished
    );
    assert_eq!(hit(t.lookup(&c, FINACK, t1)).state, State::TcpFinWait);
    assert_eq!(
        hit(t.lookup(&c.reversed(), FINACK, t1)).state,
        State::TcpClosing
    );
    let h = hit(t.lookup(&c, ACK, after(t1, 30, 0)));
    assert_eq!((h.state, h.decision), (State::TcpClosing, allow(1)));
    assert_eq!(t.lookup(&c, ACK, after(t1, 60, 1)), Lookup::Miss);
    assert_eq!(
        t.lookup(&c, FINACK, after(t1, 60, 1)),
        Lookup::Invalid(Invalid::TcpCannotOpen)
    );
}

#[test]
fn tcp_short_timeouts_for_syn_and_reset() {
    let t = table(64);
    let c = tcp("10.0.0.1", 40000, "10.0.0.2", 80);
    t.insert(&c, SYN, allow(1), T0).unwrap();
    assert!(matches!(
        t.lookup(&c, SYN, after(T0, 20, 0)),
        Lookup::Hit(_)
    ));
    assert_eq!(t.lookup(&c, SYN, after(T0, 40, 1)), Lookup::Miss);

    let d = tcp("10.0.0.1", 40001, "10.0.0.2", 80);
    t.insert(&d, SYN, allow(1), T0).unwrap();
    t.lookup(&d.reversed(), SYNACK, T0);
    t.lookup(&d, ACK, T0);
    assert_eq!(
        hit(t.lookup(&d.reversed(), RST | ACK, T0)).state,
        State::TcpReset
    );
    assert!(matches!(
        t.lookup(&d, ACK, after(T0, 40, 0)),
        Lookup::Hit(_)
    ));
    assert_eq!(t.lookup(&d, ACK, after(T0, 80, 1)), Lookup::Miss);
}

#[test]
fn mid_stream_pickup_is_configurable() {
    let c = tcp("10.0.0.1", 40000, "10.0.0.2", 80);
    let t = table(64);
    assert_eq!(t.lookup(&c, ACK, T0), Lookup::Miss);
    t.insert(&c, ACK | TcpFlags::PSH, allow(1), T0).unwrap();
    let h = hit(t.lookup(&c, ACK, T0));
    assert_eq!((h.state, h.replied), (State::TcpEstablished, false));
    assert!(hit(t.lookup(&c.reversed(), ACK, T0)).replied);
    for bad in [SYNACK, RST, FINACK] {
        let k = tcp("10.0.0.1", 1, "10.0.0.2", 2);
        assert_eq!(
            t.lookup(&k, bad, T0),
            Lookup::Invalid(Invalid::TcpCannotOpen)
        );
    }

    let strict = ConntrackTable::new(ConntrackConfig {
        mid_stream: MidStream::Invalid,
        ..config(64)
    })
    .unwrap();
    assert_eq!(
        strict.lookup(&c, ACK, T0),
        Lookup::Invalid(Invalid::MidStream)
    );
    assert_eq!(
        strict.insert(&c, ACK, allow(1), T0),
        Err(InsertError::Invalid(Invalid::MidStream))
    );
    assert_eq!(strict.lookup(&c, SYN, T0), Lookup::Miss);
    assert_eq!(strict.stats().invalid, 1);
}

#[test]
fn syn_on_a_closed_connection_opens_a_new_one() {
    let t = table(64);
    let c = tcp("10.0.0.1", 40000, "10.0.0.2", 80);
    t.insert(&c, SYN, allow(1), T0).unwrap();
    t.lookup(&c.reversed(), RST | ACK, T0);
    // The reply side's SYN is not a reopen; the originator's is.
    assert!(matches!(t.lookup(&c.reversed(), SYN, T0), Lookup::Hit(_)));
    assert_eq!(t.lookup(&c, SYN, T0), Lookup::Miss);
    assert_eq!(t.insert(&c, SYN, deny(2), T0), Ok(Inserted::New));
    let h = hit(t.lookup(&c, SYN, T0));
    assert_eq!((h.state, h.decision), (State::TcpSynSent, deny(2)));
    let s = t.stats();
    assert_eq!((s.entries, s.inserts, s.removed), (1, 2, 1));
}

#[test]
fn udp_udplite_sctp_are_keyed_by_ports() {
    let t = table(64);
    for proto in [IpProto::UDP, IpProto::UDPLITE, IpProto::SCTP] {
        let k = FlowKey::new(ip("10.0.0.1"), ip("10.0.0.2"), proto, 5000, 53);
        t.insert(&k, 0, allow(1), T0).unwrap();
        let h = hit(t.lookup(&k, 0, T0));
        assert_eq!(
            (h.state, h.direction),
            (State::Unreplied, Direction::Original)
        );
        let h = hit(t.lookup(&k.reversed(), 0, T0));
        assert_eq!((h.state, h.direction), (State::Replied, Direction::Reply));
        let other_port = FlowKey::new(ip("10.0.0.1"), ip("10.0.0.2"), proto, 5001, 53);
        assert_eq!(t.lookup(&other_port, 0, T0), Lookup::Miss);
    }
    let k = udp("10.0.0.1", 5000, "10.0.0.2", 53);
    assert!(matches!(t.lookup(&k, 0, after(T0, 60, 0)), Lookup::Hit(_)));
    assert_eq!(t.lookup(&k, 0, after(T0, 120, 1)), Lookup::Miss);
    // SCTP falls in "other": 10 minutes.
    let s = FlowKey::new(ip("10.0.0.1"), ip("10.0.0.2"), IpProto::SCTP, 5000, 53);
    assert!(matches!(t.lookup(&s, 0, after(T0, 600, 0)), Lookup::Hit(_)));
    assert_eq!(t.stats().entries, 3);
}

#[test]
fn icmp_echo_is_keyed_by_identifier() {
    for (a, b, req, rep) in [
        ("10.0.0.1", "10.0.0.2", 8, 0),
        ("fd00::1", "fd00::2", 128, 129),
    ] {
        let t = table(64);
        let request = echo(a, b, req, 7);
        assert_eq!(
            t.lookup(&echo(b, a, rep, 7), 0, T0),
            Lookup::Invalid(Invalid::IcmpReply)
        );
        t.insert(&request, 0, allow(1), T0).unwrap();
        let h = hit(t.lookup(&echo(b, a, rep, 7), 0, T0));
        assert_eq!((h.direction, h.state), (Direction::Reply, State::Replied));
        // The re-check must see the request, type 8 (128), not the reply.
        assert_eq!(h.original_key(&echo(b, a, rep, 7)), request);
        assert_eq!(
            t.lookup(&echo(b, a, rep, 8), 0, T0),
            Lookup::Invalid(Invalid::IcmpReply)
        );
        assert_eq!(t.lookup(&echo(a, b, req, 8), 0, T0), Lookup::Miss);
        assert!(matches!(
            t.lookup(&request, 0, after(T0, 5, 0)),
            Lookup::Hit(_)
        ));
        assert_eq!(t.lookup(&request, 0, after(T0, 10, 1)), Lookup::Miss);
    }
}

#[test]
fn other_protocols_are_keyed_by_address_pair() {
    let t = table(64);
    let gre = FlowKey::new(ip("10.0.0.1"), ip("10.0.0.2"), 47, 0, 0);
    t.insert(&gre, 0, allow(1), T0).unwrap();
    let h = hit(t.lookup(&gre.reversed(), 0, T0));
    assert_eq!((h.direction, h.state), (Direction::Reply, State::Replied));
    let esp = FlowKey::new(ip("10.0.0.1"), ip("10.0.0.2"), 50, 0, 0);
    assert_eq!(t.lookup(&esp, 0, T0), Lookup::Miss);
    let v6 = tcp("fd00::1", 1000, "fd00::2", 443);
    t.insert(&v6, SYN, allow(1), T0).unwrap();
    assert_eq!(
        hit(t.lookup(&v6.reversed(), SYNACK, T0)).state,
        State::TcpSynReceived
    );
    assert_eq!(
        t.lookup(&tcp("fd00::1", 1000, "fd00::3", 443), SYN, T0),
        Lookup::Miss
    );
}

#[test]
fn icmp_errors_of_tracked_flows_are_related() {
    let t = table(64);
    let c = tcp("10.0.0.1", 40000, "10.0.0.2", 80);
    t.insert(&c, SYN, allow(3), T0).unwrap();
    let err = |from: &str, to: &str, ty: u8| echo(from, to, ty, 0);
    // A router tells the client its SYN could not be delivered / expired.
    for ty in [3, 11] {
        let h = hit(t.lookup_related(&err("10.9.9.9", "10.0.0.1", ty), &c, T0));
        assert_eq!((h.direction, h.decision), (Direction::Original, allow(3)));
    }
    // The server side's packet embedded in an error travelling to the server.
    let h = hit(t.lookup_related(&err("10.9.9.9", "10.0.0.2", 3), &c.reversed(), T0));
    assert_eq!(h.direction, Direction::Reply);
    assert_eq!(h.original_key(&c.reversed()), c);
    let unrelated = Lookup::Invalid(Invalid::IcmpUnrelated);
    // Addressed to someone other than the embedded packet's source.
    assert_eq!(
        t.lookup_related(&err("10.9.9.9", "10.0.0.2", 3), &c, T0),
        unrelated
    );
    // Not an error type.
    assert_eq!(
        t.lookup_related(&err("10.9.9.9", "10.0.0.1", 8), &c, T0),
        unrelated
    );
    // Untracked embedded flow.
    let other = tcp("10.0.0.1", 40001, "10.0.0.2", 80);
    assert_eq!(
        t.lookup_related(&err("10.9.9.9", "10.0.0.1", 3), &other, T0),
        unrelated
    );
    // IPv6: packet too big, destination unreachable, time exceeded.
    let c6 = udp("fd00::1", 5000, "fd00::2", 53);
    t.insert(&c6, 0, allow(3), T0).unwrap();
    for ty in [1, 2, 3] {
        assert!(matches!(
            t.lookup_related(&err("fd00::99", "fd00::1", ty), &c6, T0),
            Lookup::Related(_)
        ));
    }
    assert_eq!(
        t.lookup_related(&err("10.9.9.9", "10.0.0.1", 3), &c6, T0),
        unrelated
    );
    // Related packets do not refresh the connection.
    assert_eq!(
        t.lookup_related(&err("fd00::99", "fd00::1", 2), &c6, after(T0, 60, 1)),
        unrelated
    );
    assert_eq!(t.stats().related, 6);
}

#[test]
fn revalidation_across_generations() {
    let t = table(64);
    let c = tcp("10.0.0.1", 40000, "10.0.0.2", 80);
    t.insert(&c, SYN, allow(1), T0).unwrap();
    t.lookup(&c.reversed(), SYNACK, T0);
    let h = hit(t.lookup(&c.reversed(), ACK, T0));
    assert!(!h.needs_recheck(1));
    assert!(h.needs_recheck(2));
    // The re-check evaluates the original direction even on a reply packet.
    assert_eq!(h.original_key(&c.reversed()), c);
    // Quarantine: generation 2 denies; the established connection is cut.
    assert!(t.revalidate(&c.reversed(), deny(2)));
    let h = hit(t.lookup(&c, ACK, T0));
    assert_eq!(h.decision, deny(2));
    assert!(!h.needs_recheck(2));
    // Older or equal generations never overwrite a newer decision.
    assert!(!t.revalidate(&c, allow(1)));
    assert!(!t.revalidate(&c, allow(2)));
    assert!(t.revalidate(&c, allow(3)));
    assert_eq!(hit(t.lookup(&c, ACK, T0)).decision, allow(3));
    assert!(!t.revalidate(&tcp("10.0.0.1", 1, "10.0.0.2", 2), allow(4)));
    assert_eq!(t.stats().revalidations, 2);
    // Generations beyond 32 bits survive the compact encoding.
    let big = 5_000_000_000_u64;
    assert!(t.revalidate(&c, allow(big)));
    assert_eq!(hit(t.lookup(&c, ACK, T0)).decision.generation, big);
    let d = udp("10.0.0.1", 1, "10.0.0.2", 2);
    t.insert(&d, 0, allow(big + 1), T0).unwrap();
    assert_eq!(hit(t.lookup(&c, ACK, T0)).decision.generation, big);
    assert_eq!(hit(t.lookup(&d, 0, T0)).decision.generation, big + 1);
}

#[test]
fn keep_established_rechecks_only_unreplied() {
    let t = ConntrackTable::new(ConntrackConfig {
        revalidation: Revalidation::KeepEstablished,
        ..config(64)
    })
    .unwrap();
    let c = udp("10.0.0.1", 1, "10.0.0.2", 2);
    t.insert(&c, 0, allow(1), T0).unwrap();
    assert!(hit(t.lookup(&c, 0, T0)).needs_recheck(2));
    assert!(!hit(t.lookup(&c.reversed(), 0, T0)).needs_recheck(2));
    assert!(!hit(t.lookup(&c, 0, T0)).needs_recheck(2));
}

#[test]
fn insert_race_returns_the_existing_entry() {
    let t = table(64);
    let c = udp("10.0.0.1", 1, "10.0.0.2", 2);
    t.insert(&c, 0, allow(1), T0).unwrap();
    // The reply side missed at the same time and lost the race: its packet is a reply.
    let Ok(Inserted::Existing(h)) = t.insert(&c.reversed(), 0, deny(1), T0) else {
        panic!("expected the existing entry");
    };
    assert_eq!(
        (h.direction, h.decision, h.state),
        (Direction::Reply, allow(1), State::Replied)
    );
    assert_eq!(t.stats().entries, 1);
}

#[test]
fn expired_entries_are_replaced_in_place() {
    let t = table(64);
    let c = udp("10.0.0.1", 1, "10.0.0.2", 2);
    t.insert(&c, 0, allow(1), T0).unwrap();
    let later = after(T0, 61, 0);
    assert_eq!(t.lookup(&c.reversed(), 0, later), Lookup::Miss);
    assert_eq!(
        t.insert(&c.reversed(), 0, deny(2), later),
        Ok(Inserted::New)
    );
    let h = hit(t.lookup(&c.reversed(), 0, later));
    assert_eq!((h.direction, h.decision), (Direction::Original, deny(2)));
    let s = t.stats();
    assert_eq!((s.entries, s.evicted_expired), (1, 1));
}

#[test]
fn remove_from_either_direction() {
    let t = table(64);
    let c = tcp("10.0.0.1", 40000, "10.0.0.2", 80);
    t.insert(&c, SYN, allow(1), T0).unwrap();
    assert!(t.remove(&c.reversed()));
    assert!(!t.remove(&c));
    assert_eq!(t.lookup(&c, SYN, T0), Lookup::Miss);
    assert_eq!(t.stats().entries, 0);
    assert!(t.audit().is_empty());
}

fn nth_key(i: u32) -> FlowKey {
    let a = IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
    FlowKey::new(
        a,
        ip("192.168.0.1"),
        IpProto::TCP,
        1024 + (i % 50_000) as u16,
        80,
    )
}

/// An established, replied connection.
fn establish(t: &ConntrackTable, k: &FlowKey, now: Timestamp) -> Result<Inserted, InsertError> {
    let r = t.insert(k, SYN, allow(1), now)?;
    t.lookup(&k.reversed(), SYNACK, now);
    t.lookup(k, ACK, now);
    Ok(r)
}

#[test]
fn syn_flood_never_evicts_established_connections() {
    let cap = 2_000;
    let t = table(cap);
    let mut established = Vec::new();
    for i in 0..cap as u32 {
        if establish(&t, &nth_key(i), T0).is_ok() {
            established.push(nth_key(i));
        }
    }
    assert!(
        established.len() >= cap * 99 / 100,
        "{} of {cap}",
        established.len()
    );
    let before = t.stats();
    for i in 0..20_000u32 {
        let flood = FlowKey::new(ip("172.16.0.1"), ip("192.168.0.1"), 6, i as u16, 80);
        let _ = t.insert(&flood, SYN, allow(1), after(T0, 1, 0));
    }
    let s = t.stats();
    assert!(s.insert_failures - before.insert_failures > 0);
    assert_eq!(s.evicted_expired + s.evicted_early_drop, 0);
    for k in &established {
        assert_eq!(
            hit(t.lookup(k, ACK, after(T0, 2, 0))).state,
            State::TcpEstablished
        );
    }
    assert!(s.entries as usize <= cap);
    assert_eq!(t.audit().len(), s.entries as usize);
}

#[test]
fn a_full_table_of_mostly_established_entries_still_finds_the_unreplied_ones() {
    // 9 in 10 entries established: the victim sample is mostly established entries, and the
    // scan goes on past it to the droppable ones; no established entry is ever taken.
    let cap = 2_000;
    let t = table(cap);
    let mut established = Vec::new();
    for i in 0..cap as u32 {
        let k = nth_key(i);
        if i % 10 == 0 {
            let _ = t.insert(&k, SYN, allow(1), T0);
        } else if establish(&t, &k, T0).is_ok() {
            established.push(k);
        }
    }
    let mut inserted = 0;
    for i in 0..150u16 {
        let k = FlowKey::new(ip("172.16.0.2"), ip("192.168.0.1"), 6, i, 80);
        inserted += usize::from(t.insert(&k, SYN, allow(1), after(T0, 1, 0)).is_ok());
    }
    let s = t.stats();
    assert!(inserted >= 100, "{inserted} of 150 new flows got in: {s:?}");
    assert_eq!(s.evicted_early_drop as usize, inserted, "{s:?}");
    for k in &established {
        assert_eq!(
            hit(t.lookup(k, ACK, after(T0, 2, 0))).state,
            State::TcpEstablished
        );
    }
    assert!(s.entries as usize <= cap);
}

#[test]
fn full_table_drops_unreplied_then_expired_first() {
    let cap = 1_000;
    let t = table(cap);
    for i in 0..cap as u32 {
        let k = udp("10.0.0.1", i as u16, "10.0.0.2", 53);
        let _ = t.insert(&k, 0, allow(1), T0);
    }
    let filled = t.stats().entries;
    // Unreplied UDP is early-droppable: new flows still get in.
    for i in 0..100u16 {
        let k = udp("10.0.0.3", i, "10.0.0.2", 53);
        assert_eq!(
            t.insert(&k, 0, allow(1), after(T0, 1, 0)),
            Ok(Inserted::New)
        );
    }
    let s = t.stats();
    assert!(s.evicted_early_drop > 0);
    assert_eq!(s.entries, filled.max(s.entries));
    assert!(s.entries as usize <= cap);
    // Once they expire, expired entries are taken first.
    for i in 0..100u16 {
        let k = udp("10.0.0.4", i, "10.0.0.2", 53);
        assert_eq!(
            t.insert(&k, 0, allow(1), after(T0, 200, 0)),
            Ok(Inserted::New)
        );
    }
    let s2 = t.stats();
    assert_eq!(s2.evicted_early_drop, s.evicted_early_drop);
    assert!(s2.evicted_expired + s2.expired >= 100);
    t.audit();
}

#[test]
fn denied_connections_are_early_droppable() {
    let cap = 200;
    let t = table(cap);
    for i in 0..cap as u32 {
        let k = nth_key(i);
        if t.insert(&k, SYN, deny(1), T0).is_ok() {
            t.lookup(&k.reversed(), SYNACK, T0);
            t.lookup(&k, ACK, T0);
        }
    }
    let k = udp("10.0.0.3", 1, "10.0.0.2", 53);
    assert_eq!(t.insert(&k, 0, allow(1), T0), Ok(Inserted::New));
}

#[test]
fn sweep_is_incremental_and_complete() {
    let cap = 1_000;
    let t = table(cap);
    for i in 0..500u16 {
        t.insert(&udp("10.0.0.1", i, "10.0.0.2", 53), 0, allow(1), T0)
            .unwrap();
    }
    for i in 0..100u16 {
        establish(&t, &tcp("10.0.0.1", i, "10.0.0.2", 80), T0).unwrap();
    }
    assert_eq!(t.sweep(after(T0, 30, 0), cap), 0);
    let now = after(T0, 61, 0);
    let mut removed = 0;
    for _ in 0..cap / 64 + 1 {
        let n = t.sweep(now, 64);
        assert!(n <= 64);
        removed += n;
    }
    assert_eq!(removed, 500);
    let s = t.stats();
    assert_eq!((s.expired, s.entries), (500, 100));
    assert_eq!(t.audit().len(), 100);
}

#[test]
fn batch_lookup_matches_single_lookups() {
    let a = table(4_000);
    let b = table(4_000);
    let keys: Vec<FlowKey> = (0..3_000u32).map(nth_key).collect();
    for k in keys.iter().step_by(2) {
        a.insert(k, SYN, allow(1), T0).unwrap();
        b.insert(k, SYN, allow(1), T0).unwrap();
    }
    let mut probe: Vec<FlowKey> = keys.iter().map(|k| k.reversed()).collect();
    probe.extend_from_slice(&keys[..100]);
    let flags: Vec<u8> = (0..probe.len())
        .map(|i| [SYNACK, ACK, SYN][i % 3])
        .collect();
    let mut out = vec![Lookup::Miss; probe.len()];
    a.lookup_batch(&probe, &flags, T0, &mut out);
    for (i, k) in probe.iter().enumerate() {
        assert_eq!(out[i], b.lookup(k, flags[i], T0), "key {i}");
    }
    assert_eq!(a.stats(), b.stats());
}

#[test]
fn fills_to_capacity_and_finds_everything() {
    let cap = 20_000;
    let t = table(cap);
    let mut failed = 0;
    for i in 0..cap as u32 {
        if establish(&t, &nth_key(i), T0).is_err() {
            failed += 1;
        }
    }
    assert!(
        failed <= cap / 1000,
        "{failed} inserts failed at 100 % of capacity"
    );
    for i in 0..cap as u32 {
        let r = t.lookup(&nth_key(i).reversed(), ACK, T0);
        assert!(matches!(r, Lookup::Hit(_)) || failed > 0, "key {i}: {r:?}");
    }
    assert_eq!(t.audit().len() as u64, t.stats().entries);
    assert!(
        t.memory_bytes() / cap <= 64,
        "{} bytes per entry",
        t.memory_bytes() / cap
    );
}

#[test]
fn memory_is_at_most_64_bytes_per_entry() {
    for cap in [10_000, 100_000, 1_000_000] {
        let t = table(cap);
        assert!(
            t.memory_bytes() <= 64 * cap,
            "{cap}: {}",
            t.memory_bytes() as f64 / cap as f64
        );
    }
}

#[test]
fn two_threads_insert_lookup_and_expire() {
    let cap = 4_096;
    let t = Arc::new(table(cap));
    let workers: Vec<_> = (0..2u32)
        .map(|w| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                let mut rng = 0x9E37_79B9_u64 ^ u64::from(w);
                for step in 0..40_000u64 {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    // Both threads share the key space and see each other's flows.
                    let k = nth_key((rng % 6_000) as u32);
                    let now = Timestamp::from_millis(1_000_000 + step * 5);
                    let key = if rng & 1 == 0 { k } else { k.reversed() };
                    match t.lookup(&key, ACK, now) {
                        Lookup::Hit(h) => {
                            assert_eq!(h.original_key(&key).protocol, IpProto::TCP);
                            if rng & 0x30 == 0 && h.needs_recheck(step / 1000) {
                                t.revalidate(&key, allow(step / 1000));
                            }
                        }
                        Lookup::Miss => {
                            let _ = t.insert(&key, ACK, allow(step / 1000), now);
                        }
                        other => panic!("{other:?}"),
                    }
                    if rng & 0xF00 == 0 {
                        t.remove(&key);
                    }
                    if step % 64 == 0 {
                        t.sweep(now, 128);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let keys = t.audit();
    let s = t.stats();
    assert_eq!(keys.len() as u64, s.entries);
    assert!(keys.len() <= cap);
    let mut sorted: Vec<_> = keys
        .iter()
        .map(|k| (k.a_lo, k.b_lo, k.meta & key::META_KEY_MASK))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), keys.len(), "a connection has two entries");
    assert!(s.inserts > 1_000 && s.hits > 1_000, "{s:?}");
}

#[test]
fn readers_never_miss_stable_entries_while_writers_move_others() {
    let cap = 4_096;
    let t = Arc::new(table(cap));
    // 90 % of capacity stays put; the writer churns the rest, forcing cuckoo moves.
    let stable: Vec<FlowKey> = (0..3_700u32)
        .map(nth_key)
        .filter(|k| establish(&t, k, T0).is_ok())
        .collect();
    assert!(stable.len() > 3_650);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rounds = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let writer = {
        let (t, stop, rounds) = (Arc::clone(&t), Arc::clone(&stop), Arc::clone(&rounds));
        std::thread::spawn(move || {
            let mut round = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let keys: Vec<FlowKey> = (0..300u32)
                    .map(|i| nth_key(100_000 + (round % 7) * 1_000 + i))
                    .collect();
                // Odd rounds use the batched writers, even rounds the single calls.
                if round % 2 == 1 {
                    let mut out = vec![Err(InsertError::Full); keys.len()];
                    let flags = vec![SYN; keys.len()];
                    t.insert_batch(&keys, &flags, &vec![allow(1); keys.len()], T0, &mut out);
                    t.remove_batch(&keys, &mut vec![false; keys.len()]);
                } else {
                    for k in &keys {
                        let _ = t.insert(k, SYN, allow(1), T0);
                    }
                    for k in &keys {
                        t.remove(k);
                    }
                }
                round += 1;
                rounds.store(round, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let flags = vec![ACK; stable.len()];
    let mut out = vec![Lookup::Miss; stable.len()];
    // At least 30 passes, and on until the writer has done both kinds of rounds.
    let mut pass = 0;
    while pass < 30 || rounds.load(std::sync::atomic::Ordering::Relaxed) < 2 {
        if pass % 2 == 0 {
            t.lookup_batch(&stable, &flags, T0, &mut out);
        } else {
            for (o, k) in out.iter_mut().zip(&stable) {
                *o = t.lookup(&k.reversed(), ACK, T0);
            }
        }
        for (i, r) in out.iter().enumerate() {
            assert!(matches!(r, Lookup::Hit(_)), "pass {pass}, key {i}: {r:?}");
        }
        pass += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(t.audit().len() as u64, t.stats().entries);
    assert!(t.stats().moves > 100, "{:?}", t.stats());
}
