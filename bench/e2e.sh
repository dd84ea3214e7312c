#!/usr/bin/env bash
# End-to-end forwarding benchmark (DESIGN.md "Contract: benchmark entry points"). Root only.
#
#   bench/e2e.sh            # env: ROUNDS=5 DURATION=3 WARMUP=1 CONFIGS="..." TRAFFIC="..."
#
# 64-byte UDP from pod a to pod b (trafgen in pod a, pinned to GEN_CPU=0), packets/s counted
# on pod b's eth0 and the whole machine's CPU from /proc/stat (100 = one core, softirq
# included), through each configuration:
#   xsk-bare              dataplane/xsk/examples/xsk_bare.rs (no policy, no conntrack)
#   palisade-rules-N      `palisade run` (release) on FWD_CPU=1 with the store of
#                         bench/scripts/gen-store.sh: N non-matching ipBlock rules on pod b's
#                         ingress (N/10 policies x 10 rules) plus the allow for pod a
#   kernel-none           Linux forwarding in the node namespace, FORWARD: ESTABLISHED,RELATED
#                         accept, nothing else
#   kernel-iptables-1000  ... then, for traffic to pod b, the same 1,000 /32 rules one by one
#   kernel-ipset-1000     ... then one rule matching an ipset hash:net of those 1,000 /32s
#   kernel-nft-set-1000   the same in nft: an interval set of the 1,000 /32s
# (kernel configs end, like the palisade store, with the accept for pod a and a drop).
# Traffic: one-flow (a single UDP flow) and new-flows (source and destination port step on
# every packet). Configurations alternate round by round (order rotated every round) because
# this VM drifts between fast and slow states for minutes.
#
# Output (stdout): per-round lines {"round", "measured", "traffic", "pps", "cpu_percent", ...},
# latency lines {"latency", ...} (ping and TCP request-response on LAT_CONFIGS), then the
# contract lines {"config", "traffic", "pps", "cpu_percent"} with medians over the rounds,
# and {"ratio", ...} lines with per-round ratios. Progress goes to stderr.
# The namespaces (pb-node-PID, pb-a-PID, pb-b-PID) are removed on exit, error or interrupt.
# Long-running processes are started with `ip netns exec` directly (it execs, so $! is the
# process itself) and stopped with SIGTERM (background jobs of a script ignore SIGINT).
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
CONFIGS=${CONFIGS:-xsk-bare palisade-rules-0 palisade-rules-1000 palisade-rules-10000 kernel-none kernel-ipset-1000 kernel-nft-set-1000 kernel-iptables-1000}
TRAFFIC=${TRAFFIC:-one-flow new-flows}
LAT_CONFIGS=${LAT_CONFIGS:-palisade-rules-0 kernel-none}
PING_COUNT=${PING_COUNT:-200}
RR_COUNT=${RR_COUNT:-5000}
GEN_CPU=${GEN_CPU:-0}
FWD_CPU=${FWD_CPU:-1}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/scripts/topology.sh
. "$root/bench/scripts/topology.sh"

