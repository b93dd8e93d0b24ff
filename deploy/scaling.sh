#!/usr/bin/env bash
# Scaling-efficiency study: `simclr bench --distributed` over 1..N ranks, weak scaling (fixed per-rank batch)
# and strong scaling (fixed global batch), on this host (shared memory) and optionally on the namespace test
# cluster with emulated links, beside the hardware's own ceiling measured in the same sitting.
# Writes OUT/scaling.csv and OUT/scaling.md (medians over the rounds), OUT/runs.csv (every run) and
# OUT/ceiling.csv (every ceiling measurement).
#
#   deploy/scaling.sh [--max-ranks N] [--per-rank-batch b] [--global-batch B] [--steps S] [--width W]
#                     [--links "local 1gbit 10gbit"] [--compression "none bf16 powersgd"]
#                     [--modes "weak strong"] [--rounds R] [--out DIR]
#
# Batches count images as pretrain does (each gives two views): the default 16 per rank runs 32 views per rank.
# efficiency(W) = throughput(W) / (W * throughput(1)), each series against its own 1-rank run.
# Ceiling: W ranks on one machine share its caches and memory bandwidth, so they cannot reach W times one
# rank's throughput even with free communication. ceiling(W) = the summed img/s of W independent single-process
# benches (no MPI, no communication; process i pinned to core i, the same per-process batch) / (W * the img/s
# of one of them running alone). efficiency / ceiling is what the distributed step itself costs; the ceiling is
# what the hardware costs. It is measured for W <= this machine's cores, and in every round.
# Rounds: each round runs every link's modes, compressions and rank counts once (and the ceiling), in turn, so
# slow drifts of the machine spread over all of them; the tables give medians over the rounds.
# Per step, bench reports compute time, time blocked in communication that overlap did not hide, and the
# gradient all-reduce time on the communication thread; hidden = 1 - blocked / all-reduce; payload = the
# gradient bytes per step each rank hands to collectives (MB; bf16 halves it, PowerSGD sends P and Q).
# One rank per core with one BLAS thread each: on a 2-core machine only W <= 2 measures real scaling.
# --compression runs every link and mode once per gradient compression (bench --grad-compression; PowerSGD at
# its default rank from the first step); the CSV and the table name it. bench also reports, per step, what overlap costs
# compute (interleaved steps without overlap): compute_slowdown = compute with overlap / compute without.
#
# Emulated compute (more hosts than cores; docs/scaling-model.md, 'Emulated compute'):
#   --emulate PROFILE         every run with W >= 2 replays PROFILE (simclr bench --profile-out, one rank, the same
#                             --per-rank-batch and --width) by sleeping while every collective is real; W = 1 stays
#                             real compute (the baseline). Weak scaling only. PROFILE 'auto': measure it first, one
#                             rank alone on core 0 (OUT/profile.json)
#   --emulate-scale LIST      'LINK=K,...' or one K: gradients at 1/K of their size on links of 1/K the rate (the
#                             cluster is set up at LINK/K), so many hosts stay bound by their links rather than by
#                             this machine
#   --emulate-slowdown LIST   'LINK=F,...' or one F: replayed compute takes F times its profile (the compute factor
#                             deploy/emulation-check.sh measures per link); default 1
#   --emulate-sharing MODE    what else stretches replayed compute live (bench --emulate-cpu-sharing): core (default),
#                             thread, none. With the in-step factor of emulation-check.sh give none: the factor
#                             already holds what the core's other work took from compute
#   --cpu-bound X             rows whose host CPU use (both cores busy, from /proc/stat) reached X are marked
#                             cpu_bound=yes: the machine, not the link, set their time (default 0.9)
#   --predict SWEEPS          then fill predicted_ms_per_step by `simclr scaling-model --profile PROFILE --sweep SWEEP...
#                             --study scaling.csv --write --compute-factor LIST` (report and SVG plots in OUT/model/);
#                             SWEEPS: CSV files (space-separated), or 'auto': sweep each link first (at its rate / K;
#                             local over shared memory) with deploy/collectives.sh at W = 2..4, the ranks the model is
#                             fitted on (OUT/sweeps/)
#   --compute-factor LIST     the model's compute factor per link ('LINK=X,...' or one X); default: --emulate-slowdown's
#                             (the same quantity: compute of W > 1 takes X times its profile)
# The columns emulated, emulate_scale, emulate_slowdown, host_cpu, cpu_bound, predicted_ms_per_step follow the
# others at the end of scaling.csv.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
max_ranks=2 per_rank=16 global=32 steps=3 width=1.0 links="local" compressions="none" modes="weak strong" rounds=1
out="$repo/runs/scaling"
emulate="" emulate_scale=1 emulate_slowdown=1 emulate_sharing=core cpu_bound=0.9 predict="" compute_factor=""
while (($#)); do
    case $1 in
        --max-ranks) max_ranks=$2; shift 2 ;;
        --per-rank-batch) per_rank=$2; shift 2 ;;
        --global-batch) global=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --width) width=$2; shift 2 ;;
        --links) links=$2; shift 2 ;;
        --compression) compressions=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --emulate) emulate=$2; shift 2 ;;
        --emulate-scale) emulate_scale=$2; shift 2 ;;
        --emulate-slowdown) emulate_slowdown=$2; shift 2 ;;
        --emulate-sharing) emulate_sharing=$2; shift 2 ;;
        --compute-factor) compute_factor=$2; shift 2 ;;
        --cpu-bound) cpu_bound=$2; shift 2 ;;
        --predict) predict=$2; shift 2 ;;
        -h|--help) sed -n '2,53p' "$0"; exit 0 ;;
        *) echo "scaling: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "scaling: --rounds takes a positive count, got '$rounds'" >&2; exit 2; }
