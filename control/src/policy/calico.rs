//! Calico v3 policy -> normalised `Policy`, enforcing the API's validation rules (§4, §11).

use palisade_dataplane::{IpNet, IpProto};

use super::scope::{
    EntityContext, EntitySelectors, entity_selector, global_applies_to, namespaced_applies_to,
    parse_plain_selector, parse_selector,
};
use super::{Action, EntityMatch, IcmpMatch, Policy, PolicyId, PolicyKind, Rule};
use crate::error::FieldError;
use crate::model::ResourceKind;
use crate::model::calico::{EntityRule, IcmpFields, Object, PolicySpec, Rule as RuleSpec};
use crate::model::numorstring::PortMatch;

/// Translate a NetworkPolicy, GlobalNetworkPolicy or staged Calico policy.
pub fn translate_calico_policy(
    kind: ResourceKind,
    obj: &Object<PolicySpec>,
) -> Result<Policy, FieldError> {
    let spec = &obj.spec;
    let (policy_kind, namespaced) = match kind {
        ResourceKind::NetworkPolicy => (PolicyKind::Np, true),
        ResourceKind::StagedNetworkPolicy => (PolicyKind::Snp, true),
        ResourceKind::GlobalNetworkPolicy => (PolicyKind::Gnp, false),
        ResourceKind::StagedGlobalNetworkPolicy => (PolicyKind::Sgnp, false),
        _ => return Err(FieldError::new("kind", "not a Calico policy kind")),
    };
    let name = &obj.metadata.name;
    if name.is_empty() {
        return Err(FieldError::new("metadata.name", "a policy needs a name"));
    }
    let namespace = if namespaced {
        Some(
            obj.metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
        )
    } else {
        None
    };
    check_unsupported_policy_fields(spec, namespaced)?;
    let staged_delete = check_staged_action(spec.staged_action.as_deref(), policy_kind)?;
    if let Some(order) = spec.order
        && !order.is_finite()
    {
        return Err(FieldError::new("spec.order", "expected a finite number"));
    }
    if let Some(hints) = &spec.performance_hints {
        for (i, hint) in hints.iter().enumerate() {
            if hint != "AssumeNeededOnEveryNode" {
                return Err(FieldError::new(
                    format!("spec.performanceHints[{i}]"),
                    format!("unknown hint {hint:?}: expected AssumeNeededOnEveryNode"),
                ));
            }
        }
    }

    let selector = parse_plain_selector("spec.selector", spec.selector.as_deref().unwrap_or(""))?;
    let sa_selector = non_empty(spec.service_account_selector.as_deref())
        .map(|s| parse_plain_selector("spec.serviceAccountSelector", s))
        .transpose()?;
    let applies_to = match &namespace {
        Some(ns) => namespaced_applies_to(&selector, ns, sa_selector.as_ref()),
        None => {
            let ns_sel = non_empty(spec.namespace_selector.as_deref())
                .map(|s| parse_plain_selector("spec.namespaceSelector", s))
                .transpose()?;
            global_applies_to(&selector, ns_sel.as_ref(), sa_selector.as_ref())
        }
    };

    let ctx = EntityContext {
        policy_namespace: namespace.as_deref(),
    };
    let ingress_rules = spec.ingress.as_deref().unwrap_or(&[]);
    let egress_rules = spec.egress.as_deref().unwrap_or(&[]);
    let (has_ingress, has_egress) = policy_types(
        spec.types.as_deref(),
        !ingress_rules.is_empty(),
        !egress_rules.is_empty(),
    )?;
    let ingress = translate_rules("spec.ingress", ingress_rules, ctx)?;
    let egress = translate_rules("spec.egress", egress_rules, ctx)?;
    Ok(Policy {
        id: PolicyId {
            kind: policy_kind,
            namespace,
            name: name.clone(),
        },
        tier: spec.tier.clone().unwrap_or_else(|| "default".into()),
        order: spec.order,
        applies_to,
        ingress: has_ingress.then_some(ingress),
        egress: has_egress.then_some(egress),
        staged_delete,
    })
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

/// Calico v3 `types` defaulting (§2.4): only egress rules -> Egress; both -> both; else Ingress.
fn policy_types(
    types: Option<&[String]>,
    ingress_rules: bool,
    egress_rules: bool,
) -> Result<(bool, bool), FieldError> {
    match types {
        Some(list) if !list.is_empty() => {
            let (mut ingress, mut egress) = (false, false);
            for (i, t) in list.iter().enumerate() {
                match t.as_str() {
                    "Ingress" => ingress = true,
                    "Egress" => egress = true,
                    other => {
                        return Err(FieldError::new(
                            format!("spec.types[{i}]"),
                            format!("unknown type {other:?}: expected Ingress or Egress"),
                        ));
                    }
                }
            }
            Ok((ingress, egress))
        }
        _ => Ok(match (ingress_rules, egress_rules) {
            (false, true) => (false, true),
            (true, true) => (true, true),
            _ => (true, false),
        }),
    }
}

fn check_unsupported_policy_fields(spec: &PolicySpec, namespaced: bool) -> Result<(), FieldError> {
    let global_only = [
        ("spec.namespaceSelector", spec.namespace_selector.is_some()),
        ("spec.doNotTrack", spec.do_not_track.is_some()),
        ("spec.preDNAT", spec.pre_dnat.is_some()),
        ("spec.applyOnForward", spec.apply_on_forward.is_some()),
    ];
    if namespaced && let Some((field, _)) = global_only.iter().find(|(_, present)| *present) {
        return Err(FieldError::new(
            *field,
            "unknown field for a namespaced NetworkPolicy (only GlobalNetworkPolicy has it)",
        ));
    }
    let flags = [
        ("spec.doNotTrack", spec.do_not_track),
        ("spec.preDNAT", spec.pre_dnat),
        ("spec.applyOnForward", spec.apply_on_forward),
    ];
    for (field, value) in flags {
        if value == Some(true) {
            return Err(FieldError::new(
                field,
                "not supported yet: Palisade enforces only tracked, post-DNAT workload policy (set it to false or remove it)",
            ));
        }
    }
    Ok(())
}

fn check_staged_action(action: Option<&str>, kind: PolicyKind) -> Result<bool, FieldError> {
    match action {
        Some(_) if !kind.is_staged() => Err(FieldError::new(
            "spec.stagedAction",
            "unknown field: only staged policy kinds have stagedAction",
        )),
        action => parse_staged_action(action),
    }
}

/// `stagedAction` of a staged kind: `true` for Delete, `false` for Set or absent.
pub fn parse_staged_action(action: Option<&str>) -> Result<bool, FieldError> {
    match action {
        None | Some("Set") => Ok(false),
        Some("Delete") => Ok(true),
        Some(other) => Err(FieldError::new(
            "spec.stagedAction",
            format!("unknown staged action {other:?}: expected Set or Delete"),
        )),
    }
}

/// Translate a list of Calico rules (policy or profile), validating each.
pub fn translate_rules(
    field: &str,
    rules: &[RuleSpec],
    ctx: EntityContext<'_>,
) -> Result<Vec<Rule>, FieldError> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| translate_rule(&format!("{field}[{i}]"), i, r, ctx))
        .collect()
}

