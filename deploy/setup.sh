#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build and run simclr: the packages listed in
# deploy/packages/build.txt (OpenMPI, OpenBLAS, oneDNN, pkg-config, libpng and libjpeg-turbo; the container
# image's build stage installs the same list). Idempotent; silent when all is there.
#   deploy/setup.sh [--slurm]   --slurm also installs deploy/packages/slurm.txt (Slurm and MUNGE) for
#                               deploy/slurm-testcluster.sh; their system services are not started.
#
# It also gives a bare `mpirun` time to stop cleanly: OpenMPI ends a job (SIGTERM to mpirun, or a rank that
# failed) by sending the ranks SIGCONT, waiting odls_base_sigkill_timeout seconds, SIGTERM, waiting again, then
# SIGKILL. Its default of 1 s kills the ranks before they finish their step and write a checkpoint; setup
# writes `odls_base_sigkill_timeout = 30` to the user's OpenMPI parameter file (~/.openmpi/mca-params.conf)
# unless that file already sets it. The cost: OpenMPI waits those seconds even when the ranks are already
# gone, so a failed job under a bare mpirun ends up to 60 s later. deploy/launch.sh does not need it (it turns
# SIGTERM into a signal mpirun forwards at once) and keeps 1 s.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# A package list: one or more names per line, '#' starts a comment.
read_list() { sed 's/#.*//' "$here/packages/$1" | tr -s ' \t' '\n\n' | grep -v '^$'; }

mapfile -t packages < <(read_list build.txt)
for arg in "$@"; do
    case $arg in
        --slurm) mapfile -t -O "${#packages[@]}" packages < <(read_list slurm.txt) ;;
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

# OpenMPI's kill sequence (see above), in the parameter file of the user who runs setup.
mca_file=${HOME:?}/.openmpi/mca-params.conf
if [[ -f $mca_file ]] && grep -Eq '^[[:space:]]*odls_base_sigkill_timeout[[:space:]]*=' "$mca_file"; then
    :   # the user's own choice stands
else
    mkdir -p "$(dirname "$mca_file")"
    printf '%s\n' "# Added by simclr's deploy/setup.sh: give ranks 30 s between SIGTERM and SIGKILL to finish their step" \
                  "# and write a checkpoint when mpirun ends a job (OpenMPI's default is 1 s)." \
                  "odls_base_sigkill_timeout = 30" >> "$mca_file"
    echo "setup: set odls_base_sigkill_timeout = 30 in $mca_file (a bare mpirun's SIGTERM now leaves the ranks time to checkpoint)"
fi

if ! command -v swift >/dev/null && [[ ! -x /opt/swift/usr/bin/swift ]]; then
    echo "setup: no Swift toolchain found (swift.org toolchain 6.x expected on PATH or in /opt/swift)" >&2
    exit 1
fi
