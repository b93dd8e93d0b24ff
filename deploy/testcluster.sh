#!/usr/bin/env bash
# A test cluster of N "hosts" on one machine: network namespaces sc-node1..N, each with an eth0 (veth) on
# the bridge sc-br0 and the address 10.77.0.<i>/24. The bridge itself has 10.77.0.254 so that an mpirun in
# the root namespace can reach the daemons (and they it). Only 10.77.0.0/24 is used, and only on the
# interfaces made here. Needs root (or CAP_NET_ADMIN) and iproute2; `tc` for link emulation.
#
#   deploy/testcluster.sh up N [--rate 1gbit] [--delay 0.1ms] [--mem-per-node MB]   create (replacing an existing one)
#   deploy/testcluster.sh down                                   remove everything it made
#   deploy/testcluster.sh status                                 show namespaces, addresses, qdiscs
#
# `up` checks first what N hosts need from this machine and refuses, naming the limit, when it cannot give it:
# addresses (the /24 subnet: nodes .1-.250), memory (MB per node, default 300: an OpenMPI daemon and one rank;
# scaling studies pass what their ranks use), processes and threads (ulimit -u, ~40 per node) and mpirun's
# open files (ulimit -n, ~20 per node).
# `up` writes hostfiles/testcluster-generated (one slot per node). Run MPI across the nodes with
# deploy/netns-agent.sh as mpirun's launch agent; see hostfiles/testcluster for the command line.
#
# A second cluster can live beside it under other names: TESTCLUSTER_PREFIX (default sc: sc-node<i>, sc-veth<i>,
# sc-br0), TESTCLUSTER_SUBNET (default 10.77.0) and TESTCLUSTER_HOSTFILE (default the one above).
# deploy/slurm-testcluster.sh uses prefix ss on 10.78.0 for its namespace nodes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prefix=${TESTCLUSTER_PREFIX:-sc}
hostfile=${TESTCLUSTER_HOSTFILE:-"$(dirname "$here")/hostfiles/testcluster-generated"}
bridge=$prefix-br0
subnet=${TESTCLUSTER_SUBNET:-10.77.0}
bridge_ip=$subnet.254

die() { echo "testcluster: $*" >&2; exit 1; }

nodes() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$prefix-node[0-9]+\$" || true; }

down() {
    for ns in $(nodes); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true   # processes left in the node
        ip netns delete "$ns"
    done
    for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^$prefix-veth[0-9]+\$" || true); do
        ip link delete "$link" 2>/dev/null || true
    done
    ip link show "$bridge" >/dev/null 2>&1 && ip link delete "$bridge"
    rm -f "$hostfile"
}

# Bytes of burst for a tbf at RATE (e.g. 1gbit): 4 ms of traffic (a 250 Hz timer tick), at least 32 KiB.
burst_for() {
    local rate=$1 bits
    case $rate in
        *gbit) bits=$(( ${rate%gbit} * 1000000000 )) ;;
        *mbit) bits=$(( ${rate%mbit} * 1000000 )) ;;
        *kbit) bits=$(( ${rate%kbit} * 1000 )) ;;
        *bit) bits=${rate%bit} ;;
        *) die "rate '$rate' must be an integer with bit, kbit, mbit or gbit" ;;
    esac
    local bytes=$(( bits / 8 / 250 ))
    echo $(( bytes > 32768 ? bytes : 32768 ))
}

# Shapes the egress of one interface. Bandwidth alone uses tbf; a delay needs netem (which also does the
# rate). Kernels built without sch_netem (like this project's CI VM) can emulate bandwidth but not delay.
shape() {
    local ns=$1 dev=$2 rate=$3 delay=$4
    local run=()
    [[ -n $ns ]] && run=(ip netns exec "$ns")
    if [[ -n $delay ]]; then
        "${run[@]}" tc qdisc replace dev "$dev" root netem delay "$delay" ${rate:+rate "$rate"} limit 100000 2>/dev/null \
            || die "tc netem failed: this kernel lacks sch_netem, so --delay is unavailable (--rate alone works, via tbf)"
    elif [[ -n $rate ]]; then
        "${run[@]}" tc qdisc replace dev "$dev" root tbf rate "$rate" burst "$(burst_for "$rate")" latency 50ms
    fi
}

