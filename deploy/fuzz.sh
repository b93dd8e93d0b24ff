#!/usr/bin/env bash
# Builds the libFuzzer targets of the file readers with -sanitize=fuzzer,address and runs each on its
# committed seed corpus (Tests/Fuzz/Corpus/<target>) for a while.
#
#   deploy/fuzz.sh                      every target, 10 s each (what CI runs)
#   deploy/fuzz.sh --seconds 3600 npy   one target for an hour
#   deploy/fuzz.sh --build-only         build the binaries only
#
# Targets: safetensors (the weights reader and model loading), checkpoint, cifar10, stl10, npy, images
# (the PNG/JPEG decoders).
# The modules the targets need are compiled here with swiftc (SwiftPM builds none of this), into
# .build/fuzz/. Inputs the fuzzer finds new coverage with are kept in .build/fuzz/corpus/<target> and
# reused by later runs; a crashing input is written to .build/fuzz/crashes/<target>/ and the run fails.
# Replay one with `.build/fuzz/bin/fuzz-<target> FILE`, then add it to Tests/Fuzz/Corpus/<target>/ and write a
# regression test for it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"

all_targets=(safetensors checkpoint cifar10 stl10 npy images)
seconds=10
build_only=0
targets=()
while (($#)); do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
        --build-only) build_only=1; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "fuzz: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
((${#targets[@]})) || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz: unknown target '$t' (one of: ${all_targets[*]})" >&2; exit 2; }
done
[[ "$seconds" =~ ^[0-9]+$ ]] && ((seconds > 0)) || { echo "fuzz: --seconds must be a positive integer" >&2; exit 2; }

out=.build/fuzz
modules="$out/modules"
mkdir -p "$modules" "$out/bin"
flags=(-sanitize=fuzzer,address -O -g -parse-as-library -enforce-exclusivity=unchecked -I "$modules" -I Sources/CBLAS)

# A module from its source files, rebuilt when any of them is newer than its object file.
module() {
    local name="$1"; shift
    local object="$modules/$name.o"
    if [[ -f "$object" ]] && [[ -z "$(find "$@" -newer "$object" 2>/dev/null)" ]]; then return; fi
    echo "fuzz: compiling $name"
    swiftc "${flags[@]}" -module-name "$name" -wmo -emit-module -emit-module-path "$modules/$name.swiftmodule" \
        -emit-object -o "$object" "$@" 2>&1 | grep -v "warning: Cannot export local symbol" >&2 || true
    [[ -f "$object" ]] || { echo "fuzz: compiling $name failed" >&2; exit 1; }
}

# A C target of the package, compiled with the sanitizer, with a module map so Swift imports it as SwiftPM would.
cmodule() {
    local name="$1" dir="$out/$1"
    mkdir -p "$dir"
    for c in Sources/"$name"/*.c; do
        local object="$dir/$(basename "$c" .c).o"
        if [[ ! -f "$object" || "$c" -nt "$object" || Sources/"$name"/include -nt "$object" ]]; then
            echo "fuzz: compiling $c"
            clang -O1 -g -fsanitize=address,fuzzer-no-link -I Sources/"$name"/include -c "$c" -o "$object"
        fi
    done
    printf 'module %s {\n    header "%s"\n    export *\n}\n' "$name" "$PWD/Sources/$name/include/$name.h" > "$dir/module.modulemap"
    flags+=(-I "$dir")
}
cmodule ImageCodecs
cmodule CKernels

module Kernels Sources/Kernels/*.swift
module Tracing Sources/Tracing/*.swift   # NeuralNet records spans while a step trace is taken
module NeuralNet Sources/NeuralNet/*.swift
module Optimizers Sources/Optimizers/*.swift
module Datasets Sources/Datasets/*.swift
# The checkpoint file target: it needs neither MPI nor the trainers.
module Checkpoints Sources/Checkpoints/*.swift

for t in "${targets[@]}"; do
    binary="$out/bin/fuzz-$t"
    sources=(Tests/Fuzz/Targets/FuzzInput.swift "Tests/Fuzz/Targets/$t.swift")
    if [[ ! -x "$binary" ]] || [[ -n "$(find "${sources[@]}" "$modules" "$out/ImageCodecs" "$out/CKernels" -newer "$binary")" ]]; then
        echo "fuzz: linking fuzz-$t"
        swiftc "${flags[@]}" -module-name "Fuzz_$t" "${sources[@]}" "$modules"/*.o "$out"/ImageCodecs/*.o "$out"/CKernels/*.o \
            -lopenblas -lpng16 -ljpeg -ldnnl -lgomp -o "$binary" 2>&1 \
            | grep -v "warning: Cannot export local symbol" >&2 || true
        [[ -x "$binary" ]] || { echo "fuzz: linking fuzz-$t failed" >&2; exit 1; }
    fi
done
((build_only)) && exit 0

failed=()
for t in "${targets[@]}"; do
    corpus="$out/corpus/$t" crashes="$out/crashes/$t"
    mkdir -p "$corpus" "$crashes"
    dict=()
    [[ -f "Tests/Fuzz/Dictionaries/$t.dict" ]] && dict=(-dict="Tests/Fuzz/Dictionaries/$t.dict")
    log="$out/$t.log"
    # New inputs go to the first corpus directory; the committed seeds are only read.
    # The Swift runtime's backtracer is off so libFuzzer reports a trap itself (and ASan does not trip on it).
    if SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$out/bin/fuzz-$t" "$corpus" "Tests/Fuzz/Corpus/$t" "${dict[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$crashes/" >"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        echo "fuzz: $t: no crash in $runs inputs (${seconds} s, corpus $(ls "$corpus" | wc -l) + $(ls "Tests/Fuzz/Corpus/$t" | wc -l) seeds)"
    else
        echo "fuzz: $t: FAILED, see $log; inputs in $crashes/:" >&2
        ls "$crashes" >&2
        grep -m 5 -E "ERROR|Fatal error|deadly signal|SUMMARY" "$log" >&2 || tail -20 "$log" >&2
        failed+=("$t")
    fi
done
echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
((${#failed[@]} == 0)) || { echo "fuzz: crashes in: ${failed[*]}" >&2; exit 1; }
