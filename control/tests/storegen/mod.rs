//! A random-store generator for differential tests: namespaces, service accounts, pods (IPv4
//! and dual-stack, named ports), host endpoints, network sets, tiers, and every policy kind with
//! every rule field — rendered as YAML so translation and validation are exercised too.
#![allow(dead_code, clippy::unwrap_used)]

use std::fmt::Write;

/// A small deterministic generator (xorshift64*), so a failing seed reproduces.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

pub const NAMESPACES: [&str; 3] = ["ns0", "ns1", "ns2"];
const APPS: [&str; 3] = ["web", "db", "api"];
const POD_SELECTORS: [&str; 10] = [
    "app == 'web'",
    "app == 'db'",
    "app in {'web', 'api'}",
    "has(tier)",
    "!has(tier)",
    "tier != 't1'",
    "all()",
    "app == 'api' || tier == 't2'",
    "role == 'ext'",
    "app starts with 'w'",
];
const NS_SELECTORS: [&str; 6] = [
    "env == 'a'",
    "env != 'a'",
    "all()",
    "global()",
    "kubernetes.io/metadata.name == 'ns1'",
    "has(team)",
];
const SA_SELECTORS: [&str; 3] = ["role == 'r1'", "has(role)", "role != 'r2'"];
const NETS_V4: [&str; 5] = [
    "192.0.2.0/24",
    "198.51.100.0/25",
    "10.0.0.0/29",
    "10.0.0.4/30",
    "0.0.0.0/0",
];
const NETS_V6: [&str; 3] = ["fd00::/120", "2001:db8::/32", "fd00::4/126"];
const PORT_NAMES: [&str; 3] = ["http", "dns", "sql"];

/// Addresses flows are drawn from: pods, host endpoints, set members and outsiders.
pub const FLOW_V4: [&str; 12] = [
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.3",
    "10.0.0.4",
    "10.0.0.5",
    "10.0.0.6",
    "10.0.0.7",
    "172.16.0.1",
    "192.0.2.9",
    "198.51.100.200",
    "203.0.113.5",
    "10.0.0.99",
];
pub const FLOW_V6: [&str; 6] = [
    "fd00::1",
    "fd00::2",
    "fd00::3",
    "fd00::5",
    "2001:db8::9",
    "fd00::ff",
];

fn opt_order(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => String::new(),
        1 => "  order: 1\n".into(),
        2 => "  order: 2\n".into(),
        3 => "  order: 100\n".into(),
        _ => "  order: 1000\n".into(),
    }
}

fn inventory(rng: &mut Rng, out: &mut String) {
    for ns in NAMESPACES {
        let mut labels = Vec::new();
        if rng.chance(70) {
            labels.push(format!("env: {}", rng.pick(&["a", "b"])));
        }
        if rng.chance(40) {
            labels.push("team: x".to_string());
        }
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{{}}}}}\n",
            labels.join(", ")
        );
        for sa in ["sa0", "sa1"] {
            if rng.chance(60) {
                let _ = write!(
                    out,
                    "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {sa}, namespace: {ns}, labels: {{role: {}}}}}\n",
                    rng.pick(&["r1", "r2"])
                );
            }
        }
    }
    let pods = 3 + rng.below(5);
    for i in 1..=pods {
        let ns = rng.pick(&NAMESPACES);
        let mut labels = vec![format!("app: {}", rng.pick(&APPS))];
        if rng.chance(50) {
            labels.push(format!("tier: {}", rng.pick(&["t1", "t2"])));
        }
        let mut ports = Vec::new();
        for (name, proto, port) in [
            ("http", "TCP", 80),
            ("dns", "UDP", 53),
            ("sql", "TCP", 5432),
            ("http", "TCP", 8080),
        ] {
            if rng.chance(30) && !ports.iter().any(|p: &String| p.contains(name)) {
                ports.push(format!(
                    "{{name: {name}, containerPort: {port}, protocol: {proto}}}"
                ));
            }
        }
        let ips = if rng.chance(40) {
            format!("podIP: 10.0.0.{i}, podIPs: [{{ip: 10.0.0.{i}}}, {{ip: 'fd00::{i:x}'}}]")
        } else {
            format!("podIP: 10.0.0.{i}")
        };
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: {ns}, labels: {{{}}}}}\nspec: {{nodeName: n1, serviceAccountName: {}, containers: [{{name: c, ports: [{}]}}]}}\nstatus: {{{ips}}}\n",
            labels.join(", "),
            rng.pick(&["sa0", "sa1", "default"]),
            ports.join(", ")
        );
    }
    if rng.chance(50) {
        let profiles = if rng.chance(50) {
            "[projectcalico-default-allow]"
        } else {
            "[]"
        };
        let _ = write!(
            out,
            "---\napiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata: {{name: h1, labels: {{role: ext, app: web}}}}\nspec: {{node: n1, interfaceName: eth0, expectedIPs: [172.16.0.1], profiles: {profiles}}}\n"
        );
    }
    if rng.chance(70) {
        let _ = write!(
            out,
            "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {{name: g1, labels: {{role: ext}}}}\nspec: {{nets: [192.0.2.0/24, '2001:db8::/32']}}\n"
        );
    }
    if rng.chance(50) {
        let ns = rng.pick(&NAMESPACES);
        let _ = write!(
            out,
            "---\napiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata: {{name: s1, namespace: {ns}, labels: {{app: db}}}}\nspec: {{nets: [198.51.100.0/24]}}\n"
        );
    }
}

