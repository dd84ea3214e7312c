//! Selector translation: namespace scoping, `pcns.`/`pcsa.` prefixes, `all()`/`global()`
//! rewriting (SEMANTICS.md §2.1, §2.2, §4.8, §5, §6.1), and Kubernetes label selectors.

use crate::error::FieldError;
use crate::model::k8s::LabelSelector;
use crate::selector::Selector;

pub const LABEL_NAMESPACE: &str = "projectcalico.org/namespace";
pub const LABEL_ORCHESTRATOR: &str = "projectcalico.org/orchestrator";
pub const LABEL_SERVICE_ACCOUNT: &str = "projectcalico.org/serviceaccount";
pub const NAMESPACE_PREFIX: &str = "pcns.";
pub const SERVICE_ACCOUNT_PREFIX: &str = "pcsa.";
pub const NAME_LABEL: &str = "projectcalico.org/name";

/// Parse a selector field, naming the field on error.
pub fn parse_selector(field: &str, text: &str) -> Result<Selector, FieldError> {
    Selector::parse(text).map_err(|e| FieldError::new(field, e.to_string()))
}

/// Parse a selector field that must not use `global()`.
pub fn parse_plain_selector(field: &str, text: &str) -> Result<Selector, FieldError> {
    let sel = parse_selector(field, text)?;
    if sel.contains_global() {
        return Err(FieldError::new(
            field,
            "global() is only valid as the entire value of a rule's namespaceSelector",
        ));
    }
    Ok(sel)
}

fn conj(parts: &[String]) -> Selector {
    let text = parts
        .iter()
        .map(|p| format!("({p})"))
        .collect::<Vec<_>>()
        .join(" && ");
    // Every part is a canonical selector printed by us; the conjunction always parses.
    Selector::parse(&text).unwrap_or_else(|_| Selector::all())
}

fn expr_of(text: &str) -> Selector {
    Selector::parse(text).unwrap_or_else(|_| Selector::all())
}

/// A selector written against namespace labels, prefixed with `pcns.` and with `all()`
/// meaning "any namespaced endpoint".
pub fn namespace_selector(sel: &Selector) -> Selector {
    let prefixed = sel.map_labels(|l| format!("{NAMESPACE_PREFIX}{l}"));
    prefixed.replace_all(expr_of(&format!("has({LABEL_NAMESPACE})")).expr())
}

/// A selector written against service-account labels, prefixed with `pcsa.` and with `all()`
/// meaning "any endpoint with a service account".
pub fn service_account_selector(sel: &Selector) -> Selector {
    let prefixed = sel.map_labels(|l| format!("{SERVICE_ACCOUNT_PREFIX}{l}"));
    prefixed.replace_all(expr_of(&format!("has({LABEL_SERVICE_ACCOUNT})")).expr())
}

fn quote(value: &str) -> String {
    if value.contains('\'') {
        format!("\"{value}\"")
    } else {
        format!("'{value}'")
    }
}

/// `projectcalico.org/namespace == '<ns>'`.
pub fn in_namespace(namespace: &str) -> String {
    format!("{LABEL_NAMESPACE} == {}", quote(namespace))
}

/// The policy-level context a rule's entity selectors are translated in.
#[derive(Debug, Clone, Copy)]
pub struct EntityContext<'a> {
    /// The namespace of a namespaced policy; `None` for global policies.
    pub policy_namespace: Option<&'a str>,
}

/// Raw selector fields of one rule side, already parsed.
#[derive(Debug, Default)]
pub struct EntitySelectors {
    pub selector: Option<Selector>,
    pub namespace_selector: Option<Selector>,
    pub not_selector: Option<Selector>,
    pub sa_names: Vec<String>,
    pub sa_selector: Option<Selector>,
}

/// Felix's `GetEntityRuleSelector`: the positive selector of one rule side (§4.8).
pub fn entity_selector(ctx: EntityContext<'_>, raw: &EntitySelectors) -> Option<Selector> {
    let has_sa = !raw.sa_names.is_empty() || raw.sa_selector.is_some();
    let mut parts = Vec::new();
    match (&raw.namespace_selector, ctx.policy_namespace) {
        (Some(ns_sel), _) if ns_sel.is_exactly_global() => {
            parts.push(format!("!has({LABEL_NAMESPACE})"));
        }
        (Some(ns_sel), _) => parts.push(namespace_selector(ns_sel).to_string()),
        (None, Some(ns)) if raw.selector.is_some() || raw.not_selector.is_some() || has_sa => {
            parts.push(in_namespace(ns));
        }
        (None, _) => {}
    }
    if !raw.sa_names.is_empty() {
        let mut names: Vec<String> = raw.sa_names.iter().map(|n| quote(n)).collect();
        names.sort();
        parts.push(format!(
            "{LABEL_SERVICE_ACCOUNT} in {{{}}}",
            names.join(", ")
        ));
    }
    if let Some(sa) = &raw.sa_selector {
        parts.push(service_account_selector(sa).to_string());
    }
    if let Some(sel) = &raw.selector {
        parts.push(sel.to_string());
    }
    (!parts.is_empty()).then(|| conj(&parts))
}

