//! Table tests per rule field (in the style of Felix's `bpf/ut/pol_prog_test.go`): a policy, the
//! fixed inventory of `common`, and flows with the expected verdict and deciding rule.
//! Addresses: a/web 10.0.1.1, a/db 10.0.1.2 + fd00::12, b/client 10.0.2.1 + fd00::21,
//! b/web 10.0.2.2; GlobalNetworkSet ext 192.0.2.0/24; NetworkSet a/partners 198.51.100.0/24.

#![allow(clippy::unwrap_used)]

mod common;

use common::check;

/// Wrap ingress rules for a/db in a GNP.
fn db_ingress(rules: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: p}}\nspec:\n  selector: app == 'db'\n  types: [Ingress]\n  ingress:\n{rules}"
    )
}

#[test]
fn protocol_and_not_protocol() {
    check(
        "protocol",
        &db_ingress("  - {action: Allow, protocol: TCP}\n"),
        &[
            (
                "tcp 10.0.2.1 -> 10.0.1.2:5432",
                "allow",
                "profile",
                "gnp:p#0",
            ),
            (
                "udp 10.0.2.1 -> 10.0.1.2:5432",
                "deny",
                "profile",
                "eot:default",
            ),
        ],
    );
    check(
        "protocol number",
        &db_ingress("  - {action: Allow, protocol: 17}\n"),
        &[
            ("udp 10.0.2.1 -> 10.0.1.2:53", "allow", "*", "gnp:p#0"),
            ("tcp 10.0.2.1 -> 10.0.1.2:53", "deny", "*", "eot:default"),
        ],
    );
    check(
        "notProtocol",
        &db_ingress("  - {action: Allow, notProtocol: udp}\n"),
        &[
            ("tcp 10.0.2.1 -> 10.0.1.2:1", "allow", "*", "gnp:p#0"),
            ("udp 10.0.2.1 -> 10.0.1.2:1", "deny", "*", "eot:default"),
            ("proto47 10.0.2.1 -> 10.0.1.2", "allow", "*", "gnp:p#0"),
        ],
    );
}

#[test]
fn ports_ranges_named_and_not_ports() {
    let rules =
        "  - action: Allow\n    protocol: TCP\n    destination: {ports: [80, '5000:5010', sql]}\n";
    check(
        "ports",
        &db_ingress(rules),
        &[
            ("tcp 10.0.2.1 -> 10.0.1.2:80", "allow", "*", "gnp:p#0"),
            ("tcp 10.0.2.1 -> 10.0.1.2:5000", "allow", "*", "gnp:p#0"),
            ("tcp 10.0.2.1 -> 10.0.1.2:5010", "allow", "*", "gnp:p#0"),
            ("tcp 10.0.2.1 -> 10.0.1.2:5011", "deny", "*", "eot:default"),
            ("tcp 10.0.2.1 -> 10.0.1.2:5432", "allow", "*", "gnp:p#0"),
            ("tcp 10.0.2.1 -> 10.0.1.2:81", "deny", "*", "eot:default"),
        ],
    );
    // A named port without a protocol matches the named port's own protocol only.
    let named = "  - action: Allow\n    destination: {ports: [dns]}\n";
    check(
        "named port protocol",
        &db_ingress(named),
        &[
            ("udp 10.0.2.1 -> 10.0.1.2:53", "allow", "*", "gnp:p#0"),
            ("tcp 10.0.2.1 -> 10.0.1.2:53", "deny", "*", "eot:default"),
        ],
    );
    let not_ports =
        "  - action: Allow\n    protocol: TCP\n    destination: {notPorts: ['1:1024', sql]}\n";
    check(
        "notPorts",
        &db_ingress(not_ports),
        &[
            ("tcp 10.0.2.1 -> 10.0.1.2:80", "deny", "*", "eot:default"),
            ("tcp 10.0.2.1 -> 10.0.1.2:5432", "deny", "*", "eot:default"),
            ("tcp 10.0.2.1 -> 10.0.1.2:8080", "allow", "*", "gnp:p#0"),
        ],
    );
    let src_ports = "  - action: Allow\n    protocol: UDP\n    source: {ports: [53]}\n";
    check(
        "source ports",
        &db_ingress(src_ports),
        &[
            ("udp 10.0.2.1:53 -> 10.0.1.2:999", "allow", "*", "gnp:p#0"),
            (
                "udp 10.0.2.1:54 -> 10.0.1.2:999",
                "deny",
                "*",
                "eot:default",
            ),
        ],
    );
}

#[test]
fn named_ports_resolve_on_the_matching_endpoints() {
    // b/web declares `sql` as UDP 5432; a/db as TCP 5432. Egress from b/client:
    let egress = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: e}\nspec:\n  selector: app == 'client'\n  types: [Egress]\n  egress:\n  - action: Allow\n    destination: {selector: app == 'db', ports: [sql]}\n";
    check(
        "named port narrowed by selector",
        egress,
        &[
            (
                "tcp 10.0.2.1 -> 10.0.1.2:5432",
                "allow",
                "gnp:e#0",
                "profile",
            ),
            (
                "udp 10.0.2.1 -> 10.0.2.2:5432",
                "deny",
                "eot:default",
                "profile",
            ),
            (
                "tcp 10.0.2.1 -> 10.0.1.2:5433",
                "deny",
                "eot:default",
                "profile",
            ),
        ],
    );
}

