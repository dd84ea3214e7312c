//! The batch pipeline: parse -> ARP/ND -> route -> conntrack -> policy -> rewrite.
//!
//! Contract: `Pipeline::process_batch` turns a batch of received frames into one `Action` per
//! frame, in order, and never panics on frame contents. It reads no clock (`now` is a
//! parameter) and consults the policy only for conntrack misses and for tracked flows whose
//! cached decision is older than `policy.generation()`. The route table and the decider are
//! the snapshot the worker loaded once for this batch.

use std::mem;
use std::net::IpAddr;
use std::sync::Arc;

use super::counters::PipelineCounters;
use super::frame::{Action, FrameRef};
use super::policy::{PolicyDecider, PolicyVerdict};
use crate::conntrack::{
    ConntrackTable, Decision, Hashed, Hit, InsertError, Inserted, Invalid, Lookup, Timestamp,
    Verdict,
};
use crate::flow::{FlowKey, IpProto};
use crate::flowlog::{FlowEvent, FlowEventReason, FlowLog};
use crate::forward::{
    LearnedMacs, PortId, PortInfo, PortMacs, PortRole, Route, RouteTable, is_routable_destination,
    rewrite_for_forward,
};
use crate::neigh::{NeighConfig, answer_arp, answer_neighbour_solicitation};
use crate::packet::{DropReason, IpInfo, L3, L4Detail, MacAddr, Parsed, icmpv6, parse_frame};

/// Pipeline settings that do not change with the policy snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineConfig {
    pub neigh: NeighConfig,
    /// Most (port, address) entries the learned-MAC table holds.
    pub learned_capacity: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            neigh: NeighConfig::default(),
            learned_capacity: 4096,
        }
    }
}

/// A frame that passed parsing and routing and waits for its conntrack verdict.
#[derive(Clone, Copy, Debug)]
struct Pending {
    frame: usize,
    ip: IpInfo,
    egress: PortId,
    src_mac: MacAddr,
    dst_mac: MacAddr,
}

/// What the first stage made of a frame.
enum Step {
    Done(Action),
    Track(Pending),
    Related(Pending, FlowKey),
}

/// Buffers reused from batch to batch (no allocation once warm).
#[derive(Debug, Default)]
struct Scratch {
    pending: Vec<Pending>,
    keys: Vec<FlowKey>,
    flags: Vec<u8>,
    lookups: Vec<Lookup>,
    hashed: Vec<Hashed>,
    misses: Vec<usize>,
    invalid: Vec<usize>,
    miss_keys: Vec<FlowKey>,
    miss_hashed: Vec<Hashed>,
    miss_flags: Vec<u8>,
    verdicts: Vec<PolicyVerdict>,
    decisions: Vec<Decision>,
    inserted: Vec<Result<Inserted, InsertError>>,
}

/// One worker's pipeline. See the module contract.
#[derive(Debug)]
pub struct Pipeline {
    config: PipelineConfig,
    conntrack: Arc<ConntrackTable>,
    flowlog: Arc<FlowLog>,
    learned: LearnedMacs,
    counters: PipelineCounters,
    scratch: Scratch,
}

impl Pipeline {
    /// A pipeline sharing `conntrack` and `flowlog` with the other workers.
    pub fn new(
        config: PipelineConfig,
        conntrack: Arc<ConntrackTable>,
        flowlog: Arc<FlowLog>,
    ) -> Self {
        let learned = LearnedMacs::new(config.learned_capacity);
        Self::with_learned(config, conntrack, flowlog, learned)
    }

    /// Like [`Pipeline::new`], also sharing the per-port learned MACs (`port_macs`) with the
    /// other workers: a pod heard by one worker can be reached through any.
    pub fn with_port_macs(
        config: PipelineConfig,
        conntrack: Arc<ConntrackTable>,
        flowlog: Arc<FlowLog>,
        port_macs: Arc<PortMacs>,
    ) -> Self {
        let learned = LearnedMacs::with_port_macs(config.learned_capacity, port_macs);
        Self::with_learned(config, conntrack, flowlog, learned)
    }