fn tiers(rng: &mut Rng, out: &mut String) -> Vec<&'static str> {
    let mut names = vec!["default"];
    for (name, order) in [("t-a", "10"), ("t-b", "2000000")] {
        if rng.chance(60) {
            let order = if rng.chance(20) {
                String::new()
            } else {
                format!("order: {order}, ")
            };
            let action = if rng.chance(40) {
                "defaultAction: Pass"
            } else {
                "defaultAction: Deny"
            };
            let _ = write!(
                out,
                "---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {{name: {name}}}\nspec: {{{order}{action}}}\n"
            );
            names.push(name);
        }
    }
    if rng.chance(20) {
        names.push("kube-admin");
    }
    names
}

fn ports(rng: &mut Rng, protocol_has_ports: bool) -> String {
    let mut items = Vec::new();
    for _ in 0..1 + rng.below(3) {
        if protocol_has_ports && rng.chance(70) {
            items.push(
                rng.pick(&["80", "53", "'5000:6000'", "8080", "'1:1024'"])
                    .to_string(),
            );
        } else {
            items.push(rng.pick(&PORT_NAMES).to_string());
        }
    }
    format!("[{}]", items.join(", "))
}

fn entity(
    rng: &mut Rng,
    family: Option<u8>,
    ports_allowed: bool,
    protocol_has_ports: bool,
    global: bool,
) -> String {
    let mut fields = Vec::new();
    let v6 = family == Some(6);
    if rng.chance(20) {
        let net = if v6 {
            rng.pick(&NETS_V6)
        } else {
            rng.pick(&NETS_V4)
        };
        fields.push(format!("nets: ['{net}']"));
    }
    if rng.chance(10) {
        let net = if v6 {
            rng.pick(&NETS_V6[1..])
        } else {
            rng.pick(&NETS_V4[..4])
        };
        fields.push(format!("notNets: ['{net}']"));
    }
    if rng.chance(30) {
        fields.push(format!("selector: \"{}\"", rng.pick(&POD_SELECTORS)));
    }
    if rng.chance(10) {
        fields.push(format!("notSelector: \"{}\"", rng.pick(&POD_SELECTORS)));
    }
    if rng.chance(20) {
        let ns = if global {
            rng.pick(&NS_SELECTORS)
        } else {
            rng.pick(&NS_SELECTORS[..5])
        };
        fields.push(format!("namespaceSelector: \"{ns}\""));
    }
    if rng.chance(8) {
        fields.push(if rng.chance(50) {
            "serviceAccounts: {names: [sa0]}".to_string()
        } else {
            format!(
                "serviceAccounts: {{selector: \"{}\"}}",
                rng.pick(&SA_SELECTORS)
            )
        });
    }
    if ports_allowed && rng.chance(25) {
        fields.push(format!("ports: {}", ports(rng, protocol_has_ports)));
    }
    if ports_allowed && rng.chance(8) {
        fields.push(format!("notPorts: {}", ports(rng, protocol_has_ports)));
    }
    format!("{{{}}}", fields.join(", "))
}

