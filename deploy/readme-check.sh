#!/usr/bin/env bash
# Runs the commands of README.md's ```sh blocks that use the synthetic data, as written except for size:
# epochs, steps and batch sizes are made tiny and the synthetic dataset small, so the whole README runs in
# minutes. Commands that need the real datasets, a cluster, Python or an elided argument ("...") are listed as
# skipped. A pretraining example whose comment says "checked: learns" runs at its written size instead and
# passes only if its encoder's kNN top-1 beats random init (check_learning). Runs in a scratch directory (the
# synthetic data is cached in ~/.cache/simclr as usual), in README order: later commands use the runs earlier
# ones made. Needs the release build (swift build -c release).
#
#   deploy/readme-check.sh [--keep] [--list]   --keep leaves the scratch directory; --list only prints the plan
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
readme=$root/README.md
keep=0 list=0
for a in "$@"; do
    case $a in
        --keep) keep=1 ;;
        --list) list=1 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "readme-check: unknown argument $a (try --help)" >&2; exit 2 ;;
    esac
done
bin=$root/.build/release
[[ -x $bin/simclr ]] || { echo "readme-check: $bin/simclr is missing; run swift build -c release first" >&2; exit 1; }

# The commands of the sh blocks, continuation lines joined, trailing comments removed. A command whose comment
# says "checked: learns" is printed with the prefix "LEARNS " (see check_learning).
commands() {
    awk '
        /^```sh[[:space:]]*$/ { inblock = 1; next }
        /^```/ { inblock = 0; next }
        inblock {
            line = $0
            if (line ~ /\\[[:space:]]*$/) { sub(/\\[[:space:]]*$/, " ", line); pending = pending line; next }
            line = pending line; pending = ""
            learns = (line ~ /#[[:space:]].*checked: learns/)
            sub(/[[:space:]]+#[[:space:]].*$/, "", line)
            gsub(/[[:space:]]+/, " ", line); sub(/^ /, "", line); sub(/ $/, "", line)
            if (line != "") print (learns ? "LEARNS " : "") line
        }' "$readme"
}

# A pretraining example marked "checked: learns" runs at README's own size, and must learn: the kNN top-1 of its
# encoder (simclr knn, default data and settings) must beat a random-init encoder of the same width by at least
# the margin below. Prints both figures. $1: the command as run (in $work), $2: its --out.
learning_margin=0.03
check_learning() {
    local c=$1 out=$2 width learned random
    width=$(sed -nE 's/.*--width[ =]([^ ]+).*/\1/p' <<<"$c")
    [[ -n $out ]] || { echo "  the learning check needs --out in: $c"; return 1; }
    (cd "$work" && "$bin/simclr" knn --encoder "$out/model.safetensors" --out "$out.knn-check" \
        && "$bin/simclr" knn --random-init --width "${width:-1}" --out "$out.knn-random") \
        > "$work/learn.log" 2>&1 || { sed 's/^/  | /' "$work/learn.log" | tail -n 20; return 1; }
    learned=$(sed -nE 's/.*"test_top1" *: *([0-9.eE+-]+).*/\1/p' "$work/$out.knn-check/results.json")
    random=$(sed -nE 's/.*"test_top1" *: *([0-9.eE+-]+).*/\1/p' "$work/$out.knn-random/results.json")
    echo "  learns? kNN top-1 $learned after pretraining vs $random at random init (needs +$learning_margin)"
    awk -v l="$learned" -v r="$random" -v m="$learning_margin" 'BEGIN { exit !(l >= r + m) }'
}

# Why a command is not run, or nothing when it is.
skip_reason() {
    case $1 in
        *"..."*) echo "elided arguments" ;;
        *"--data data"*|*"--data /"*|*get-cifar10*|*get-stl10*) echo "needs a real dataset" ;;
        *sbatch*|*kubectl*|*--hostfile*|*"--mpirun-arg=--hostfile"*) echo "needs a cluster" ;;
        *python*|*tensorboard*) echo "not this tool" ;;
        *quickstart.sh*) echo "the quickstart itself (minutes; CI runs its steps through these commands)" ;;
        *"swift test"*) echo "the test suite" ;;
        "swift build"*) echo "built already" ;;
    esac
}

# README's command, made small: every epoch count 1, steps 2, batches 16 (8 for the convolution benchmark).
shrink() {
    local c=$1
    c=$(sed -E -e 's/(--(pretrain-|probe-|finetune-|supervised-)?epochs[ =])[0-9.]+/\11/g' \
               -e 's/(--steps[ =])[0-9]+/\12/g' \
               -e 's/(--batch-size[ =])[0-9]+/\116/g' \
               -e 's/(--batch-sizes[ =])[0-9,]+/\116,32/g' \
               -e 's#swift run -c release simclr#$B/simclr#g' \
               -e 's#^(deploy/bench-conv-candidates\.sh)$#\1 --batch 8 --reps 1#' \
               -e 's#(^|[ ;&|])\./deploy/setup\.sh && #\1#g' <<<"$c")
    echo "$c"
}

