#!/bin/bash
# Measures what README "Failure behaviour" reports: a killed rank, a stopped rank, SIGTERM through
# deploy/launch.sh and to a bare mpirun, different data on one rank, --resume on other data.
#   deploy/failure-behaviour.sh [WORKDIR]     (needs .build/release/simclr and mpirun; about two minutes)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
repo=$(cd "$(dirname "$0")/.." && pwd); S=$repo/.build/release/simclr; W=${1:-/tmp/simclr-failures}; mkdir -p "$W" && cd "$W" && rm -rf t1 t2 t3 t4 t5
$S synth --out d --train-count 256 --test-count 64 >/dev/null 2>&1
$S synth --out dB --train-count 128 --test-count 64 >/dev/null 2>&1
C="--width 0.25 --batch-size 32 --threads 1 --workers 1 --warmup-epochs 0"
MP="mpirun -np 2 --bind-to none"
ranks() { for p in $(pgrep -P $1); do echo "$p $(tr '\0' '\n' < /proc/$p/environ | grep OMPI_COMM_WORLD_RANK=)"; done; }
waitsteps() { while [ "$(wc -l < $1/metrics.csv 2>/dev/null || echo 0)" -lt 3 ]; do sleep 0.5; done; }
# killed rank
$MP $S pretrain --data d $C --out t1 --steps 400 > kill.log 2>&1 & M=$!; waitsteps t1
R1=$(ranks $M | grep RANK=1 | cut -d' ' -f1); T0=$(date +%s.%N); kill -KILL $R1; wait $M; rc=$?; T1=$(date +%s.%N)
echo "killed rank: rc $rc after $(echo "$T1 - $T0" | bc) s"
# stuck rank
$MP $S pretrain --data d $C --out t2 --steps 400 --collective-timeout 10 > stuck.log 2>&1 & M=$!; waitsteps t2
R1=$(ranks $M | grep RANK=1 | cut -d' ' -f1); T0=$(date +%s.%N); kill -STOP $R1; wait $M; rc=$?; T1=$(date +%s.%N); kill -CONT $R1 2>/dev/null
echo "stuck rank: rc $rc after $(echo "$T1 - $T0" | bc) s"; grep -a "timed out" stuck.log
# signal through launch.sh
$repo/deploy/launch.sh -n 2 --bind none --program $S -- pretrain --data d $C --out t3 --steps 400 > sig.log 2>&1 & L=$!; waitsteps t3
T0=$(date +%s.%N); kill -TERM $L; wait $L; rc=$?; T1=$(date +%s.%N)
echo "SIGTERM via launch.sh: rc $rc after $(echo "$T1 - $T0" | bc) s"; grep -a "interrupted" sig.log
# signal to plain mpirun
$MP $S pretrain --data d $C --out t4 --steps 400 > sig2.log 2>&1 & M=$!; waitsteps t4
T0=$(date +%s.%N); kill -TERM $M; wait $M; rc=$?; T1=$(date +%s.%N)
echo "SIGTERM to mpirun: rc $rc after $(echo "$T1 - $T0" | bc) s; checkpoint: $(ls t4/checkpoint.safetensors 2>&1)"
# different data
T0=$(date +%s.%N); mpirun --bind-to none -np 1 $S pretrain --data d $C --out t5 --steps 4 : -np 1 $S pretrain --data dB $C --out t5 --steps 4 > data.log 2>&1; rc=$?; T1=$(date +%s.%N)
echo "different data: rc $rc after $(echo "$T1 - $T0" | bc) s"; grep -a "differs" data.log | head -2 | cut -c1-400
# resume on a different dataset
$S pretrain --data dB $C --out t3 --resume --steps 400 > resdata.log 2>&1; echo "resume other data: rc $?"; grep -a "other data" resdata.log | cut -c1-300
