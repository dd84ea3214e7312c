//! projectcalico.org/v3 kinds. Policy, tier and network-set specs are strict and list every
//! upstream field (`api/pkg/apis/projectcalico/v3`); endpoint specs ignore unused fields.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::k8s::NetworkPolicySpec as K8sNetworkPolicySpec;
use super::meta::ObjectMeta;
use super::numorstring::{PortSpec, ProtocolSpec};

/// A Calico object: metadata plus a kind-specific spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de> + Default"))]
pub struct Object<S> {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: S,
}

/// Spec of NetworkPolicy, GlobalNetworkPolicy and their staged variants (the global-only and
/// staged-only fields are rejected for the kinds that lack them by `crate::validate`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    #[serde(default)]
    pub tier: Option<String>,
    #[serde(default)]
    pub order: Option<f64>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub types: Option<Vec<String>>,
    #[serde(default)]
    pub ingress: Option<Vec<Rule>>,
    #[serde(default)]
    pub egress: Option<Vec<Rule>>,
    #[serde(default)]
    pub service_account_selector: Option<String>,
    #[serde(default)]
    pub performance_hints: Option<Vec<String>>,
    // GlobalNetworkPolicy only.
    #[serde(default)]
    pub namespace_selector: Option<String>,
    #[serde(default)]
    pub do_not_track: Option<bool>,
    #[serde(default, rename = "preDNAT")]
    pub pre_dnat: Option<bool>,
    #[serde(default)]
    pub apply_on_forward: Option<bool>,
    // Staged kinds only.
    #[serde(default)]
    pub staged_action: Option<String>,
}

/// Spec of StagedKubernetesNetworkPolicy: a Kubernetes NetworkPolicy spec plus `stagedAction`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StagedK8sPolicySpec {
    #[serde(default)]
    pub staged_action: Option<String>,
    #[serde(default)]
    pub pod_selector: super::k8s::LabelSelector,
    #[serde(default)]
    pub policy_types: Option<Vec<String>>,
    #[serde(default)]
    pub ingress: Option<Vec<super::k8s::IngressRule>>,
    #[serde(default)]
    pub egress: Option<Vec<super::k8s::EgressRule>>,
}

impl StagedK8sPolicySpec {
    /// The Kubernetes NetworkPolicy this staged object would become.
    pub fn to_k8s_spec(&self) -> K8sNetworkPolicySpec {
        K8sNetworkPolicySpec {
            pod_selector: self.pod_selector.clone(),
            policy_types: self.policy_types.clone(),
            ingress: self.ingress.clone(),
            egress: self.egress.clone(),
        }
    }
}

/// A Calico policy rule (`Rule`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    pub action: String,
    #[serde(default)]
    pub ip_version: Option<u64>,
    #[serde(default)]
    pub protocol: Option<ProtocolSpec>,
    #[serde(default)]
    pub icmp: Option<IcmpFields>,
    #[serde(default)]
    pub not_protocol: Option<ProtocolSpec>,
    #[serde(default, rename = "notICMP")]
    pub not_icmp: Option<IcmpFields>,
    #[serde(default)]
    pub source: EntityRule,
    #[serde(default)]
    pub destination: EntityRule,
    /// Application-layer match: not enforced by an L3/L4 dataplane (rejected when non-empty).
    #[serde(default)]
    pub http: Option<Value>,
    #[serde(default)]
    pub metadata: Option<RuleMetadata>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleMetadata {
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpFields {
    #[serde(default, rename = "type")]
    pub icmp_type: Option<u64>,
    #[serde(default)]
    pub code: Option<u64>,
}

/// One side (source or destination) of a rule (`EntityRule`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EntityRule {
    #[serde(default)]
    pub nets: Vec<String>,
    #[serde(default)]
    pub selector: Option<String>,
    #[serde(default)]
    pub namespace_selector: Option<String>,
    #[serde(default)]
    pub services: Option<Value>,
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    #[serde(default)]
    pub not_nets: Vec<String>,
    #[serde(default)]
    pub not_selector: Option<String>,
    #[serde(default)]
    pub not_ports: Vec<PortSpec>,
    #[serde(default)]
    pub service_accounts: Option<ServiceAccountMatch>,
    /// Domain-name match (Calico Enterprise): rejected when non-empty.
    #[serde(default)]
    pub domains: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountMatch {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub selector: Option<String>,
}

/// `Tier` spec.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TierSpec {
    #[serde(default)]
    pub order: Option<f64>,
    #[serde(default)]
    pub default_action: Option<String>,
}

/// `NetworkSet` / `GlobalNetworkSet` spec.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSetSpec {
    #[serde(default)]
    pub nets: Vec<String>,
    /// Domain names (Calico Enterprise): rejected when non-empty.
    #[serde(default)]
    pub allowed_egress_domains: Vec<String>,
}

/// `HostEndpoint` spec.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostEndpointSpec {
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub interface_name: Option<String>,
    #[serde(default, rename = "expectedIPs")]
    pub expected_ips: Vec<String>,
    #[serde(default)]
    pub profiles: Vec<String>,
    #[serde(default)]
    pub ports: Vec<EndpointPort>,
}

/// A named port declared by a host or workload endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPort {
    pub name: String,
    #[serde(default)]
    pub protocol: Option<ProtocolSpec>,
    pub port: u64,
}

/// `WorkloadEndpoint` spec.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadEndpointSpec {
    #[serde(default)]
    pub orchestrator: Option<String>,
    #[serde(default)]
    pub workload: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub pod: Option<String>,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub service_account_name: Option<String>,
    #[serde(default)]
    pub ip_networks: Vec<String>,
    #[serde(default)]
    pub profiles: Vec<String>,
    #[serde(default)]
    pub interface_name: Option<String>,
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub ports: Vec<EndpointPort>,
}

/// `Profile` spec.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileSpec {
    #[serde(default)]
    pub ingress: Option<Vec<Rule>>,
    #[serde(default)]
    pub egress: Option<Vec<Rule>>,
    #[serde(default)]
    pub labels_to_apply: BTreeMap<String, String>,
}
