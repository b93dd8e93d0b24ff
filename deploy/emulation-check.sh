#!/usr/bin/env bash
# Emulated compute checked against real compute at W = 2 on the namespace test cluster (docs/scaling-model.md,
# note 'Emulated compute'). First the step profiles (--profile-out) are measured: "in-step" = rank 0 of two
# ranks over shared memory without overlap (SyncBN keeps them in step, as in a real 2-rank run; no gradient
# traffic during compute), "side-by-side" = one rank while a second bench computes the same steps on the other
# core (the other core busy, memory and cache shared, but not in step), "alone" = one rank alone. Then, per
# link, in rounds: one rank alone (the weak-scaling baseline), two ranks computing for real, and two ranks
# replaying each --profiles profile (bench --emulate) with each --sharing mode (what stretches the replayed
# compute: core = what else ran on the rank's core, thread = the communication thread's CPU time, none).
# Before the rounds, per link, a calibration measures the compute factor the replays are given (--calibration):
#   in-step (default): --calibrate-rounds runs of two ranks over the link, rank 0 computing for real while rank 1
#     replays the first profile (bench --emulate-real-rank 0); rank 0 writes its compute as it ran in step
#     (--profile-out, overlap on). compute factor = median over the runs of its profiled compute / the first
#     profile's. The replays named *-none-instep replay the first profile with it, nothing stretched live
#     (--emulate-cpu-sharing none: the factor already holds what the core's other work took from compute); the
#     same factor is scaling-model's --compute-factor. No run with every rank real enters it, but at W = 2 the
#     calibration run is half of one: its step time is printed beside the check's.
#   in-step-busy: the same with a bench computing on core 1 beside the replaying rank during the calibration
#     runs (the other core busy, as in a real two-rank step).
#   beside: a bench on each core computing alone, then the same two benches while two ranks replay the profile
#     over the link (the step's communication at random phases): compute factor = median compute-thread CPU
#     beside / alone, given to every --sharing replay (which adds the core's other work live); wall factor =
#     their step time beside / alone. Replays named *-f1 run without it, for comparison.
#   none: no factor.
# --profile-every-round measures the profiles again at the start of each round (kept as profile-P-LINK-rR.json),
# so the replays follow the machine's drift as the real runs do. The table also gives, for the first variant,
# the median over rounds of real / replayed step - 1 within each round (paired by round).
# efficiency = ms_per_step(1 rank) / ms_per_step(2 ranks),
# weak scaling (the same images per rank); the emulation holds on a link when its efficiency is within
# --tolerance of real compute's (medians over the rounds). Every run records where its rank 0's CPU time went
# (bench's "host" figures: main thread CPU and runqueue wait, its core's busy and softirq time). Writes
# OUT/emulation-check.csv and OUT/emulation-check.md; exits 1 when a link misses with the first profile and
# the first --sharing mode.
#
#   deploy/emulation-check.sh [--links "1gbit 10gbit"] [--per-rank-batch 16] [--width 1.0] [--steps 4]
#                             [--rounds 2] [--tolerance 0.05] [--compression none] [--sharing "core thread"]
#                             [--profiles "side-by-side in-step alone"] [--calibration in-step|in-step-busy|beside|none]
#                             [--calibrate-rounds 3] [--profile-every-round] [--out DIR]
#
# Run it alone on the machine (it times steps); it takes the namespace cluster's lock itself.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
links="1gbit 10gbit" per_rank=16 width=1.0 steps=4 rounds=2 tolerance=0.05 compression=none sharing="core" profiles="side-by-side"
calibration=in-step calibrate_rounds=3 every_round=0
out="$repo/runs/emulation-check"
while (($#)); do
    case $1 in
        --links) links=$2; shift 2 ;;
        --per-rank-batch) per_rank=$2; shift 2 ;;
        --width) width=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --tolerance) tolerance=$2; shift 2 ;;
        --compression) compression=$2; shift 2 ;;
        --sharing) sharing=$2; shift 2 ;;
        --profiles) profiles=$2; shift 2 ;;
        --calibration) calibration=$2; shift 2 ;;
        --profile-every-round) every_round=1; shift ;;
        --calibrate-rounds) calibrate_rounds=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,40p' "$0"; exit 0 ;;
        *) echo "emulation-check: unknown option $1" >&2; exit 2 ;;
    esac