for mode in $modes; do
    [[ $mode == weak || $mode == strong ]] || { echo "scaling: --modes takes weak and/or strong, got '$mode'" >&2; exit 2; }
done

if [[ -n $emulate ]]; then
    [[ $emulate == auto || -f $emulate ]] || { echo "scaling: --emulate: no profile at '$emulate' (write one with simclr bench --profile-out FILE --batch-size $per_rank --width $width --threads 1)" >&2; exit 2; }
    [[ $modes == weak ]] || { echo "scaling: --emulate replays a per-rank profile: give --modes weak (got '$modes')" >&2; exit 2; }
    for item in ${emulate_scale//,/ }; do
        [[ ${item#*=} =~ ^[1-9][0-9]*$ ]] || { echo "scaling: --emulate-scale takes 'LINK=K,...' or one K (positive integers), got '$emulate_scale'" >&2; exit 2; }
    done
    [[ $emulate_sharing =~ ^(core|thread|none)$ ]] || { echo "scaling: --emulate-sharing takes core, thread or none, got '$emulate_sharing'" >&2; exit 2; }
elif [[ $emulate_scale != 1 || $emulate_slowdown != 1 || $emulate_sharing != core ]]; then
    echo "scaling: --emulate-scale, --emulate-slowdown and --emulate-sharing apply to --emulate PROFILE only" >&2; exit 2
fi
[[ -z $compute_factor || -n $predict ]] || { echo "scaling: --compute-factor is the model's (--predict SWEEP)" >&2; exit 2; }
compute_factor=${compute_factor:-$emulate_slowdown}
[[ -z $predict || -n $emulate ]] || { echo "scaling: --predict needs the step profile: give --emulate PROFILE" >&2; exit 2; }
if [[ -n $predict && $predict != auto ]]; then
    for f in $predict; do
        [[ -f $f ]] || { echo "scaling: --predict: no sweep CSV at '$f' (deploy/collectives.sh writes one; or give auto)" >&2; exit 2; }
    done
fi
# The slowdown of LINK from --emulate-slowdown ('LINK=F,...' or one F for all).
slowdown_of() {
    local item default=1
    for item in ${emulate_slowdown//,/ }; do
        if [[ $item == *=* ]]; then [[ ${item%%=*} == "$1" ]] && { echo "${item#*=}"; return; }; else default=$item; fi
    done
    echo "$default"
}
# The --emulate-scale K of LINK ('LINK=K,...' or one K for all; 1 for local).
scale_of() {
    local item default=1
    [[ $1 == local ]] && { echo 1; return; }
    for item in ${emulate_scale//,/ }; do
        if [[ $item == *=* ]]; then [[ ${item%%=*} == "$1" ]] && { echo "${item#*=}"; return; }; else default=$item; fi
    done
    echo "$default"
}
# The scale of LINK's COMPRESSION runs: PowerSGD's messages do not shrink with the gradient, so it runs unscaled.
scale_for() { if [[ $2 == powersgd ]]; then echo 1; else scale_of "$1"; fi; }
# LINK's rate divided by its --emulate-scale, in bit/s (testcluster.sh's syntax).
scaled_rate() {
    local bits
    case $1 in
        *gbit) bits=$(( ${1%gbit} * 1000000000 )) ;;
        *mbit) bits=$(( ${1%mbit} * 1000000 )) ;;
        *kbit) bits=$(( ${1%kbit} * 1000 )) ;;
        *bit) bits=${1%bit} ;;
        *) echo "scaling: link '$1' must be local or a rate such as 1gbit" >&2; exit 2 ;;
    esac
    bits=$((bits / $(scale_of "$1")))
    if ((bits % 1000000000 == 0)); then echo "$((bits / 1000000000))gbit"
    elif ((bits % 1000000 == 0)); then echo "$((bits / 1000000))mbit"
    else echo "${bits}bit"; fi
}
field() { grep -o "\"$2\": [0-9.e+-]*" <<<"$1" | head -1 | awk '{print $2}'; }
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }

