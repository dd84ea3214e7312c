//! Table tests per ordering rule and action (§3): tiers, policy order and tie-breaks, Pass,
//! Log, end-of-tier actions, types defaulting, staged policies, host endpoints, Kubernetes
//! NetworkPolicy translation. Inventory and addresses as in `semantics_rules.rs`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{check, decide, store};
use palisade_control::eval::Verdict;

const TIERS: &str = r#"
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: first}
spec: {order: 10}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: passing}
spec: {order: 20, defaultAction: Pass}
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: unordered}
"#;

fn gnp(name: &str, tier: &str, order: Option<f64>, rules: &str) -> String {
    let order = order.map(|o| format!("  order: {o}\n")).unwrap_or_default();
    format!(
        "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  tier: {tier}\n{order}  selector: app == 'db'\n  types: [Ingress]\n  ingress:\n{rules}"
    )
}

#[test]
fn tiers_run_in_order_and_first_match_decides() {
    let policies = format!(
        "{TIERS}{}{}",
        gnp(
            "deny-in-first",
            "first",
            Some(1.0),
            "  - {action: Deny, protocol: UDP}\n"
        ),
        gnp("allow-in-default", "default", None, "  - {action: Allow}\n")
    );
    check(
        "tier order",
        &policies,
        &[
            (
                "udp 10.0.2.1 -> 10.0.1.2:53",
                "deny",
                "*",
                "gnp:deny-in-first#0",
            ),
            // No rule in `first` matched: its default action (Deny) ends evaluation.
            ("tcp 10.0.2.1 -> 10.0.1.2:80", "deny", "*", "eot:first"),
        ],
    );
}

#[test]
fn pass_skips_to_the_next_tier_and_pass_tiers_fall_through() {
    let policies = format!(
        "{TIERS}{}{}{}",
        gnp(
            "pass",
            "first",
            Some(1.0),
            "  - {action: Pass, protocol: TCP}\n  - {action: Deny}\n"
        ),
        gnp(
            "later-in-first",
            "first",
            Some(2.0),
            "  - {action: Allow}\n"
        ),
        gnp(
            "nothing",
            "passing",
            None,
            "  - {action: Deny, protocol: SCTP}\n"
        ),
    );
    check(
        "pass",
        &policies,
        &[
            // Pass skips `later-in-first`, the `passing` tier falls through, the profile allows.
            ("tcp 10.0.2.1 -> 10.0.1.2:80", "allow", "*", "profile"),
            ("udp 10.0.2.1 -> 10.0.1.2:80", "deny", "*", "gnp:pass#1"),
            ("sctp 10.0.2.1 -> 10.0.1.2:80", "deny", "*", "gnp:pass#1"),
        ],
    );
    let policies = format!(
        "{TIERS}{}{}",
        gnp("pass", "first", Some(1.0), "  - {action: Pass}\n"),
        gnp(
            "deny-sctp",
            "passing",
            None,
            "  - {action: Deny, protocol: SCTP}\n"
        ),
    );
    check(
        "pass then deny",
        &policies,
        &[
            (
                "sctp 10.0.2.1 -> 10.0.1.2:80",
                "deny",
                "*",
                "gnp:deny-sctp#0",
            ),
            ("tcp 10.0.2.1 -> 10.0.1.2:80", "allow", "*", "profile"),
        ],
    );
}

#[test]
fn log_records_and_continues() {
    let policies = gnp(
        "log",
        "default",
        None,
        "  - {action: Log, protocol: TCP}\n  - {action: Log}\n  - {action: Allow, protocol: TCP}\n",
    );
    let s = store(&policies);
    let d = decide(&s, "tcp 10.0.2.1 -> 10.0.1.2:80");
    assert_eq!(d.verdict, Verdict::Allow);
    let logged: Vec<(String, usize)> = d
        .ingress
        .logged
        .iter()
        .map(|l| (l.policy.to_string(), l.rule))
        .collect();
    assert_eq!(logged, vec![("gnp:log".into(), 0), ("gnp:log".into(), 1)]);
    let d = decide(&s, "udp 10.0.2.1 -> 10.0.1.2:80");
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.ingress.logged.len(), 1);
}

