//! Kubernetes NetworkPolicy -> normalised `Policy`, as Calico's converter does (§6): tier
//! `default`, order 1000, one Allow rule per (peer, protocol), ports merged per protocol.

use std::collections::BTreeMap;

use palisade_dataplane::{IpNet, IpProto};

use super::scope::{
    EntityContext, EntitySelectors, K8sSelectorKind, entity_selector, in_namespace,
    label_selector_to_calico,
};
use super::{Action, EntityMatch, Policy, PolicyId, PolicyKind, Rule};
use crate::error::FieldError;
use crate::model::k8s::{NetworkPolicyPort, NetworkPolicySpec, Peer};
use crate::model::meta::ObjectMeta;
use crate::model::numorstring::PortMatch;
use crate::selector::Selector;

/// Order Calico gives every Kubernetes NetworkPolicy.
pub const K8S_POLICY_ORDER: f64 = 1000.0;

/// Translate a Kubernetes NetworkPolicy (or the spec of a StagedKubernetesNetworkPolicy).
pub fn translate_k8s_policy(
    kind: PolicyKind,
    metadata: &ObjectMeta,
    spec: &NetworkPolicySpec,
    staged_delete: bool,
) -> Result<Policy, FieldError> {
    if metadata.name.is_empty() {
        return Err(FieldError::new("metadata.name", "a policy needs a name"));
    }
    let namespace = metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let pod_selector =
        label_selector_to_calico("spec.podSelector", &spec.pod_selector, K8sSelectorKind::Pod)?;
    let applies_to = Selector::parse(&format!("({pod_selector}) && {}", in_namespace(&namespace)))
        .map_err(|e| FieldError::new("spec.podSelector", e.to_string()))?;

    let ingress_rules = spec.ingress.as_deref().unwrap_or(&[]);
    let egress_rules = spec.egress.as_deref().unwrap_or(&[]);
    let (has_ingress, has_egress) = match &spec.policy_types {
        Some(types) if !types.is_empty() => {
            let (mut i, mut e) = (false, false);
            for (n, t) in types.iter().enumerate() {
                match t.as_str() {
                    "Ingress" => i = true,
                    "Egress" => e = true,
                    other => {
                        return Err(FieldError::new(
                            format!("spec.policyTypes[{n}]"),
                            format!("unknown policy type {other:?}: expected Ingress or Egress"),
                        ));
                    }
                }
            }
            (i, e)
        }
        // The API server's default (§2.4).
        _ => (true, !egress_rules.is_empty()),
    };
    let ctx = EntityContext {
        policy_namespace: Some(&namespace),
    };
    let mut ingress = Vec::new();
    for (i, rule) in ingress_rules.iter().enumerate() {
        let field = format!("spec.ingress[{i}]");
        ingress.extend(translate_rule(
            &field,
            i,
            rule.from.as_deref(),
            "from",
            rule.ports.as_deref(),
            true,
            ctx,
        )?);
    }
    let mut egress = Vec::new();
    for (i, rule) in egress_rules.iter().enumerate() {
        let field = format!("spec.egress[{i}]");
        egress.extend(translate_rule(
            &field,
            i,
            rule.to.as_deref(),
            "to",
            rule.ports.as_deref(),
            false,
            ctx,
        )?);
    }
    Ok(Policy {
        id: PolicyId {
            kind,
            namespace: Some(namespace),
            name: metadata.name.clone(),
        },
        tier: "default".into(),
        order: Some(K8S_POLICY_ORDER),
        applies_to,
        ingress: has_ingress.then_some(ingress),
        egress: has_egress.then_some(egress),
        staged_delete,
    })
}

/// Ports of one rule grouped by protocol; `None` inside means every port of that protocol.
type PortGroups = BTreeMap<u8, Option<Vec<PortMatch>>>;

fn port_groups(field: &str, ports: &[NetworkPolicyPort]) -> Result<PortGroups, FieldError> {
    let mut groups: PortGroups = BTreeMap::new();
    for (i, p) in ports.iter().enumerate() {
        let f = format!("{field}.ports[{i}]");
        let protocol = match &p.protocol {
            None => IpProto::TCP,
            Some(spec) => {
                let n = spec
                    .resolve()
                    .map_err(|m| FieldError::new(format!("{f}.protocol"), m))?;
                if !matches!(n, IpProto::TCP | IpProto::UDP | IpProto::SCTP) {
                    return Err(FieldError::new(
                        format!("{f}.protocol"),
                        "expected TCP, UDP or SCTP",
                    ));
                }
                n
            }
        };
        let port = match &p.port {
            None => {
                if p.end_port.is_some() {
                    return Err(FieldError::new(
                        format!("{f}.endPort"),
                        "endPort needs a numeric port",
                    ));
                }
                None
            }
            Some(spec) => {
                let m = spec
                    .resolve()
                    .map_err(|m| FieldError::new(format!("{f}.port"), m))?;
                Some(match (m, p.end_port) {
                    (m, None) => m,
                    (PortMatch::Range(lo, _), Some(end)) => {
                        let end =
                            u16::try_from(end)
                                .ok()
                                .filter(|e| *e >= lo)
                                .ok_or_else(|| {
                                    FieldError::new(
                                        format!("{f}.endPort"),
                                        format!("expected a port from {lo} to 65535"),
                                    )
                                })?;
                        PortMatch::Range(lo, end)
                    }
                    (PortMatch::Named(_), Some(_)) => {
                        return Err(FieldError::new(
                            format!("{f}.endPort"),
                            "endPort needs a numeric port, not a named one",
                        ));
                    }
                })
            }
        };
        let group = groups.entry(protocol).or_insert_with(|| Some(Vec::new()));
        match (group.as_mut(), port) {
            (_, None) => *group = None,
            (Some(list), Some(port)) => list.push(port),
            (None, Some(_)) => {}
        }
    }
    Ok(groups)
}

