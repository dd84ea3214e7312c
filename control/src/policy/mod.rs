//! The normalised policy model both engines consume: Kubernetes and Calico policies translated
//! into one rule form, with selectors already scoped and prefixed as Felix would (SEMANTICS.md
//! §2, §4, §5, §6), and tiers sorted with the exact tie-breaks (§3.1, §3.2).
//!
//! Contract: translation is where manifests are validated (§11); a translated policy never
//! needs its manifest again. Rule indexes are the manifest's `ingress[]`/`egress[]` indexes.

pub mod calico;
mod k8s;
mod ordering;
pub mod scope;

use std::fmt;

use palisade_dataplane::IpNet;

use crate::model::numorstring::PortMatch;
use crate::selector::Selector;

pub use calico::translate_calico_policy;
pub use k8s::translate_k8s_policy;
pub use ordering::{TierDef, TierView, build_tier_view};
pub use scope::{EntityContext, entity_selector, label_selector_to_calico};

/// Traffic direction relative to the endpoint whose policy is evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Ingress,
    Egress,
}

/// A rule's action (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Deny,
    Pass,
    Log,
}

impl Action {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "Allow" => Ok(Action::Allow),
            "Deny" => Ok(Action::Deny),
            "Pass" => Ok(Action::Pass),
            "Log" => Ok(Action::Log),
            other => Err(format!(
                "unknown action {other:?}: expected Allow, Deny, Pass or Log"
            )),
        }
    }
}

/// What a tier does to traffic no rule decided (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TierDefault {
    Deny,
    Pass,
}

/// The kinds a policy can have, with their short names used in output (`knp:ns/name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKind {
    /// Kubernetes NetworkPolicy.
    Knp,
    /// Calico NetworkPolicy.
    Np,
    /// Calico GlobalNetworkPolicy.
    Gnp,
    /// StagedKubernetesNetworkPolicy.
    Sknp,
    /// StagedNetworkPolicy.
    Snp,
    /// StagedGlobalNetworkPolicy.
    Sgnp,
}

impl PolicyKind {
    pub fn short(self) -> &'static str {
        match self {
            PolicyKind::Knp => "knp",
            PolicyKind::Np => "np",
            PolicyKind::Gnp => "gnp",
            PolicyKind::Sknp => "sknp",
            PolicyKind::Snp => "snp",
            PolicyKind::Sgnp => "sgnp",
        }
    }

    /// The upstream kind name, used in the `name/namespace/kind` tie-break.
    pub fn upstream(self) -> &'static str {
        match self {
            PolicyKind::Knp => "KubernetesNetworkPolicy",
            PolicyKind::Np => "NetworkPolicy",
            PolicyKind::Gnp => "GlobalNetworkPolicy",
            PolicyKind::Sknp => "StagedKubernetesNetworkPolicy",
            PolicyKind::Snp => "StagedNetworkPolicy",
            PolicyKind::Sgnp => "StagedGlobalNetworkPolicy",
        }
    }

    pub fn is_staged(self) -> bool {
        matches!(self, PolicyKind::Sknp | PolicyKind::Snp | PolicyKind::Sgnp)
    }

    /// The enforced kind a staged kind stands in for (itself for enforced kinds).
    pub fn enforced(self) -> PolicyKind {
        match self {
            PolicyKind::Sknp => PolicyKind::Knp,
            PolicyKind::Snp => PolicyKind::Np,
            PolicyKind::Sgnp => PolicyKind::Gnp,
            k => k,
        }
    }
}

/// A policy's identity: kind, namespace (none for global kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyId {
    pub kind: PolicyKind,
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for PolicyId {
    /// `<kind>:<namespace>/<name>` or `<kind>:<name>`, as DESIGN.md's eval output requires.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}:{}/{}", self.kind.short(), ns, self.name),
            None => write!(f, "{}:{}", self.kind.short(), self.name),
        }
    }
}

/// ICMP type (and optional code) a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpMatch {
    pub icmp_type: u8,
    pub code: Option<u8>,
}

/// One side of a rule, translated (§4.6–4.8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityMatch {
    pub nets: Vec<IpNet>,
    pub not_nets: Vec<IpNet>,
    /// The positive selector, namespace scope and service-account clause included; `None` = any address.
    pub selector: Option<Selector>,
    /// Addresses of endpoints/sets matching this are excluded.
    pub not_selector: Option<Selector>,
    pub ports: Vec<PortMatch>,
    pub not_ports: Vec<PortMatch>,
}

impl EntityMatch {
    /// Endpoints whose named ports a named-port entry on this side may resolve to.
    pub fn named_port_scope(&self) -> Selector {
        self.selector.clone().unwrap_or_else(Selector::all)
    }

    pub fn has_named_ports(&self) -> bool {
        self.ports
            .iter()
            .chain(&self.not_ports)
            .any(|p| matches!(p, PortMatch::Named(_)))
    }
}

/// A translated rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Index into the manifest's `ingress`/`egress` list.
    pub index: usize,
    pub action: Action,
    /// 4 or 6 when the rule only matches one family (explicit `ipVersion` or implied by CIDRs).
    pub ip_version: Option<u8>,
    pub protocol: Option<u8>,
    pub not_protocol: Option<u8>,
    pub icmp: Option<IcmpMatch>,
    pub not_icmp: Option<IcmpMatch>,
    pub source: EntityMatch,
    pub destination: EntityMatch,
}

/// A translated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: PolicyId,
    pub tier: String,
    /// `None` sorts after every ordered policy.
    pub order: Option<f64>,
    /// Which endpoints the policy applies to, fully translated (§2).
    pub applies_to: Selector,
    /// `None` when the direction is not in the policy's types.
    pub ingress: Option<Vec<Rule>>,
    pub egress: Option<Vec<Rule>>,
    /// For staged kinds: `stagedAction: Delete`.
    pub staged_delete: bool,
}

impl Policy {
    pub fn rules(&self, direction: Direction) -> Option<&[Rule]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }

    /// The `name/namespace/kind` string Felix breaks order ties with (§3.2).
    pub fn tie_break_key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.id.name,
            self.id.namespace.as_deref().unwrap_or(""),
            self.id.kind.upstream()
        )
    }
}
