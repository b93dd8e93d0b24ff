#!/usr/bin/env bash
# Prints the step of the checkpoint a simclr run left, for the restart logs of launch.sh and slurm.sbatch:
#   deploy/checkpoint-step.sh [simclr arguments...]   (reads --out DIR / --out=DIR among them)
# "0 (no checkpoint yet)" when the run directory holds none.
set -uo pipefail
out="" previous=""
for a in "$@"; do
    [[ $previous == --out ]] && out=$a
    [[ $a == --out=* ]] && out=${a#--out=}
    previous=$a
done
file=$out/checkpoint.safetensors
[[ -n $out && -f $file ]] || { echo "0 (no checkpoint yet)"; exit 0; }
# safetensors: an 8-byte little-endian header length, then the JSON header, whose metadata holds the position
# as escaped JSON ({\"step\":K,...}).
length=$(od -An -t u8 -N 8 "$file" | tr -d ' ')
head -c $((8 + length)) "$file" | tr -d '\\' | grep -ao '"step":[0-9]*' | head -1 | cut -d: -f2
