#!/usr/bin/env bash
trap 'exit 130' INT; trap 'exit 143' TERM   # a stop before the job starts (the real handlers come below)
# Starts simclr (or another MPI program) under mpirun with the environment this project needs, watches the
# job until it has really ended, and can start it again from its checkpoint when a rank or a host fails.
#
#   deploy/launch.sh [options] [--] [simclr arguments...]
#
#   -n, --np N          ranks (default: the hostfile's slots, or this machine's cores)
#   --hostfile FILE     OpenMPI hostfile (default: this host only)
#   --testcluster       run on the namespace test cluster (deploy/testcluster.sh up N first): its generated
#                       hostfile, deploy/netns-agent.sh as launch agent, TCP on its subnet (TESTCLUSTER_PREFIX,
#                       TESTCLUSTER_SUBNET and TESTCLUSTER_HOSTFILE name a second cluster, as for testcluster.sh)
#   --bind POLICY       core (default when ranks <= slots), none (default when oversubscribed), socket, ...
#                       With --testcluster and at most as many ranks as this machine has cores, the default
#                       binds rank i to core i through a rankfile (see "Test cluster" below)
#   --threads T         BLAS/kernel threads per rank (OPENBLAS_NUM_THREADS; default 1: one rank per core)
#   --allreduce ALG     force OpenMPI's all-reduce algorithm: ring, segmented_ring, rabenseifner,
#                       recursive_doubling, nonoverlapping, basic_linear (default: OpenMPI's own choice),
#                       to compare them with `cluster-check bandwidth`
#   --program PATH      what to run (default: .build/release/simclr)
#   --mpirun-arg ARG    pass ARG to mpirun (repeatable)
#   --end-grace S       once a rank has failed (aborted, died, timed out), give mpirun S seconds to end the
#                       job, then kill it (default 30; see "Watchdog" below)
#   --max-restarts N    when the job fails, start it again up to N times from its last checkpoint (see
#                       "Restarts" below; default 0)
#   --dry-run           print the command instead of running it
#
# What it sets: OPENBLAS_NUM_THREADS per rank (and OPENBLAS_CORETYPE if set here; simclr picks good kernels
# itself otherwise), the OMPI_ALLOW_RUN_AS_ROOT pair only when running as root, --oversubscribe only when
# there are more ranks than slots, process binding, and OpenMPI's odls_base_sigkill_timeout = 1 s (unless
# OMPI_MCA_odls_base_sigkill_timeout is set). deploy/setup.sh raises it to 30 s in the user's OpenMPI
# parameter file, so that a bare mpirun's SIGTERM leaves the ranks time to write a checkpoint; this script
# does not need that (see "Signals" below), and OpenMPI waits those seconds, twice, at the end of every job
# that does not end with status 0, even when the ranks are already gone (measured: a stop through this script
# took 31-36 s with 30 s, 0.8-4 s with 1 s).
#
# Watchdog: mpirun ends a job only when every node's daemon has confirmed that its ranks are gone. A daemon
# behind a cut link never does, and mpirun then waits forever (seen: 238 s and counting after both ranks had
# timed out). So this script watches mpirun's output; from the first sign that the job is failing (OpenMPI's
# MPI_ABORT or "process rank ... exited" reports, a lost daemon, simclr's "timed out after" message) mpirun
# has --end-grace seconds to end; then this script kills it, kills what the job left on this host, and,
# through the launch agent, the job's daemons and ranks on every host that answers. A daemon behind the cut
# link exits by itself once the link is back and its connection to the dead mpirun is refused (measured: 90
# to 120 s later, TCP's retransmission backoff). The job ends with status 1 and a line saying so.
#
# Restarts (--max-restarts N): when the job fails (non-zero status that is not a stop this script forwarded,
# nor a usage error, nor a divergence: status 3, which the same checkpoint would repeat), it is started again with --resume added to the arguments, on the hosts of the hostfile
# that still answer (the launch agent, ssh or deploy/netns-agent.sh, can run `true` there), with as many ranks
# as their slots allow (at most the first run's). simclr continues from its last checkpoint; a run does not
# depend on its rank count (augmentation streams keyed by sample, global BatchNorm), so the continued run is
# the same training up to float rounding. The global batch must split over the ranks that remain. Each restart
# is logged with why, from which step, and on which hosts.
#
# Test cluster: its "hosts" are network namespaces of this one machine, so `--bind-to core` would bind every
# node's first rank to core 0. When the ranks fit on this machine's cores (and --bind is not given), rank i is
# bound to core i by a rankfile ("rank i=<its host> slot=i"); with more ranks than cores nothing is bound.
# Measured (W = 2, 1 Gbit/s namespace link, ResNet-18 bench): unbound, the ranks' compute and communication
# threads float over both cores and overlapping communication slowed compute by 14-17%; bound, by 8-11%.
#
# Examples:
#   deploy/launch.sh -n 2 -- pretrain --data synthetic --out runs/mpi --epochs 1 --width 0.25
#   deploy/launch.sh -n 4 --program .build/release/cluster-check           # 4 ranks on 2 cores: oversubscribed
#   deploy/testcluster.sh up 2 && deploy/launch.sh --testcluster --program .build/release/cluster-check
#   deploy/launch.sh --hostfile hostfiles/my-cluster --max-restarts 2 -- pretrain --out runs/long ...
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
np="" hostfile="" bind="" pin_by_rankfile=0 threads=1 allreduce="" program="$repo/.build/release/simclr" dry=0 testcluster=0
end_grace=30 max_restarts=0
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
        --end-grace) end_grace=$2; shift 2 ;;
        --max-restarts) max_restarts=$2; shift 2 ;;
        --dry-run) dry=1; shift ;;
        --) shift; break ;;
        *) break ;;
    esac