log() { echo "e2e: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    echo "e2e.sh: needs root (network namespaces, XDP, AF_XDP)" >&2
    exit 2
fi

bash "$root/scripts/install-deps.sh" >&2
target=${CARGO_TARGET_DIR:-$root/target}
(
    cd "$root"
    cargo build --release --locked -p palisade-control --bin palisade
    cargo build --release --locked -p palisade-xsk --example xsk_bare
    cargo build --release --locked -p palisade-bench --bin podnet
) >&2
PALISADE=$target/release/palisade
XSK_BARE=$target/release/examples/xsk_bare
PODNET=$target/release/podnet

tmp=$(mktemp -d /tmp/palisade-e2e.XXXXXX)
fwd_pid=""
bg_pids=()
bench_traps

NODE_NAME=bench-node
ncpu=$(getconf _NPROCESSORS_ONLN)
clk_tck=$(getconf CLK_TCK)

# ---- stores and rule sets -------------------------------------------------------------------
for n in $CONFIGS; do
    case $n in
    palisade-rules-*)
        rules=${n#palisade-rules-}
        bash "$root/bench/scripts/gen-store.sh" "$tmp/store-$rules" "$NODE_NAME" $((rules / 10)) 10
        ;;
    esac
done
cat >"$tmp/palisade.yaml" <<EOF
cpus: [$FWD_CPU]
failure_mode: open
stats_interval_s: 0
EOF

cidrs() { awk 'BEGIN { for (k = 0; k < 1000; k++) printf "10.200.%d.%d/32\n", int(k / 250), k % 250 + 1 }'; }
allow_rules='-A cali-tw-hb -s 10.81.0.1/32 -p udp -m udp --dport 9000:9999 -j ACCEPT
-A cali-tw-hb -s 10.81.0.1/32 -p tcp -m tcp --dport 9001 -j ACCEPT
-A cali-tw-hb -j DROP'
ipt_head='*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:cali-tw-hb - [0:0]
-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A FORWARD -o hb -j cali-tw-hb'
printf '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\nCOMMIT\n' >"$tmp/ipt-none"
{
    echo "$ipt_head"
    cidrs | awk '{ printf "-A cali-tw-hb -s %s -p udp -m udp --dport 9000:9999 -j ACCEPT\n", $1 }'
    echo "$allow_rules"
    echo COMMIT
} >"$tmp/ipt-linear"
{
    echo "create pb-src hash:net family inet hashsize 1024 maxelem 65536"
    cidrs | awk '{ print "add pb-src " $1 }'
} >"$tmp/ipset"
{
    echo "$ipt_head"
    echo "-A cali-tw-hb -p udp -m set --match-set pb-src src -m udp --dport 9000:9999 -j ACCEPT"
    echo "$allow_rules"
    echo COMMIT
} >"$tmp/ipt-ipset"
{
    echo "table ip pb {"
    echo "  set src { type ipv4_addr; flags interval; elements = { $(cidrs | paste -sd, -) } }"
    echo "  chain tw_hb {"
    echo "    ip saddr @src udp dport 9000-9999 accept"
    echo "    ip saddr 10.81.0.1 udp dport 9000-9999 accept"
    echo "    ip saddr 10.81.0.1 tcp dport 9001 accept"
    echo "    drop"
    echo "  }"
    echo "  chain forward {"
    echo "    type filter hook forward priority filter; policy accept;"
    echo "    ct state established,related accept"
    echo "    oifname \"hb\" jump tw_hb"
    echo "  }"
    echo "}"
} >"$tmp/nft-set"

# ---- topology -------------------------------------------------------------------------------
topo_up "$$"
log "namespaces $NODE $PA $PB; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for t in $TRAFFIC; do
    trafgen_conf "$tmp/$t.cfg" "$t"
done
ip netns exec "$PB" "$PODNET" tcp-echo "$POD_B_IP:9001" >"$tmp/echo.out" 2>&1 &
bg_pids+=($!)
wait_for_line "$tmp/echo.out" ready "${bg_pids[-1]}" 10 || {
    log "tcp-echo server failed: $(cat "$tmp/echo.out")"
    exit 1
}

kernel_clear() {
    in_ns "$NODE" nft flush ruleset
    in_ns "$NODE" ipset destroy 2>/dev/null || true
    in_ns "$NODE" conntrack -F >/dev/null 2>&1 || true
}

# start_config CONFIG: forwarding through CONFIG, ready for traffic (0) or not (1).
start_config() {
    local cfg=$1
    kernel_clear
    case $cfg in
    xsk-bare)
        kernel_forwarding 0
        start_xsk_bare "$XSK_BARE" "$FWD_CPU"
        ;;
    palisade-rules-*)
        kernel_forwarding 0
        start_palisade "$PALISADE" "$tmp/store-${cfg#palisade-rules-}" "$tmp/palisade.yaml" \
            "$NODE_NAME"
        ;;
    kernel-none) in_ns "$NODE" iptables-restore <"$tmp/ipt-none" ;;
    kernel-iptables-1000) in_ns "$NODE" iptables-restore <"$tmp/ipt-linear" ;;
    kernel-ipset-1000)
        in_ns "$NODE" ipset restore <"$tmp/ipset"
        in_ns "$NODE" iptables-restore <"$tmp/ipt-ipset"
        ;;
    kernel-nft-set-1000) in_ns "$NODE" nft -f "$tmp/nft-set" ;;
    *)
        log "unknown configuration $cfg"
        return 1
        ;;
    esac
    if [ -n "$fwd_pid" ]; then
        if ! wait_for_line "$tmp/fwd.log" ready "$fwd_pid" 120; then
            log "$cfg did not get ready: $(tail -5 "$tmp/fwd.log")"
            stop_config
            return 1
        fi
    else
        kernel_forwarding 1
    fi
    pods_greet
}

