#!/usr/bin/env bash
# Scaling-efficiency study: `simclr bench --distributed` over 1..N ranks, weak scaling (fixed per-rank batch)
# and strong scaling (fixed global batch), on this host (shared memory) and optionally on the namespace test
# cluster with emulated links. Writes OUT/scaling.csv and OUT/scaling.md.
#
#   deploy/scaling.sh [--max-ranks N] [--per-rank-batch b] [--global-batch B] [--steps S] [--width W]
#                     [--links "local 1gbit 10gbit"] [--compression "none bf16 powersgd"] [--out DIR]
#
# Batches count images as pretrain does (each gives two views): the default 16 per rank runs 32 views per rank.
# efficiency(W) = throughput(W) / (W * throughput(1)), each series against its own 1-rank run.
# Per step, bench reports compute time, time blocked in communication that overlap did not hide, and the
# gradient all-reduce time on the communication thread; hidden = 1 - blocked / all-reduce.
# One rank per core with one BLAS thread each: on a 2-core machine only W <= 2 measures real scaling.
# --compression runs every link and mode once per gradient compression (bench --grad-compression; PowerSGD at
# rank 4 from the first step); the CSV and the table name it. bench also reports, per step, what overlap costs
# compute (interleaved steps without overlap): compute_slowdown = compute with overlap / compute without.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
max_ranks=2 per_rank=16 global=32 steps=3 width=1.0 links="local" compressions="none" out="$repo/runs/scaling"
while (($#)); do
    case $1 in
        --max-ranks) max_ranks=$2; shift 2 ;;
        --per-rank-batch) per_rank=$2; shift 2 ;;
        --global-batch) global=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --width) width=$2; shift 2 ;;
        --links) links=$2; shift 2 ;;
        --compression) compressions=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "scaling: unknown option $1" >&2; exit 2 ;;
    esac
done

simclr="$repo/.build/release/simclr"
[[ -x $simclr ]] || (cd "$repo" && swift build -c release --product simclr >/dev/null)
mkdir -p "$out"
csv="$out/scaling.csv"
echo "link,compression,mode,ranks,global_batch,per_rank_batch,img_per_s,ms_per_step,ms_compute,ms_comm_wait,ms_grad_comm,hidden_fraction,compute_slowdown,efficiency" > "$csv"

field() { grep -o "\"$2\": [0-9.e+-]*" <<<"$1" | head -1 | awk '{print $2}'; }

cleanup() { [[ $links == "local" ]] || "$repo/deploy/testcluster.sh" down >/dev/null 2>&1 || true; }
trap cleanup EXIT

# One namespace cluster at a time on this machine (the tests take the same lock).
if [[ $links != local ]]; then exec 9>/tmp/simclr-testcluster.lock; flock 9; fi

for link in $links; do
    launch=("$repo/deploy/launch.sh" --threads 1)
    if [[ $link != local ]]; then
        "$repo/deploy/testcluster.sh" up "$max_ranks" --rate "$link" >/dev/null
        launch+=(--testcluster)
    fi
    for compression in $compressions; do
    for mode in weak strong; do
        base=""
        for ((w = 1; w <= max_ranks; w++)); do
            if [[ $mode == weak ]]; then batch=$((per_rank * w)); else batch=$global; fi
            # A launch that fails to start its daemons can leave mpirun waiting: bound every run.
            json=$(timeout --kill-after=10 900 "${launch[@]}" -n "$w" -- bench --distributed --batch-size "$batch" --width "$width" \
                   --steps "$steps" --warmup 1 --threads 1 --grad-compression "$compression" --json | grep '^{' | tail -1 || true)
            if [[ -z $json ]]; then echo "scaling: $link $mode W=$w failed; skipped" >&2; continue; fi
            ips=$(field "$json" img_per_s)
            [[ -n $base ]] || base=$ips
            eff=$(awk -v t="$ips" -v b="$base" -v w="$w" 'BEGIN { printf "%.3f", t / (w * b) }')
            wait_ms=$(field "$json" ms_comm_wait) comm_ms=$(field "$json" ms_grad_comm)
            hidden=$(awk -v a="$wait_ms" -v c="$comm_ms" 'BEGIN { if (c > 0) { h = 1 - a / c; if (h < 0) h = 0; printf "%.2f", h } else print "" }')
            slowdown=$(field "$json" compute_slowdown_ratio)
            echo "$link,$compression,$mode,$w,$batch,$((batch / w)),$ips,$(field "$json" ms_per_step),$(field "$json" ms_compute),$wait_ms,$comm_ms,$hidden,$slowdown,$eff" >> "$csv"
            echo "scaling: $link $compression $mode W=$w batch=$batch: $ips img/s, efficiency $eff" >&2
        done
    done
    done
    cleanup
done

{
    echo "| link | compression | mode | ranks | global batch | img/s | ms/step | compute ms | comm wait ms | all-reduce ms | hidden | compute slowdown | efficiency |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    tail -n +2 "$csv" | awk -F, '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $7, $8, $9, $10, $11, $12, $13, $14 }'
} > "$out/scaling.md"
cat "$out/scaling.md"