#[test]
fn nets_and_not_nets() {
    let rules = "  - action: Allow\n    source: {nets: [10.0.2.0/24, 192.0.2.0/24], notNets: [10.0.2.2/32]}\n";
    check(
        "nets",
        &db_ingress(rules),
        &[
            ("tcp 10.0.2.1 -> 10.0.1.2:1", "allow", "*", "gnp:p#0"),
            ("tcp 192.0.2.9 -> 10.0.1.2:1", "allow", "none", "gnp:p#0"),
            ("tcp 10.0.2.2 -> 10.0.1.2:1", "deny", "*", "eot:default"),
            ("tcp 10.0.1.1 -> 10.0.1.2:1", "deny", "*", "eot:default"),
            // The rule has IPv4 CIDRs only, so it never matches IPv6.
            (
                "tcp [fd00::21]:1 -> [fd00::12]:1",
                "deny",
                "*",
                "eot:default",
            ),
        ],
    );
}

#[test]
fn selectors_scope_and_network_sets() {
    let ns_policy = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  selector: app == 'db'\n  ingress:\n  - action: Allow\n    source: {selector: app == 'web'}\n";
    check(
        "namespaced selector is namespace-scoped",
        ns_policy,
        &[
            ("tcp 10.0.1.1 -> 10.0.1.2:1", "allow", "*", "np:a/p#0"),
            ("tcp 10.0.2.2 -> 10.0.1.2:1", "deny", "*", "eot:default"),
        ],
    );
    let global = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  selector: app == 'db'\n  ingress:\n  - action: Allow\n    source: {selector: app == 'web'}\n  - action: Allow\n    source: {selector: kind == 'ext'}\n";
    check(
        "global selector spans namespaces and sets",
        global,
        &[
            ("tcp 10.0.1.1 -> 10.0.1.2:1", "allow", "*", "gnp:p#0"),
            ("tcp 10.0.2.2 -> 10.0.1.2:1", "allow", "*", "gnp:p#0"),
            ("tcp 192.0.2.7 -> 10.0.1.2:1", "allow", "none", "gnp:p#1"),
            (
                "tcp 203.0.113.1 -> 10.0.1.2:1",
                "deny",
                "none",
                "eot:default",
            ),
        ],
    );
    let not_sel_ns = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  selector: app == 'db'\n  ingress:\n  - action: Allow\n    source: {notSelector: app == 'web'}\n";
    check(
        "notSelector in a namespaced policy stays in the namespace",
        not_sel_ns,
        &[
            ("tcp 10.0.1.1 -> 10.0.1.2:1", "deny", "*", "eot:default"),
            ("tcp 10.0.2.1 -> 10.0.1.2:1", "deny", "*", "eot:default"),
            ("tcp 203.0.113.1 -> 10.0.1.2:1", "deny", "*", "eot:default"),
            ("tcp 198.51.100.3 -> 10.0.1.2:1", "allow", "*", "np:a/p#0"),
        ],
    );
    let not_sel_global = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  selector: app == 'db'\n  ingress:\n  - action: Allow\n    source: {notSelector: app == 'web'}\n";
    check(
        "notSelector in a global policy matches outside addresses",
        not_sel_global,
        &[
            ("tcp 10.0.1.1 -> 10.0.1.2:1", "deny", "*", "eot:default"),
            ("tcp 10.0.2.1 -> 10.0.1.2:1", "allow", "*", "gnp:p#0"),
            ("tcp 203.0.113.1 -> 10.0.1.2:1", "allow", "*", "gnp:p#0"),
        ],
    );
    let all_sel = "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec:\n  selector: app == 'db'\n  ingress:\n  - action: Allow\n    source: {selector: all()}\n";
    check(
        "selector all() means known addresses",
        all_sel,
        &[
            ("tcp 10.0.2.1 -> 10.0.1.2:1", "allow", "*", "gnp:p#0"),
            (
                "tcp 172.16.0.2 -> 10.0.1.2:1",
                "allow",
                "profile",
                "gnp:p#0",
            ),
            ("tcp 203.0.113.1 -> 10.0.1.2:1", "deny", "*", "eot:default"),
        ],
    );
}