#[test]
fn policy_order_nil_last_and_name_tie_break() {
    let policies = format!(
        "{}{}{}",
        gnp("b-unordered", "default", None, "  - {action: Deny}\n"),
        gnp(
            "z-ordered",
            "default",
            Some(100.0),
            "  - {action: Allow, protocol: TCP}\n"
        ),
        gnp(
            "a-ordered",
            "default",
            Some(100.0),
            "  - {action: Deny, protocol: TCP, destination: {ports: [81]}}\n"
        ),
    );
    check(
        "policy order",
        &policies,
        &[
            (
                "tcp 10.0.2.1 -> 10.0.1.2:81",
                "deny",
                "*",
                "gnp:a-ordered#0",
            ),
            (
                "tcp 10.0.2.1 -> 10.0.1.2:80",
                "allow",
                "*",
                "gnp:z-ordered#0",
            ),
            (
                "udp 10.0.2.1 -> 10.0.1.2:80",
                "deny",
                "*",
                "gnp:b-unordered#0",
            ),
        ],
    );
    // Same name and order: the GNP ("n//GlobalNetworkPolicy") sorts before the namespaced
    // policy ("n/a/NetworkPolicy").
    let same_name = format!(
        "{}---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: n, namespace: a}}\nspec:\n  order: 5\n  selector: app == 'db'\n  ingress: [{{action: Deny}}]\n",
        gnp("n", "default", Some(5.0), "  - {action: Allow}\n")
    );
    check(
        "name/namespace/kind tie-break",
        &same_name,
        &[("tcp 10.0.2.1 -> 10.0.1.2:80", "allow", "*", "gnp:n#0")],
    );
}

#[test]
fn unordered_tiers_come_after_default_and_baseline() {
    let policies = format!(
        "{TIERS}{}{}",
        gnp("in-unordered", "unordered", None, "  - {action: Allow}\n"),
        gnp(
            "in-default",
            "default",
            None,
            "  - {action: Deny, protocol: UDP}\n"
        ),
    );
    check(
        "unordered tier",
        &policies,
        &[
            (
                "udp 10.0.2.1 -> 10.0.1.2:80",
                "deny",
                "*",
                "gnp:in-default#0",
            ),
            // Default tier's end-of-tier Deny comes before the unordered tier's Allow.
            ("tcp 10.0.2.1 -> 10.0.1.2:80", "deny", "*", "eot:default"),
        ],
    );
}

#[test]
fn types_defaulting() {
    let egress_only = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: e}\nspec:\n  selector: app == 'db'\n  egress: [{action: Deny}]\n";
    check(
        "only egress rules => Egress",
        egress_only,
        &[
            ("tcp 10.0.2.1 -> 10.0.1.2:80", "allow", "*", "profile"),
            ("tcp 10.0.1.2 -> 10.0.2.1:80", "deny", "gnp:e#0", "*"),
        ],
    );
    let no_rules = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: e}\nspec:\n  selector: app == 'db'\n";
    check(
        "no rules => Ingress",
        no_rules,
        &[
            ("tcp 10.0.2.1 -> 10.0.1.2:80", "deny", "*", "eot:default"),
            ("tcp 10.0.1.2 -> 10.0.2.1:80", "allow", "profile", "*"),
        ],
    );
    let k8s_egress = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: a}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  egress: [{to: [{podSelector: {matchLabels: {app: web}}}]}]\n";
    check(
        "k8s without policyTypes and egress rules => both",
        k8s_egress,
        &[
            ("tcp 10.0.2.1 -> 10.0.1.2:80", "deny", "*", "eot:default"),
            ("tcp 10.0.1.2 -> 10.0.1.1:80", "allow", "knp:a/k#0", "*"),
            ("tcp 10.0.1.2 -> 10.0.2.1:80", "deny", "eot:default", "*"),
        ],
    );
}

#[test]
fn kubernetes_peers_ports_and_ip_blocks() {
    let np = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: k, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {env: dev}}
      podSelector: {matchExpressions: [{key: app, operator: In, values: [client]}]}
    ports: [{protocol: UDP, port: 5000, endPort: 5005}]
  - from:
    - ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}
  - from:
    - podSelector: {matchExpressions: [{key: tier, operator: Exists}]}
    ports: [{port: sql}]
