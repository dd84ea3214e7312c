#!/usr/bin/env bash
# Where frames are lost on the way pod a -> forwarder -> pod b. Root only; diagnostic, not a
# contract benchmark.
#
#   bench/hops.sh [palisade|xsk-bare] [one-flow|new-flows]   # env: DURATION=3 EXTRA_CFG="..."
#                                                            #      PERF=1 (profile CPU 1)
#
# Builds the two-pod topology of bench/scripts/topology.sh, starts the forwarder on CPU 1
# (palisade with an allow-only store and EXTRA_CFG appended to its config, or xsk_bare), floods
# with trafgen from pod a on CPU 0, and prints every hop's counters before and after
# DURATION seconds: pod a's eth0 TX, the host veths (`ethtool -S`: rx_queue_0_drops counts
# frames the XDP program redirected to an AF_XDP socket that had no room, i.e. RX ring full or
# fill ring empty), pod b's eth0 RX, the per-CPU softnet drops, then the forwarder's own final
# counters. Release binaries come from $CARGO_TARGET_DIR (default target/), built by
# bench/e2e.sh or `cargo build --release`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/scripts/topology.sh
. "$root/bench/scripts/topology.sh"
[ "$(id -u)" -eq 0 ] || { echo "hops.sh: needs root" >&2; exit 2; }
bin=${CARGO_TARGET_DIR:-$root/target}/release
cfg=${1:-palisade}
traffic=${2:-one-flow}
DURATION=${DURATION:-3}
tmp=$(mktemp -d /tmp/palisade-hops.XXXXXX)
fwd_pid=""
bg_pids=()
bench_traps
NODE_NAME=bench-node
bash "$root/bench/scripts/gen-store.sh" "$tmp/store" "$NODE_NAME" 0 10 >/dev/null
printf 'cpus: [1]\nfailure_mode: open\nstats_interval_s: 0\n%b\n' "${EXTRA_CFG:-}" >"$tmp/palisade.yaml"
topo_up "$$"
trafgen_conf "$tmp/traffic.cfg" "$traffic"
case $cfg in
xsk-bare) start_xsk_bare "$bin/examples/xsk_bare" 1 ;;
palisade) start_palisade "$bin/palisade" "$tmp/store" "$tmp/palisade.yaml" "$NODE_NAME" ;;
*)
    echo "hops.sh: unknown forwarder $cfg" >&2
    exit 2
    ;;
esac
wait_for_line "$tmp/fwd.log" ready "$fwd_pid" 60 || {
    cat "$tmp/fwd.log" >&2
    exit 1
}
pods_greet

hops() {
    local ns dev
    echo "== $1"
    for hop in "$PA eth0" "$NODE ha" "$NODE hb" "$PB eth0"; do
        read -r ns dev <<<"$hop"
        printf '%s/%s rx=%s rx_dropped=%s tx=%s tx_dropped=%s\n' "$ns" "$dev" \
            "$(link_counter "$ns" "$dev" rx_packets)" "$(link_counter "$ns" "$dev" rx_dropped)" \
            "$(link_counter "$ns" "$dev" tx_packets)" "$(link_counter "$ns" "$dev" tx_dropped)"
    done
    for dev in ha hb; do
        printf '%s ethtool: %s\n' "$dev" "$(in_ns "$NODE" ethtool -S "$dev" | grep -v ': 0$' | grep -v 'statistics' | tr -s ' \n' ' ')"
    done
    awk '{ printf "softnet cpu%d: dropped=0x%s time_squeeze=0x%s\n", NR - 1, $2, $3 }' /proc/net/softnet_stat
}

start_trafgen "$tmp/traffic.cfg" 0
bg_pids+=("$trafgen_pid")
sleep 1
hops before
if [ "${PERF:-0}" = 1 ]; then
    perf record -q -g -C 1 -o "$tmp/perf.data" -- sleep "$DURATION" 2>/dev/null
else
    sleep "$DURATION"
fi
hops after
stop_group "${bg_pids[-1]}"
stop_pid "$fwd_pid"
fwd_pid=""
grep -h "final counters\|drops" "$tmp/fwd.log" | tail -2 || true
tail -3 "$tmp/fwd.out"
if [ "${PERF:-0}" = 1 ]; then
    echo "== CPU 1 (the forwarder's) during the flood, by symbol (perf, self time, the worker thread only)"
    perf report -q -i "$tmp/perf.data" --no-children -g none --comm palisade-worker --sort dso,sym 2>/dev/null |
        grep -v '^$' | grep -v '^ *|' | grep -v '^ *-' | head -"${PERF_LINES:-45}"
fi