done

die() { echo "launch: $*" >&2; exit 2; }
[[ $end_grace =~ ^[0-9]+$ ]] || die "--end-grace takes whole seconds, got '$end_grace'"
[[ $max_restarts =~ ^[0-9]+$ ]] || die "--max-restarts takes a count, got '$max_restarts'"
[[ -z $np || $np =~ ^[1-9][0-9]*$ ]] || die "-n takes a positive rank count, got '$np'"
command -v mpirun >/dev/null || { echo "launch: mpirun not found (deploy/setup.sh installs openmpi-bin)" >&2; exit 1; }
[[ -x $program || $dry -eq 1 ]] || { echo "launch: $program is not built (swift build -c release)" >&2; exit 1; }

args=()
agent=()
if ((testcluster)); then
    subnet=${TESTCLUSTER_SUBNET:-10.77.0}
    hostfile=${hostfile:-${TESTCLUSTER_HOSTFILE:-$repo/hostfiles/testcluster-generated}}
    [[ -f $hostfile ]] || { echo "launch: $hostfile missing: run deploy/testcluster.sh up N first" >&2; exit 1; }
    # mpirun stays in the root namespace and reaches the nodes through the bridge address (.254). The agent
    # reads TESTCLUSTER_PREFIX from the environment mpirun passes on.
    agent=("$repo/deploy/netns-agent.sh")
    args+=(--mca plm_rsh_agent "${agent[0]}" --mca btl tcp,self
           --mca btl_tcp_if_include "$subnet.0/24" --mca oob_tcp_if_include "$subnet.0/24")
    # Every "node" would bind its rank to core 0 of the one real machine: rank i goes to core i through a
    # rankfile when the ranks fit on the cores (command_for writes it), else placement is left to the kernel.
    [[ -n $bind ]] || pin_by_rankfile=1
    bind=${bind:-none}
else
    agent=(ssh -o BatchMode=yes -o ConnectTimeout=10)
fi

# The hosts of a hostfile with their slots (slots=K per line, 1 when absent), one "host slots" per line.
hosts_of() {
    awk '!/^[[:space:]]*(#|$)/ { n = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { split($i, kv, "="); n = kv[2] } print $1, n }' "$1"
}
if [[ -n $hostfile ]]; then
    slots=$(hosts_of "$hostfile" | awk '{ s += $2 } END { print s + 0 }')
else
    slots=$(nproc)
fi
np=${np:-$slots}
cores=$(nproc)

if ((np > slots)); then
    args+=(--oversubscribe)
    bind=${bind:-none}          # binding more ranks than cores to cores would stack them anyway
fi
binding=(--bind-to "${bind:-core}")
[[ ${bind:-core} == core ]] && binding+=(--map-by core)

