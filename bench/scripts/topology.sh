# Sourced by bench/e2e.sh, bench/reload.sh and bench/hops.sh: the two-pod topology, starting the
# forwarders and the generator, and small helpers.
#
# topo_up TAG: creates the namespaces pb-node-TAG, pb-a-TAG, pb-b-TAG (names in $NODE, $PA,
# $PB), wires pod a (10.81.0.1/32) to host veth ha and pod b (10.81.0.2/32) to hb as Calico
# does (one queue per veth; default route via 169.254.1.1 on eth0, TX checksum offload off),
# and prepares the node namespace for kernel forwarding (disabled until kernel_forwarding 1):
# /32 routes to the pods, proxy ARP on ha/hb, an uplink veth (its peer down) carrying the default route (so
# proxy ARP answers for 169.254.1.1, as on a host with a default route), and permanent
# neighbour entries for the pods (as Calico programs them); pod b drops UDP 9000-9999 at its
# eth0 ingress (nft netdev hook), after the veth counted it in rx_packets. Sets $MAC_A, $MAC_B (pods' eth0)
# and $MAC_HA, $MAC_HB (host side). topo_down removes every namespace it made. Nothing is
# created in the root namespace: every command runs with `ip -n` or `ip netns exec`.

POD_A_IP=10.81.0.1
POD_B_IP=10.81.0.2
GATEWAY_IP=169.254.1.1

topo_made=()

in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

topo_wire() {
    local host_if=$1 pod=$2 ip=$3
    ip -n "$NODE" link add "$host_if" numtxqueues 1 numrxqueues 1 type veth \
        peer name eth0 netns "$pod" numtxqueues 1 numrxqueues 1
    ip -n "$NODE" link set "$host_if" up
    ip -n "$pod" link set eth0 up
    ip -n "$pod" addr add "$ip/32" dev eth0
    ip -n "$pod" route add "$GATEWAY_IP" dev eth0 scope link
    ip -n "$pod" route add default via "$GATEWAY_IP" dev eth0
    in_ns "$pod" ethtool -K eth0 tx off >/dev/null
}

topo_up() {
    local tag=$1
    NODE=pb-node-$tag
    PA=pb-a-$tag
    PB=pb-b-$tag
    for ns in "$NODE" "$PA" "$PB"; do
        ip netns add "$ns"
        topo_made+=("$ns")
        ip -n "$ns" link set lo up
    done
    topo_wire ha "$PA" "$POD_A_IP"
    topo_wire hb "$PB" "$POD_B_IP"
    MAC_A=$(in_ns "$PA" cat /sys/class/net/eth0/address)
    MAC_B=$(in_ns "$PB" cat /sys/class/net/eth0/address)
    MAC_HA=$(in_ns "$NODE" cat /sys/class/net/ha/address)
    MAC_HB=$(in_ns "$NODE" cat /sys/class/net/hb/address)
    # The uplink: a veth whose peer stays down, so what takes the default route goes nowhere.
    ip -n "$NODE" link add uplink type veth peer name uplink-peer
    ip -n "$NODE" link set uplink up
    ip -n "$NODE" route add default dev uplink
    ip -n "$NODE" route add "$POD_A_IP/32" dev ha
    ip -n "$NODE" route add "$POD_B_IP/32" dev hb
    ip -n "$NODE" neigh replace "$POD_A_IP" lladdr "$MAC_A" dev ha nud permanent
    ip -n "$NODE" neigh replace "$POD_B_IP" lladdr "$MAC_B" dev hb nud permanent
    for i in ha hb; do
        in_ns "$NODE" sysctl -qw "net.ipv4.conf.$i.proxy_arp=1" "net.ipv4.neigh.$i.proxy_delay=0"
    done
    # Pod b drops the benchmark's UDP (ports 9000-9999) at its eth0 ingress hook, after the
    # veth counted it: the measured frames cost pod b no socket lookup, ICMP port-unreachable
    # route lookups or socket queueing (which would run on the forwarder's CPU).
    in_ns "$PB" nft -f - <<EOF
table netdev sink {
  chain ingress {
    type filter hook ingress device "eth0" priority 0; policy accept;
    ip protocol udp udp dport 9000-9999 drop
  }
}
EOF
    kernel_forwarding 0
}

# kernel_forwarding 0|1: IPv4 forwarding in the node namespace.
kernel_forwarding() {
    in_ns "$NODE" sysctl -qw "net.ipv4.ip_forward=$1"
}

topo_down() {
    local ns
    for ns in "${topo_made[@]}"; do
        # Whatever still runs inside (a generator's forked worker, say) would outlive the
        # namespace's name and keep sending: kill it first.
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    topo_made=()
}

