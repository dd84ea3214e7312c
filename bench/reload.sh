#!/usr/bin/env bash
# Policy-change latency benchmark (DESIGN.md "Contract: benchmark entry points"). Root only.
#
#   bench/reload.sh         # env: STORES="100 1000 10000" RULES_PER_POLICY=5 SWAPS=20
#                           #      OBSERVE=1 PROBE_GAP_US=200 SETTLE_MS=150 FWD_CPU=1 GEN_CPU=0
#                           #      CHANGE=whole-store|one-policy
#
# For every store size P in STORES, two stores of bench/scripts/gen-store.sh with P
# NetworkPolicies of RULES_PER_POLICY ipBlock rules each, all selecting pod b (so the whole
# store compiles into the program of one local pod, the worst case for a node):
#   A = VARIANT 0 plus zz-allow-a   (pod a -> pod b UDP 9000-9999 allowed)
#   B = VARIANT 1 without it        (every CIDR different, pod a -> pod b denied)
# `palisade run` (release, workers on FWD_CPU) starts on A; then SWAPS times: the live store
# directory gets the other store's files, SIGHUP, and the script waits for palisade's
# `reloaded:` (or `reload failed`) line, plus SETTLE_MS, before the next swap. So every swap
# really changes the snapshot and flips pod a's verdict.
# CHANGE=one-policy (default whole-store) measures the common case instead: every policy is a
# file of its own (gen-store.sh SPLIT=1), A = VARIANT 0 plus zz-allow-a and B = VARIANT 0
# without it, so a swap adds or removes one file of P + 2 (palisade parses only that file; it
# still compiles the whole store). The store is named "ipblock-PxR-one-policy" then.
#
# Measured per swap:
#   reload_ms    palisade's own "in X ms" of the `reloaded:` line: from reading the SIGHUP off
#                its signalfd to the new snapshot stored (load + compile + swap, also logged).
#   observed_ms  (OBSERVE=1) what traffic sees: pod a sends one UDP flow (trafgen, one frame
#                every PROBE_GAP_US on GEN_CPU) to pod b, captured on pod b's eth0 (tcpdump,
#                kernel timestamps). For a swap to A (denied -> allowed): from the SIGHUP (bash
#                $EPOCHREALTIME right before kill) to the first frame arriving after it, an
#                upper bound (+ one PROBE_GAP_US, + any stall of the sender). The flow stays in
#                conntrack, so this includes the revalidation of a tracked flow (palisade's
#                default `revalidation: revalidate`). For a swap to B (allowed -> denied) the
#                last frame that still arrived is only a lower bound (a stalled sender looks
#                like an early denial): it is shown on stderr, not in the JSON line.
#
# Output (stdout), one line per store size:
#   {"store", "policies", "p50_ms", "p99_ms", "swaps", "rules", "failed", "load_p50_ms",
#    "compile_p50_ms", "swap_p50_ms", "observed_p50_ms", "observed_p99_ms", "observed_swaps",
#    "observed_extra_p50_ms"}
# p50/p99 are nearest-rank percentiles over the swaps (with 20 swaps p99 is the maximum);
# "swaps" counts successful reloads, "failed" reload errors; "observed_swaps" the swaps whose
# allowing flip was seen, "observed_extra_p50_ms" the median of observed - reload_ms over those
# (observed_* are null with OBSERVE=0 or without tcpdump). Progress and the
# per-swap lines go to stderr. The namespaces (pb-node-PID, pb-a-PID, pb-b-PID) are removed on
# exit, error or interrupt.
set -euo pipefail
export LC_ALL=C

STORES=${STORES:-100 1000 10000}
RULES_PER_POLICY=${RULES_PER_POLICY:-5}
SWAPS=${SWAPS:-20}
OBSERVE=${OBSERVE:-1}
PROBE_GAP_US=${PROBE_GAP_US:-200}
SETTLE_MS=${SETTLE_MS:-150}
RELOAD_TIMEOUT=${RELOAD_TIMEOUT:-60}
FWD_CPU=${FWD_CPU:-1}
GEN_CPU=${GEN_CPU:-0}
CHANGE=${CHANGE:-whole-store}
case $CHANGE in
whole-store) split=0 variant_b=1 suffix="" ;;
one-policy) split=1 variant_b=0 suffix="-one-policy" ;;
*)
    echo "reload.sh: CHANGE is whole-store or one-policy, not $CHANGE" >&2
    exit 2
    ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/scripts/topology.sh