done

case $calibration in in-step|in-step-busy|beside|none) ;; *) echo "emulation-check: --calibration takes in-step, in-step-busy, beside or none; got '$calibration'" >&2; exit 2 ;; esac
((calibrate_rounds > 0)) || calibration=none
simclr="$repo/.build/release/simclr"
[[ -x $simclr ]] || { echo "emulation-check: build first: swift build -c release --product simclr" >&2; exit 2; }
mkdir -p "$out"
csv="$out/emulation-check.csv"
host_fields=(ms_main_thread_cpu ms_main_thread_runqueue ms_core_busy ms_core_softirq ms_core_steal main_thread_preemptions core_interrupts core_softirqs)
in_step_csv="$out/in-step-calibration.csv"
echo "link,round,profile_compute_ms,in_step_compute_ms,compute_factor,ms_per_step" > "$in_step_csv"
echo "link,round,run,ranks,ms_per_step,ms_compute,ms_comm_wait,ms_comm_thread_cpu,$(IFS=,; echo "${host_fields[*]}"),host_cpu" > "$csv"
common=(--width "$width" --steps "$steps" --warmup 2 --threads 1 --no-roofline --json)
field() { { grep -o "\"$2\" *: *[0-9.e+-]*" <<<"$1" || true; } | head -1 | sed 's/.*: *//'; }  # empty when absent
compute_ms() { grep -o '"computeSeconds" *: *[0-9.e+-]*' "$1" | sed 's/.*: *//' | awk '{ s += $1 } END { printf "%.1f", s * 1000 }'; }  # a profile's compute per step (ms)
# The median of a[1..m] (sorts a), for the awk programs below.
median_awk='function median(a, m,   i, j, t) {
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}'
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }

cleanup() { "$repo/deploy/testcluster.sh" down >/dev/null 2>&1 || true; }
trap cleanup EXIT
exec 9>/tmp/simclr-testcluster.lock; flock 9

# One bench; appends a CSV row with the host's CPU use (busy share of both cores) during it.
bench() {  # link round run ranks args...
    local link=$1 round=$2 run=$3 ranks=$4; shift 4
    read -r b0 i0 < <(cpu_ticks)
    local json
    json=$(timeout --kill-after=10 300 "$@" | grep '^{' | tail -1 || true)
    read -r b1 i1 < <(cpu_ticks)
    local cpu; cpu=$(awk -v b=$((b1 - b0)) -v i=$((i1 - i0)) 'BEGIN { if (b + i > 0) printf "%.2f", b / (b + i) }')
    if [[ -z $json ]]; then echo "emulation-check: $link $run W=$ranks failed" >&2; return 0; fi
    local row="$link,$round,$run,$ranks" f
    for f in ms_per_step ms_compute ms_comm_wait ms_comm_thread_cpu "${host_fields[@]}"; do row+=",$(field "$json" "$f")"; done
    echo "$row,$cpu" >> "$csv"
    echo "emulation-check: $link round $round $run W=$ranks: $(field "$json" ms_per_step) ms/step, host CPU $cpu" >&2
}

