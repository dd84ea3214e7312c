#!/usr/bin/env bash
# Palisade's main job on a fresh Debian machine: installs what the build needs, builds the
# `palisade` binary and evaluates the bundled example store, printing a verdict table that names
# the deciding tier, policy and rule for every flow.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release --locked -p palisade-control --bin palisade
exec target/release/palisade eval \
    --store config/examples/shop/store \
    --flows config/examples/shop/flows.jsonl \
    --format table --check