. "$root/bench/scripts/topology.sh"

log() { echo "reload: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    echo "reload.sh: needs root (network namespaces, XDP, AF_XDP)" >&2
    exit 2
fi

bash "$root/scripts/install-deps.sh" >&2
if [ "$OBSERVE" = 1 ] && ! command -v tcpdump >/dev/null; then
    log "tcpdump not installed: skipping the observed latency (apt-get install tcpdump)"
    OBSERVE=0
fi
target=${CARGO_TARGET_DIR:-$root/target}
(
    cd "$root"
    cargo build --release --locked -p palisade-control --bin palisade
) >&2
PALISADE=$target/release/palisade

tmp=$(mktemp -d /tmp/palisade-reload.XXXXXX)
fwd_pid=""
bg_pids=()
bench_traps

NODE_NAME=bench-node
cat >"$tmp/palisade.yaml" <<EOF
cpus: [$FWD_CPU]
failure_mode: open
stats_interval_s: 0
EOF

topo_up "$$"
log "namespaces $NODE $PA $PB; load: $(cut -d' ' -f1-3 /proc/loadavg)"
trafgen_conf "$tmp/probe.cfg" slow

# reload_count: reload lines (successful or failed) in palisade's log so far.
reload_count() {
    grep -c -e 'reloaded: generation' -e 'reload failed' "$tmp/run.log" 2>/dev/null || true
}

# wait_reloads N: waits until the log has N reload lines; fails when palisade exits or
# RELOAD_TIMEOUT seconds pass.
wait_reloads() {
    local want=$1 waited=0
    while [ "$(reload_count)" -lt "$want" ]; do
        kill -0 "$fwd_pid" 2>/dev/null || return 1
        [ "$waited" -ge $((RELOAD_TIMEOUT * 50)) ] && return 1
        sleep 0.02
        waited=$((waited + 1))
    done
}

# percentiles: "p50 p99" (nearest rank) of the numbers on stdin, "null null" when none.
percentiles() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "null null"; exit }
        i50 = int(0.5 * NR); if (i50 < 0.5 * NR) i50++
        i99 = int(0.99 * NR); if (i99 < 0.99 * NR) i99++
        printf "%.3f %.3f\n", v[i50], v[i99]
    }'
}

# observed HUPS PCAP: per swap "observed_ms" (or "missed") from the SIGHUP times and targets
# in HUPS ("epoch_seconds A|B" lines) and the probe frames captured in PCAP.
observed() {
    tcpdump -r "$2" -n -tt --time-stamp-precision=nano 2>/dev/null | awk '{ print $1 }' |
        awk -v hups="$1" -v gap_ms="$(awk -v g="$PROBE_GAP_US" 'BEGIN { print g / 1000 }')" '
        BEGIN {
            n = 0
            while ((getline line < hups) > 0) { split(line, f, " "); n++; t[n] = f[1]; to[n] = f[2] }
        }
        { p[++m] = $1 }
        END {
            j = 1
            for (i = 1; i <= n; i++) {
                end = i < n ? t[i + 1] : p[m] + 1
                while (j <= m && p[j] <= t[i]) j++
                first = 0; last = 0; cnt = 0
                for (k = j; k <= m && p[k] < end; k++) { if (!cnt) first = p[k]; last = p[k]; cnt++ }
                if (to[i] == "A") {
                    # allowed again: the first frame after the SIGHUP.
                    if (cnt) printf "%.3f\n", (first - t[i]) * 1000; else print "missed"
                } else if (!cnt) {
                    # denied before the next probe frame arrived.
                    print ">=0"
                } else if ((end - last) * 1000 > 10 * gap_ms + 20) {
                    # denied: the last frame that still passed, then silence until the next swap.
                    printf ">=%.3f\n", (last - t[i]) * 1000
                } else print "missed"
            }
        }'
}