# A calibration pair: a bench on core 0 and one on core 1 (the same steps), each a CSV row calib-WHEN-coreN.
pair() {  # link round when
    local c1="$out/calibration-core1.out"
    bench "$1" "$2" "calib-$3-core1" 1 env OPENBLAS_NUM_THREADS=1 taskset -c 1 "$simclr" bench --batch-size "$per_rank" "${common[@]}" --steps $((steps + 2)) &
    local other=$!
    bench "$1" "$2" "calib-$3-core0" 1 env OPENBLAS_NUM_THREADS=1 taskset -c 0 "$simclr" bench --batch-size "$per_rank" "${common[@]}"
    wait "$other"
}
# median(FIELD of calib-beside rows) / median(FIELD of calib-alone rows) on LINK, both cores.
calibration_factor() {  # link field
    local column; column=$(head -1 "$csv" | tr ',' '\n' | grep -n "^$2\$" | cut -d: -f1)
    awk -F, -v link="$1" -v k="$column" "$median_awk"'
        $1 == link && $3 ~ /^calib-alone/ && $k > 0 { alone[++na] = $k }
        $1 == link && $3 ~ /^calib-beside/ && $k > 0 { beside[++nb] = $k }
        END { if (na && nb) printf "%.3f", median(beside, nb) / median(alone, na); else print 1 }' "$csv"
}

