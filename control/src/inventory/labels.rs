//! Implicit and inherited labels (SEMANTICS.md §1.1, §1.2, §5).

use std::collections::BTreeMap;

use crate::policy::scope::{
    LABEL_NAMESPACE, LABEL_ORCHESTRATOR, LABEL_SERVICE_ACCOUNT, NAME_LABEL, NAMESPACE_PREFIX,
    SERVICE_ACCOUNT_PREFIX,
};

/// Label every Namespace carries implicitly.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A namespace's labels as the API server stores them (with `kubernetes.io/metadata.name`).
pub fn implicit_namespace_labels(
    name: &str,
    labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = labels.clone();
    out.insert(NAMESPACE_NAME_LABEL.into(), name.into());
    out
}

/// Labels a namespaced endpoint inherits from its namespace (`kns.`) and service-account
/// (`ksa.`) profiles, plus Calico's implicit endpoint labels. `own` labels win over inherited
/// ones; the implicit `projectcalico.org/*` labels win over `own`.
pub fn inherited_labels(
    own: &BTreeMap<String, String>,
    namespace: &str,
    namespace_labels: &BTreeMap<String, String>,
    service_account: Option<(&str, &BTreeMap<String, String>)>,
    orchestrator: bool,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in namespace_labels {
        out.insert(format!("{NAMESPACE_PREFIX}{k}"), v.clone());
    }
    out.insert(format!("{NAMESPACE_PREFIX}{NAME_LABEL}"), namespace.into());
    if let Some((sa, sa_labels)) = service_account {
        for (k, v) in sa_labels {
            out.insert(format!("{SERVICE_ACCOUNT_PREFIX}{k}"), v.clone());
        }
        out.insert(format!("{SERVICE_ACCOUNT_PREFIX}{NAME_LABEL}"), sa.into());
    }
    for (k, v) in own {
        out.insert(k.clone(), v.clone());
    }
    // Calico writes these onto the endpoint itself, over any label of the same name.
    out.insert(LABEL_NAMESPACE.into(), namespace.into());
    if orchestrator {
        out.insert(LABEL_ORCHESTRATOR.into(), "k8s".into());
    }
    if let Some((sa, _)) = service_account {
        out.insert(LABEL_SERVICE_ACCOUNT.into(), sa.into());
    }
    out
}