# Refuses N nodes this machine cannot hold, naming the limit.
check_limits() {
    local n=$1 mem_per_node=$2
    ((n <= 250)) || die "$n nodes exceed the subnet: addresses $subnet.1-$subnet.250 hold at most 250 nodes"
    local available_mb; available_mb=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
    if [[ -n $available_mb ]] && ((n * mem_per_node > available_mb)); then
        die "$n nodes need ~$((n * mem_per_node)) MB ($mem_per_node MB each, --mem-per-node) but this machine has $available_mb MB available (MemAvailable): at most $((available_mb / mem_per_node)) nodes"
    fi
    local procs; procs=$(ulimit -u)
    if [[ $procs != unlimited ]] && ((n * 40 > procs)); then
        die "$n nodes need ~$((n * 40)) processes and threads (~40 per node) but ulimit -u allows $procs: at most $((procs / 40)) nodes"
    fi
    local files; files=$(ulimit -n)
    if [[ $files != unlimited ]] && ((n * 20 + 64 > files)); then
        die "$n nodes need ~$((n * 20 + 64)) open files in mpirun (~20 per node) but ulimit -n allows $files: at most $(((files - 64) / 20)) nodes"
    fi
}

up() {
    local n=$1 rate=$2 delay=$3 mem_per_node=$4
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1)) || die "N must be a positive number of nodes, got '$n'"
    [[ $mem_per_node =~ ^[0-9]+$ ]] && ((mem_per_node >= 1)) || die "--mem-per-node must be a positive number of MB, got '$mem_per_node'"
    check_limits "$n" "$mem_per_node"
    [[ $(id -u) -eq 0 ]] || die "needs root (network namespaces)"
    command -v ip >/dev/null || die "iproute2 (ip) not installed"
    if [[ -n $rate || -n $delay ]]; then command -v tc >/dev/null || die "tc not installed (iproute2)"; fi
    down
    trap 'down >/dev/null 2>&1' EXIT          # leave nothing half-made if a step fails
    ip link add "$bridge" type bridge
    ip addr add "$bridge_ip/24" dev "$bridge"
    ip link set "$bridge" up
    : >"$hostfile"
    for i in $(seq 1 "$n"); do
        local ns=$prefix-node$i veth=$prefix-veth$i
        ip netns add "$ns"
        ip link add "$veth" type veth peer name eth0 netns "$ns"
        ip link set "$veth" master "$bridge" up
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$subnet.$i/24" dev eth0
        ip -n "$ns" link set eth0 up
        shape "" "$veth" "$rate" "$delay"          # traffic towards the node
        shape "$ns" eth0 "$rate" "$delay"          # traffic from the node
        echo "$subnet.$i slots=1" >>"$hostfile"
    done
    # Wait until every node's link is up (veths come up asynchronously; the bridge has no STP delay).
    for i in $(seq 1 "$n"); do
        for _ in $(seq 50); do
            ip -n "$prefix-node$i" -o link show eth0 | grep -q 'state UP' && break
            sleep 0.1
        done
    done
    trap - EXIT
    echo "testcluster: $n node(s) up on $bridge ($subnet.1-$subnet.$n, bridge $bridge_ip)${rate:+, rate $rate}${delay:+, delay $delay}"
    echo "testcluster: hostfile $hostfile"
}

status() {
    local list; list=$(nodes)
    [[ -n $list ]] || { echo "testcluster: no nodes"; return 0; }
    for ns in $list; do
        echo "$ns: $(ip -n "$ns" -o -4 addr show dev eth0 | awk '{print $4}')  $(ip netns exec "$ns" tc qdisc show dev eth0 | head -1)"
    done
    ip -o -4 addr show dev "$bridge" 2>/dev/null | awk '{print "'$bridge': " $4}'
}

cmd=${1:-}; shift || true
case $cmd in
    up)
        n=${1:-}; shift || true
        rate="" delay="" mem_per_node=300
        while (($#)); do
            case $1 in
                --rate) rate=${2:?--rate needs a value, e.g. 1gbit}; shift 2 ;;
                --delay) delay=${2:?--delay needs a value, e.g. 0.1ms}; shift 2 ;;
                --mem-per-node) mem_per_node=${2:?--mem-per-node needs MB}; shift 2 ;;
                *) die "unknown option $1" ;;
            esac
        done
        up "$n" "$rate" "$delay" "$mem_per_node" ;;
    down) [[ $(id -u) -eq 0 ]] || die "needs root"; down; echo "testcluster: down" ;;
    status) status ;;
    *) echo "usage: $0 up N [--rate R] [--delay D] [--mem-per-node MB] | down | status" >&2; exit 2 ;;
esac
