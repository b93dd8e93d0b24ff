#!/usr/bin/env bash
# Builds the container image of deploy/Containerfile and checks it runs: `simclr --version`, then a tiny
# synthetic pretraining on one rank and on two ranks under the image's mpirun, as the image's user.
#   deploy/container-check.sh [--tag NAME] [--no-cache] [-- BUILD-OPTIONS...]
# BUILD-OPTIONS go to `ENGINE build` (e.g. --build-arg SWIFT_IMAGE=...). Environment:
#   CONTAINER_ENGINE   podman or docker (default: podman when installed, else docker)
#   CONTAINER_RUN_ARGS extra options of `ENGINE run` (word-split)
# The build context is a copy of the files git tracks (as in a fresh clone, with their current contents), so
# no .build, runs or data are sent. Prints how long the build and each check took; exit 0 when all passed.
#
# A machine without registry access or with a restricted container runtime needs more options; on the
# project's test machine (gVisor, cgroup v1 hybrid, no registry, Swift packages from a local git mirror):
#   base images made locally: debian:bookworm-slim from `mmdebstrap --variant=minbase bookworm` + `podman
#   import`, and a Swift image (that + the Swift toolchain's apt dependencies, toolchain bind-mounted);
#   CONTAINER_RUN_ARGS="--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024" \
#   deploy/container-check.sh -- --isolation chroot --network host --pull=never -v /opt/swift:/opt/swift:ro \
#       -v /opt/swift-packages:/opt/swift-packages:ro -v /etc/gitconfig:/etc/gitconfig:ro \
#       --build-arg SWIFT_IMAGE=localhost/swift:bookworm-local
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tag=localhost/simclr-swift:check
build_options=()
while (($#)); do
    case $1 in
        --tag) tag=$2; shift 2 ;;
        --no-cache) build_options+=(--no-cache); shift ;;
        --) shift; build_options+=("$@"); break ;;
        *) echo "container-check: unknown argument $1 (usage: deploy/container-check.sh [--tag NAME] [--no-cache] [-- BUILD-OPTIONS...])" >&2; exit 2 ;;
    esac
done
engine=${CONTAINER_ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}
command -v "$engine" >/dev/null || { echo "container-check: no container engine ($engine) found" >&2; exit 2; }
read -r -a run_options <<< "${CONTAINER_RUN_ARGS:-}"

context=$(mktemp -d /tmp/simclr-container-context.XXXXXX)
trap 'rm -rf "$context"' EXIT
(cd "$root" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$context"

seconds() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(seconds)" 'BEGIN { printf "%.1f s", b - a }'; }

start=$(seconds)
echo "container-check: $engine build -f deploy/Containerfile -t $tag ${build_options[*]:-}"
(cd "$context" && "$engine" build -f deploy/Containerfile -t "$tag" "${build_options[@]}" .)
echo "container-check: image built in $(elapsed "$start")"

start=$(seconds)
"$engine" run --rm "${run_options[@]}" "$tag" simclr --version
echo "container-check: simclr --version passed in $(elapsed "$start")"

# Inside the image, as its user: synthetic data, 4 steps on one rank, the same on two ranks under mpirun;
# each run must leave its model.
start=$(seconds)
"$engine" run --rm "${run_options[@]}" "$tag" bash -c '
    set -euo pipefail
    cd "$(mktemp -d)"
    simclr synth --out d --train-count 64 --test-count 16
    run=(pretrain --data d --width 0.125 --batch-size 16 --steps 4 --threads 1 --workers 1 --warmup-epochs 0 --progress lines)
    simclr "${run[@]}" --out one
    mpirun -np 2 --oversubscribe simclr "${run[@]}" --out two
    test -s one/model.safetensors && test -s two/model.safetensors
    echo "both runs wrote their model"'
echo "container-check: pretraining on 1 and 2 ranks in the image passed in $(elapsed "$start")"
