//! The resolved store: validated objects turned into the inventory, the tiers and the
//! translated policies, with both evaluation views built.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use super::load::{Loaded, LoadedObject, load_dir};
use super::parallel::{PARALLEL_MIN_OBJECTS, map_in_parallel};
use crate::error::{FieldError, Origin, StoreError};
use crate::inventory::{Endpoint, InventoryBuilder, NetworkSet};
use crate::model::calico::{Object, TierSpec};
use crate::model::{Resource, ResourceKind};
use crate::policy::calico::{parse_staged_action, translate_rules};
use crate::policy::{
    EntityContext, Policy, PolicyKind, Rule, TierDef, TierDefault, TierView, build_tier_view,
    translate_calico_policy, translate_k8s_policy,
};

/// Something worth telling the user that does not stop loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub origin: Option<Origin>,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(o) => write!(f, "{o}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A Calico Profile's rules (store-defined profiles only; `kns.*`, `ksa.*` and
/// `projectcalico-default-allow` are built in, see `crate::eval`).
#[derive(Debug, Clone, Default)]
pub struct ProfileRules {
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

/// A loaded, validated and resolved policy store.
#[derive(Debug, Clone, Default)]
pub struct Store {
    pub endpoints: Vec<Endpoint>,
    pub network_sets: Vec<NetworkSet>,
    pub tiers: Vec<TierDef>,
    /// Every translated policy, staged ones included, in load order.
    pub policies: Vec<Policy>,
    pub profiles: BTreeMap<String, ProfileRules>,
    /// Staged policies left out.
    pub enforced: TierView,
    /// Every staged policy enforced in place of its namesake.
    pub staged: TierView,
    pub warnings: Vec<Warning>,
    by_addr: HashMap<IpAddr, usize>,
}

/// The tiers that exist whether or not the store declares them (§3.1).
pub fn builtin_tiers() -> [TierDef; 3] {
    [
        TierDef {
            name: "kube-admin".into(),
            order: Some(1_000.0),
            default_action: TierDefault::Pass,
        },
        TierDef {
            name: "default".into(),
            order: Some(1_000_000.0),
            default_action: TierDefault::Deny,
        },
        TierDef {
            name: "kube-baseline".into(),
            order: Some(10_000_000.0),
            default_action: TierDefault::Pass,
        },
    ]
}

impl Store {
    /// Load, validate and resolve every manifest below `dir`.
    pub fn load_dir(dir: &Path) -> Result<Store, StoreError> {
        Store::from_loaded(load_dir(dir)?)
    }

    /// Load, validate and resolve one file's worth of manifests held in memory (`name` is what
    /// errors call the file; its extension picks JSON or YAML).
    pub fn from_text(name: &str, text: &str) -> Result<Store, StoreError> {
        let mut loaded = Loaded::default();
        super::load::load_text(Path::new(name), text, &mut loaded)?;
        Store::from_loaded(loaded)
    }

    /// Validate and resolve already-parsed objects.
    pub fn from_loaded(loaded: Loaded) -> Result<Store, StoreError> {
        let mut store = Store::default();
        for (origin, kind) in &loaded.skipped {
            store.warnings.push(Warning {
                origin: Some(origin.clone()),
                message: format!("skipping {kind}: not a kind that affects policy"),
            });
        }
        reject_duplicates(&loaded)?;
        let mut inventory = InventoryBuilder::default();
        let mut tiers: BTreeMap<String, TierDef> = builtin_tiers()
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        // Pass 1: objects others refer to.
        for obj in &loaded.objects {
            let origin = &obj.origin;
            match &obj.resource {
                Resource::Namespace(ns) => {
                    inventory.add_namespace(&ns.metadata.name, &ns.metadata.labels)
                }
                Resource::ServiceAccount(sa) => inventory.add_service_account(
                    sa.metadata.namespace.as_deref().unwrap_or("default"),
                    &sa.metadata.name,
                    &sa.metadata.labels,
                ),
                Resource::Profile(p) => {
                    inventory.add_profile_labels(&p.metadata.name, &p.spec.labels_to_apply);
                    let ctx = EntityContext {
                        policy_namespace: None,
                    };
                    let err = |e| StoreError::invalid(origin, e);
                    let rules = ProfileRules {
                        ingress: translate_rules(
                            "spec.ingress",
                            p.spec.ingress.as_deref().unwrap_or(&[]),
                            ctx,
                        )
                        .map_err(err)?,
                        egress: translate_rules(
                            "spec.egress",
                            p.spec.egress.as_deref().unwrap_or(&[]),
                            ctx,
                        )
                        .map_err(err)?,
                    };
                    store.profiles.insert(p.metadata.name.clone(), rules);
                }
                Resource::Tier(t) => {
                    let def = tier_def(t).map_err(|e| StoreError::invalid(origin, e))?;
                    tiers.insert(def.name.clone(), def);
                }
                _ => {}
            }
        }
        // Pass 2: endpoints, sets and policies. Policies translate independently of each
        // other and of the inventory, so that is done up front on all cores; the results are
        // taken in object order, so the first error is the one a sequential pass would meet.
        let mut translated = map_in_parallel(&loaded.objects, translate).into_iter();
        for obj in &loaded.objects {
            let origin = &obj.origin;
            let err = |e| StoreError::invalid(origin, e);
            let policy = translated.next().flatten();
            match &obj.resource {
                Resource::Pod(pod) => inventory.add_pod(origin, pod)?,
                Resource::WorkloadEndpoint(w) => inventory.add_workload_endpoint(origin, w)?,
                Resource::HostEndpoint(h) => inventory.add_host_endpoint(origin, h)?,
                Resource::NetworkSet(kind, set) => {
                    inventory.add_network_set(origin, *kind == ResourceKind::NetworkSet, set)?
                }
                Resource::K8sNetworkPolicy(_) | Resource::StagedK8sPolicy(_) => {
                    if let Some(policy) = policy {
                        store.policies.push(policy.map_err(err)?);
                    }
                }
                Resource::CalicoPolicy(..) => {
                    let Some(policy) = policy else { continue };
                    let policy = policy.map_err(err)?;
                    if !tiers.contains_key(&policy.tier) {
                        return Err(err(FieldError::new(
                            "spec.tier",
                            format!(
                                "tier {:?} does not exist: add a Tier object for it (implicit tiers: default, kube-admin, kube-baseline)",
                                policy.tier
                            ),
                        )));
                    }
                    store.policies.push(policy);
                }
                _ => {}
            }
        }
        let (endpoints, network_sets) = inventory.finish()?;
        store.endpoints = endpoints;
        store.network_sets = network_sets;
        store.tiers = tiers.into_values().collect();
        (store.enforced, store.staged) = build_tier_views(&store.tiers, &store.policies);
        store.by_addr = store
            .endpoints
            .iter()
            .enumerate()
            .flat_map(|(i, ep)| ep.addrs.iter().map(move |a| (*a, i)))
            .collect();
        Ok(store)
    }

