//! Tier and policy ordering (§3.1, §3.2) and the two views evaluation needs: the enforced one
//! (staged policies left out) and the staged one (every staged policy enforced, §2.5).

use std::cmp::Ordering;

use super::{Policy, PolicyId, TierDefault};

/// A tier as declared (or implied: `default`, `kube-admin`, `kube-baseline`).
#[derive(Debug, Clone, PartialEq)]
pub struct TierDef {
    pub name: String,
    pub order: Option<f64>,
    pub default_action: TierDefault,
}

/// One tier with its policies in evaluation order.
#[derive(Debug, Clone)]
pub struct TierPolicies {
    pub tier: TierDef,
    pub policies: Vec<Policy>,
}

/// Tiers in evaluation order, each with its policies in evaluation order.
#[derive(Debug, Clone, Default)]
pub struct TierView {
    pub tiers: Vec<TierPolicies>,
}

fn tier_cmp(a: &TierDef, b: &TierDef) -> Ordering {
    match (a.order, b.order) {
        (Some(x), Some(y)) if x != y => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        _ => a.name.cmp(&b.name),
    }
}

fn policy_cmp(a: &Policy, b: &Policy) -> Ordering {
    let oa = a.order.unwrap_or(f64::INFINITY);
    let ob = b.order.unwrap_or(f64::INFINITY);
    match oa.partial_cmp(&ob) {
        Some(Ordering::Equal) | None => a.tie_break_key().cmp(&b.tie_break_key()),
        Some(o) => o,
    }
}

/// The key a staged policy shares with the enforced policy it stands in for.
fn enforced_key(id: &PolicyId) -> PolicyId {
    PolicyId {
        kind: id.kind.enforced(),
        ..id.clone()
    }
}

/// Build the enforced view (`staged == false`) or the staged view (`staged == true`).
pub fn build_tier_view(tiers: &[TierDef], policies: &[Policy], staged: bool) -> TierView {
    let mut selected: Vec<&Policy> = policies.iter().filter(|p| !p.id.kind.is_staged()).collect();
    if staged {
        for sp in policies.iter().filter(|p| p.id.kind.is_staged()) {
            let key = enforced_key(&sp.id);
            selected.retain(|p| enforced_key(&p.id) != key);
            if !sp.staged_delete {
                selected.push(sp);
            }
        }
    }
    let mut defs: Vec<&TierDef> = tiers.iter().collect();
    defs.sort_by(|a, b| tier_cmp(a, b));
    let tiers = defs
        .into_iter()
        .map(|def| {
            let mut in_tier: Vec<Policy> = selected
                .iter()
                .filter(|p| p.tier == def.name)
                .map(|p| (*p).clone())
                .collect();
            in_tier.sort_by(policy_cmp);
            TierPolicies {
                tier: def.clone(),
                policies: in_tier,
            }
        })
        .filter(|t| !t.policies.is_empty())
        .collect();
    TierView { tiers }
}