fn calico_rule(rng: &mut Rng, global: bool) -> String {
    let action = rng.pick(&["Allow", "Allow", "Deny", "Pass", "Log"]);
    let family = match rng.below(6) {
        0 => Some(6),
        1 => Some(4),
        _ => None,
    };
    let protocol = *rng.pick(&[
        None,
        Some("TCP"),
        Some("UDP"),
        Some("ICMP"),
        Some("17"),
        Some("SCTP"),
    ]);
    let protocol = match (protocol, family) {
        (Some("ICMP"), Some(6)) => Some("ICMPv6"),
        (p, _) => p,
    };
    let has_ports = matches!(protocol, Some("TCP" | "UDP" | "17" | "SCTP"));
    let mut fields = vec![format!("action: {action}")];
    if let Some(v) = family
        && rng.chance(50)
    {
        fields.push(format!("ipVersion: {v}"));
    }
    if let Some(p) = protocol {
        fields.push(format!("protocol: {p}"));
        if matches!(p, "ICMP" | "ICMPv6") && rng.chance(60) {
            let t = rng.pick(&["8", "0", "3"]);
            let field = if rng.chance(70) { "icmp" } else { "notICMP" };
            if rng.chance(50) {
                fields.push(format!("{field}: {{type: {t}}}"));
            } else {
                fields.push(format!(
                    "{field}: {{type: {t}, code: {}}}",
                    rng.pick(&["0", "1"])
                ));
            }
        }
    } else if rng.chance(15) {
        let not = if family == Some(6) { "ICMPv6" } else { "ICMP" };
        fields.push(format!("notProtocol: {}", rng.pick(&["TCP", "UDP", not])));
    }
    // A rule with CIDRs is limited to their family; keep both sides in one family.
    let nets_family = family.or(if rng.chance(20) { Some(6) } else { Some(4) });
    let ports_allowed = protocol.is_none() || has_ports;
    let src = entity(rng, nets_family, ports_allowed, has_ports, global);
    let dst = entity(rng, nets_family, ports_allowed, has_ports, global);
    fields.push(format!("source: {src}"));
    fields.push(format!("destination: {dst}"));
    format!("  - {{{}}}\n", fields.join(", "))
}

fn calico_policy(rng: &mut Rng, out: &mut String, tiers: &[&str], i: usize, unique: bool) {
    let kinds = [
        "NetworkPolicy",
        "GlobalNetworkPolicy",
        "StagedNetworkPolicy",
        "StagedGlobalNetworkPolicy",
    ];
    let kind = rng.pick(&kinds);
    let global = kind.contains("Global");
    // Few names, so that some stores repeat one (invalid or overriding) — unless `unique`
    // (large stores, which should stay valid).
    let reuse = rng.below(4).min(i);
    let name = format!("pol{}", if unique { i } else { reuse });
    let meta = if global {
        format!("{{name: {name}}}")
    } else {
        format!("{{name: {name}, namespace: {}}}", rng.pick(&NAMESPACES))
    };
    let mut spec = String::new();
    let tier = rng.pick(tiers);
    let _ = writeln!(spec, "  tier: {tier}");
    spec.push_str(&opt_order(rng));
    if rng.chance(80) {
        let _ = writeln!(spec, "  selector: \"{}\"", rng.pick(&POD_SELECTORS));
    }
    if global && rng.chance(25) {
        let _ = writeln!(
            spec,
            "  namespaceSelector: \"{}\"",
            rng.pick(&NS_SELECTORS[..3])
        );
    }
    if rng.chance(10) {
        let _ = writeln!(
            spec,
            "  serviceAccountSelector: \"{}\"",
            rng.pick(&SA_SELECTORS)
        );
    }
    if kind.starts_with("Staged") && rng.chance(20) {
        spec.push_str("  stagedAction: Delete\n");
    }
    match rng.below(4) {
        0 => spec.push_str("  types: [Ingress]\n"),
        1 => spec.push_str("  types: [Egress]\n"),
        2 => spec.push_str("  types: [Ingress, Egress]\n"),
        _ => {}
    }
    for dir in ["ingress", "egress"] {
        let n = rng.below(4);
        if n > 0 {
            let _ = writeln!(spec, "  {dir}:");
            for _ in 0..n {
                spec.push_str(&calico_rule(rng, global));
            }
        }
    }
    let _ = write!(
        out,
        "---\napiVersion: projectcalico.org/v3\nkind: {kind}\nmetadata: {meta}\nspec:\n{spec}"
    );
}

fn label_selector(rng: &mut Rng, pod: bool) -> String {
    if rng.chance(25) {
        return "{}".into();
    }
    if pod {
        match rng.below(3) {
            0 => format!("{{matchLabels: {{app: {}}}}}", rng.pick(&APPS)),
            1 => "{matchExpressions: [{key: tier, operator: Exists}]}".into(),
            _ => "{matchExpressions: [{key: app, operator: NotIn, values: [db]}]}".into(),
        }
    } else {
        match rng.below(2) {
            0 => format!("{{matchLabels: {{env: {}}}}}", rng.pick(&["a", "b"])),
            _ => "{matchExpressions: [{key: team, operator: DoesNotExist}]}".into(),
        }
    }
}

