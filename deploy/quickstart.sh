#!/usr/bin/env bash
# The whole story in a few minutes on the built-in synthetic shapes, data-parallel on 2 MPI ranks:
# SimCLR pretraining, linear probe and kNN on its frozen features and on random-init features,
# fine-tuning it and the supervised baseline from scratch on 10% of the labels, and a report (table, plots,
# t-SNE maps of the SimCLR and random-init features).
#
#   deploy/quickstart.sh [--out DIR] [--ranks N] [extra simclr compare arguments...]
#
# Prints the run directory; its comparison.md holds the table and report/ the plots. Running it again
# with the same --out skips what is finished (and resumes an interrupted pretraining).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/runs/quickstart"
ranks=2
while (($#)); do
    case $1 in
        --out) out=$2; shift 2 ;;
        --ranks) ranks=$2; shift 2 ;;
        *) break ;;
    esac
done

"$repo/deploy/setup.sh"
(cd "$repo" && swift build -c release 2>&1 | tail -1)

# Settings chosen for a short run on 2 cores (see README, "Quickstart"): a quarter-width ResNet-18 and
# pretraining's quick recipe (AdamW, temperature 0.2, milder crop, colour jitter 0.4, no blur; see
# `simclr pretrain --help`). 20 epochs of pretraining: with 6, fine-tuning the encoder ended level with training
# from scratch and the linear probe reached 1.7x random init's top-1 (README, "Quickstart").
compare=("$repo/.build/release/simclr" compare --out "$out" --ranks "$ranks"
    --width 0.25 --label-fractions 0.1 --evaluations linear,knn,finetune,supervised
    --pretrain-epochs 20 --probe-epochs 50 --finetune-epochs 15 --supervised-epochs 15
    --pretrain-arg=--batch-size=128 --pretrain-arg=--recipe=quick --pretrain-arg=--knn-every=78
    --pretrain-arg=--knn-samples=2000,1000
    "$@")
"${compare[@]}"

# t-SNE maps of the test images' features: SimCLR-pretrained next to random init. Each map's 1-NN agreement
# (how often a point's nearest neighbour in the map has its class) is printed and recorded beside the map.
for encoder in "--encoder $out/pretrain/model.safetensors" --random-init; do
    name=$([[ $encoder == --random-init ]] && echo random || echo simclr)
    # shellcheck disable=SC2086 # $encoder is two words on purpose
    "$repo/.build/release/simclr" tsne $encoder --width 0.25 --out "$out/report/tsne-$name.svg" \
        --title "t-SNE of test features: $name" 2>&1 | grep -E "^(1-NN|t-SNE:)" | sed "s/^/tsne-$name: /"
done
# The study again: every run is done, so it only writes the table and the report, now with the two maps.
"${compare[@]}" > /dev/null

echo
echo "quickstart: results in $out (table: $out/comparison.md, report with plots and t-SNE maps: $out/report/report.html)"