# The step profiles (--profiles), measured now (before the links, and with --profile-every-round at each round's start).
measure_profiles() {
    for p in $profiles; do
        case $p in
            in-step) "$repo/deploy/launch.sh" --threads 1 -n 2 -- bench --distributed --no-overlap --batch-size $((2 * per_rank)) \
                         --profile-out "$out/profile-in-step.json" "${common[@]}" >/dev/null ;;
            side-by-side)  # a companion bench on core 1 (more steps, so it covers the profiled ones) while core 0 profiles
                OPENBLAS_NUM_THREADS=1 taskset -c 1 "$simclr" bench --batch-size "$per_rank" "${common[@]}" --steps $((steps + 6)) >/dev/null &
                companion=$!
                OPENBLAS_NUM_THREADS=1 taskset -c 0 "$simclr" bench --batch-size "$per_rank" --profile-out "$out/profile-side-by-side.json" "${common[@]}" >/dev/null
                wait "$companion" ;;
            alone) OPENBLAS_NUM_THREADS=1 taskset -c 0 "$simclr" bench --batch-size "$per_rank" --profile-out "$out/profile-alone.json" "${common[@]}" >/dev/null ;;
            *) echo "emulation-check: --profiles takes in-step, side-by-side, alone; got '$p'" >&2; exit 2 ;;
        esac
    done
}
measure_profiles
one=("$repo/deploy/launch.sh" --threads 1 -n 1 -- bench --batch-size "$per_rank" "${common[@]}")
for link in $links; do
    "$repo/deploy/testcluster.sh" up 2 --rate "$link" >/dev/null
    two=("$repo/deploy/launch.sh" --threads 1 --testcluster -n 2 -- bench --distributed --batch-size $((2 * per_rank))
         --no-overlap-baseline --grad-compression "$compression" "${common[@]}")
    factor=1 first_profile=${profiles%% *}
    if [[ $calibration == beside ]]; then
        for ((r = 1; r <= calibrate_rounds; r++)); do
            pair "$link" "$r" alone
            "${two[@]}" --emulate "$out/profile-$first_profile.json" --emulate-cpu-sharing none --steps $((2 * steps + 8)) >/dev/null 2>&1 &
            replay=$!
            sleep 6  # the replay's start and warm-up
            pair "$link" "$r" beside
            wait "$replay" || echo "emulation-check: $link calibration replay $r failed" >&2
        done
        factor=$(calibration_factor "$link" ms_main_thread_cpu)
        echo "emulation-check: $link compute factor $factor (compute-thread CPU beside the link's communication / alone), wall factor $(calibration_factor "$link" ms_per_step)" >&2
    elif [[ $calibration == in-step* ]]; then
        base=$(compute_ms "$out/profile-$first_profile.json")
        for ((r = 1; r <= calibrate_rounds; r++)); do
            in_step="$out/in-step-$link-$r.json"
            rm -f "$in_step"
            companion=""
            if [[ $calibration == in-step-busy ]]; then  # the replaying rank's core computes too, as in a real two-rank step
                OPENBLAS_NUM_THREADS=1 taskset -c 1 "$simclr" bench --batch-size "$per_rank" "${common[@]}" --steps 1000 >/dev/null 2>&1 &
                companion=$!
                sleep 3  # its start
            fi
            bench "$link" "$r" calib-in-step 2 "${two[@]}" --emulate "$out/profile-$first_profile.json" --emulate-cpu-sharing none \
                --emulate-real-rank 0 --profile-out "$in_step"
            if [[ -n $companion ]]; then kill "$companion" 2>/dev/null; wait "$companion" 2>/dev/null || true; fi
            [[ -f $in_step ]] || continue
            ms=$(compute_ms "$in_step")
            echo "$link,$r,$base,$ms,$(awk -v a="$ms" -v b="$base" 'BEGIN { printf "%.3f", a / b }'),$(tail -1 "$csv" | cut -d, -f5)" >> "$in_step_csv"
        done
        factor=$(awk -F, -v link="$link" "$median_awk"'
            $1 == link { v[++n] = $5 }
            END { if (n == 0) print 1; else printf "%.3f", median(v, n) }' "$in_step_csv")
        echo "emulation-check: $link in-step compute factor $factor (a real rank's compute in step with a replaying one / the profile's)" >&2
        awk -v f="$factor" 'BEGIN { exit !(f >= 0.5 && f <= 4) }' ||
            echo "emulation-check: $link: the in-step factor $factor lies outside 0.5...4 (bench refuses it): see $in_step_csv" >&2
    fi
    for ((r = 1; r <= rounds; r++)); do
        if ((every_round)); then
            measure_profiles
            for p in $profiles; do cp "$out/profile-$p.json" "$out/profile-$p-$link-r$r.json"; done
        fi
        bench "$link" "$r" one-rank 1 "${one[@]}"
        bench "$link" "$r" real 2 "${two[@]}"
        if [[ $calibration == in-step* ]]; then
            bench "$link" "$r" "emulated-$first_profile-none-instep" 2 "${two[@]}" --emulate "$out/profile-$first_profile.json" \
                --emulate-cpu-sharing none --emulate-slowdown "$factor"
        fi
        for p in $profiles; do
            for mode in $sharing; do
                slowdown=1; [[ $calibration == beside ]] && slowdown=$factor
                bench "$link" "$r" "emulated-$p-$mode" 2 "${two[@]}" --emulate "$out/profile-$p.json" --emulate-cpu-sharing "$mode" --emulate-slowdown "$slowdown"
            done
        done
        if [[ $calibration == beside && $factor != 1 ]]; then
            bench "$link" "$r" "emulated-$first_profile-${sharing%% *}-f1" 2 "${two[@]}" --emulate "$out/profile-$first_profile.json" --emulate-cpu-sharing "${sharing%% *}"
        fi
    done
    cleanup
done

# Medians per link and run; efficiencies against the same link's one-rank median. The first variant decides.
variants=""
[[ $calibration == in-step* ]] && variants="${profiles%% *}-none-instep "
variants+=$(for p in $profiles; do for mode in $sharing; do printf '%s ' "$p-$mode"; done; done)
[[ $calibration == beside ]] && variants+="${profiles%% *}-${sharing%% *}-f1"

awk -F, -v tol="$tolerance" -v modes="$variants" '
    NR == 1 { next }
    { key = $1 SUBSEP $3; n[key]++; v[key, n[key]] = $5; at[$1, $3, $2] = $5; if ($2 > last) last = $2
      if (!($1 in seen)) { seen[$1] = 1; order[++links] = $1 } }
    # The median over rounds of (real step / replayed step - 1) within each round (= emulated efficiency / real
    # efficiency - 1 with the round'"'"'s own one-rank step, which cancels): drift of the machine between rounds
    # moves real and one-rank steps but not replays, and pairing by round keeps it out.
    function paired(link, run,   r, m, i, j, t, d) {
        m = 0
        for (r = 1; r <= last; r++) if (at[link, "real", r] > 0 && at[link, run, r] > 0) d[++m] = at[link, "real", r] / at[link, run, r] - 1
        if (m == 0) return "-"
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (d[j] < d[i]) { t = d[i]; d[i] = d[j]; d[j] = t }
        return sprintf("%+.1f%%", 100 * (m % 2 ? d[(m + 1) / 2] : (d[m / 2] + d[m / 2 + 1]) / 2))
    }
    function median(key,   i, j, t, m, a) {
        m = n[key]; if (m == 0) return 0
        for (i = 1; i <= m; i++) a[i] = v[key, i]
        for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    END {
        k = split(modes, mode, " ")
        header = "| link | 1 rank ms | real ms | efficiency real |"; rule = "| --- | --- | --- | --- |"
        for (i = 1; i <= k; i++) { header = header " emulated (" mode[i] ") ms | efficiency | diff |"; rule = rule " --- | --- | --- |" }
        print header " within " tol * 100 "% (" mode[1] ") | paired by round (" mode[1] ") |"; print rule " --- | --- |"
        bad = 0
        for (l = 1; l <= links; l++) {
            name = order[l]; t1 = median(name SUBSEP "one-rank"); tr = median(name SUBSEP "real"); er = (tr > 0) ? t1 / tr : 0
            line = sprintf("| %s | %.1f | %.1f | %.3f |", name, t1, tr, er)
            for (i = 1; i <= k; i++) {
                te = median(name SUBSEP "emulated-" mode[i]); ee = (te > 0) ? t1 / te : 0; d = (er > 0) ? ee / er - 1 : 0
                line = line sprintf(" %.1f | %.3f | %+.1f%% |", te, ee, 100 * d)
                if (i == 1) { ok = (te > 0 && er > 0 && d <= tol && d >= -tol) ? "yes" : "NO"; if (ok == "NO") bad = 1 }
            }
            print line " " ok " | " paired(name, "emulated-" mode[1]) " |"
        }
        exit bad
    }' "$csv" > "$out/emulation-check.md" && status=0 || status=$?
if [[ $calibration == in-step* ]]; then
    {
        echo ""
        echo "In-step calibration (rank 0 real, rank 1 replaying, over the link; medians over the runs; factor = rank 0's compute as it ran / the profile's):"
        echo ""
        echo "| link | runs | profiled compute ms | in-step compute ms | compute factor | step ms of the calibration runs |"
        echo "| --- | --- | --- | --- | --- | --- |"
        for link in $links; do
            awk -F, -v link="$link" "$median_awk"'
                $1 == link { p = $3; c[++n] = $4; f[n] = $5; t[n] = $6 }
                END { if (n) printf "| %s | %d | %.1f | %.1f | %.3f | %.1f |\n", link, n, p, median(c, n), median(f, n), median(t, n) }' "$in_step_csv"
        done
    } >> "$out/emulation-check.md"
fi
if [[ $calibration == beside ]]; then
    {
        echo ""
        echo "Calibration (benches on both cores alone, then beside a replay of the step's communication over the link; medians):"
        echo ""
        echo "| link | compute-thread CPU ms alone | beside | compute factor | step ms alone | beside | wall factor |"
        echo "| --- | --- | --- | --- | --- | --- | --- |"
        for link in $links; do
            awk -F, -v link="$link" "$median_awk"'
                NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
                $1 == link && $3 ~ /^calib-alone/ { ca[++na] = $col["ms_main_thread_cpu"]; sa[na] = $col["ms_per_step"] }
                $1 == link && $3 ~ /^calib-beside/ { cb[++nb] = $col["ms_main_thread_cpu"]; sb[nb] = $col["ms_per_step"] }
                END { if (na && nb) { a = median(ca, na); b = median(cb, nb); x = median(sa, na); y = median(sb, nb)
                      printf "| %s | %.1f | %.1f | %.3f | %.1f | %.1f | %.3f |\n", link, a, b, b / a, x, y, y / x } }' "$csv"
        done
    } >> "$out/emulation-check.md"
fi
echo "" >> "$out/emulation-check.md"
for p in $profiles; do echo "Profiled compute per rank and step ($p): $(compute_ms "$out/profile-$p.json") ms." >> "$out/emulation-check.md"; done
cat "$out/emulation-check.md"
exit "$status"
