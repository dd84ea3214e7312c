//! A Kubernetes-shaped policy store generator for the matcher benchmarks: N namespaces, M pods
//! with app/version/role labels and named ports, and P policies — mostly Kubernetes
//! NetworkPolicies (pod selectors, namespace selectors, ipBlocks, port lists) plus Calico
//! policies in tiers (Pass, Deny, Log, network sets) — rendered as YAML.
//!
//! Contract: deterministic for given sizes and seed; every store it produces loads.

use std::fmt::Write;

/// Sizes of a generated store.
#[derive(Debug, Clone, Copy)]
pub struct K8sShape {
    pub namespaces: usize,
    pub pods: usize,
    pub policies: usize,
    pub seed: u64,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const APPS_PER_NAMESPACE: usize = 20;

/// The address of pod `i` (10.0.0.0/8, skipping .0).
pub fn pod_ip(i: usize) -> String {
    let n = i + 1;
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// The whole store as one multi-document YAML text.
pub fn k8s_store_yaml(shape: K8sShape) -> String {
    let mut rng = Rng(shape.seed | 1);
    let mut out = String::with_capacity(shape.pods * 300 + shape.policies * 600);
    out.push_str("apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: security}\nspec: {order: 100}\n");
    out.push_str("---\napiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: platform}\nspec: {order: 200, defaultAction: Pass}\n");
    out.push_str("---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {name: partners, labels: {role: partner}}\nspec: {nets: [198.51.100.0/24, 203.0.113.0/25]}\n");
    for n in 0..shape.namespaces {
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: ns{n}, labels: {{team: t{}, env: {}}}}}\n",
            n % 10,
            if n % 3 == 0 { "dev" } else { "prod" }
        );
    }
    for i in 0..shape.pods {
        let ns = i % shape.namespaces.max(1);
        let app = (i / shape.namespaces.max(1)) % APPS_PER_NAMESPACE;
        let _ = write!(
            out,
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: ns{ns}, labels: {{app: a{app}, version: v{}, role: {}}}}}\nspec: {{nodeName: n1, containers: [{{name: c, ports: [{{name: http, containerPort: {}}}]}}]}}\nstatus: {{podIP: {}}}\n",
            i % 3,
            if i % 4 == 0 { "frontend" } else { "backend" },
            [80, 8080, 9000][i % 3],
            pod_ip(i)
        );
    }
    for p in 0..shape.policies {
        let ns = rng.below(shape.namespaces);
        let app = rng.below(APPS_PER_NAMESPACE);
        let peer = rng.below(APPS_PER_NAMESPACE);
        match p % 10 {
            0..=6 => {
                let ports = match rng.below(3) {
                    0 => "[{port: 80}]".to_string(),
                    1 => "[{port: 8080}, {protocol: UDP, port: 53}]".to_string(),
                    _ => "[{port: http}, {port: 9000, endPort: 9100}]".to_string(),
                };
                let from = match rng.below(4) {
                    0 => format!("[{{podSelector: {{matchLabels: {{app: a{peer}}}}}}}]"),
                    1 => format!(
                        "[{{namespaceSelector: {{matchLabels: {{team: t{}}}}}, podSelector: {{matchLabels: {{role: frontend}}}}}}]",
                        rng.below(10)
                    ),
                    2 => format!(
                        "[{{ipBlock: {{cidr: 172.{}.0.0/16, except: [172.{}.1.0/24]}}}}]",
                        16 + p % 16,
                        16 + p % 16
                    ),
                    _ => format!(
                        "[{{podSelector: {{matchExpressions: [{{key: app, operator: In, values: [a{peer}, a{app}]}}]}}}}]"
                    ),
                };
                let egress = if rng.below(4) == 0 {
                    format!(
                        "\n  egress:\n  - to: [{{podSelector: {{matchLabels: {{app: a{peer}}}}}}}]\n    ports: [{{port: 5432}}]"
                    )
                } else {
                    String::new()
                };
                let _ = write!(
                    out,
                    "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: knp{p}, namespace: ns{ns}}}\nspec:\n  podSelector: {{matchLabels: {{app: a{app}}}}}\n  ingress:\n  - from: {from}\n    ports: {ports}{egress}\n"
                );
            }
            7 | 8 => {
                let _ = write!(
                    out,
                    "---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {{name: platform.np{p}, namespace: ns{ns}}}\nspec:\n  tier: platform\n  order: {}\n  selector: app == 'a{app}'\n  ingress:\n  - action: Log\n    protocol: TCP\n    source: {{selector: role == 'frontend'}}\n  - action: Allow\n    protocol: TCP\n    source: {{selector: app == 'a{peer}'}}\n    destination: {{ports: [8080, '9000:9100']}}\n  - action: Deny\n    protocol: UDP\n",
                    rng.below(1000)
                );
            }
            _ => {
                let _ = write!(
                    out,
                    "---\napiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: {{name: security.gnp{p}}}\nspec:\n  tier: security\n  order: {}\n  selector: app == 'a{app}' && version == 'v{}'\n  namespaceSelector: team == 't{}'\n  ingress:\n  - action: Deny\n    source: {{nets: [192.0.2.0/24]}}\n  - action: Allow\n    source: {{selector: role == 'partner'}}\n  - action: Pass\n",
                    rng.below(100),
                    rng.below(3),
                    rng.below(10)
                );
            }
        }
    }
    out
}

/// `count` flows between pods (and some from outside), as (src, dst, protocol, dst port).
pub fn k8s_flows(shape: K8sShape, count: usize) -> Vec<(String, String, u8, u16)> {
    let mut rng = Rng(shape.seed.wrapping_add(77) | 1);
    (0..count)
        .map(|_| {
            let src = match rng.below(10) {
                0 => format!("198.51.100.{}", rng.below(250) + 1),
                1 => format!(
                    "172.{}.{}.{}",
                    16 + rng.below(16),
                    rng.below(4),
                    rng.below(250) + 1
                ),
                _ => pod_ip(rng.below(shape.pods)),
            };
            let dst = pod_ip(rng.below(shape.pods));
            let (proto, port) = match rng.below(6) {
                0 => (17, 53),
                1 => (6, 80),
                2 => (6, 8080),
                3 => (6, 9050),
                4 => (6, 5432),
                _ => (6, 443),
            };
            (src, dst, proto, port)
        })
        .collect()
}
