#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs the packages the build and the
# privileged end-to-end tests need, then runs every test of the workspace. Privileged tests
# (network namespaces, XDP, AF_XDP) run when root; they skip loudly only when the kernel lacks
# the feature.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo test --locked --workspace
