#!/usr/bin/env bash
# Does bf16 pretraining learn as well as fp32? Four short SimCLR pretrainings on the synthetic shapes
# (fp32 and bf16, seeds 0 and 1; the quickstart's recipe at width 0.25, 4 epochs of 5000 images) and the
# kNN top-1 of their frozen features on 1000 test images. bf16 passes when its mean over the two seeds is
# within the run-to-run noise of the two seeds (the larger of the fp32 and the bf16 seed spread).
#
#   deploy/bf16-accuracy.sh [--out DIR] [--precision bf16|bf16-reference]     (about 4 minutes on 2 cores)
#
# Exit status 0 when bf16 passes, 1 when it does not.
set -euo pipefail
cd "$(dirname "$0")/.."
out=runs/bf16-accuracy precision=bf16
while (($#)); do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --precision) precision="$2"; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bf16-accuracy: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
S=.build/release/simclr
[[ -x "$S" ]] || swift build -c release >/dev/null
mkdir -p "$out"
[[ -f "$out/data/cifar-10-batches-bin/test_batch.bin" ]] || "$S" synth --out "$out/data" --train-count 5000 --test-count 1000 >/dev/null

knn() {  # the last knn_top1 of a run's metrics.csv
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "knn_top1") c = i; next } c && $c != "" { v = $c } END { print v }' "$1/metrics.csv"
}
declare -A top1
for p in fp32 "$precision"; do
    for seed in 0 1; do
        run="$out/$p-seed$seed"
        [[ -f "$run/model.safetensors" ]] || "$S" pretrain --data "$out/data" --out "$run" --precision "$p" --seed "$seed" \
            --width 0.25 --batch-size 128 --epochs 4 --optimizer adamw --lr 1e-3 --lr-scaling none --weight-decay 1e-6 \
            --warmup-epochs 0.5 --temperature 0.2 --crop-scale 0.2,1.0 --no-blur --jitter-strength 0.4,0.4,0.4,0.1 \
            --knn-every 39 --knn-samples 5000,1000 --workers 1 >"$run.log" 2>&1
        top1[$p-$seed]=$(knn "$run")
        echo "$p seed $seed: kNN top-1 ${top1[$p-$seed]}"
    done
done
python3 - "${top1[fp32-0]}" "${top1[fp32-1]}" "${top1[$precision-0]}" "${top1[$precision-1]}" "$precision" <<'PY' || exit 1
import sys
f0, f1, b0, b1 = map(float, sys.argv[1:5])
noise = max(abs(f0 - f1), abs(b0 - b1))
gap = abs((b0 + b1) / 2 - (f0 + f1) / 2)
verdict = "within" if gap <= noise else "OUTSIDE"
print(f"{sys.argv[5]} mean {(b0 + b1) / 2:.4f} vs fp32 mean {(f0 + f1) / 2:.4f}: gap {gap:.4f}, {verdict} the run-to-run noise across seeds {noise:.4f}")
sys.exit(0 if gap <= noise else 1)
PY