fn translate_rule(
    field: &str,
    index: usize,
    rule: &RuleSpec,
    ctx: EntityContext<'_>,
) -> Result<Rule, FieldError> {
    let f = |name: &str| format!("{field}.{name}");
    let action = Action::parse(&rule.action).map_err(|m| FieldError::new(f("action"), m))?;
    if rule.http.as_ref().is_some_and(|v| !is_empty_value(v)) {
        return Err(FieldError::new(
            f("http"),
            "not supported yet: HTTP (application-layer) matches need an L7 proxy",
        ));
    }
    let ip_version = match rule.ip_version {
        None => None,
        Some(v @ (4 | 6)) => Some(v as u8),
        Some(v) => {
            return Err(FieldError::new(
                f("ipVersion"),
                format!("{v} is not an IP version: expected 4 or 6"),
            ));
        }
    };
    let protocol = rule
        .protocol
        .as_ref()
        .map(|p| p.resolve().map_err(|m| FieldError::new(f("protocol"), m)))
        .transpose()?;
    let not_protocol = rule
        .not_protocol
        .as_ref()
        .map(|p| {
            p.resolve()
                .map_err(|m| FieldError::new(f("notProtocol"), m))
        })
        .transpose()?;
    for (proto, name) in [(protocol, "protocol"), (not_protocol, "notProtocol")] {
        match (proto, ip_version) {
            (Some(IpProto::ICMP), Some(6)) => {
                return Err(FieldError::new(
                    f(name),
                    "ICMP needs ipVersion 4 (use ICMPv6 for IPv6)",
                ));
            }
            (Some(IpProto::ICMPV6), Some(4)) => {
                return Err(FieldError::new(
                    f(name),
                    "ICMPv6 needs ipVersion 6 (use ICMP for IPv4)",
                ));
            }
            _ => {}
        }
    }
    let icmp = translate_icmp(&f("icmp"), rule.icmp.as_ref(), protocol)?;
    let not_icmp = translate_icmp(&f("notICMP"), rule.not_icmp.as_ref(), protocol)?;
    let source = translate_entity(&f("source"), &rule.source, protocol, ctx)?;
    let destination = translate_entity(&f("destination"), &rule.destination, protocol, ctx)?;
    let ip_version = net_family(field, ip_version, &source, &destination)?;
    Ok(Rule {
        index,
        action,
        ip_version,
        protocol,
        not_protocol,
        icmp,
        not_icmp,
        source,
        destination,
    })
}

