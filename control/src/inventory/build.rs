//! Building the inventory from validated objects: pods, workload endpoints, host endpoints,
//! network sets; duplicate-address detection; pod/WorkloadEndpoint merging.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use palisade_dataplane::{IpNet, IpProto};

use super::labels::{implicit_namespace_labels, inherited_labels};
use super::{Endpoint, EndpointKey, NamedPort, NetworkSet};
use crate::error::{FieldError, Origin, StoreError};
use crate::model::calico::{
    EndpointPort, HostEndpointSpec, NetworkSetSpec, Object, WorkloadEndpointSpec,
};
use crate::model::k8s::Pod;
use crate::model::numorstring::ProtocolSpec;

/// The annotation naming a pod's host-side interface (DESIGN.md, `palisade run`).
pub const INTERFACE_ANNOTATION: &str = "palisade.io/interface";

/// A namespace's labels, implicit ones included.
#[derive(Debug, Clone, Default)]
pub struct NamespaceInfo {
    pub labels: BTreeMap<String, String>,
}

/// Accumulates endpoints and network sets; namespaces, service accounts and profile labels
/// must be added first.
#[derive(Debug, Default)]
pub struct InventoryBuilder {
    namespaces: BTreeMap<String, NamespaceInfo>,
    service_accounts: BTreeMap<(String, String), BTreeMap<String, String>>,
    profile_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Each endpoint with its origin and whether it came from a WorkloadEndpoint.
    endpoints: Vec<(Origin, Endpoint, bool)>,
    network_sets: Vec<NetworkSet>,
}

impl InventoryBuilder {
    pub fn add_namespace(&mut self, name: &str, labels: &BTreeMap<String, String>) {
        self.namespaces.insert(
            name.to_string(),
            NamespaceInfo {
                labels: implicit_namespace_labels(name, labels),
            },
        );
    }

    pub fn add_service_account(
        &mut self,
        namespace: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) {
        self.service_accounts
            .insert((namespace.to_string(), name.to_string()), labels.clone());
    }

    pub fn add_profile_labels(&mut self, profile: &str, labels: &BTreeMap<String, String>) {
        self.profile_labels
            .insert(profile.to_string(), labels.clone());
    }

    /// Namespace labels; a namespace missing from the store exists with its implicit label only.
    fn namespace_labels(&self, namespace: &str) -> BTreeMap<String, String> {
        self.namespaces
            .get(namespace)
            .map(|n| n.labels.clone())
            .unwrap_or_else(|| implicit_namespace_labels(namespace, &BTreeMap::new()))
    }

    fn workload_labels(
        &self,
        own: &BTreeMap<String, String>,
        namespace: &str,
        service_account: &str,
        extra_profiles: &[String],
    ) -> BTreeMap<String, String> {
        let empty = BTreeMap::new();
        let sa_labels = self
            .service_accounts
            .get(&(namespace.to_string(), service_account.to_string()))
            .unwrap_or(&empty);
        let mut own_and_profiles = BTreeMap::new();
        for p in extra_profiles {
            if let Some(labels) = self.profile_labels.get(p) {
                own_and_profiles.extend(labels.clone());
            }
        }
        own_and_profiles.extend(own.clone());
        inherited_labels(
            &own_and_profiles,
            namespace,
            &self.namespace_labels(namespace),
            Some((service_account, sa_labels)),
            true,
        )
    }

