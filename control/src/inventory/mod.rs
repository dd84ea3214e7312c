//! The inventory: endpoints (pods, workload endpoints, host endpoints) and network sets, with
//! the label sets selectors see — own labels, Calico's implicit labels and the labels inherited
//! from namespace and service-account profiles (SEMANTICS.md §1).
//!
//! Contract: built from validated objects; every endpoint address is unique (two objects
//! describing the same pod are merged); a pod that Calico would not treat as an endpoint
//! (no node, host network, finished) is not in it.

mod build;
mod labels;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use palisade_dataplane::IpNet;

pub use build::{InventoryBuilder, NamespaceInfo};
pub use labels::{implicit_namespace_labels, inherited_labels};

/// Which object an endpoint is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndpointKey {
    Workload { namespace: String, name: String },
    Host { name: String },
}

impl fmt::Display for EndpointKey {
    /// `<namespace>/<pod>` or `hostendpoint/<name>`, as the eval output names endpoints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointKey::Workload { namespace, name } => write!(f, "{namespace}/{name}"),
            EndpointKey::Host { name } => write!(f, "hostendpoint/{name}"),
        }
    }
}

/// A named port an endpoint declares.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamedPort {
    pub name: String,
    pub protocol: u8,
    pub port: u16,
}

/// A policy endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub key: EndpointKey,
    /// Everything a selector sees: own, implicit and inherited labels.
    pub labels: BTreeMap<String, String>,
    pub addrs: Vec<IpAddr>,
    pub named_ports: Vec<NamedPort>,
    /// Profile names in evaluation order.
    pub profiles: Vec<String>,
    pub node: Option<String>,
    /// Host-side interface (pods: `palisade.io/interface` annotation; WEP: `interfaceName`).
    pub interface: Option<String>,
    pub mac: Option<String>,
}

impl Endpoint {
    pub fn is_host(&self) -> bool {
        matches!(self.key, EndpointKey::Host { .. })
    }

    /// Does the endpoint declare `name` for this protocol and port?
    pub fn has_named_port(&self, name: &str, protocol: u8, port: u16) -> bool {
        self.named_ports
            .iter()
            .any(|p| p.name == name && p.protocol == protocol && p.port == port)
    }
}

/// A GlobalNetworkSet (no namespace) or NetworkSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSet {
    pub name: String,
    pub namespace: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub nets: Vec<IpNet>,
}