simclr="$repo/.build/release/simclr"
[[ -x $simclr ]] || (cd "$repo" && swift build -c release --product simclr >/dev/null)
mkdir -p "$out"
started=$(date +%s)

# --emulate auto: the one-rank profile every emulated run replays, measured here first (one rank alone on core 0,
# one BLAS thread, the study's per-rank batch and width).
if [[ $emulate == auto ]]; then
    emulate="$out/profile.json"
    OPENBLAS_NUM_THREADS=1 taskset -c 0 "$simclr" bench --batch-size "$per_rank" --width "$width" --steps 6 --warmup 2 --threads 1 \
        --no-roofline --json --profile-out "$emulate" > "$out/profile-bench.json"
    echo "scaling: profile $emulate ($(field "$(grep '^{' "$out/profile-bench.json" | tail -1)" ms_compute) ms of compute per step)" >&2
fi
# --predict auto: the collectives' size sweeps the model is fitted on (W = 2..4; the held-out W are not swept),
# each link at the rate its runs use (LINK / K), the algorithms the project sets: Rabenseifner all-reduce on
# powers of two, the ring on 3, recursive-doubling all-gather. deploy/collectives.sh takes the cluster lock itself.
if [[ $predict == auto ]]; then
    check="$repo/.build/release/cluster-check"
    [[ -x $check ]] || (cd "$repo" && swift build -c release --product cluster-check >/dev/null)
    sweeps="$out/sweeps" predict=""
    rm -rf "$sweeps"
    rates=""
    for link in $links; do
        for compression in $compressions; do
            rate=$link
            (($(scale_for "$link" "$compression") > 1)) && rate=$(scaled_rate "$link")
            [[ " $rates " == *" $rate "* ]] || rates+="$rate "
        done
    done
    for rate in $rates; do
        "$repo/deploy/collectives.sh" --links "$rate" --ranks "2 4" --collective allreduce --algorithms nbc:3 --max-bytes 32M --out "$sweeps/allreduce" >/dev/null
        "$repo/deploy/collectives.sh" --links "$rate" --ranks "3" --collective allreduce --algorithms nbc:1 --max-bytes 32M --out "$sweeps/allreduce" >/dev/null
        "$repo/deploy/collectives.sh" --links "$rate" --ranks "2 3 4" --collective allgather --algorithms nbc:2 --max-bytes 4M --out "$sweeps/allgather" >/dev/null
        echo "scaling: swept $rate at W = 2..4 ($(( $(date +%s) - started )) s so far)" >&2
    done
    predict="$sweeps/allreduce/collectives.csv $sweeps/allgather/collectives.csv"
