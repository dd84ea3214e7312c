#!/usr/bin/env bash
# Palisade's main job on a fresh Debian machine: installs what the build needs, builds the
# `palisade` binary and runs `palisade demo` on the example store embedded in it: a verdict table
# naming the deciding tier, policy and rule for both sides of every flow, checked against the
# expected verdicts and against the reference evaluator, and the matcher's cost per decision.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release --locked -p palisade-control --bin palisade
exec target/release/palisade demo
