#!/usr/bin/env bash
# Downloads the STL-10 binary version, verifies it and extracts it.
#
#   deploy/get-stl10.sh [TARGET_DIR]          (default ./data)
#
# Result: TARGET_DIR/stl10_binary/{train_X.bin, train_y.bin, test_X.bin, test_y.bin, unlabeled_X.bin,
# class_names.txt, fold_indices.txt} (pass TARGET_DIR or that directory to the tool's --data option).
#
# The archive is the dataset authors' own (Coates, Lee, Ng; Stanford), about 2.6 GB; it unpacks to about
# 3.1 GB (unlabeled_X.bin alone is 2.76 GB), so plan for ~6 GB free while extracting. Its MD5,
# 91f7769df0f17e558f3565bffb0c7dfb, and the per-file MD5s below are the ones torchvision's STL10 class
# checks.
#
# Environment:
#   STL10_URL      another URL (a mirror) for the same archive; the MD5 is still checked
#   STL10_ARCHIVE  path of an archive already downloaded elsewhere (no download then)
#   KEEP_ARCHIVE=0 delete the archive after a verified extraction (default: keep it)
#
# Re-running is safe: an interrupted download resumes, a verified archive is not fetched again, and
# extraction is skipped when the extracted files already verify.
set -euo pipefail

URL="${STL10_URL:-http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz}"
MD5="91f7769df0f17e558f3565bffb0c7dfb"
TARGET="${1:-./data}"
ARCHIVE="${STL10_ARCHIVE:-$TARGET/stl10_binary.tar.gz}"
OUT="$TARGET/stl10_binary"
# file, size in bytes (27648 per 96x96x3 image; one byte per label), MD5 (torchvision's list)
FILES=(
    "train_X.bin 138240000 918c2871b30a85fa023e0c44e0bee87f"
    "train_y.bin 5000 5a34089d4802c674881badbb80307741"
    "test_X.bin 221184000 7f263ba9f9e0b06b93213547f721ac82"
    "test_y.bin 8000 36f9794fa4beb8a2c72628de14fa638e"
    "unlabeled_X.bin 2764800000 5242ba1fed5e4be9e1e742405eb56ca4"
)

NAME=get-stl10
ARCHIVE_GIVEN="${STL10_ARCHIVE:-}"
SIZE_NOTE="about 2.6 GB"
# shellcheck source=deploy/archive-common.sh
source "$(dirname "$0")/archive-common.sh"

# Sizes first (cheap), then MD5s when asked to ($1 = full).
extracted_ok() {
    local entry name size md5
    for entry in "${FILES[@]}"; do
        read -r name size md5 <<<"$entry"
        [[ -f "$OUT/$name" && "$(stat -c %s "$OUT/$name")" == "$size" ]] || return 1
        if [[ "${1:-}" == full ]]; then
            [[ "$(md5sum "$OUT/$name" | cut -d' ' -f1)" == "$md5" ]] || { echo "get-stl10: $OUT/$name: MD5 mismatch" >&2; return 1; }
        fi
    done
}

mkdir -p "$TARGET"
if extracted_ok; then
    echo "get-stl10: $OUT is already complete (sizes match)"
    exit 0
fi

fetch_verified_archive

echo "get-stl10: extracting to $TARGET"
tar -xzf "$ARCHIVE" -C "$TARGET"
extracted_ok full || die "extraction did not produce the expected files in $OUT"
if [[ "${KEEP_ARCHIVE:-1}" == 0 && -z "${STL10_ARCHIVE:-}" ]]; then rm -f "$ARCHIVE"; fi
echo "get-stl10: done: $OUT"