fi
runs="$out/runs.csv" ceiling_csv="$out/ceiling.csv"
columns="link,compression,mode,ranks,global_batch,per_rank_batch,img_per_s,ms_per_step,ms_compute,ms_comm_wait,ms_grad_comm,hidden_fraction,compute_slowdown,ms_compute_no_overlap,ms_per_step_no_overlap,grad_payload_mb"
echo "round,$columns,host_cpu" > "$runs"
echo "round,processes,per_process_img_per_s,alone_img_per_s,ceiling" > "$ceiling_csv"

cleanup() { [[ $links == "local" ]] || "$repo/deploy/testcluster.sh" down >/dev/null 2>&1 || true; }
trap cleanup EXIT

# One namespace cluster at a time on this machine (the tests take the same lock). This script takes it itself:
# under a wrapper that already holds it, it would wait forever, so say what it waits for.
if [[ $links != local ]]; then
    exec 9>/tmp/simclr-testcluster.lock
    if ! flock -n 9; then
        echo "scaling: waiting for /tmp/simclr-testcluster.lock (the namespace cluster is in use; this script takes the lock itself, do not run it under a command that holds it)" >&2
        flock 9
    fi
fi

# The ceiling of round $1: one pinned single-process bench alone, then W of them at once (W = 2..cores).
single_bench() {   # single_bench CORE: img/s of one plain bench pinned to CORE
    taskset -c "$1" "$simclr" bench --batch-size "$per_rank" --width "$width" --steps "$steps" --warmup 1 --threads 1 \
        --no-roofline --json 2>/dev/null | grep '^{' | tail -1 | grep -o '"img_per_s": [0-9.e+-]*' | awk '{print $2}'
}
measure_ceiling() {
    local round=$1 alone w i files rates
    alone=$(single_bench 0 || true)
    [[ -n $alone ]] || { echo "scaling: the single-process bench failed; no ceiling" >&2; return; }
    for ((w = 2; w <= max_ranks && w <= $(nproc); w++)); do
        files=()
        for ((i = 0; i < w; i++)); do
            files+=("$out/.ceiling-$i")
            single_bench "$i" > "$out/.ceiling-$i" &
        done
        wait
        rates=$(cat "${files[@]}" | paste -sd' ')
        rm -f "${files[@]}"
        local ceiling
        ceiling=$(awk -v a="$alone" -v w="$w" '{ s = 0; for (i = 1; i <= NF; i++) s += $i } END { if (NF == w) printf "%.3f", s / (w * a) }' <<<"$rates")
        echo "$round,$w,${rates// /;},$alone,$ceiling" >> "$ceiling_csv"
        echo "scaling: round $round ceiling W=$w: $rates img/s at once, $alone alone: $ceiling" >&2
    done
}

