#!/usr/bin/env bash
# Writes the benchmark policy store used by bench/e2e.sh and bench/reload.sh.
#
#   bench/scripts/gen-store.sh DIR NODE POLICIES RULES_PER_POLICY [VARIANT [ALLOW_A]]
#
# DIR/inventory.yaml: namespaces x and y; pod a (x, 10.81.0.1, host interface ha) and pod b
# (y, 10.81.0.2, host interface hb), both on node NODE.
# DIR/policy.yaml (only when POLICIES > 0): POLICIES Kubernetes NetworkPolicies in namespace y
# named rules-00000.., each selecting pod b with RULES_PER_POLICY ingress rules
#     from: [{ipBlock: {cidr: 10.V.H.L/32}}]  ports: [{protocol: UDP, port: 9000, endPort: 9999}]
# where the /32s are distinct and never match the traffic (V = 200 + VARIANT, rule k has
# H = k / 250, L = k % 250 + 1), plus the policy zz-allow-a (sorted last) allowing pod a
# (namespaceSelector x + podSelector a) to UDP 9000-9999 and TCP 9001. So every packet from a
# to b is decided against all POLICIES * RULES_PER_POLICY non-matching rules and one match.
# VARIANT (default 0) shifts every CIDR: two variants are different stores with the same shape.
# ALLOW_A=0 (default 1) leaves zz-allow-a out: pod b stays isolated by the rules-* policies, so
# everything from pod a to pod b is denied (bench/reload.sh flips the probe's verdict with it).
# At most 64,000 rules in all (the /32s live in 10.V.0.1 - 10.V.255.250).
# With SPLIT=1 in the environment, every policy is a file of its own instead
# (DIR/policies/rules-NNNNN.yaml, DIR/policies/zz-allow-a.yaml), as a watched store would
# hold them: then two stores that differ in one policy differ in one file.
set -euo pipefail

if [ "$#" -lt 4 ]; then
    echo "usage: $0 DIR NODE POLICIES RULES_PER_POLICY [VARIANT [ALLOW_A]]" >&2
    exit 2
fi
dir=$1 node=$2 policies=$3 per=$4 variant=${5:-0} allow_a=${6:-1}
if [ $((policies * per)) -gt 64000 ]; then
    echo "$0: $policies x $per rules: at most 64,000 distinct /32s fit" >&2
    exit 2
fi
mkdir -p "$dir"
rm -rf "$dir/policy.yaml" "$dir/policies"

cat >"$dir/inventory.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {kubernetes.io/metadata.name: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {kubernetes.io/metadata.name: y}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}, annotations: {palisade.io/interface: ha}}
spec: {nodeName: $node, containers: [{name: c, image: i}]}
status: {podIP: 10.81.0.1, phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: y, labels: {pod: b}, annotations: {palisade.io/interface: hb}}
spec: {nodeName: $node, containers: [{name: c, image: i}]}
status: {podIP: 10.81.0.2, phase: Running}
EOF

if [ "$policies" -eq 0 ]; then
    exit 0
fi

split=${SPLIT:-0}
[ "$split" = 1 ] && mkdir -p "$dir/policies"
# out(name): the file policy `name` goes to (and closes the previous one when split).
awk -v policies="$policies" -v per="$per" -v octet=$((200 + variant)) -v allow_a="$allow_a" \
    -v one_per_file="$split" -v dir="$dir" '
function out(name) {
    if (one_per_file != 1) return dir "/policy.yaml"
    if (current != "") close(current)
    current = dir "/policies/" name ".yaml"
    return current
}
BEGIN {
    k = 0
    for (p = 0; p < policies; p++) {
        f = out(sprintf("rules-%05d", p))
        printf "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" >f
        printf "metadata: {name: rules-%05d, namespace: y}\n", p >f
        printf "spec:\n  podSelector: {matchLabels: {pod: b}}\n  policyTypes: [Ingress]\n  ingress:\n" >f
        for (r = 0; r < per; r++) {
            printf "  - from: [{ipBlock: {cidr: 10.%d.%d.%d/32}}]\n", octet, int(k / 250), k % 250 + 1 >f
            printf "    ports: [{protocol: UDP, port: 9000, endPort: 9999}]\n" >f
            k++
        }
    }
    if (allow_a == 0) exit
    f = out("zz-allow-a")
    printf "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" >f
    printf "metadata: {name: zz-allow-a, namespace: y}\n" >f
    printf "spec:\n  podSelector: {matchLabels: {pod: b}}\n  policyTypes: [Ingress]\n  ingress:\n" >f
    printf "  - from:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}\n" >f
    printf "      podSelector: {matchLabels: {pod: a}}\n" >f
    printf "    ports: [{protocol: UDP, port: 9000, endPort: 9999}, {protocol: TCP, port: 9001}]\n" >f
}'