"#;
    check(
        "k8s peers",
        np,
        &[
            ("udp 10.0.2.1 -> 10.0.1.2:5003", "allow", "*", "knp:a/k#0"),
            ("udp 10.0.2.1 -> 10.0.1.2:5006", "deny", "*", "eot:default"),
            ("tcp 10.0.2.1 -> 10.0.1.2:5003", "deny", "*", "eot:default"),
            ("udp 10.0.2.2 -> 10.0.1.2:5003", "deny", "*", "eot:default"),
            ("tcp 192.0.2.1 -> 10.0.1.2:9", "allow", "*", "knp:a/k#1"),
            ("tcp 192.0.2.200 -> 10.0.1.2:9", "deny", "*", "eot:default"),
            ("tcp 10.0.1.1 -> 10.0.1.2:5432", "allow", "*", "knp:a/k#2"),
            ("tcp 10.0.1.1 -> 10.0.1.2:5433", "deny", "*", "eot:default"),
        ],
    );
    let deny_all = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: a}\nspec:\n  podSelector: {}\n  ingress: []\n";
    check(
        "empty ingress list denies",
        deny_all,
        &[
            ("tcp 10.0.2.1 -> 10.0.1.1:80", "deny", "*", "eot:default"),
            ("tcp 10.0.2.1 -> 10.0.2.2:80", "allow", "*", "profile"),
        ],
    );
    let all_ns = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k, namespace: a}\nspec:\n  podSelector: {}\n  ingress: [{from: [{namespaceSelector: {}}]}]\n";
    check(
        "empty namespaceSelector = pods in all namespaces",
        all_ns,
        &[
            ("tcp 10.0.2.1 -> 10.0.1.1:80", "allow", "*", "knp:a/k#0"),
            ("tcp 192.0.2.1 -> 10.0.1.1:80", "deny", "*", "eot:default"),
        ],
    );
}

#[test]
fn staged_policies_are_reported_not_enforced() {
    let staged = r#"
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: s}
spec:
  selector: app == 'db'
  ingress: [{action: Deny, protocol: TCP}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec:
  selector: app == 'web'
  ingress: [{action: Deny}]
---
apiVersion: projectcalico.org/v3
kind: StagedGlobalNetworkPolicy
metadata: {name: g}
spec:
  stagedAction: Delete
"#;
    let s = store(staged);
    let d = decide(&s, "tcp 10.0.2.1 -> 10.0.1.2:80");
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(d.ingress.staged_verdict, Verdict::Deny);
    let d = decide(&s, "tcp 10.0.2.1 -> 10.0.1.1:80");
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(
        d.ingress.staged_verdict,
        Verdict::Allow,
        "Delete stages the removal"
    );
}

#[test]
fn host_endpoints_profiles_and_failsafes() {
    check(
        "host endpoints",
        "",
        &[
            // h1 has no policy and no profile: deny, apart from failsafe ports.
            (
                "tcp 10.0.2.1 -> 172.16.0.1:80",
                "deny",
                "profile",
                "profile",
            ),
            (
                "tcp 10.0.2.1 -> 172.16.0.1:22",
                "allow",
                "profile",
                "failsafe",
            ),
            (
                "udp 172.16.0.1 -> 192.0.2.1:53",
                "allow",
                "failsafe",
                "none",
            ),
            // h2 carries projectcalico-default-allow.
            (
                "tcp 10.0.2.1 -> 172.16.0.2:80",
                "allow",
                "profile",
                "profile",
            ),
        ],
    );
    let ns_sel = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\nspec:\n  selector: all()\n  namespaceSelector: all()\n  ingress: [{action: Deny}]\n";
    check(
        "GNP namespaceSelector never selects host endpoints",
        ns_sel,
        &[
            ("tcp 10.0.2.1 -> 172.16.0.2:80", "allow", "*", "profile"),
            ("tcp 10.0.2.1 -> 10.0.1.1:80", "deny", "*", "gnp:g#0"),
        ],
    );
}

#[test]
fn pods_that_are_not_endpoints() {
    // b/gone is Succeeded: its address belongs to no endpoint.
    check(
        "finished pod",
        "",
        &[("tcp 10.0.2.9 -> 10.0.1.2:80", "allow", "none", "profile")],
    );
}