for link in $links; do
    # PowerSGD's messages do not shrink with the gradient (bench refuses to scale them): on a scaled link its runs
    # get a cluster of their own at the full rate, after the others.
    groups=()
    scaled="" unscaled=""
    for compression in $compressions; do
        if (($(scale_for "$link" "$compression") > 1)); then scaled+="$compression "; else unscaled+="$compression "; fi
    done
    [[ -z $scaled ]] || groups+=("$scaled")
    [[ -z $unscaled ]] || groups+=("$unscaled")
    for group in "${groups[@]}"; do
    launch=("$repo/deploy/launch.sh" --threads 1)
    if [[ $link != local ]]; then
        first=${group%% *}
        rate=$link
        (($(scale_for "$link" "$first") > 1)) && rate=$(scaled_rate "$link")
        "$repo/deploy/testcluster.sh" up "$max_ranks" --rate "$rate" >/dev/null
        launch+=(--testcluster)
    fi
    for ((round = 1; round <= rounds; round++)); do
    measure_ceiling "$round"
    for mode in $modes; do
    for compression in $group; do
        for ((w = 1; w <= max_ranks; w++)); do
            if [[ $mode == weak ]]; then batch=$((per_rank * w)); else batch=$global; fi
            replay=()
            if [[ -n $emulate ]] && ((w > 1)); then
                replay=(--emulate "$emulate" --emulate-scale "$(scale_for "$link" "$compression")" --emulate-slowdown "$(slowdown_of "$link")" --emulate-cpu-sharing "$emulate_sharing" --no-overlap-baseline)
            fi
            read -r busy0 idle0 < <(cpu_ticks)
            # A launch that fails to start its daemons can leave mpirun waiting: bound every run.
            json=$(timeout --kill-after=10 900 "${launch[@]}" -n "$w" -- bench --distributed --batch-size "$batch" --width "$width" \
                   --steps "$steps" --warmup 1 --threads 1 --no-roofline --grad-compression "$compression" --json "${replay[@]}" \
                   | grep '^{' | tail -1 || true)
            read -r busy1 idle1 < <(cpu_ticks)
            host_cpu=$(awk -v b=$((busy1 - busy0)) -v i=$((idle1 - idle0)) 'BEGIN { if (b + i > 0) printf "%.2f", b / (b + i) }')
            if [[ -z $json ]]; then echo "scaling: $link $compression $mode W=$w failed; skipped" >&2; continue; fi
            wait_ms=$(field "$json" ms_comm_wait) comm_ms=$(field "$json" ms_grad_comm)
            hidden=$(awk -v a="$wait_ms" -v c="$comm_ms" 'BEGIN { if (c > 0) { h = 1 - a / c; if (h < 0) h = 0; printf "%.2f", h } else print "" }')
            echo "$round,$link,$compression,$mode,$w,$batch,$((batch / w)),$(field "$json" img_per_s),$(field "$json" ms_per_step),$(field "$json" ms_compute),$wait_ms,$comm_ms,$hidden,$(field "$json" compute_slowdown_ratio),$(field "$json" ms_compute_no_overlap),$(field "$json" ms_per_step_no_overlap),$(field "$json" grad_payload_mb),$host_cpu" >> "$runs"
            echo "scaling: round $round $link $compression $mode W=$w batch=$batch${replay:+ (emulated)}: $(field "$json" img_per_s) img/s, step $(field "$json" ms_per_step) ms, host CPU $host_cpu" >&2
        done
    done
    done
    done
    cleanup
    done
done