fn is_empty_value(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Object(m) => m.values().all(is_empty_value),
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn translate_icmp(
    field: &str,
    icmp: Option<&IcmpFields>,
    protocol: Option<u8>,
) -> Result<Option<IcmpMatch>, FieldError> {
    let Some(icmp) = icmp else { return Ok(None) };
    if icmp.icmp_type.is_none() && icmp.code.is_none() {
        return Ok(None);
    }
    if !protocol.is_some_and(IpProto::is_icmp) {
        return Err(FieldError::new(
            field,
            "ICMP fields need protocol ICMP or ICMPv6",
        ));
    }
    let Some(icmp_type) = icmp.icmp_type else {
        return Err(FieldError::new(format!("{field}.code"), "code needs type"));
    };
    let icmp_type = u8::try_from(icmp_type)
        .ok()
        .filter(|t| *t <= 254)
        .ok_or_else(|| FieldError::new(format!("{field}.type"), "expected a type 0-254"))?;
    let code = icmp
        .code
        .map(|c| {
            u8::try_from(c)
                .map_err(|_| FieldError::new(format!("{field}.code"), "expected a code 0-255"))
        })
        .transpose()?;
    Ok(Some(IcmpMatch { icmp_type, code }))
}

fn parse_nets(field: &str, nets: &[String]) -> Result<Vec<IpNet>, FieldError> {
    nets.iter()
        .enumerate()
        .map(|(i, n)| {
            n.parse::<IpNet>()
                .map_err(|e| FieldError::new(format!("{field}[{i}]"), e.to_string()))
        })
        .collect()
}

fn parse_ports(
    field: &str,
    ports: &[crate::model::numorstring::PortSpec],
    protocol: Option<u8>,
) -> Result<Vec<PortMatch>, FieldError> {
    let mut out = Vec::with_capacity(ports.len());
    for (i, p) in ports.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let port = p.resolve().map_err(|m| FieldError::new(&f, m))?;
        let numeric = matches!(port, PortMatch::Range(..));
        match protocol {
            Some(IpProto::TCP | IpProto::UDP | IpProto::SCTP) => {}
            None if !numeric => {}
            None => {
                return Err(FieldError::new(
                    f,
                    "numeric ports need protocol TCP, UDP or SCTP (without a protocol only named ports are allowed)",
                ));
            }
            Some(_) => {
                return Err(FieldError::new(f, "ports need protocol TCP, UDP or SCTP"));
            }
        }
        out.push(port);
    }
    Ok(out)
}

