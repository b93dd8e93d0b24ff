#!/usr/bin/env bash
# OpenMPI's collective algorithms on the namespace test cluster: `cluster-check bandwidth --sweep` for each
# all-reduce (and all-gather) algorithm, rank count and link, into one CSV (docs/collective-algorithms.md).
#
#   deploy/collectives.sh [--links "1gbit 10gbit"] [--ranks "2 4 8 16"] [--collective allreduce|allgather]
#                         [--algorithms "tuned:0 tuned:4 nbc:0 nbc:1 ..."] [--max-bytes 64M] [--factor 4]
#                         [--seconds-per-size 0.2] [--out DIR]
#
# An algorithm is PATH:N. PATH tuned = blocking calls, coll/tuned's algorithm N (coll_tuned_allreduce_algorithm
# or coll_tuned_allgather_algorithm with coll_tuned_use_dynamic_rules 1; 0 = OpenMPI's own choice);
# PATH tuned-yield = the same with mpi_yield_when_idle 1 (a waiting rank yields its core instead of spinning);
# PATH nbc = non-blocking calls (what training issues under a collective deadline), libnbc's algorithm N
# (coll_libnbc_iallreduce_algorithm / coll_libnbc_iallgather_algorithm; 0 = libnbc's own choice).
# A link is a tc rate (1gbit, 10gbit, ...), "unshaped" (namespaces without a rate limit: what this machine's
# kernel can carry) or "local" (W ranks on this host, over shared memory: no namespaces). Rows: tag
# (link/ranks/path:algorithm) + the sweep's columns + host_cpu (the fraction of all cores busy during that run:
# near 1, the figures are this machine's, not the link's), in OUT/collectives.csv.
# Holds /tmp/simclr-testcluster.lock while the cluster is up; run it alone on the machine for figures.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
links="1gbit" ranks="2 4" collective=allreduce algorithms="tuned:0 tuned:3 tuned:4 tuned:6 nbc:0 nbc:1 nbc:3"
max_bytes=64M factor=4 per_size=0.2 out="$repo/runs/collectives"
while (($#)); do
    case $1 in
        --links) links=$2; shift 2 ;;
        --ranks) ranks=$2; shift 2 ;;
        --collective) collective=$2; shift 2 ;;
        --algorithms) algorithms=$2; shift 2 ;;
        --max-bytes) max_bytes=$2; shift 2 ;;
        --factor) factor=$2; shift 2 ;;
        --seconds-per-size) per_size=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "collectives: unknown option $1" >&2; exit 2 ;;
    esac
done
case $collective in allreduce|allgather) ;; *) echo "collectives: --collective is allreduce or allgather" >&2; exit 2 ;; esac

check="$repo/.build/release/cluster-check"
[[ -x $check ]] || { echo "collectives: build cluster-check first (swift build -c release --product cluster-check)" >&2; exit 1; }
max_w=0; for w in $ranks; do ((w > max_w)) && max_w=$w; done
mkdir -p "$out"
csv="$out/collectives.csv"
[[ -f $csv ]] || echo "link,world,algorithm,collective,ranks,bytes,iterations,seconds,algbw_gbps,busbw_gbps,host_cpu" > "$csv"

# Busy and total jiffies of the whole machine (all cores), for the host's CPU use during a run.
cpu_jiffies() { awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8; print busy, busy + $5 + $6 }' /proc/stat; }

exec 9>/tmp/simclr-testcluster.lock
flock 9
trap '"$repo/deploy/testcluster.sh" down >/dev/null 2>&1 || true' EXIT
for link in $links; do
    where=(--testcluster)
    if [[ $link == local ]]; then where=()
    elif [[ $link == unshaped ]]; then "$repo/deploy/testcluster.sh" up "$max_w" >/dev/null
    else "$repo/deploy/testcluster.sh" up "$max_w" --rate "$link" >/dev/null; fi
    for w in $ranks; do
        for alg in $algorithms; do
            path=${alg%%:*} n=${alg#*:}
            case $path in
                tuned|tuned-yield)
                    mca=(--mpirun-arg --mca --mpirun-arg coll_tuned_use_dynamic_rules --mpirun-arg 1
                         --mpirun-arg --mca --mpirun-arg "coll_tuned_${collective}_algorithm" --mpirun-arg "$n") ; nb=()
                    [[ $path == tuned-yield ]] && mca+=(--mpirun-arg --mca --mpirun-arg mpi_yield_when_idle --mpirun-arg 1) ;;
                nbc) mca=(--mpirun-arg --mca --mpirun-arg "coll_libnbc_i${collective}_algorithm" --mpirun-arg "$n") ; nb=(--nonblocking) ;;
                *) echo "collectives: algorithm '$alg' is not tuned:N or nbc:N" >&2; exit 2 ;;
            esac
            part=$(mktemp)
            start=$(date +%s)
            read -r busy0 total0 < <(cpu_jiffies)
            if timeout --kill-after=10 900 "$repo/deploy/launch.sh" "${where[@]}" -n "$w" --program "$check" "${mca[@]}" -- \
                    bandwidth --sweep --collective "$collective" --max-bytes "$max_bytes" --factor "$factor" \
                    --seconds-per-size "$per_size" --csv "$part" --tag "$link,$w,$alg" "${nb[@]}" >/dev/null; then
                read -r busy1 total1 < <(cpu_jiffies)
                cpu=$(awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) 'BEGIN { printf "%.2f", (t > 0 ? b / t : 0) }')
                tail -n +2 "$part" | sed "s/\$/,$cpu/" >> "$csv"
                echo "collectives: $link W=$w $alg: $(( $(date +%s) - start )) s, host CPU $cpu" >&2
            else
                echo "collectives: $link W=$w $alg failed; skipped" >&2
            fi
            rm -f "$part"
        done
    done
    [[ $link == local ]] || "$repo/deploy/testcluster.sh" down >/dev/null
done
echo "collectives: $csv"
