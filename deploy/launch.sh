#!/usr/bin/env bash
# Starts simclr (or another MPI program) under mpirun with the environment this project needs.
#
#   deploy/launch.sh [options] [--] [simclr arguments...]
#
#   -n, --np N          ranks (default: the hostfile's slots, or this machine's cores)
#   --hostfile FILE     OpenMPI hostfile (default: this host only)
#   --testcluster       run on the namespace test cluster (deploy/testcluster.sh up N first):
#                       its generated hostfile, deploy/netns-agent.sh as launch agent, TCP on 10.77.0.0/24
#   --bind POLICY       core (default when ranks <= slots), none (default when oversubscribed), socket, ...
#   --threads T         BLAS/kernel threads per rank (OPENBLAS_NUM_THREADS; default 1: one rank per core)
#   --allreduce ALG     force OpenMPI's all-reduce algorithm: ring, segmented_ring, rabenseifner,
#                       recursive_doubling, nonoverlapping, basic_linear (default: OpenMPI's own choice),
#                       to compare them with `cluster-check bandwidth`
#   --program PATH      what to run (default: .build/release/simclr)
#   --mpirun-arg ARG    pass ARG to mpirun (repeatable)
#   --dry-run           print the command instead of running it
#
# What it sets: OPENBLAS_NUM_THREADS per rank (and OPENBLAS_CORETYPE if set here; simclr picks good kernels
# itself otherwise), the OMPI_ALLOW_RUN_AS_ROOT pair only when running as root, --oversubscribe only when
# there are more ranks than slots, and process binding.
#
# Examples:
#   deploy/launch.sh -n 2 -- pretrain --data synthetic --out runs/mpi --epochs 1 --width 0.25
#   deploy/launch.sh -n 4 --program .build/release/cluster-check           # 4 ranks on 2 cores: oversubscribed
#   deploy/testcluster.sh up 2 && deploy/launch.sh --testcluster --program .build/release/cluster-check
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
np="" hostfile="" bind="" threads=1 allreduce="" program="$repo/.build/release/simclr" dry=0 testcluster=0
extra=()

while (($#)); do
    case $1 in
        -n|--np) np=$2; shift 2 ;;
        --hostfile) hostfile=$2; shift 2 ;;
        --testcluster) testcluster=1; shift ;;
        --bind) bind=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --program) program=$2; shift 2 ;;
        --allreduce) allreduce=$2; shift 2 ;;
        --mpirun-arg) extra+=("$2"); shift 2 ;;
        --dry-run) dry=1; shift ;;
        --) shift; break ;;
        *) break ;;
    esac
done

command -v mpirun >/dev/null || { echo "launch: mpirun not found (deploy/setup.sh installs openmpi-bin)" >&2; exit 1; }
[[ -x $program || $dry -eq 1 ]] || { echo "launch: $program is not built (swift build -c release)" >&2; exit 1; }

args=()
if ((testcluster)); then
    hostfile=${hostfile:-$repo/hostfiles/testcluster-generated}
    [[ -f $hostfile ]] || { echo "launch: $hostfile missing: run deploy/testcluster.sh up N first" >&2; exit 1; }
    # mpirun stays in the root namespace and reaches the nodes through the bridge address 10.77.0.254.
    args+=(--mca plm_rsh_agent "$repo/deploy/netns-agent.sh" --mca btl tcp,self
           --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24)
    # Every "node" would bind its rank to core 0 of the one real machine: leave placement to the kernel.
    bind=${bind:-none}
fi

# Slots: the hostfile's (slots=K per line, 1 when absent) or this machine's cores.
if [[ -n $hostfile ]]; then
    slots=$(awk '!/^[[:space:]]*(#|$)/ { n = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { split($i, kv, "="); n = kv[2] } s += n } END { print s + 0 }' "$hostfile")
    args+=(--hostfile "$hostfile")
else
    slots=$(nproc)
fi
np=${np:-$slots}

if ((np > slots)); then
    args+=(--oversubscribe)
    bind=${bind:-none}          # binding more ranks than cores to cores would stack them anyway
fi
args+=(--bind-to "${bind:-core}")
[[ ${bind:-core} == core ]] && args+=(--map-by core)

if [[ -n $allreduce ]]; then
    # OpenMPI 4.1 coll/tuned numbering.
    case $allreduce in
        basic_linear) alg=1 ;; nonoverlapping) alg=2 ;; recursive_doubling) alg=3 ;;
        ring) alg=4 ;; segmented_ring) alg=5 ;; rabenseifner) alg=6 ;;
        *) echo "launch: unknown --allreduce '$allreduce'" >&2; exit 2 ;;
    esac
    args+=(--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm "$alg")
fi

args+=(-x OPENBLAS_NUM_THREADS="$threads")
[[ -n ${OPENBLAS_CORETYPE:-} ]] && args+=(-x OPENBLAS_CORETYPE)

if [[ $(id -u) -eq 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

cmd=(mpirun -np "$np" "${args[@]}" "${extra[@]}" "$program" "$@")
if ((dry)); then printf '%q ' "${cmd[@]}"; echo; exit 0; fi

# Ctrl-C and SIGTERM become SIGUSR1 and SIGUSR2, which mpirun forwards to every rank at once; simclr reads
# them as SIGINT and SIGTERM: each rank finishes its step, rank 0 writes the checkpoint, and the job exits
# 130 (SIGINT) or 143 (SIGTERM). mpirun runs in its own session so a terminal's Ctrl-C reaches only this
# script (mpirun would start its own kill sequence). A second Ctrl-C or SIGTERM is passed on as is.
setsid "${cmd[@]}" &
mpirun_pid=$!
signalled=0
forward() {
    if ((signalled)); then kill "-$2" "$mpirun_pid" 2>/dev/null || true; return; fi
    signalled=1
    kill "-$1" "$mpirun_pid" 2>/dev/null || true
}
trap 'forward USR1 INT' INT
trap 'forward USR2 TERM' TERM
status=0
while true; do
    wait "$mpirun_pid" && status=0 || status=$?
    # wait returns early (status > 128) when a trapped signal arrives; mpirun is then still running.
    kill -0 "$mpirun_pid" 2>/dev/null || break
done
exit "$status"