fn k8s_policy(rng: &mut Rng, out: &mut String, i: usize, unique: bool) {
    let kind = if rng.chance(75) {
        ("networking.k8s.io/v1", "NetworkPolicy")
    } else {
        ("projectcalico.org/v3", "StagedKubernetesNetworkPolicy")
    };
    let mut spec = format!("  podSelector: {}\n", label_selector(rng, true));
    match rng.below(4) {
        0 => spec.push_str("  policyTypes: [Ingress]\n"),
        1 => spec.push_str("  policyTypes: [Egress]\n"),
        2 => spec.push_str("  policyTypes: [Ingress, Egress]\n"),
        _ => {}
    }
    for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
        if rng.chance(30) {
            continue;
        }
        let n = rng.below(3);
        let _ = writeln!(spec, "  {dir}:{}", if n == 0 { " []" } else { "" });
        for _ in 0..n {
            let mut rule = Vec::new();
            if rng.chance(70) {
                let mut list = Vec::new();
                for _ in 0..1 + rng.below(2) {
                    list.push(match rng.below(4) {
                        0 => format!("{{podSelector: {}}}", label_selector(rng, true)),
                        1 => format!("{{namespaceSelector: {}}}", label_selector(rng, false)),
                        2 => format!(
                            "{{namespaceSelector: {}, podSelector: {}}}",
                            label_selector(rng, false),
                            label_selector(rng, true)
                        ),
                        _ => "{ipBlock: {cidr: 10.0.0.0/24, except: [10.0.0.0/30]}}".into(),
                    });
                }
                rule.push(format!("{peers}: [{}]", list.join(", ")));
            }
            if rng.chance(60) {
                let mut list = Vec::new();
                for _ in 0..1 + rng.below(2) {
                    list.push(match rng.below(5) {
                        0 => "{port: 80}".to_string(),
                        1 => "{protocol: UDP, port: 53}".into(),
                        2 => format!("{{port: {}}}", rng.pick(&PORT_NAMES)),
                        3 => "{port: 5000, endPort: 6000}".into(),
                        _ => "{protocol: SCTP}".into(),
                    });
                }
                rule.push(format!("ports: [{}]", list.join(", ")));
            }
            let _ = writeln!(spec, "  - {{{}}}", rule.join(", "));
        }
    }
    let _ = write!(
        out,
        "---\napiVersion: {}\nkind: {}\nmetadata: {{name: k{}, namespace: {}}}\nspec:\n{spec}",
        kind.0,
        kind.1,
        {
            let reuse = rng.below(3).min(i);
            if unique { i } else { reuse }
        },
        rng.pick(&NAMESPACES)
    );
}

/// A whole random store as YAML.
pub fn store_yaml(seed: u64) -> String {
    store_yaml_with(seed, 6)
}

/// A random store with 1 to `max_policies` policies; beyond 6, policy names are unique.
pub fn store_yaml_with(seed: u64, max_policies: usize) -> String {
    let unique = max_policies > 6;
    let mut rng = Rng::new(seed);
    let mut out = String::new();
    inventory(&mut rng, &mut out);
    let tiers = tiers(&mut rng, &mut out);
    for i in 0..1 + rng.below(max_policies) {
        if rng.chance(60) {
            calico_policy(&mut rng, &mut out, &tiers, i, unique);
        } else {
            k8s_policy(&mut rng, &mut out, i, unique);
        }
    }
    out
}

/// A random flow as a JSON line for `palisade eval`.
pub fn flow_json(rng: &mut Rng) -> String {
    let v6 = rng.chance(20);
    let (src, dst) = if v6 {
        (rng.pick(&FLOW_V6), rng.pick(&FLOW_V6))
    } else {
        (rng.pick(&FLOW_V4), rng.pick(&FLOW_V4))
    };
    let port = rng.pick(&[80u16, 53, 5432, 8080, 5500, 22, 1000, 6000]);
    match rng.below(6) {
        0 | 1 => format!(
            r#"{{"src": "{src}", "dst": "{dst}", "protocol": "TCP", "src_port": 1000, "dst_port": {port}}}"#
        ),
        2 => format!(
            r#"{{"src": "{src}", "dst": "{dst}", "protocol": "UDP", "src_port": 53, "dst_port": {port}}}"#
        ),
        3 => {
            format!(r#"{{"src": "{src}", "dst": "{dst}", "protocol": "SCTP", "dst_port": {port}}}"#)
        }
        4 => {
            let proto = if v6 { "ICMPv6" } else { "ICMP" };
            match rng.below(3) {
                0 => format!(r#"{{"src": "{src}", "dst": "{dst}", "protocol": "{proto}"}}"#),
                1 => format!(
                    r#"{{"src": "{src}", "dst": "{dst}", "protocol": "{proto}", "icmp_type": {}}}"#,
                    rng.pick(&[8, 0, 3])
                ),
                _ => format!(
                    r#"{{"src": "{src}", "dst": "{dst}", "protocol": "{proto}", "icmp_type": {}, "icmp_code": {}}}"#,
                    rng.pick(&[8, 0, 3]),
                    rng.below(2)
                ),
            }
        }
        _ => format!(r#"{{"src": "{src}", "dst": "{dst}", "protocol": 47}}"#),
    }
}
