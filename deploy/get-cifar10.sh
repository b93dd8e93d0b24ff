#!/usr/bin/env bash
# Downloads the CIFAR-10 binary version, verifies it and extracts it.
#
#   deploy/get-cifar10.sh [TARGET_DIR]        (default ./data)
#
# Result: TARGET_DIR/cifar-10-batches-bin/{data_batch_1..5.bin, test_batch.bin, batches.meta.txt}
# (pass TARGET_DIR or that directory to the tool's --data option).
#
# The archive is the dataset authors' own (Krizhevsky, University of Toronto), "CIFAR-10 binary version
# (suitable for C programs)", 162 MB (170,052,171 bytes). Its MD5 is the one published on the download page
# and used by other loaders: c32a1d4ab5d03f1284b67883e8d87530.
#
# Environment:
#   CIFAR10_URL      another URL (a mirror) for the same archive; the MD5 is still checked
#   CIFAR10_ARCHIVE  path of an archive already downloaded elsewhere (no download then)
#
# Re-running is safe: an interrupted download resumes, a verified archive is not fetched again, and
# extraction is skipped when the extracted files already have their expected sizes.
set -euo pipefail

URL="${CIFAR10_URL:-https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz}"
MD5="c32a1d4ab5d03f1284b67883e8d87530"
TARGET="${1:-./data}"
ARCHIVE="${CIFAR10_ARCHIVE:-$TARGET/cifar-10-binary.tar.gz}"
OUT="$TARGET/cifar-10-batches-bin"
RECORD_FILE_BYTES=30730000   # 10000 records of 3073 bytes

NAME=get-cifar10
ARCHIVE_GIVEN="${CIFAR10_ARCHIVE:-}"
# shellcheck source=deploy/archive-common.sh
source "$(dirname "$0")/archive-common.sh"

extracted_ok() {
    local f
    for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin; do
        [[ -f "$OUT/$f" && "$(stat -c %s "$OUT/$f")" == "$RECORD_FILE_BYTES" ]] || return 1
    done
    [[ -f "$OUT/batches.meta.txt" ]]
}

mkdir -p "$TARGET"
if extracted_ok; then
    echo "get-cifar10: $OUT is already complete"
    exit 0
fi

fetch_verified_archive

echo "get-cifar10: extracting to $TARGET"
tar -xzf "$ARCHIVE" -C "$TARGET"
extracted_ok || die "extraction did not produce the expected files in $OUT"
echo "get-cifar10: done: $OUT"
