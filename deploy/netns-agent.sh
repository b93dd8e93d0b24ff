#!/bin/sh
# mpirun's launch agent for the namespace test cluster (deploy/testcluster.sh): used in place of ssh via
#   mpirun --mca plm_rsh_agent /path/to/deploy/netns-agent.sh ...
# OpenMPI calls it like ssh: `AGENT [ssh options] HOST COMMAND...` and the command words form one shell
# command line (they contain quoting, e.g. the HNP URI). HOST is a hostfile entry: an address 10.77.0.i or a
# name sc-nodei. The command runs in that node's network namespace (host name sc-nodei), under /bin/sh
# as ssh would. A node whose link is down cannot be reached, as with ssh: exit status 255.
# TESTCLUSTER_PREFIX (default sc) selects another cluster's nodes (<prefix>-node<i>), as for testcluster.sh.
# NETNS_AGENT_LOG=FILE appends each call to FILE for debugging.
set -eu

while [ $# -gt 0 ]; do
    case $1 in
        -x|-X|-Y|-T|-t|-q|-n) shift ;;           # ssh flags OpenMPI may add: meaningless here
        -o|-p|-l|-i) shift 2 ;;
        *) break ;;
    esac
done
[ $# -ge 2 ] || { echo "netns-agent: usage: $0 HOST COMMAND..." >&2; exit 255; }
host=$1; shift
prefix=${TESTCLUSTER_PREFIX:-sc}
[ -n "${NETNS_AGENT_LOG:-}" ] && echo "$(date +%T) $host: $*" >>"$NETNS_AGENT_LOG"

nodes() { ip netns list | awk '{print $1}' | grep -E "^$prefix-node[0-9]+\$"; }
if nodes | grep -qx "$host"; then
    ns=$host
else
    # Find the namespace that owns this address (only namespaces of the test cluster are considered).
    ns=""
    for candidate in $(nodes); do
        if ip -n "$candidate" -o -4 addr show | grep -q "inet $host/"; then ns=$candidate; break; fi
    done
fi
[ -n "$ns" ] || { echo "netns-agent: no test-cluster namespace for host '$host' (is deploy/testcluster.sh up?)" >&2; exit 255; }
ip -n "$ns" -o link show eth0 2>/dev/null | grep -q 'state UP' || {
    echo "netns-agent: connect to host $host: no route to host (the link of $ns is down)" >&2; exit 255; }

# All nodes share this machine's file system and, by default, its host name, and OpenMPI names its session
# directory (/tmp/ompi.<host>.<uid>/...) after the host: daemons of two nodes would race on the same files
# (seen: "mkdir ... File exists" and a crash writing the shared hwloc topology). So each node also gets its
# own UTS namespace with the host name sc-nodeN, as a real host would have.
exec ip netns exec "$ns" unshare --uts /bin/sh -c "hostname $ns; $*"