if [[ -n $allreduce ]]; then
    # OpenMPI 4.1 coll/tuned numbering.
    case $allreduce in
        basic_linear) alg=1 ;; nonoverlapping) alg=2 ;; recursive_doubling) alg=3 ;;
        ring) alg=4 ;; segmented_ring) alg=5 ;; rabenseifner) alg=6 ;;
        *) echo "launch: unknown --allreduce '$allreduce'" >&2; exit 2 ;;
    esac
    args+=(--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm "$alg")
fi

# OpenMPI's kill sequence (above): 1 s unless this job's environment asks otherwise. On mpirun's command line
# it also reaches the other hosts' daemons, and it overrides the parameter file.
[[ -n ${OMPI_MCA_odls_base_sigkill_timeout:-} ]] || args+=(--mca odls_base_sigkill_timeout 1)

args+=(-x OPENBLAS_NUM_THREADS="$threads")
[[ -n ${OPENBLAS_CORETYPE:-} ]] && args+=(-x OPENBLAS_CORETYPE)

if [[ $(id -u) -eq 0 ]]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

# The rankfile that binds rank i to core i (test cluster, see above): rank i runs on the host of the hostfile's
# i-th slot, in the order mpirun fills them.
rankfile_for() {   # rankfile_for NP HOSTFILE
    hosts_of "$2" | awk -v np="$1" '{ for (k = 0; k < $2 && r < np; k++) { printf "rank %d=%s slot=%d\n", r, $1, r; r++ } }'
}

program_args=("$@")
state=""
if ((!dry)); then
    state=$(mktemp -d "${TMPDIR:-/tmp}/simclr-launch.XXXXXX")
    trap 'rm -rf "$state"' EXIT
fi
command_for() {   # command_for NP HOSTFILE: the mpirun command line of one attempt, in the array `cmd`
    cmd=(mpirun -np "$1")
    if [[ -n $2 ]]; then cmd+=(--hostfile "$2"); fi
    if ((pin_by_rankfile && $1 <= cores)); then
        local rankfile=${state:-${TMPDIR:-/tmp}}/rankfile
        if ((dry)); then rankfile_for "$1" "$2" | sed "s/^/# rankfile: /"; else rankfile_for "$1" "$2" > "$rankfile"; fi
        cmd+=(--rankfile "$rankfile")
    else
        cmd+=("${binding[@]}")
    fi
    cmd+=("${args[@]}" "${extra[@]}" "$program" "${program_args[@]}")
}
command_for "$np" "$hostfile"
if ((dry)); then printf '%q ' "${cmd[@]}"; echo; exit 0; fi

# Signs in mpirun's output that the job is failing: OpenMPI's reports of an aborting, dying or unreachable
# process or daemon, and simclr's deadline message.
failing='MPI_ABORT was invoked|mpirun noticed that process rank|exited on signal|returned a non-zero exit code|ORTE has lost communication|lost communication with|unable to reliably start|timed out after [0-9.]+ s'

# Copies stdin to stdout as it arrives (progress lines end in \r, so nothing may wait for a newline) and
# writes the lines that match $failing (the first 20) to the file $1. Ignores SIGINT and SIGTERM: a Ctrl-C reaches
# the whole terminal process group, and the output of the checkpoint that follows must still get through. The
# subshell becomes tee (exec), so the pid this script keeps is tee's own.
copy_watching() {
    trap '' INT TERM
    if [[ ${2:-} == --clean-stop-quiet ]]; then   # mpirun's stderr: through clean_stop_filter (below)
        exec tee -p >(stdbuf -oL tr '\r' '\n' | grep -a --line-buffered -m20 -E "$failing" > "$1" || true) \
            >(clean_stop_filter) > /dev/null
    fi
    exec tee -p >(stdbuf -oL tr '\r' '\n' | grep -a --line-buffered -m20 -E "$failing" > "$1" || true)
}