    fn with_learned(
        config: PipelineConfig,
        conntrack: Arc<ConntrackTable>,
        flowlog: Arc<FlowLog>,
        learned: LearnedMacs,
    ) -> Self {
        Self {
            config,
            conntrack,
            flowlog,
            learned,
            counters: PipelineCounters::default(),
            scratch: Scratch::default(),
        }
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    pub fn counters(&self) -> &PipelineCounters {
        &self.counters
    }

    pub fn learned(&self) -> &LearnedMacs {
        &self.learned
    }

    pub fn conntrack(&self) -> &Arc<ConntrackTable> {
        &self.conntrack
    }

    pub fn flowlog(&self) -> &Arc<FlowLog> {
        &self.flowlog
    }

    /// Bounded housekeeping for the worker loop: expires up to `budget` conntrack slots.
    pub fn housekeeping(&self, now: Timestamp, budget: usize) -> usize {
        self.conntrack.sweep(now, budget)
    }

    /// Processes a batch; `out` is cleared and gets one action per frame, in order.
    pub fn process_batch(
        &mut self,
        frames: &mut [FrameRef<'_>],
        now: Timestamp,
        routes: &RouteTable,
        policy: &dyn PolicyDecider,
        out: &mut Vec<Action>,
    ) {
        out.clear();
        out.resize(frames.len(), Action::Drop(DropReason::Runt));
        let mut s = mem::take(&mut self.scratch);
        s.pending.clear();

        // 1. Parse, answer ARP/ND, route. ICMP errors are looked up as related right away.
        for (i, frame) in frames.iter_mut().enumerate() {
            let action = match self.first_stage(frame, routes) {
                Ok(Step::Done(action)) => Some(action),
                Ok(Step::Track(p)) => {
                    s.pending.push(Pending { frame: i, ..p });
                    None
                }
                Ok(Step::Related(p, inner)) => {
                    let p = Pending { frame: i, ..p };
                    let verdict = match self.conntrack.lookup_related(&p.ip.key, &inner, now) {
                        Lookup::Related(h) | Lookup::Hit(h) => {
                            self.counters.conntrack_hits += 1;
                            self.counters.conntrack_related += 1;
                            Ok(self.resolve_hit(&h, &inner, policy, now))
                        }
                        _ => Err(DropReason::UnrelatedIcmpError),
                    };
                    Some(self.finish(frame.buf, &p, verdict))
                }
                Err(reason) => Some(Action::Drop(reason)),
            };
            if let (Some(a), Some(slot)) = (action, out.get_mut(i)) {
                *slot = a;
            }
        }

        // 2. Conntrack, in one batch.
        let n = s.pending.len();
        s.keys.clear();
        s.flags.clear();
        s.keys.extend(s.pending.iter().map(|p| p.ip.key));
        s.flags.extend(s.pending.iter().map(|p| p.ip.tcp_flags));
        s.lookups.clear();
        s.lookups.resize(n, Lookup::Miss);
        s.hashed.clear();
        s.hashed.resize(n, Hashed::default());
        self.conntrack
            .lookup_batch_hashed(&s.keys, &s.flags, now, &mut s.lookups, &mut s.hashed);

        // 3. Hits use (or re-check) their cached decision; misses wait for the policy.
        s.misses.clear();
        s.invalid.clear();
        for (j, (p, lookup)) in s.pending.iter().zip(s.lookups.iter()).enumerate() {
            let verdict = match lookup {
                Lookup::Hit(h) | Lookup::Related(h) => {
                    self.counters.conntrack_hits += 1;
                    Ok(self.resolve_hit(h, &p.ip.key, policy, now))
                }
                Lookup::Miss => {
                    self.counters.conntrack_misses += 1;
                    s.misses.push(j);
                    continue;
                }
                Lookup::Invalid(_) => {
                    s.invalid.push(j);
                    continue;
                }
            };
            if let Some(frame) = frames.get_mut(p.frame)
                && let Some(slot) = out.get_mut(p.frame)
            {
                *slot = self.finish(frame.buf, p, verdict);
            }
        }

        // 4. New flows: the policy decides and conntrack remembers, each in one batch (the
        //    inserts reuse the lookup's hashes). The inserts run in slice order, so a second
        //    packet of a connection opened earlier in this batch finds that entry
        //    (`Existing`) as it would one insert at a time.
        s.miss_keys.clear();
        s.miss_hashed.clear();
        s.miss_flags.clear();
        for &j in &s.misses {
            if let (Some(p), Some(h)) = (s.pending.get(j), s.hashed.get(j)) {
                s.miss_keys.push(p.ip.key);
                s.miss_hashed.push(*h);
                s.miss_flags.push(p.ip.tcp_flags);
            }
        }
        let m = s.miss_keys.len();
        s.verdicts.clear();
        s.verdicts.resize(m, PolicyVerdict::default());
        s.decisions.clear();
        s.inserted.clear();
        if m > 0 {
            policy.decide_batch(&s.miss_keys, &mut s.verdicts);
            let generation = policy.generation();
            s.decisions.extend(s.verdicts.iter().map(|pv| Decision {
                verdict: pv.verdict,
                rule_id: pv.rule_id,
                generation,
            }));
            s.inserted.resize(m, Err(InsertError::Full));
            self.conntrack.insert_batch_hashed(
                &s.miss_hashed,
                &s.miss_flags,
                &s.decisions,
                now,
                &mut s.inserted,
            );
        }
        for ((&j, &decision), &inserted) in s
            .misses
            .iter()
            .zip(s.decisions.iter())
            .zip(s.inserted.iter())
        {
            let Some(p) = s.pending.get(j) else { continue };
            self.note_decision(&p.ip.key, decision, FlowEventReason::NewFlow, now);
            let verdict = match inserted {
                Ok(Inserted::New) => Ok(decision.verdict),
                Ok(Inserted::Existing(h)) => Ok(self.resolve_hit(&h, &p.ip.key, policy, now)),
                Err(InsertError::Invalid(_)) => Err(DropReason::ConntrackInvalid),
                Err(InsertError::Full) => Err(DropReason::ConntrackFull),
            };
            if let Some(frame) = frames.get_mut(p.frame)
                && let Some(slot) = out.get_mut(p.frame)
            {
                *slot = self.finish(frame.buf, p, verdict);
            }
        }

        // 5. Packets conntrack called invalid may belong to a connection this very batch
        //    opened (a reply processed in the same batch as its request): look them up again.
        for &j in &s.invalid {
            let Some(p) = s.pending.get(j) else { continue };
            let lookup = if s.misses.is_empty() {
                s.lookups.get(j).copied().unwrap_or_default()
            } else {
                self.conntrack.lookup(&p.ip.key, p.ip.tcp_flags, now)
            };
            let verdict = match lookup {
                Lookup::Hit(h) | Lookup::Related(h) => {
                    self.counters.conntrack_hits += 1;
                    Ok(self.resolve_hit(&h, &p.ip.key, policy, now))
                }
                Lookup::Invalid(Invalid::IcmpUnrelated) => Err(DropReason::UnrelatedIcmpError),
                Lookup::Invalid(_) | Lookup::Miss => Err(DropReason::ConntrackInvalid),
            };
            if let Some(frame) = frames.get_mut(p.frame)
                && let Some(slot) = out.get_mut(p.frame)
            {
                *slot = self.finish(frame.buf, p, verdict);
            }
        }

        self.scratch = s;
        self.tally(out);
    }

    /// Parses, learns, answers ARP/ND and routes one frame.
    fn first_stage(
        &mut self,
        frame: &mut FrameRef<'_>,
        routes: &RouteTable,
    ) -> Result<Step, DropReason> {
        let parsed = parse_frame(frame.bytes())?;
        let port = *routes.port(frame.port).ok_or(DropReason::UnknownPort)?;
        let on_pod_port = port.role == PortRole::Pod;
        if on_pod_port {
            self.learned.learn_port(frame.port, parsed.eth_src);
        }
        match parsed.l3 {
            L3::Arp(arp) => {
                if on_pod_port {
                    self.learn_if_own(
                        routes,
                        frame.port,
                        IpAddr::V4(arp.sender_ip),
                        arp.sender_mac,
                    );
                }
                let len = answer_arp(&self.config.neigh, &parsed, &arp, &port, routes, frame.buf)?;
                Ok(Step::Done(Action::Reply {
                    port: frame.port,
                    len,
                }))
            }
            L3::Ip(ip) => self.ip_stage(frame, &parsed, &ip, &port, routes),
        }
    }

    fn ip_stage(
        &mut self,
        frame: &mut FrameRef<'_>,
        parsed: &Parsed,
        ip: &IpInfo,
        port: &PortInfo,
        routes: &RouteTable,
    ) -> Result<Step, DropReason> {
        let key = &ip.key;
        let on_pod_port = port.role == PortRole::Pod;
        if key.protocol == IpProto::ICMPV6 && key.is_ipv6() {
            if let L4Detail::NeighbourSolicitation { target, source_mac } = ip.detail {
                if on_pod_port {
                    let mac = source_mac.unwrap_or(parsed.eth_src);
                    self.learned.learn_port(frame.port, mac);
                    self.learn_if_own(routes, frame.port, key.src, mac);
                }
                let len = answer_neighbour_solicitation(
                    &self.config.neigh,
                    parsed,
                    ip,
                    target,
                    source_mac,
                    port,
                    routes,
                    frame.buf,
                )?;
                return Ok(Step::Done(Action::Reply {
                    port: frame.port,
                    len,
                }));
            }
            if key.icmp.icmp_type.is_some_and(is_link_control) {
                return Err(DropReason::NeighbourChatter);
            }
        }
        if self.config.neigh.is_gateway(key.dst) {
            return Err(DropReason::ToGateway);
        }
        if !is_routable_destination(key.dst) {
            return Err(DropReason::NotRoutable);
        }
        let source_is_local = routes.local(key.src);
        match port.role {
            // (The pod's MAC was learned per port above; per address only from ARP/ND, which
            // keeps a hash update off the per-packet path.)
            PortRole::Pod if source_is_local.is_some_and(|r| r.port == frame.port) => {}
            PortRole::Pod => return Err(DropReason::SpoofedSource),
            PortRole::Uplink { .. } if source_is_local.is_some() => {
                return Err(DropReason::SpoofedSource);
            }
            PortRole::Uplink { .. } => {}
        }
        let (egress, dst_mac) = match routes.route(key.dst)? {
            Route::Local(local) => {
                let mac = local
                    .mac
                    .or_else(|| self.learned.lookup(local.port, key.dst))
                    .ok_or(DropReason::NoNeighbour)?;
                (local.port, mac)
            }
            // Off-node traffic that came from off the node is not ours to carry.
            Route::Uplink { .. } if !on_pod_port => return Err(DropReason::NoRoute),
            Route::Uplink { port, next_hop } => (port, next_hop),
        };
        let src_mac = routes
            .port(egress)
            .map(|p| p.gateway_mac)
            .ok_or(DropReason::NoRoute)?;
        if ip.ttl <= 1 {
            return Err(DropReason::TtlExceeded);
        }
        let pending = Pending {
            frame: 0,
            ip: *ip,
            egress,
            src_mac,
            dst_mac,
        };
        Ok(match ip.detail {
            L4Detail::IcmpError { inner } => Step::Related(pending, inner),
            _ => Step::Track(pending),
        })
    }

    /// Learns `mac` for `addr` when `addr` is a local address behind `port`.
    fn learn_if_own(&mut self, routes: &RouteTable, port: PortId, addr: IpAddr, mac: MacAddr) {
        if routes.local(addr).is_some_and(|r| r.port == port) {
            self.learned.learn(port, addr, mac);
        }
    }

    /// The verdict for a tracked packet (`key`: its key, or the embedded key of a related
    /// ICMP error), re-checking the connection if the snapshot is newer than its decision.
    fn resolve_hit(
        &mut self,
        hit: &Hit,
        key: &FlowKey,
        policy: &dyn PolicyDecider,
        now: Timestamp,
    ) -> Verdict {
        let generation = policy.generation();
        if !hit.needs_recheck(generation) {
            return hit.decision.verdict;
        }
        let original = hit.original_key(key);
        let pv = policy.decide(&original);
        let decision = Decision {
            verdict: pv.verdict,
            rule_id: pv.rule_id,
            generation,
        };
        self.conntrack.revalidate(key, decision);
        self.counters.revalidations += 1;
        if pv.verdict == Verdict::Deny {
            self.counters.revalidation_denies += 1;
        }
        self.note_decision(&original, decision, FlowEventReason::Revalidated, now);
        pv.verdict
    }

    /// Counts a policy decision and queues its flow-log event (never blocks).
    fn note_decision(
        &mut self,
        key: &FlowKey,
        decision: Decision,
        reason: FlowEventReason,
        now: Timestamp,
    ) {
        self.counters.policy_decisions += 1;
        if decision.verdict == Verdict::Deny {
            self.counters.policy_denies += 1;
        }
        self.flowlog.push(FlowEvent {
            key: *key,
            verdict: decision.verdict,
            rule_id: decision.rule_id,
            generation: decision.generation,
            reason,
            at: now,
        });
    }

    /// Applies a verdict: rewrite and forward, or drop.
    fn finish(&self, buf: &mut [u8], p: &Pending, verdict: Result<Verdict, DropReason>) -> Action {
        let result = verdict.and_then(|v| match v {
            Verdict::Allow => rewrite_for_forward(buf, &p.ip, p.src_mac, p.dst_mac),
            Verdict::Deny => Err(DropReason::PolicyDenied),
        });
        match result {
            Ok(()) => Action::Forward { port: p.egress },
            Err(reason) => Action::Drop(reason),
        }
    }

    fn tally(&mut self, out: &[Action]) {
        let c = &mut self.counters;
        c.rx += out.len() as u64;
        for action in out {
            match action {
                Action::Forward { .. } => c.forwarded += 1,
                Action::Reply { .. } => c.replied += 1,
                Action::Drop(reason) => c.drops.record(*reason),
            }
        }
    }
}

/// ICMPv6 types that only make sense on the link: router and neighbour discovery, redirects,
/// multicast listener discovery. Never forwarded.
fn is_link_control(icmp_type: u8) -> bool {
    matches!(
        icmp_type,
        icmpv6::MLD_QUERY
            | icmpv6::MLD_REPORT
            | icmpv6::MLD_DONE
            | icmpv6::ROUTER_SOLICITATION
            | icmpv6::ROUTER_ADVERTISEMENT
            | icmpv6::NEIGHBOUR_SOLICITATION
            | icmpv6::NEIGHBOUR_ADVERTISEMENT
            | icmpv6::REDIRECT
            | icmpv6::MLDV2_REPORT
    )
}
