//! Typed models of the manifests Palisade reads, faithful to the upstream schemas.
//!
//! Contract: every kind listed in DESIGN.md's eval contract deserialises from exactly what
//! `kubectl get -o yaml` / `calicoctl get -o yaml` print. Policy, tier and network-set specs are
//! strict (an unknown field is an error: a typo there silently changes what is allowed); pod,
//! namespace, service-account and endpoint objects ignore fields that policy does not use.
//! Semantic checks live in `crate::validate`; this module only describes shapes.

pub mod calico;
pub mod k8s;
pub mod meta;
pub mod numorstring;
pub mod resource;

pub use meta::ObjectMeta;
pub use resource::{Resource, ResourceKind};