# Drops mpirun's two notices that ranks "exited with non-zero status" when that status is 130 or 143: the
# ranks ending a clean stop (Ctrl-C, SIGTERM, checkpoint written), which the ranks' own output already says.
# The first notice does not name the status: it is held until the second arrives, and dropped at the end if
# this script forwarded a stop ($state/stopping). Also drops mpirun's "Forwarding signal" lines (the signals
# are this script's SIGUSR1/2). The notices of any other status, and every other line, pass through.
clean_stop_filter() {
    awk -v stopping="$state/stopping" '
        function flush_held() { if (held != "") { printf "%s", held; held = "" } fflush() }
        /^mpirun: Forwarding signal 1[02] to job/ { next }
        /^---------------------------*$/ {
            if (!inblock) { inblock = 1; block = $0 "\n"; next }
            block = block $0 "\n"; inblock = 0
            if (block ~ /Primary job +terminated normally, but [0-9]+ process(es)? returned/) {
                flush_held(); held = block; next
            }
            if (block ~ /exited with non-zero status/ && block ~ /Exit code: +(130|143)\n/) { held = ""; fflush(); next }
            flush_held(); printf "%s", block; fflush(); next
        }
        inblock { block = block $0 "\n"; next }
        { flush_held(); print; fflush() }
        END {
            if (inblock) printf "%s", block
            if (held != "" && (getline line < stopping) >= 0) held = ""
            flush_held()
        }'
}

signalled=0 forwarded="" mpirun_pid=""
forward() {
    [[ -n $mpirun_pid ]] || exit "$3"
    if ((signalled)); then kill "-$2" "$mpirun_pid" 2>/dev/null || true; return; fi
    signalled=$3 forwarded=$1
    : > "$state/stopping"   # tells clean_stop_filter that a stop was asked for
    kill "-$1" "$mpirun_pid" 2>/dev/null || true
}
# Signals: Ctrl-C and SIGTERM become SIGUSR1 and SIGUSR2, which mpirun forwards to every rank at once; simclr reads
# them as SIGINT and SIGTERM: each rank finishes its step, rank 0 writes the checkpoint, and the job exits
# 130 (SIGINT) or 143 (SIGTERM). mpirun runs in its own session so a terminal's Ctrl-C reaches only this
# script (mpirun would start its own kill sequence). A second Ctrl-C or SIGTERM is passed on as is.
trap 'forward USR1 INT 130' INT
trap 'forward USR2 TERM 143' TERM

# Every process below $1, children first.
descendants() {
    local child
    for child in $(ps -o pid= --ppid "$1"); do descendants "$child"; echo "$child"; done
}

