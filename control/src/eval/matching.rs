//! Does one translated rule match one flow? (§4) Written for clarity: it is the oracle the
//! compiled matcher is tested against.

use std::net::IpAddr;

use palisade_dataplane::{FlowKey, IpProto};

use crate::model::numorstring::PortMatch;
use crate::policy::{EntityMatch, IcmpMatch, Rule};
use crate::selector::Selector;
use crate::store::Store;

/// True when every field of `rule` matches `flow`.
pub fn rule_matches(store: &Store, rule: &Rule, flow: &FlowKey) -> bool {
    let family = if flow.is_ipv6() { 6 } else { 4 };
    if rule.ip_version.is_some_and(|v| v != family) {
        return false;
    }
    if rule.protocol.is_some_and(|p| p != flow.protocol) {
        return false;
    }
    if rule.not_protocol.is_some_and(|p| p == flow.protocol) {
        return false;
    }
    if let Some(icmp) = &rule.icmp
        && icmp_matches(icmp, flow) != Some(true)
    {
        return false;
    }
    if let Some(icmp) = &rule.not_icmp
        && icmp_matches(icmp, flow) != Some(false)
    {
        return false;
    }
    entity_matches(store, &rule.source, flow.src, flow.src_port, flow)
        && entity_matches(store, &rule.destination, flow.dst, flow.dst_port, flow)
}

/// `Some(matches)`, or `None` when the flow lacks a field the match constrains.
fn icmp_matches(icmp: &IcmpMatch, flow: &FlowKey) -> Option<bool> {
    if !IpProto::is_icmp(flow.protocol) {
        return None;
    }
    let flow_type = flow.icmp.icmp_type?;
    if flow_type != icmp.icmp_type {
        return Some(false);
    }
    match icmp.code {
        None => Some(true),
        Some(code) => Some(flow.icmp.code? == code),
    }
}

fn entity_matches(
    store: &Store,
    entity: &EntityMatch,
    addr: IpAddr,
    port: u16,
    flow: &FlowKey,
) -> bool {
    if !entity.nets.is_empty() && !entity.nets.iter().any(|n| n.contains(addr)) {
        return false;
    }
    if entity.not_nets.iter().any(|n| n.contains(addr)) {
        return false;
    }
    if let Some(sel) = &entity.selector
        && !address_selected(store, sel, addr)
    {
        return false;
    }
    if let Some(sel) = &entity.not_selector
        && address_selected(store, sel, addr)
    {
        return false;
    }
    let scope = entity.named_port_scope();
    if !entity.ports.is_empty()
        && !entity
            .ports
            .iter()
            .any(|p| port_matches(store, p, &scope, addr, port, flow.protocol))
    {
        return false;
    }
    !entity
        .not_ports
        .iter()
        .any(|p| port_matches(store, p, &scope, addr, port, flow.protocol))
}

/// Is `addr` an address of an endpoint or network set whose labels match `sel`?
pub fn address_selected(store: &Store, sel: &Selector, addr: IpAddr) -> bool {
    let endpoint = store
        .endpoint_by_addr(addr)
        .is_some_and(|ep| sel.matches(&ep.labels));
    endpoint
        || store
            .network_sets
            .iter()
            .any(|set| set.nets.iter().any(|n| n.contains(addr)) && sel.matches(&set.labels))
}

fn port_matches(
    store: &Store,
    port_match: &PortMatch,
    scope: &Selector,
    addr: IpAddr,
    port: u16,
    protocol: u8,
) -> bool {
    if !IpProto::has_ports(protocol) {
        return false;
    }
    match port_match {
        PortMatch::Range(lo, hi) => (*lo..=*hi).contains(&port),
        PortMatch::Named(name) => store
            .endpoint_by_addr(addr)
            .is_some_and(|ep| scope.matches(&ep.labels) && ep.has_named_port(name, protocol, port)),
    }
}