#[test]
fn namespace_selectors_and_global() {
    let rules = "  - action: Allow\n    source: {namespaceSelector: env == 'dev'}\n  - action: Deny\n    source: {namespaceSelector: global()}\n  - action: Allow\n    source: {namespaceSelector: all()}\n";
    check(
        "namespaceSelector",
        &db_ingress(rules),
        &[
            ("tcp 10.0.2.1 -> 10.0.1.2:1", "allow", "*", "gnp:p#0"),
            ("tcp 192.0.2.1 -> 10.0.1.2:1", "deny", "*", "gnp:p#1"),
            ("tcp 172.16.0.1 -> 10.0.1.2:1", "deny", "*", "gnp:p#1"),
            ("tcp 10.0.1.1 -> 10.0.1.2:1", "allow", "*", "gnp:p#2"),
            ("tcp 198.51.100.1 -> 10.0.1.2:1", "allow", "*", "gnp:p#2"),
            ("tcp 203.0.113.1 -> 10.0.1.2:1", "deny", "*", "eot:default"),
        ],
    );
    let by_name = "  - action: Allow\n    source: {namespaceSelector: kubernetes.io/metadata.name == 'b', selector: app == 'web'}\n";
    check(
        "namespace name label and selector AND",
        &db_ingress(by_name),
        &[
            ("tcp 10.0.2.2 -> 10.0.1.2:1", "allow", "*", "gnp:p#0"),
            ("tcp 10.0.2.1 -> 10.0.1.2:1", "deny", "*", "eot:default"),
            ("tcp 10.0.1.1 -> 10.0.1.2:1", "deny", "*", "eot:default"),
        ],
    );
}

#[test]
fn service_accounts() {
    let names = "  - action: Allow\n    source: {serviceAccounts: {names: [websa]}}\n";
    check(
        "serviceAccounts.names",
        &db_ingress(names),
        &[
            ("tcp 10.0.1.1 -> 10.0.1.2:1", "allow", "*", "gnp:p#0"),
            ("tcp 10.0.2.2 -> 10.0.1.2:1", "deny", "*", "eot:default"),
        ],
    );
    let selector =
        "  - action: Allow\n    source: {serviceAccounts: {selector: role == 'frontend'}}\n";
    check(
        "serviceAccounts.selector",
        &db_ingress(selector),
        &[
            ("tcp 10.0.1.1 -> 10.0.1.2:1", "allow", "*", "gnp:p#0"),
            ("tcp 10.0.2.1 -> 10.0.1.2:1", "deny", "*", "eot:default"),
        ],
    );
    let applies = "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  serviceAccountSelector: role == 'frontend'\n  ingress: [{action: Deny}]\n";
    check(
        "serviceAccountSelector narrows applies-to",
        applies,
        &[
            ("tcp 10.0.2.1 -> 10.0.1.1:1", "deny", "*", "np:a/p#0"),
            ("tcp 10.0.2.1 -> 10.0.1.2:1", "allow", "*", "profile"),
        ],
    );
}

#[test]
fn icmp_and_not_icmp() {
    let rules = "  - action: Allow\n    protocol: ICMP\n    icmp: {type: 8}\n  - action: Allow\n    protocol: ICMP\n    notICMP: {type: 3, code: 1}\n";
    check(
        "icmp",
        &db_ingress(rules),
        &[
            (
                "icmp 10.0.2.1 -> 10.0.1.2 type=8 code=0",
                "allow",
                "*",
                "gnp:p#0",
            ),
            ("icmp 10.0.2.1 -> 10.0.1.2 type=8", "allow", "*", "gnp:p#0"),
            (
                "icmp 10.0.2.1 -> 10.0.1.2 type=3 code=1",
                "deny",
                "*",
                "eot:default",
            ),
            (
                "icmp 10.0.2.1 -> 10.0.1.2 type=3 code=2",
                "allow",
                "*",
                "gnp:p#1",
            ),
            // A rule constraining a field the flow lacks does not match.
            ("icmp 10.0.2.1 -> 10.0.1.2", "deny", "*", "eot:default"),
            (
                "icmp 10.0.2.1 -> 10.0.1.2 type=3",
                "deny",
                "*",
                "eot:default",
            ),
        ],
    );
    let code = "  - action: Allow\n    protocol: ICMPv6\n    icmp: {type: 128, code: 0}\n";
    check(
        "icmpv6 type and code",
        &db_ingress(code),
        &[
            (
                "icmpv6 fd00::21 -> fd00::12 type=128 code=0",
                "allow",
                "*",
                "gnp:p#0",
            ),
            (
                "icmpv6 fd00::21 -> fd00::12 type=128 code=1",
                "deny",
                "*",
                "eot:default",
            ),
            (
                "icmp 10.0.2.1 -> 10.0.1.2 type=128 code=0",
                "deny",
                "*",
                "eot:default",
            ),
        ],
    );
}

#[test]
fn ip_version() {
    let rules = "  - {action: Allow, ipVersion: 6}\n";
    check(
        "ipVersion",
        &db_ingress(rules),
        &[
            ("tcp [fd00::21]:1 -> [fd00::12]:80", "allow", "*", "gnp:p#0"),
            ("tcp 10.0.2.1 -> 10.0.1.2:80", "deny", "*", "eot:default"),
        ],
    );
}