    /// Add a Pod; pods Calico would not make endpoints of are skipped (§"Objects as the API
    /// server would store them" in DESIGN.md).
    pub fn add_pod(&mut self, origin: &Origin, pod: &Pod) -> Result<(), StoreError> {
        let phase = pod.status.phase.as_deref();
        if pod.spec.node_name.is_none()
            || pod.spec.host_network
            || matches!(phase, Some("Succeeded" | "Failed"))
        {
            return Ok(());
        }
        let err = |e: FieldError| StoreError::invalid(origin, e);
        let name = required_name(&pod.metadata.name).map_err(err)?;
        let namespace = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let sa = pod
            .spec
            .service_account_name
            .clone()
            .or_else(|| pod.spec.service_account.clone())
            .unwrap_or_else(|| "default".into());
        let mut addrs = Vec::new();
        if let Some(ip) = &pod.status.pod_ip {
            addrs.push(parse_ip("status.podIP", ip).map_err(err)?);
        }
        for (i, p) in pod.status.pod_ips.iter().enumerate() {
            let ip = parse_ip(&format!("status.podIPs[{i}].ip"), &p.ip).map_err(err)?;
            if !addrs.contains(&ip) {
                addrs.push(ip);
            }
        }
        let mut named_ports = Vec::new();
        let sidecars = pod
            .spec
            .init_containers
            .iter()
            .enumerate()
            .filter(|(_, c)| c.restart_policy.as_deref() == Some("Always"))
            .map(|(i, c)| (format!("spec.initContainers[{i}]"), c));
        let containers = pod
            .spec
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("spec.containers[{i}]"), c));
        for (field, c) in containers.chain(sidecars) {
            for (j, p) in c.ports.iter().enumerate() {
                let f = format!("{field}.ports[{j}]");
                let Some(port_name) = p.name.as_deref().filter(|n| !n.is_empty()) else {
                    continue;
                };
                let port = u16::try_from(p.container_port)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| {
                        err(FieldError::new(
                            format!("{f}.containerPort"),
                            "expected 1-65535",
                        ))
                    })?;
                let protocol = match p.protocol.as_deref() {
                    None | Some("TCP") => IpProto::TCP,
                    Some("UDP") => IpProto::UDP,
                    Some("SCTP") => IpProto::SCTP,
                    Some(other) => {
                        return Err(err(FieldError::new(
                            format!("{f}.protocol"),
                            format!("unknown protocol {other:?}: expected TCP, UDP or SCTP"),
                        )));
                    }
                };
                named_ports.push(NamedPort {
                    name: port_name.to_string(),
                    protocol,
                    port,
                });
            }
        }
        let labels = self.workload_labels(&pod.metadata.labels, &namespace, &sa, &[]);
        let endpoint = Endpoint {
            key: EndpointKey::Workload {
                namespace: namespace.clone(),
                name: name.to_string(),
            },
            labels,
            addrs,
            named_ports,
            profiles: vec![format!("kns.{namespace}"), format!("ksa.{namespace}.{sa}")],
            node: pod.spec.node_name.clone(),
            interface: pod.metadata.annotations.get(INTERFACE_ANNOTATION).cloned(),
            mac: None,
        };
        self.endpoints.push((origin.clone(), endpoint, false));
        Ok(())
    }

    /// Add a Calico WorkloadEndpoint.
    pub fn add_workload_endpoint(
        &mut self,
        origin: &Origin,
        wep: &Object<WorkloadEndpointSpec>,
    ) -> Result<(), StoreError> {
        let err = |e: FieldError| StoreError::invalid(origin, e);
        let namespace = wep
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let spec = &wep.spec;
        let pod_name = match spec.pod.as_deref().or(spec.workload.as_deref()) {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => required_name(&wep.metadata.name).map_err(err)?.to_string(),
        };
        let sa = spec
            .service_account_name
            .clone()
            .unwrap_or_else(|| "default".into());
        let mut addrs = Vec::new();
        for (i, n) in spec.ip_networks.iter().enumerate() {
            let net: IpNet = n
                .parse()
                .map_err(|e: palisade_dataplane::net::IpNetError| {
                    err(FieldError::new(
                        format!("spec.ipNetworks[{i}]"),
                        e.to_string(),
                    ))
                })?;
            addrs.push(net.addr());
        }
        let named_ports = endpoint_ports("spec.ports", &spec.ports).map_err(err)?;
        let profiles = if spec.profiles.is_empty() {
            vec![format!("kns.{namespace}"), format!("ksa.{namespace}.{sa}")]
        } else {
            spec.profiles.clone()
        };
        let orchestrator = spec.orchestrator.as_deref().is_none_or(|o| o == "k8s");
        let mut labels = self.workload_labels(&wep.metadata.labels, &namespace, &sa, &profiles);
        if !orchestrator {
            labels.remove(crate::policy::scope::LABEL_ORCHESTRATOR);
        }
        let endpoint = Endpoint {
            key: EndpointKey::Workload {
                namespace,
                name: pod_name,
            },
            labels,
            addrs,
            named_ports,
            profiles,
            node: spec.node.clone(),
            interface: spec.interface_name.clone(),
            mac: spec.mac.clone(),
        };
        self.endpoints.push((origin.clone(), endpoint, true));
        Ok(())
    }

    /// Add a HostEndpoint.
    pub fn add_host_endpoint(
        &mut self,
        origin: &Origin,
        hep: &Object<HostEndpointSpec>,
    ) -> Result<(), StoreError> {
        let err = |e: FieldError| StoreError::invalid(origin, e);
        let name = required_name(&hep.metadata.name).map_err(err)?;
        let spec = &hep.spec;
        let mut addrs = Vec::new();
        for (i, ip) in spec.expected_ips.iter().enumerate() {
            addrs.push(parse_ip(&format!("spec.expectedIPs[{i}]"), ip).map_err(err)?);
        }
        if addrs.is_empty() && spec.interface_name.as_deref().is_none_or(str::is_empty) {
            return Err(err(FieldError::new(
                "spec",
                "a host endpoint needs interfaceName or expectedIPs",
            )));
        }
        let mut labels = BTreeMap::new();
        for p in &spec.profiles {
            if let Some(l) = self.profile_labels.get(p) {
                labels.extend(l.clone());
            }
        }
        labels.extend(hep.metadata.labels.clone());
        let endpoint = Endpoint {
            key: EndpointKey::Host {
                name: name.to_string(),
            },
            labels,
            addrs,
            named_ports: endpoint_ports("spec.ports", &spec.ports).map_err(err)?,
            profiles: spec.profiles.clone(),
            node: spec.node.clone(),
            interface: spec.interface_name.clone(),
            mac: None,
        };
        self.endpoints.push((origin.clone(), endpoint, false));
        Ok(())
    }

    /// Add a NetworkSet (namespaced) or GlobalNetworkSet.
    pub fn add_network_set(
        &mut self,
        origin: &Origin,
        namespaced: bool,
        set: &Object<NetworkSetSpec>,
    ) -> Result<(), StoreError> {
        let err = |e: FieldError| StoreError::invalid(origin, e);
        let name = required_name(&set.metadata.name).map_err(err)?;
        if !set.spec.allowed_egress_domains.is_empty() {
            return Err(err(FieldError::new(
                "spec.allowedEgressDomains",
                "not supported yet: Palisade does not resolve domain names",
            )));
        }
        let mut nets = Vec::new();
        for (i, n) in set.spec.nets.iter().enumerate() {
            nets.push(
                n.parse::<IpNet>()
                    .map_err(|e| err(FieldError::new(format!("spec.nets[{i}]"), e.to_string())))?,
            );
        }
        let namespace = namespaced.then(|| {
            set.metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into())
        });
        let labels = match &namespace {
            Some(ns) => inherited_labels(
                &set.metadata.labels,
                ns,
                &self.namespace_labels(ns),
                None,
                false,
            ),
            None => set.metadata.labels.clone(),
        };
        self.network_sets.push(NetworkSet {
            name: name.to_string(),
            namespace,
            labels,
            nets,
        });
        Ok(())
    }

    /// Finish: merge a Pod with the WorkloadEndpoint describing it, and reject two endpoints
    /// sharing an address.
    pub fn finish(self) -> Result<(Vec<Endpoint>, Vec<NetworkSet>), StoreError> {
        let mut merged: Vec<(Origin, Endpoint, bool)> = Vec::new();
        let mut by_key: HashMap<EndpointKey, usize> = HashMap::new();
        for (origin, ep, from_wep) in self.endpoints {
            let Some(&i) = by_key.get(&ep.key) else {
                by_key.insert(ep.key.clone(), merged.len());
                merged.push((origin, ep, from_wep));
                continue;
            };
            if ep.is_host() || from_wep == merged[i].2 {
                return Err(StoreError::invalid(
                    &origin,
                    FieldError::new("metadata.name", format!("duplicate {}", ep.key)),
                ));
            }
            // A Pod and the WorkloadEndpoint describing it: the WorkloadEndpoint is Calico's own
            // view of the pod; the Pod fills in what it lacks.
            let (mut keep, other) = if from_wep {
                (ep, merged[i].1.clone())
            } else {
                (merged[i].1.clone(), ep)
            };
            keep.interface = keep.interface.or(other.interface);
            keep.mac = keep.mac.or(other.mac);
            for a in other.addrs {
                if !keep.addrs.contains(&a) {
                    keep.addrs.push(a);
                }
            }
            if keep.named_ports.is_empty() {
                keep.named_ports = other.named_ports;
            }
            merged[i].1 = keep;
            merged[i].2 = true;
        }
        let mut owners: HashMap<IpAddr, &EndpointKey> = HashMap::new();
        for (origin, ep, _) in &merged {
            for a in &ep.addrs {
                if let Some(other) = owners.insert(*a, &ep.key) {
                    return Err(StoreError::invalid(
                        origin,
                        FieldError::new(
                            "",
                            format!("address {a} of {} is already used by {other}", ep.key),
                        ),
                    ));
                }
            }
        }
        let endpoints = merged.into_iter().map(|(_, ep, _)| ep).collect();
        Ok((endpoints, self.network_sets))
    }
}

fn required_name(name: &str) -> Result<&str, FieldError> {
    if name.is_empty() {
        Err(FieldError::new("metadata.name", "missing name"))
    } else {
        Ok(name)
    }
}

fn parse_ip(field: &str, text: &str) -> Result<IpAddr, FieldError> {
    text.parse()
        .map_err(|_| FieldError::new(field, format!("{text:?} is not an IPv4 or IPv6 address")))
}

fn endpoint_ports(field: &str, ports: &[EndpointPort]) -> Result<Vec<NamedPort>, FieldError> {
    let mut out = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let protocol = match &p.protocol {
            None => IpProto::TCP,
            Some(spec @ ProtocolSpec::Name(_) | spec @ ProtocolSpec::Number(_)) => spec
                .resolve()
                .ok()
                .filter(|n| matches!(*n, IpProto::TCP | IpProto::UDP | IpProto::SCTP))
                .ok_or_else(|| {
                    FieldError::new(format!("{f}.protocol"), "expected TCP, UDP or SCTP")
                })?,
        };
        let port = u16::try_from(p.port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| FieldError::new(format!("{f}.port"), "expected 1-65535"))?;
        out.push(NamedPort {
            name: p.name.clone(),
            protocol,
            port,
        });
    }
    Ok(out)
}