# Ends a job whose mpirun does not: kills mpirun and what it started on this host (in this network namespace:
# the test cluster's "hosts" are namespaces of this machine, reached only through the agent), then, through
# the launch agent, the daemons of this job (OpenMPI's job id is on their command line) and their ranks on
# every host of the hostfile that answers.
end_job() {
    local pid=$1 jobid local_pids=() p here
    jobid=$(ps -o args= --ppid "$pid" | grep -o 'ess_base_jobid "*[0-9]*' | head -1 | grep -o '[0-9]*$' || true)
    here=$(readlink /proc/self/ns/net)
    for p in $(descendants "$pid"); do
        if [[ $(readlink "/proc/$p/ns/net" 2>/dev/null) == "$here" ]]; then local_pids+=("$p"); fi
    done
    kill -KILL "$pid" "${local_pids[@]}" 2>/dev/null || true
    [[ -n $hostfile && -n $jobid ]] || return 0
    # Run on each host by its shell: [d]igit keeps the pattern from matching that shell itself; only processes
    # in the shell's own network namespace count (the test cluster's nodes share one process table).
    local remote="for p in \$(pgrep -f 'orted .*ess_base_jobid [${jobid:0:1}]${jobid:1} '); do
        [ \"\$(readlink /proc/\$p/ns/net)\" = \"\$(readlink /proc/self/ns/net)\" ] || continue
        pkill -KILL -P \$p; kill -KILL \$p; done"
    local host n
    while read -r host n; do
        timeout 20 "${agent[@]}" "$host" "$remote" </dev/null >/dev/null 2>&1 || true
    done < <(hosts_of "$hostfile")
}

# Runs the command in `cmd` once; sets `status` and `reason` (what the failing lines say, or empty).
attempt() {
    local out=$state/out err=$state/err tee_out tee_err ending_since=0 killed=0 last_forward=-1
    rm -f "$out" "$err" "$state/reason-out" "$state/reason-err"
    mkfifo "$out" "$err"
    copy_watching "$state/reason-out" < "$out" & tee_out=$!
    copy_watching "$state/reason-err" --clean-stop-quiet < "$err" >&2 & tee_err=$!
    setsid "${cmd[@]}" > "$out" 2> "$err" &
    mpirun_pid=$!
    while kill -0 "$mpirun_pid" 2>/dev/null; do
        # mpirun forwards the signal only to ranks that have started: repeat it (the ranks' handlers only
        # set a flag) so a stop requested while the job starts is not lost.
        if [[ -n $forwarded ]] && ((SECONDS != last_forward)); then
            kill "-$forwarded" "$mpirun_pid" 2>/dev/null || true
            last_forward=$SECONDS
        fi
        if ((ending_since == 0)) && [[ -s $state/reason-out || -s $state/reason-err ]]; then
            ending_since=$SECONDS
        fi
        if ((ending_since > 0 && SECONDS - ending_since >= end_grace && ! killed)); then
            echo "launch: mpirun has not ended the job $end_grace s after a rank failed (a host may be unreachable): killing it" >&2
            end_job "$mpirun_pid"
            killed=1
        fi
        sleep 0.2
    done
    status=0
    wait "$mpirun_pid" 2>/dev/null || status=$?   # no "Killed" notice when the watchdog ended it
    # The copies end when every writer has closed the pipes; a daemon behind a cut link (it inherited mpirun's
    # output through the launch agent) may hold them open: do not wait for it.
    local waited=0
    while ((waited < 20)) && { kill -0 "$tee_out" 2>/dev/null || kill -0 "$tee_err" 2>/dev/null; }; do
        sleep 0.1; waited=$((waited + 1))
    done
    kill -KILL "$tee_out" "$tee_err" 2>/dev/null || true
    wait "$tee_out" "$tee_err" 2>/dev/null || true
    # The ranks' own message ("[rank R of W on HOST] ...") says most; else OpenMPI's first report.
    local lines; lines=$(cat "$state/reason-err" "$state/reason-out" 2>/dev/null || true)
    reason=$(grep -m1 '^\[rank ' <<< "$lines" || grep -m1 . <<< "$lines" || true)
    reason=${reason:0:300}
    if ((killed)); then
        echo "launch: mpirun stopped by the watchdog; the job failed: ${reason:-no reason printed}" >&2
        status=1
    elif ((signalled)) && ((status == 128 + 10 || status == 128 + 12)); then
        # mpirun or a rank died of the SIGUSR1/2 meant for the ranks: it came before their handlers were set
        # up, so no step had started. Report the signal the user sent.
        status=$signalled
    fi
    mpirun_pid=""
}

# The step of the checkpoint in the --out directory of the program's arguments ("0 (no checkpoint yet)" without one).
checkpoint_step() { "$repo/deploy/checkpoint-step.sh" "${program_args[@]}"; }

# The hosts of the hostfile whose launch agent answers, written as a hostfile to $1; prints their slots.
answering_hosts() {
    local host n total=0
    : > "$1"
    while read -r host n; do
        if [[ $host == localhost || $host == 127.* || $host == "$(hostname)" ]] \
            || timeout 20 "${agent[@]}" "$host" true </dev/null >/dev/null 2>&1; then
            echo "$host slots=$n" >> "$1"
            total=$((total + n))
        fi
    done < <(hosts_of "$hostfile")
    echo "$total"
}

restarts=0
while true; do
    attempt
    # Not failures: success, a stop (a signal to this script, or SIGINT/SIGTERM that reached the ranks some
    # other way), a usage error (64: the same arguments would be refused again), a divergence (3: the same
    # checkpoint and settings diverge again; simclr said how to go on).
    if ((status == 0 || signalled || status == 130 || status == 143 || status == 64 || status == 3 || restarts >= max_restarts)); then
        break
    fi
    restarts=$((restarts + 1))
    why=${reason:-exit status $status}
    run_np=$np run_hostfile=$hostfile where="this host"
    if [[ -n $hostfile ]]; then
        run_hostfile=$state/hostfile-$restarts
        available=$(answering_hosts "$run_hostfile")
        if ((available == 0)); then
            echo "launch: restart $restarts of $max_restarts impossible: no host of $hostfile answers" >&2
            break
        fi
        ((available < slots && available < np)) && run_np=$available
        where=$(awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $1 }' "$run_hostfile")
    fi
    [[ " ${program_args[*]} " == *" --resume "* ]] || program_args+=(--resume)
    echo "launch: restart $restarts of $max_restarts after exit status $status ($why); from step $(checkpoint_step), on $run_np rank(s): $where" >&2
    command_for "$run_np" "$run_hostfile"
done
exit "$status"