fn translate_entity(
    field: &str,
    entity: &EntityRule,
    protocol: Option<u8>,
    ctx: EntityContext<'_>,
) -> Result<EntityMatch, FieldError> {
    let f = |name: &str| format!("{field}.{name}");
    if entity.services.as_ref().is_some_and(|v| !is_empty_value(v)) {
        return Err(FieldError::new(
            f("services"),
            "not supported yet: Palisade does not resolve Kubernetes Services",
        ));
    }
    if !entity.domains.is_empty() {
        return Err(FieldError::new(
            f("domains"),
            "not supported yet: Palisade does not resolve domain names",
        ));
    }
    let nets = parse_nets(&f("nets"), &entity.nets)?;
    let not_nets = parse_nets(&f("notNets"), &entity.not_nets)?;
    if let Some(i) = not_nets.iter().position(IpNet::is_catch_all) {
        return Err(FieldError::new(
            format!("{}[{i}]", f("notNets")),
            "a catch-all network in notNets could never match",
        ));
    }
    let selector = entity
        .selector
        .as_deref()
        .map(|s| parse_plain_selector(&f("selector"), s))
        .transpose()?;
    let not_selector = entity
        .not_selector
        .as_deref()
        .map(|s| parse_plain_selector(&f("notSelector"), s))
        .transpose()?;
    let namespace_selector = entity
        .namespace_selector
        .as_deref()
        .map(|s| {
            let sel = parse_selector(&f("namespaceSelector"), s)?;
            if sel.contains_global() && !sel.is_exactly_global() {
                return Err(FieldError::new(
                    f("namespaceSelector"),
                    "global() cannot be combined with other terms",
                ));
            }
            Ok(sel)
        })
        .transpose()?;
    let (sa_names, sa_selector) = match &entity.service_accounts {
        Some(sa) => (
            sa.names.clone(),
            non_empty(sa.selector.as_deref())
                .map(|s| parse_plain_selector(&f("serviceAccounts.selector"), s))
                .transpose()?,
        ),
        None => (Vec::new(), None),
    };
    let raw = EntitySelectors {
        selector,
        namespace_selector,
        not_selector: not_selector.clone(),
        sa_names,
        sa_selector,
    };
    Ok(EntityMatch {
        nets,
        not_nets,
        selector: entity_selector(ctx, &raw),
        not_selector,
        ports: parse_ports(&f("ports"), &entity.ports, protocol)?,
        not_ports: parse_ports(&f("notPorts"), &entity.not_ports, protocol)?,
    })
}

/// The family a rule is limited to: explicit ipVersion, or implied by its CIDRs (§4.3).
fn net_family(
    field: &str,
    explicit: Option<u8>,
    source: &EntityMatch,
    destination: &EntityMatch,
) -> Result<Option<u8>, FieldError> {
    let nets = source
        .nets
        .iter()
        .chain(&source.not_nets)
        .chain(&destination.nets)
        .chain(&destination.not_nets);
    let mut family = None;
    for net in nets {
        let v = if net.is_ipv4() { 4 } else { 6 };
        match family {
            None => family = Some(v),
            Some(f) if f != v => {
                return Err(FieldError::new(
                    field,
                    "a rule cannot mix IPv4 and IPv6 CIDRs",
                ));
            }
            Some(_) => {}
        }
    }
    match (explicit, family) {
        (Some(e), Some(f)) if e != f => Err(FieldError::new(
            format!("{field}.ipVersion"),
            format!("ipVersion {e} conflicts with the rule's IPv{f} CIDRs"),
        )),
        (Some(e), _) => Ok(Some(e)),
        (None, f) => Ok(f),
    }
}
