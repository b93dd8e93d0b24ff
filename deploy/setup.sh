#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build and run simclr:
# OpenMPI (headers + mpirun), OpenBLAS (cblas), oneDNN (convolutions), pkg-config, libpng and libjpeg-turbo
# (image folders). Idempotent; silent when all is there.
#   deploy/setup.sh [--slurm]   --slurm also installs Slurm and MUNGE (slurm-wlm, munge) for
#                               deploy/slurm-testcluster.sh; their system services are not started.
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev pkg-config libpng-dev libjpeg62-turbo-dev)
for arg in "$@"; do
    case $arg in
        --slurm) packages+=(slurm-wlm munge) ;;
        *) echo "setup: unknown argument $arg (usage: deploy/setup.sh [--slurm])" >&2; exit 2 ;;
    esac
done
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
        sudo_cmd=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null && [[ ! -x /opt/swift/usr/bin/swift ]]; then
    echo "setup: no Swift toolchain found (swift.org toolchain 6.x expected on PATH or in /opt/swift)" >&2
    exit 1
fi