stop_config() {
    if [ -n "$fwd_pid" ]; then
        stop_pid "$fwd_pid"
        fwd_pid=""
        grep -h "final counters\|drops" "$tmp/fwd.log" 2>/dev/null | tail -2 | sed 's/^/e2e:   /' >&2 || true
        grep -h '^{' "$tmp/fwd.out" 2>/dev/null | sed 's/^/e2e:   /' >&2 || true
    fi
    kernel_forwarding 0
    kernel_clear
}

# cpu_ticks: "busy total softirq" of the whole machine from /proc/stat (steal counts as total).
cpu_ticks() {
    awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8; print busy, busy + $5 + $6 + $9, $8 }' /proc/stat
}

proc_ticks() {
    if [ -n "$fwd_pid" ] && [ -r "/proc/$fwd_pid/stat" ]; then
        # utime + stime of every thread (fields 14 and 15 after the command name).
        sed 's/^.*) //' "/proc/$fwd_pid/stat" | awk '{ print $12 + $13 }'
    else
        echo 0
    fi
}

# measure ROUND CONFIG TRAFFIC: one measurement; appends "round config traffic pps cpu" to
# $tmp/results and prints the per-round line.
measure() {
    local r=$1 cfg=$2 t=$3 tg
    start_trafgen "$tmp/$t.cfg" "$GEN_CPU"
    tg=$trafgen_pid
    sleep "$WARMUP"
    local rx0 tx0 c0 p0 t0 rx1 tx1 c1 p1 t1
    read -r c0 <<<"$(cpu_ticks | tr ' ' ,)"
    p0=$(proc_ticks)
    t0=$(date +%s.%N)
    rx0=$(link_counter "$PB" eth0 rx_packets)
    tx0=$(link_counter "$PA" eth0 tx_packets)
    sleep "$DURATION"
    rx1=$(link_counter "$PB" eth0 rx_packets)
    tx1=$(link_counter "$PA" eth0 tx_packets)
    t1=$(date +%s.%N)
    read -r c1 <<<"$(cpu_ticks | tr ' ' ,)"
    p1=$(proc_ticks)
    stop_group "$tg"
    if ! kill -0 "${fwd_pid:-$$}" 2>/dev/null; then
        log "$cfg: forwarder died during the measurement"
        return 1
    fi
    awk -v r="$r" -v cfg="$cfg" -v t="$t" -v rx="$((rx1 - rx0))" -v tx="$((tx1 - tx0))" \
        -v secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        -v c0="$c0" -v c1="$c1" -v p="$((p1 - p0))" -v hz="$clk_tck" -v ncpu="$ncpu" \
        -v res="$tmp/results" 'BEGIN {
        split(c0, a, ","); split(c1, b, ",")
        total = b[2] - a[2]
        cpu = total > 0 ? 100 * ncpu * (b[1] - a[1]) / total : 0
        soft = total > 0 ? 100 * ncpu * (b[3] - a[3]) / total : 0
        pps = rx / secs
        printf "%s %s %s %.0f %.1f\n", r, cfg, t, pps, cpu >> res
        printf "{\"round\": %d, \"measured\": \"%s\", \"traffic\": \"%s\", \"pps\": %.0f, \"cpu_percent\": %.1f, \"softirq_percent\": %.1f, \"forwarder_cpu_percent\": %.1f, \"offered_pps\": %.0f}\n",
            r, cfg, t, pps, cpu, soft, 100 * p / hz / secs, tx / secs
    }'
}