# link_counter NS IF rx_packets|tx_packets|...
link_counter() {
    in_ns "$1" cat "/sys/class/net/$2/statistics/$3"
}

# wait_for_line FILE PATTERN PID SECONDS: waits until FILE has a line matching PATTERN; fails
# when PID exits or SECONDS pass.
wait_for_line() {
    local file=$1 pattern=$2 pid=$3 limit=$4 waited=0
    while ! grep -q -- "$pattern" "$file" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if [ "$waited" -ge $((limit * 10)) ]; then
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
}

# stop_pid PID [SIGNAL]: signals PID, a child of this shell (default TERM), and reaps it; KILL
# after 20 s.
stop_pid() {
    local pid=$1 sig=${2:-TERM} watchdog
    kill -s "$sig" "$pid" 2>/dev/null || return 0
    (sleep 20 && kill -s KILL "$pid" 2>/dev/null) &
    watchdog=$!
    wait "$pid" 2>/dev/null || true
    kill "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
}

# stop_group PID: like stop_pid for a process started with `setsid` (so PID leads its own
# process group): signals the whole group, so forked workers (trafgen forks one per CPU and
# does not take them down on SIGTERM) stop too.
stop_group() {
    local pid=$1
    kill -TERM -- "-$pid" 2>/dev/null || true
    stop_pid "$pid"
    kill -KILL -- "-$pid" 2>/dev/null || true
}

# bench_traps: on exit, error or interrupt, stop the script's forwarder ($fwd_pid) and
# background processes (${bg_pids[@]}), remove the namespaces and the scratch directory ($tmp).
bench_cleanup() {
    local p
    set +e
    trap - EXIT INT TERM
    [ -n "${fwd_pid:-}" ] && stop_pid "$fwd_pid"
    # shellcheck disable=SC2154 # bg_pids belongs to the sourcing script
    for p in "${bg_pids[@]}"; do
        stop_group "$p"
    done
    topo_down
    [ -n "${tmp:-}" ] && rm -rf "$tmp"
}

bench_traps() {
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# trafgen_conf FILE one-flow|new-flows|slow: 64-byte UDP frames pod a -> pod b (a single flow,
# or source port 1024..65535 and destination port 9000..9999 both stepping every packet: 8
# million distinct flows before one repeats).
trafgen_conf() {
    local ports
    case $2 in
    one-flow | slow) ports="sp=40000, dp=9000" ;;
    new-flows) ports="sp=dinc(1024, 65535), dp=dinc(9000, 9999)" ;;
    *) return 1 ;;
    esac
    cat >"$1" <<EOF
{
  eth(da=$MAC_HA, sa=$MAC_A),
  ipv4(sa=$POD_A_IP, da=$POD_B_IP, ttl=64),
  udp($ports),
  fill(0x5a, 22)
}
EOF
}

# start_xsk_bare BIN CPU: the bare XSK forwarder between ha and hb on CPU, output to $tmp/fwd.out
# and $tmp/fwd.log; sets $fwd_pid (`ip netns exec` execs, so it is the process itself).
start_xsk_bare() {
    ip netns exec "$NODE" taskset -c "$2" "$1" ha hb --fail-open \
        --peer-a "$MAC_A" --peer-b "$MAC_B" >"$tmp/fwd.out" 2>"$tmp/fwd.log" &
    fwd_pid=$!
}

# start_palisade BIN STORE CONFIG NODE_NAME: `palisade run` in the node namespace, output to
# $tmp/fwd.out and $tmp/fwd.log; sets $fwd_pid.
start_palisade() {
    ip netns exec "$NODE" "$1" run --store "$2" --node "$4" --config "$3" \
        >"$tmp/fwd.out" 2>"$tmp/fwd.log" &
    fwd_pid=$!
}

# pods_greet: both pods ping each other once, so a forwarder knows both MACs and the pods'
# ARP for the gateway is resolved before the measurement.
pods_greet() {
    in_ns "$PB" ping -c 1 -W 1 -q "$POD_A_IP" >/dev/null 2>&1 || true
    in_ns "$PA" ping -c 1 -W 1 -q "$POD_B_IP" >/dev/null 2>&1 || true
}

# start_trafgen CONFIG CPU: trafgen flooding from pod a's eth0 on CPU, in its own process group
# (setsid execs in place) so stop_group takes its forked workers down too; sets $trafgen_pid.
start_trafgen() {
    setsid ip netns exec "$PA" taskset -c "$2" trafgen -o eth0 -c "$1" -P 1 \
        --no-sock-mem -Q -C >/dev/null 2>&1 &
    # shellcheck disable=SC2034 # read by the caller
    trafgen_pid=$!
}