# run_store P: the swaps for P policies; prints the contract line.
run_store() {
    local policies=$1
    local rules=$((policies * RULES_PER_POLICY)) i want next hup0 live=$tmp/live
    local probe_pid="" cap_pid=""
    SPLIT=$split bash "$root/bench/scripts/gen-store.sh" "$tmp/A" "$NODE_NAME" "$policies" "$RULES_PER_POLICY" 0 1
    SPLIT=$split bash "$root/bench/scripts/gen-store.sh" "$tmp/B" "$NODE_NAME" "$policies" "$RULES_PER_POLICY" "$variant_b" 0
    rm -rf "$live"
    mkdir -p "$live"
    cp -r "$tmp/A/." "$live/"
    : >"$tmp/hups"
    : >"$tmp/swaps"
    ip netns exec "$NODE" "$PALISADE" run --store "$live" --node "$NODE_NAME" \
        --config "$tmp/palisade.yaml" >"$tmp/run.out" 2>"$tmp/run.log" &
    fwd_pid=$!
    if ! wait_for_line "$tmp/run.log" ready "$fwd_pid" 300; then
        log "$policies policies: palisade did not get ready: $(tail -5 "$tmp/run.log")"
        stop_pid "$fwd_pid"
        fwd_pid=""
        return 1
    fi
    log "$policies policies x $RULES_PER_POLICY rules: $(grep -m1 ready "$tmp/run.log" | sed 's/.*ready/ready/')"
    # Both pods talk once, so palisade knows both MACs (the policy denies ICMP: only ARP counts).
    in_ns "$PB" ping -c 1 -W 1 -q "$POD_A_IP" >/dev/null 2>&1 || true
    in_ns "$PA" ping -c 1 -W 1 -q "$POD_B_IP" >/dev/null 2>&1 || true

    local observe=$OBSERVE
    if [ "$observe" = 1 ]; then
        ip netns exec "$PB" tcpdump -i eth0 -n -U -s 64 --time-stamp-precision=nano \
            -w "$tmp/probe.pcap" "udp and src host $POD_A_IP and dst host $POD_B_IP" \
            >/dev/null 2>"$tmp/tcpdump.log" &
        cap_pid=$!
        bg_pids+=("$cap_pid")
        wait_for_line "$tmp/tcpdump.log" listening "$cap_pid" 10 || log "tcpdump: $(cat "$tmp/tcpdump.log")"
        setsid ip netns exec "$PA" taskset -c "$GEN_CPU" trafgen -o eth0 -c "$tmp/probe.cfg" -P 1 \
            --no-sock-mem -Q -C -t "${PROBE_GAP_US}us" >/dev/null 2>&1 &
        probe_pid=$!
        bg_pids+=("$probe_pid")
        local rx0 rx1
        rx0=$(link_counter "$PB" eth0 rx_packets)
        sleep 0.3
        rx1=$(link_counter "$PB" eth0 rx_packets)
        if [ $((rx1 - rx0)) -lt 10 ]; then
            log "$policies policies: the probe does not reach pod b while allowed ($((rx1 - rx0)) frames in 0.3 s): no observed latency"
            observe=0
        fi
    fi

    next=B
    for ((i = 1; i <= SWAPS; i++)); do
        want=$(($(reload_count) + 1))
        rm -rf "${live:?}"/*
        cp -r "$tmp/$next/." "$live/"
        hup0=$EPOCHREALTIME
        kill -HUP "$fwd_pid"
        echo "$hup0 $next" >>"$tmp/hups"
        if ! wait_reloads "$want"; then
            log "$policies policies: no reload line within ${RELOAD_TIMEOUT}s after swap $i: $(tail -3 "$tmp/run.log")"
            break
        fi
        sleep "$(awk -v s="$SETTLE_MS" 'BEGIN { print s / 1000 }')"
        if [ "$next" = B ]; then next=A; else next=B; fi
    done

    if [ -n "$probe_pid" ]; then
        stop_group "$probe_pid"
        stop_pid "$cap_pid"
        bg_pids=()
    fi
    stop_pid "$fwd_pid"
    fwd_pid=""

    # Per swap: "reload_ms load_ms compile_ms swap_ms" (or "failed").
    sed 's/\x1b\[[0-9;]*m//g' "$tmp/run.log" | sed -n \
        -e 's/.*reloaded: generation [0-9]*, [0-9]* policies, .* in \([0-9.]*\) ms (load \([0-9.]*\) ms, compile \([0-9.]*\) ms, swap \([0-9.]*\) ms).*/\1 \2 \3 \4/p' \
        -e 's/.*reload failed.*/failed/p' >"$tmp/swaps"
    if [ "$observe" = 1 ]; then
        observed "$tmp/hups" "$tmp/probe.pcap" >"$tmp/observed"
    else
        : >"$tmp/observed"
    fi
    awk '{ print $2 }' "$tmp/hups" | paste -d' ' - "$tmp/swaps" "$tmp/observed" | awk -v p="$policies" '{
        if ($2 == "failed") { printf "reload:   %s policies swap %d to %s: failed, observed %s\n", p, NR, $1, $3; next }
        printf "reload:   %s policies swap %d to %s: %s ms (load %s, compile %s, swap %s), observed %s\n",
            p, NR, $1, $2, $3, $4, $5, $6 == "" ? "-" : $6
    }' >&2
    grep -h 'reload failed' "$tmp/run.log" | head -3 | sed 's/^/reload:   /' >&2 || true

    local ok failed p50 p99 l50 c50 s50 o50 o99 e50 seen
    ok=$(grep -vc failed "$tmp/swaps" || true)
    failed=$(grep -c failed "$tmp/swaps" || true)
    read -r p50 p99 <<<"$(grep -v failed "$tmp/swaps" | awk '{ print $1 }' | percentiles)"
    read -r l50 _ <<<"$(grep -v failed "$tmp/swaps" | awk '{ print $2 }' | percentiles)"
    read -r c50 _ <<<"$(grep -v failed "$tmp/swaps" | awk '{ print $3 }' | percentiles)"
    read -r s50 _ <<<"$(grep -v failed "$tmp/swaps" | awk '{ print $4 }' | percentiles)"
    read -r o50 o99 <<<"$(grep -v -e missed -e '>=' "$tmp/observed" | percentiles)"
    seen=$(grep -vc -e missed -e '>=' "$tmp/observed" || true)
    # observed - reload_ms on the allowing swaps: what palisade's own figure leaves out (signal
    # delivery, the worker's next batch, revalidation, the probe's gap).
    read -r e50 _ <<<"$(awk '{ print $2 }' "$tmp/hups" | paste -d' ' - "$tmp/swaps" "$tmp/observed" |
        awk '$1 == "A" && $2 != "failed" && $6 ~ /^[0-9.]+$/ { print $6 - $2 }' | percentiles)"
    [ "$observe" = 1 ] || seen=null
    printf '{"store": "ipblock-%dx%d%s", "policies": %d, "p50_ms": %s, "p99_ms": %s, "swaps": %d, "rules": %d, "failed": %d, "load_p50_ms": %s, "compile_p50_ms": %s, "swap_p50_ms": %s, "observed_p50_ms": %s, "observed_p99_ms": %s, "observed_swaps": %s, "observed_extra_p50_ms": %s}\n' \
        "$policies" "$RULES_PER_POLICY" "$suffix" "$policies" "$p50" "$p99" "$ok" "$rules" "$failed" \
        "$l50" "$c50" "$s50" "$o50" "$o99" "$seen" "$e50"
}

for p in $STORES; do
    log "store $p policies, load $(cut -d' ' -f1-3 /proc/loadavg)"
    run_store "$p" || log "store $p policies failed"
done
log "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