# Flags added to each simclr invocation whose command takes them and does not set them: the small synthetic
# dataset (256 train images: no fewer, as the sweep's default batch-size study runs a batch of 256 and
# README's label fraction 0.1 must still fill a batch of 16), a quarter-width network, one epoch of every stage, batches of 16, one timed bench step.
with_small_data() {
    local c=$1 out="" word next_is_sub=0 help flag value
    set -f  # the words are not file patterns
    for word in $c; do
        out+="$word "
        if ((next_is_sub)) && [[ $word != -* ]]; then
            next_is_sub=0
            help=$("$bin/simclr" "$word" --help 2>/dev/null || true)
            for flag in --synthetic-train-count=256 --synthetic-test-count=64 --width=0.25 --pretrain-epochs=1 \
                        --probe-epochs=1 --finetune-epochs=1 --supervised-epochs=1 --epochs=1 --batch-size=16 \
                        --warmup=0 --no-roofline; do
                value=${flag#*=}; [[ $value == "$flag" ]] && value=""
                flag=${flag%%=*}
                [[ $help == *"$flag "* || $help == *"$flag"$'\n'* ]] || continue
                [[ " $c " == *" $flag "* || " $c " == *" $flag="* ]] && continue
                [[ $word == bench && $flag == --epochs ]] && continue
                out+="$flag${value:+ $value} "
            done
            [[ $word == bench && " $c " != *" --steps "* ]] && out+="--steps 1 "
            # compare/sweep pass the batches on to their runs; 16 unless README sets them.
            if [[ $word == compare || $word == sweep ]]; then
                for stage in pretrain finetune supervised; do
                    [[ $help == *"--$stage-arg"* && $c != *"--$stage-arg=--batch-size"* ]] && out+="--$stage-arg=--batch-size=16 "
                done
            fi
        fi
        case $word in */simclr|simclr) next_is_sub=1 ;; *) next_is_sub=0 ;; esac
    done
    set +f
    echo "${out% }"
}

work=$(mktemp -d /tmp/readme-check.XXXXXX)
((keep)) || trap 'rm -rf "$work"' EXIT
# The commands are written for the repository root: give them its build and scripts, but their own runs/.
for entry in .build deploy hostfiles Sources Tests Package.swift; do ln -s "$root/$entry" "$work/$entry"; done

export B=.build/release PATH=$bin:$PATH
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
ran=0 failed=0 skipped=0 full_size_runs=""
start=$SECONDS
while IFS= read -r command; do
    # "swift build -c release && B=.build/release": B is set already; keep what follows the build.
    command=${command#swift build -c release && B=.build/release}
    command=${command# && }
    [[ -z $command ]] && continue
    learns=0
    [[ $command == "LEARNS "* ]] && { learns=1; command=${command#LEARNS }; }
    reason=$(skip_reason "$command")
    if [[ -n $reason ]]; then
        echo "skip ($reason): $command"
        skipped=$((skipped + 1))
        continue
    fi
    # A resume of a run made at full size (README's "after Ctrl-C") keeps that size too: it must match the run.
    out=$(sed -nE 's/.*--out[ =]([^ ]+).*/\1/p' <<<"$command")
    if ((learns)) || [[ " $command " == *" --resume "* && " $full_size_runs " == *" $out "* ]]; then
        small=$command
    else
        small=$(with_small_data "$(shrink "$command")")
    fi
    ((learns)) && full_size_runs+=" $out"
    if ((list)); then echo "run: $small"; continue; fi
    echo "run: $small"
    t0=$SECONDS
    if (cd "$work" && bash -c "$small") < /dev/null > "$work/last.log" 2>&1; then
        if ((learns)) && ! check_learning "$small" "$out"; then
            echo "  FAILED: it did not learn; README: $command"
            failed=$((failed + 1))
            continue
        fi
        echo "  ok ($((SECONDS - t0)) s)"
        ran=$((ran + 1))
    else
        echo "  FAILED (status $?); README: $command"
        sed 's/^/  | /' "$work/last.log" | tail -n 20
        failed=$((failed + 1))
    fi
done < <(commands)
echo "readme-check: $ran ran, $failed failed, $skipped skipped in $((SECONDS - start)) s"
((failed == 0))
