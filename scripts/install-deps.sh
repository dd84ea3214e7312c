#!/usr/bin/env bash
# Installs the Debian packages that Palisade's build and privileged tests need.
# Idempotent and fast when everything is present: `dpkg -s` is checked before any
# `apt-get update`, so a machine that already has the packages touches no network.
#
#   build (xsk-rs compiles libxdp/libbpf from source; bpf-redirect runs clang -target bpf):
#     gcc libc6-dev make pkg-config libelf-dev zlib1g-dev clang llvm m4 libpcap-dev ca-certificates
#   privileged tests (network namespaces, veths, offload settings, traffic):
#     iproute2 ethtool netsniff-ng iputils-ping
#   end-to-end benchmark (bench/e2e.sh: kernel forwarding with Calico-style rules) and
#   policy-change latency as traffic sees it (bench/reload.sh):
#     iptables ipset nftables conntrack tcpdump
#
# Usage: scripts/install-deps.sh   (as root, or with sudo available)
set -euo pipefail

packages=(
    gcc libc6-dev make pkg-config libelf-dev zlib1g-dev clang llvm m4 libpcap-dev ca-certificates
    iproute2 ethtool netsniff-ng iputils-ping
    iptables ipset nftables conntrack tcpdump
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg -s "$p" >/dev/null 2>&1; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