# Medians over the rounds (of every column; an even count takes the mean of the middle two), then the
# efficiencies from the median throughputs.
slowdowns=$(for link in $links; do printf '%s=%s ' "$link" "$(slowdown_of "$link")"; done)
scales=$(for link in $links; do printf '%s=%s ' "$link" "$(scale_of "$link")"; done)
awk -F, -v columns="$columns" -v ceilings="$ceiling_csv" -v emulate="${emulate:+yes}" -v scales="$scales" \
    -v slowdowns="$slowdowns" -v bound="$cpu_bound" '
    function median(list,   n, v, i, j, t) {
        n = split(list, v, ";")
        if (n == 0 || list == "") return ""
        for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        return (n % 2) ? v[(n + 1) / 2] : sprintf("%.6g", (v[n / 2] + v[n / 2 + 1]) / 2)
    }
    function add(key, c, value) { if (value != "") values[key, c] = (values[key, c] == "" ? "" : values[key, c] ";") value }
    BEGIN {
        getline header < ceilings
        while ((getline line < ceilings) > 0) { split(line, f, ","); if (f[5] != "") add("ceiling", f[2], f[5]) }
        print columns ",ceiling,efficiency,efficiency_of_ceiling,rounds,emulated,emulate_scale,emulate_slowdown,host_cpu,cpu_bound,predicted_ms_per_step"
        n = split(slowdowns, items, " ")
        for (i = 1; i <= n; i++) { split(items[i], kv, "="); slowdown_of[kv[1]] = kv[2] }
        n = split(scales, items, " ")
        for (i = 1; i <= n; i++) { split(items[i], kv, "="); scale_of[kv[1]] = kv[2] }
    }
    NR == 1 { next }
    {
        key = $2 SUBSEP $3 SUBSEP $4 SUBSEP $5
        if (!(key in seen)) { seen[key] = 1; order[++count] = key }
        count_of[key]++
        for (c = 6; c <= NF; c++) add(key, c, $c)
    }
    END {
        for (k = 1; k <= count; k++) {
            key = order[k]; split(key, id, SUBSEP)
            ips = median(values[key, 8])
            base_key = id[1] SUBSEP id[2] SUBSEP id[3] SUBSEP 1
            base = median(values[base_key, 8])
            eff = (base + 0 > 0 && ips != "") ? sprintf("%.3f", ips / (id[4] * base)) : ""
            ceil = (id[4] == 1) ? "1.000" : median(values["ceiling", id[4]])
            of_ceiling = (eff != "" && ceil + 0 > 0) ? sprintf("%.3f", eff / ceil) : ""
            line = id[1] "," id[2] "," id[3] "," id[4]
            for (c = 6; c <= 17; c++) line = line "," median(values[key, c])
            emulated = (emulate == "yes" && id[4] > 1)
            cpu = median(values[key, 18])
            line = line "," ceil "," eff "," of_ceiling "," count_of[key]
            line = line "," (emulated ? "yes" : "no") "," (emulated ? (id[2] == "powersgd" ? 1 : scale_of[id[1]]) : 1) "," (emulated ? slowdown_of[id[1]] : 1)
            print line "," cpu "," ((cpu != "" && cpu + 0 >= bound) ? "yes" : "no") ","
        }
    }' "$runs" > "$out/scaling.csv"

if [[ -n $predict ]]; then
    sweep_args=()
    for f in $predict; do sweep_args+=(--sweep "$f"); done
    "$simclr" scaling-model --profile "$emulate" "${sweep_args[@]}" --study "$out/scaling.csv" --write --out "$out/model" \
        --compute-factor "$compute_factor" \
        > "$out/model.txt" || echo "scaling: scaling-model's held-out rows missed its tolerance (see $out/model.txt)" >&2
fi
# The table, with the model's predictions when --predict filled them in.
{
    echo "| link | compression | mode | ranks | global batch | img/s | ms/step | compute ms | comm wait ms | all-reduce ms | hidden | compute slowdown | payload MB | ceiling | efficiency | of ceiling | emulated | host CPU | predicted ms/step |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    tail -n +2 "$out/scaling.csv" | awk -F, '{ e = ($21 == "yes") ? "yes (K=" $22 ", F=" $23 ")" : "no"; c = $24 ($25 == "yes" ? " (CPU-bound)" : "")
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $7, $8, $9, $10, $11, $12, $13, $16, $17, $18, $19, e, c, $26 }'
    echo
    echo "Medians of $rounds round(s); ceiling: W pinned single-process benches at once / W x one alone (OUT/ceiling.csv)."
    [[ -z $emulate ]] || echo "Emulated rows replay $emulate (compute slept, stretched live by: $emulate_sharing; collectives real); rows marked CPU-bound used >= $cpu_bound of the host's CPU: the machine, not the link, set their time."
} > "$out/scaling.md"
cat "$out/scaling.md"
echo "scaling: done in $(( $(date +%s) - started )) s" >&2