    /// The endpoint owning `addr`, if any.
    pub fn endpoint_by_addr(&self, addr: IpAddr) -> Option<&Endpoint> {
        self.by_addr.get(&addr).map(|&i| &self.endpoints[i])
    }
}

/// The policy an object translates to, if it is a policy.
fn translate(obj: &LoadedObject) -> Option<Result<Policy, FieldError>> {
    Some(match &obj.resource {
        Resource::K8sNetworkPolicy(np) => {
            translate_k8s_policy(PolicyKind::Knp, &np.metadata, &np.spec, false)
        }
        Resource::StagedK8sPolicy(sp) => parse_staged_action(sp.spec.staged_action.as_deref())
            .and_then(|delete| {
                translate_k8s_policy(
                    PolicyKind::Sknp,
                    &sp.metadata,
                    &sp.spec.to_k8s_spec(),
                    delete,
                )
            }),
        Resource::CalicoPolicy(kind, p) => translate_calico_policy(*kind, p),
        _ => return None,
    })
}

/// The enforced and the staged tier views, built side by side when the store is large.
fn build_tier_views(tiers: &[TierDef], policies: &[Policy]) -> (TierView, TierView) {
    if policies.len() < PARALLEL_MIN_OBJECTS {
        return (
            build_tier_view(tiers, policies, false),
            build_tier_view(tiers, policies, true),
        );
    }
    std::thread::scope(|scope| {
        let staged = scope.spawn(|| build_tier_view(tiers, policies, true));
        let enforced = build_tier_view(tiers, policies, false);
        match staged.join() {
            Ok(staged) => (enforced, staged),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

fn tier_def(t: &Object<TierSpec>) -> Result<TierDef, FieldError> {
    let name = t.metadata.name.clone();
    if name.is_empty() {
        return Err(FieldError::new("metadata.name", "a tier needs a name"));
    }
    let default_action = match t.spec.default_action.as_deref() {
        None | Some("Deny") => TierDefault::Deny,
        Some("Pass") => TierDefault::Pass,
        Some(other) => {
            return Err(FieldError::new(
                "spec.defaultAction",
                format!("unknown default action {other:?}: expected Deny or Pass"),
            ));
        }
    };
    if let Some(order) = t.spec.order
        && !order.is_finite()
    {
        return Err(FieldError::new("spec.order", "expected a finite number"));
    }
    let def = TierDef {
        name,
        order: t.spec.order,
        default_action,
    };
    if let Some(builtin) = builtin_tiers().into_iter().find(|b| b.name == def.name) {
        let order_ok = def.order.is_none() || def.order == builtin.order;
        let action_ok =
            t.spec.default_action.is_none() || def.default_action == builtin.default_action;
        if !order_ok || !action_ok {
            return Err(FieldError::new(
                "spec",
                format!(
                    "tier {} must have order {} and defaultAction {:?}",
                    builtin.name,
                    builtin.order.unwrap_or_default(),
                    builtin.default_action
                ),
            ));
        }
        return Ok(builtin);
    }
    Ok(def)
}

/// Two objects of one kind with one namespace and name cannot both exist in an API server; a
/// store holding both is ambiguous. Pods and WorkloadEndpoints are merged per pod elsewhere.
fn reject_duplicates(loaded: &Loaded) -> Result<(), StoreError> {
    let mut seen: HashMap<(ResourceKind, Option<&str>, &str), &Origin> = HashMap::new();
    for obj in &loaded.objects {
        let meta = obj.resource.metadata();
        let namespace = obj
            .kind
            .is_namespaced()
            .then(|| meta.namespace.as_deref().unwrap_or("default"));
        let key = (obj.kind, namespace, meta.name.as_str());
        if let Some(first) = seen.insert(key, &obj.origin) {
            let name = match namespace {
                Some(ns) => format!("{ns}/{}", meta.name),
                None => meta.name.clone(),
            };
            return Err(StoreError::invalid(
                &obj.origin,
                FieldError::new(
                    "metadata.name",
                    format!(
                        "duplicate {:?} {name}: already defined at {first}",
                        obj.kind
                    ),
                ),
            ));
        }
    }
    Ok(())
}