#[allow(clippy::too_many_arguments)]
fn translate_rule(
    field: &str,
    index: usize,
    peers: Option<&[Peer]>,
    peers_name: &str,
    ports: Option<&[NetworkPolicyPort]>,
    ingress: bool,
    ctx: EntityContext<'_>,
) -> Result<Vec<Rule>, FieldError> {
    let groups = port_groups(field, ports.unwrap_or(&[]))?;
    let peer_matches: Vec<(EntityMatch, Option<u8>)> = match peers {
        None | Some([]) => vec![(EntityMatch::default(), None)],
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, p)| translate_peer(&format!("{field}.{peers_name}[{i}]"), p, ctx))
            .collect::<Result<_, _>>()?,
    };
    let protocols: Vec<(Option<u8>, Vec<PortMatch>)> = if groups.is_empty() {
        vec![(None, Vec::new())]
    } else {
        groups
            .into_iter()
            .map(|(proto, ports)| (Some(proto), ports.unwrap_or_default()))
            .collect()
    };
    let mut rules = Vec::new();
    for (peer, family) in &peer_matches {
        for (protocol, ports) in &protocols {
            let port_side = EntityMatch {
                ports: ports.clone(),
                ..EntityMatch::default()
            };
            let (source, destination) = if ingress {
                (peer.clone(), port_side)
            } else {
                let mut dst = peer.clone();
                dst.ports = ports.clone();
                (EntityMatch::default(), dst)
            };
            rules.push(Rule {
                index,
                action: Action::Allow,
                ip_version: *family,
                protocol: *protocol,
                not_protocol: None,
                icmp: None,
                not_icmp: None,
                source,
                destination,
            });
        }
    }
    Ok(rules)
}

fn translate_peer(
    field: &str,
    peer: &Peer,
    ctx: EntityContext<'_>,
) -> Result<(EntityMatch, Option<u8>), FieldError> {
    if let Some(block) = &peer.ip_block {
        if peer.pod_selector.is_some() || peer.namespace_selector.is_some() {
            return Err(FieldError::new(
                field,
                "ipBlock cannot be combined with podSelector or namespaceSelector in one peer",
            ));
        }
        let cidr: IpNet =
            block
                .cidr
                .parse()
                .map_err(|e: palisade_dataplane::net::IpNetError| {
                    FieldError::new(format!("{field}.ipBlock.cidr"), e.to_string())
                })?;
        let mut except = Vec::new();
        for (i, e) in block.except.iter().enumerate() {
            let f = format!("{field}.ipBlock.except[{i}]");
            let net: IpNet = e
                .parse()
                .map_err(|err: palisade_dataplane::net::IpNetError| {
                    FieldError::new(&f, err.to_string())
                })?;
            if !cidr.contains_net(&net) || net == cidr {
                return Err(FieldError::new(
                    f,
                    format!("must be a strict subset of the ipBlock cidr {cidr}"),
                ));
            }
            except.push(net);
        }
        let family = if cidr.is_ipv4() { 4 } else { 6 };
        return Ok((
            EntityMatch {
                nets: vec![cidr],
                not_nets: except,
                ..EntityMatch::default()
            },
            Some(family),
        ));
    }
    if peer.pod_selector.is_none() && peer.namespace_selector.is_none() {
        return Err(FieldError::new(
            field,
            "a peer needs podSelector, namespaceSelector or ipBlock",
        ));
    }
    let selector = peer
        .pod_selector
        .as_ref()
        .map(|s| label_selector_to_calico(&format!("{field}.podSelector"), s, K8sSelectorKind::Pod))
        .transpose()?;
    let namespace_selector = peer
        .namespace_selector
        .as_ref()
        .map(|s| {
            label_selector_to_calico(
                &format!("{field}.namespaceSelector"),
                s,
                K8sSelectorKind::Namespace,
            )
        })
        .transpose()?;
    let raw = EntitySelectors {
        selector,
        namespace_selector,
        ..EntitySelectors::default()
    };
    Ok((
        EntityMatch {
            selector: entity_selector(ctx, &raw),
            ..EntityMatch::default()
        },
        None,
    ))
}