/// The applies-to selector of a namespaced Calico policy (§2.1).
pub fn namespaced_applies_to(
    selector: &Selector,
    namespace: &str,
    sa_selector: Option<&Selector>,
) -> Selector {
    let mut parts = vec![selector.to_string(), in_namespace(namespace)];
    if let Some(sa) = sa_selector {
        parts.push(service_account_selector(sa).to_string());
    }
    conj(&parts)
}

/// The applies-to selector of a GlobalNetworkPolicy (§2.2): with a namespaceSelector, every
/// `all()` of the combination means "any namespaced endpoint"; with a serviceAccountSelector,
/// every remaining `all()` means "any endpoint with a service account".
pub fn global_applies_to(
    selector: &Selector,
    ns_selector: Option<&Selector>,
    sa_selector: Option<&Selector>,
) -> Selector {
    let mut combined = selector.clone();
    if let Some(ns) = ns_selector {
        let prefixed = ns.map_labels(|l| format!("{NAMESPACE_PREFIX}{l}"));
        let both = conj(&[combined.to_string(), prefixed.to_string()]);
        combined = both.replace_all(expr_of(&format!("has({LABEL_NAMESPACE})")).expr());
    }
    if let Some(sa) = sa_selector {
        let prefixed = sa.map_labels(|l| format!("{SERVICE_ACCOUNT_PREFIX}{l}"));
        let both = conj(&[combined.to_string(), prefixed.to_string()]);
        combined = both.replace_all(expr_of(&format!("has({LABEL_SERVICE_ACCOUNT})")).expr());
    }
    combined
}

/// Which kind of object a Kubernetes label selector selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum K8sSelectorKind {
    Pod,
    Namespace,
}

/// Kubernetes `LabelSelector` -> Calico selector (§6.1). Pod selectors also require
/// `projectcalico.org/orchestrator == 'k8s'`.
pub fn label_selector_to_calico(
    field: &str,
    sel: &LabelSelector,
    kind: K8sSelectorKind,
) -> Result<Selector, FieldError> {
    let mut parts = Vec::new();
    if kind == K8sSelectorKind::Pod {
        parts.push(format!("{LABEL_ORCHESTRATOR} == 'k8s'"));
    }
    for (key, value) in &sel.match_labels {
        check_label_key(&format!("{field}.matchLabels"), key)?;
        check_label_value(&format!("{field}.matchLabels.{key}"), value)?;
        parts.push(format!("{key} == {}", quote(value)));
    }
    for (i, req) in sel.match_expressions.iter().enumerate() {
        let f = format!("{field}.matchExpressions[{i}]");
        check_label_key(&format!("{f}.key"), &req.key)?;
        for (j, v) in req.values.iter().enumerate() {
            check_label_value(&format!("{f}.values[{j}]"), v)?;
        }
        let set = || {
            let mut vals: Vec<String> = req.values.iter().map(|v| quote(v)).collect();
            vals.sort();
            vals.dedup();
            format!("{{{}}}", vals.join(", "))
        };
        let needs_values = matches!(req.operator.as_str(), "In" | "NotIn");
        if needs_values && req.values.is_empty() {
            return Err(FieldError::new(
                format!("{f}.values"),
                format!("operator {} needs at least one value", req.operator),
            ));
        }
        if !needs_values && !req.values.is_empty() {
            return Err(FieldError::new(
                format!("{f}.values"),
                format!("operator {} takes no values", req.operator),
            ));
        }
        parts.push(match req.operator.as_str() {
            "In" => format!("{} in {}", req.key, set()),
            "NotIn" => format!("{} not in {}", req.key, set()),
            "Exists" => format!("has({})", req.key),
            "DoesNotExist" => format!("!has({})", req.key),
            other => {
                return Err(FieldError::new(
                    format!("{f}.operator"),
                    format!(
                        "unknown operator {other:?}: expected In, NotIn, Exists or DoesNotExist"
                    ),
                ));
            }
        });
    }
    if parts.is_empty() {
        return Ok(Selector::all());
    }
    Ok(conj(&parts))
}

fn check_label_key(field: &str, key: &str) -> Result<(), FieldError> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'))
    });
    if name_ok && prefix_ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "invalid label key {key:?}: expected [prefix/]name, name up to 63 characters of [A-Za-z0-9_.-] starting and ending alphanumeric"
            ),
        ))
    }
}

fn check_label_value(field: &str, value: &str) -> Result<(), FieldError> {
    let ok = value.is_empty()
        || (value.len() <= 63
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && value.as_bytes()[0].is_ascii_alphanumeric()
            && value.as_bytes()[value.len() - 1].is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "invalid label value {value:?}: expected up to 63 characters of [A-Za-z0-9_.-] starting and ending alphanumeric"
            ),
        ))
    }
}