# latency ROUND CONFIG: ping and TCP request-response from pod a to pod b.
latency() {
    local r=$1 cfg=$2 out rtt rr
    out=$(in_ns "$PA" ping -c "$PING_COUNT" -i 0.01 -W 1 -q "$POD_B_IP" 2>&1 || true)
    rtt=$(sed -n 's|^rtt min/avg/max/mdev = \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\) ms|\1 \2 \3 \4|p' <<<"$out")
    loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' <<<"$out")
    if [ -n "$rtt" ]; then
        read -r mn avg mx md <<<"$rtt"
        printf '{"latency": "ping", "round": %d, "measured": "%s", "count": %d, "loss_percent": %s, "min_us": %.0f, "avg_us": %.0f, "max_us": %.0f, "mdev_us": %.0f}\n' \
            "$r" "$cfg" "$PING_COUNT" "${loss:-100}" "$(bc_ms "$mn")" "$(bc_ms "$avg")" "$(bc_ms "$mx")" "$(bc_ms "$md")"
        echo "$r $cfg ping $(bc_ms "$avg")" >>"$tmp/latency"
    else
        log "$cfg: ping failed: $out"
    fi
    if rr=$(in_ns "$PA" "$PODNET" tcp-rr "$POD_B_IP:9001" --count "$RR_COUNT" 2>&1); then
        echo "{\"latency\": \"tcp-rr\", \"round\": $r, \"measured\": \"$cfg\", ${rr#\{}"
        echo "$r $cfg tcp-rr-p50 $(sed 's/.*"p50_us": \([0-9.]*\).*/\1/' <<<"$rr")" >>"$tmp/latency"
        echo "$r $cfg tcp-rr-p99 $(sed 's/.*"p99_us": \([0-9.]*\).*/\1/' <<<"$rr")" >>"$tmp/latency"
    else
        log "$cfg: tcp-rr failed: $rr"
    fi
}
bc_ms() { awk -v v="$1" 'BEGIN { printf "%.0f", v * 1000 }'; }

# ---- rounds ---------------------------------------------------------------------------------
read -r -a configs <<<"$CONFIGS"
: >"$tmp/results"
: >"$tmp/latency"
for ((r = 1; r <= ROUNDS; r++)); do
    log "round $r/$ROUNDS, load $(cut -d' ' -f1-3 /proc/loadavg)"
    n=${#configs[@]}
    for ((i = 0; i < n; i++)); do
        cfg=${configs[$(((i + r - 1) % n))]}
        if ! start_config "$cfg"; then
            continue
        fi
        for t in $TRAFFIC; do
            measure "$r" "$cfg" "$t" || true
        done
        if [[ " $LAT_CONFIGS " == *" $cfg "* ]]; then
            latency "$r" "$cfg"
        fi
        stop_config
    done
done

# ---- summary --------------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "null"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
log "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
for cfg in "${configs[@]}"; do
    for t in $TRAFFIC; do
        pps=$(awk -v c="$cfg" -v t="$t" '$2 == c && $3 == t { print $4 }' "$tmp/results" | median)
        cpu=$(awk -v c="$cfg" -v t="$t" '$2 == c && $3 == t { print $5 }' "$tmp/results" | median)
        [ "$pps" = null ] && continue
        printf '{"config": "%s", "traffic": "%s", "pps": %.0f, "cpu_percent": %.1f}\n' "$cfg" "$t" "$pps" "$cpu"
    done
done
for what in ping tcp-rr-p50 tcp-rr-p99; do
    for cfg in $LAT_CONFIGS; do
        v=$(awk -v c="$cfg" -v w="$what" '$2 == c && $3 == w { print $4 }' "$tmp/latency" | median)
        [ "$v" = null ] || printf '{"latency_median": "%s", "measured": "%s", "us": %.1f}\n' "$what" "$cfg" "$v"
    done
done
# ratio A B TRAFFIC: per-round pps(A)/pps(B) and their median.
ratio() {
    awk -v a="$1" -v b="$2" -v t="$3" '
        $3 == t && $2 == a { x[$1] = $4 } $3 == t && $2 == b { y[$1] = $4 }
        END {
            n = 0; s = ""
            for (r = 1; r <= 1000; r++) if ((r in x) && (r in y) && y[r] > 0) {
                v[++n] = x[r] / y[r]; s = s (n > 1 ? ", " : "") sprintf("%.3f", x[r] / y[r])
            }
            if (n == 0) exit
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { m = v[i]; v[i] = v[j]; v[j] = m }
            med = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            printf "{\"ratio\": \"%s/%s\", \"traffic\": \"%s\", \"per_round\": [%s], \"median\": %.3f}\n", a, b, t, s, med
        }' "$tmp/results"
}
ratio palisade-rules-10000 kernel-ipset-1000 new-flows
ratio palisade-rules-10000 kernel-iptables-1000 new-flows
ratio palisade-rules-1000 kernel-iptables-1000 new-flows
ratio palisade-rules-1000 kernel-nft-set-1000 new-flows
ratio palisade-rules-0 xsk-bare one-flow
ratio palisade-rules-0 kernel-none one-flow
ratio palisade-rules-0 kernel-none new-flows
ratio palisade-rules-10000 palisade-rules-0 new-flows
