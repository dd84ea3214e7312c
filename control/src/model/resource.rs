//! One manifest object, typed by its `apiVersion` and `kind`.

use super::calico::{
    HostEndpointSpec, NetworkSetSpec, Object, PolicySpec, ProfileSpec, StagedK8sPolicySpec,
    TierSpec, WorkloadEndpointSpec,
};
use super::k8s::{Namespace, NetworkPolicy, Pod, ServiceAccount};

/// The kinds Palisade understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceKind {
    Namespace,
    Pod,
    ServiceAccount,
    K8sNetworkPolicy,
    NetworkPolicy,
    GlobalNetworkPolicy,
    StagedNetworkPolicy,
    StagedGlobalNetworkPolicy,
    StagedKubernetesNetworkPolicy,
    Tier,
    NetworkSet,
    GlobalNetworkSet,
    HostEndpoint,
    WorkloadEndpoint,
    Profile,
}

impl ResourceKind {
    /// Classify by API group and kind; `None` for kinds Palisade skips (Deployment, Service, ...).
    pub fn from_type(api_version: &str, kind: &str) -> Option<Self> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let calico = group == "projectcalico.org" || group == "crd.projectcalico.org";
        Some(match (group, kind) {
            ("", "Namespace") => Self::Namespace,
            ("", "Pod") => Self::Pod,
            ("", "ServiceAccount") => Self::ServiceAccount,
            ("networking.k8s.io", "NetworkPolicy") => Self::K8sNetworkPolicy,
            (_, "NetworkPolicy") if calico => Self::NetworkPolicy,
            (_, "GlobalNetworkPolicy") if calico => Self::GlobalNetworkPolicy,
            (_, "StagedNetworkPolicy") if calico => Self::StagedNetworkPolicy,
            (_, "StagedGlobalNetworkPolicy") if calico => Self::StagedGlobalNetworkPolicy,
            (_, "StagedKubernetesNetworkPolicy") if calico => Self::StagedKubernetesNetworkPolicy,
            (_, "Tier") if calico => Self::Tier,
            (_, "NetworkSet") if calico => Self::NetworkSet,
            (_, "GlobalNetworkSet") if calico => Self::GlobalNetworkSet,
            (_, "HostEndpoint") if calico => Self::HostEndpoint,
            (_, "WorkloadEndpoint") if calico => Self::WorkloadEndpoint,
            (_, "Profile") if calico => Self::Profile,
            _ => return None,
        })
    }

    /// True for kinds that live in a namespace.
    pub fn is_namespaced(self) -> bool {
        matches!(
            self,
            Self::Pod
                | Self::ServiceAccount
                | Self::K8sNetworkPolicy
                | Self::NetworkPolicy
                | Self::StagedNetworkPolicy
                | Self::StagedKubernetesNetworkPolicy
                | Self::NetworkSet
                | Self::WorkloadEndpoint
        )
    }
}

/// A typed manifest object.
#[derive(Debug, Clone)]
pub enum Resource {
    Namespace(Namespace),
    Pod(Box<Pod>),
    ServiceAccount(ServiceAccount),
    K8sNetworkPolicy(NetworkPolicy),
    /// NetworkPolicy, GlobalNetworkPolicy and the two staged Calico kinds.
    CalicoPolicy(ResourceKind, Object<PolicySpec>),
    StagedK8sPolicy(Object<StagedK8sPolicySpec>),
    Tier(Object<TierSpec>),
    NetworkSet(ResourceKind, Object<NetworkSetSpec>),
    HostEndpoint(Object<HostEndpointSpec>),
    WorkloadEndpoint(Object<WorkloadEndpointSpec>),
    Profile(Object<ProfileSpec>),
}

impl Resource {
    /// The object's metadata.
    pub fn metadata(&self) -> &super::ObjectMeta {
        match self {
            Resource::Namespace(o) => &o.metadata,
            Resource::Pod(o) => &o.metadata,
            Resource::ServiceAccount(o) => &o.metadata,
            Resource::K8sNetworkPolicy(o) => &o.metadata,
            Resource::CalicoPolicy(_, o) => &o.metadata,
            Resource::StagedK8sPolicy(o) => &o.metadata,
            Resource::Tier(o) => &o.metadata,
            Resource::NetworkSet(_, o) => &o.metadata,
            Resource::HostEndpoint(o) => &o.metadata,
            Resource::WorkloadEndpoint(o) => &o.metadata,
            Resource::Profile(o) => &o.metadata,
        }
    }
}
