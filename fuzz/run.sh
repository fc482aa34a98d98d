#!/usr/bin/env bash
# Builds the libFuzzer targets with Debian's clang, replays the committed seed corpus, then fuzzes
# each target for a bounded time, two at a time (one core each):
#   fuzz_kernels  the plain loss, every variant and entry point, against tests/oracle.c
#   fuzz_options  the objective options (issue #3): every SIMD variant against the scalar one
#   fuzz_npy      the CLI's .npy reader
# Phase 1 fuzzes kernels and options at once for LSCE_FUZZ_SECONDS; phase 2 fuzzes npy alone for
# half that (a small parser whose coverage levels off within seconds): 1.5 × LSCE_FUZZ_SECONDS.
#   bash fuzz/run.sh [build|replay|fuzz|all]      (default all)
# Environment:
#   LSCE_FUZZ_SECONDS   fuzzing time of kernels and options (default 60; 0 skips fuzzing)
#   LSCE_FUZZ_BUILD     build directory (default build-fuzz)
# Needs clang and libclang-rt-14-dev (libFuzzer); scripts/reliability.sh installs them.
# Exit status: 0 when the corpus replays clean and fuzzing found nothing, 1 otherwise; a finding
# is saved as $LSCE_FUZZ_BUILD/artifacts/<target>-crash-* (replay it: <binary> <file>).
set -euo pipefail
cd "$(dirname "$0")/.."
# The library is built by meson with recoverable UBSan checks: make a report fatal here too (as
# scripts/reliability.sh does), so that undefined behaviour inside lsce is a finding.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

build=${LSCE_FUZZ_BUILD:-build-fuzz}
seconds=${LSCE_FUZZ_SECONDS:-60}
targets=(fuzz_kernels fuzz_options fuzz_npy)
CC_FUZZ=${CC_FUZZ:-clang}
flags=(-std=c11 -O1 -g -Wall -Wextra -Werror=vla -Werror=missing-prototypes
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -fsanitize-coverage-ignorelist=fuzz/coverage_ignore.txt)

build_targets() {
    # The library itself through its own meson build (same sources and per-ISA flags), compiled
    # with coverage instrumentation for libFuzzer and the sanitizers.
    if [ ! -f "$build/build.ninja" ]; then
        CC=$CC_FUZZ meson setup "$build" --buildtype=debugoptimized -Dtests=false -Dbench=false \
            -Db_sanitize=address,undefined -Db_lundef=false \
            -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
    fi
    ninja -C "$build" liblsce_core.a >/dev/null
    "$CC_FUZZ" "${flags[@]}" -Iinclude -Itests fuzz/fuzz_kernels.c fuzz/reference.c tests/oracle.c \
        "$build/liblsce_core.a" -lm -lpthread -o "$build/fuzz_kernels"
    "$CC_FUZZ" "${flags[@]}" -Iinclude fuzz/fuzz_options.c fuzz/options_case.c \
        fuzz/options_bounds.c "$build/liblsce_core.a" -lm -lpthread -o "$build/fuzz_options"
    "$CC_FUZZ" "${flags[@]}" -Itools fuzz/fuzz_npy.c tools/npy.c -o "$build/fuzz_npy"
}

# max_len per target: kernels and options inputs describe up to 8 rows; .npy inputs are headers
# + a little data.
max_len() { [ "$1" = fuzz_npy ] && echo 2048 || echo 4096; }
# seconds per target (see the header)
seconds_of() { [ "$1" = fuzz_npy ] && echo $((seconds > 1 ? seconds / 2 : 1)) || echo "$seconds"; }
corpus_of() { echo "fuzz/corpus/${1#fuzz_}"; }

replay() {
    local status=0
    mkdir -p "$build/artifacts"
    for t in "${targets[@]}"; do
        local corpus
        corpus=$(corpus_of "$t")
        local n
        n=$(find "$corpus" -type f | wc -l)
        if "$build/$t" -runs=0 -artifact_prefix="$build/artifacts/$t-replay-" "$corpus" >"$build/$t-replay.log" 2>&1; then
            echo "$t: replayed $n seed inputs: clean"
        else
            echo "$t: REPLAY FAILED (log: $build/$t-replay.log)"
            tail -30 "$build/$t-replay.log"
            status=1
        fi
    done
    return $status
}

# Fuzzes the given targets at once (one core each); 1 when any of them found something.
fuzz_phase() {
    local phase=("$@") pids=()
    for t in "${phase[@]}"; do
        # New inputs go into a scratch copy: the committed corpus only changes by hand.
        rm -rf "$build/corpus-$t" && cp -r "$(corpus_of "$t")" "$build/corpus-$t"
        "$build/$t" "$build/corpus-$t" -max_total_time="$(seconds_of "$t")" \
            -max_len="$(max_len "$t")" -len_control=0 -timeout=20 -print_final_stats=1 \
            -artifact_prefix="$build/artifacts/$t-" >"$build/$t-fuzz.log" 2>&1 &
        pids+=($!)
    done
    local status=0
    for i in "${!phase[@]}"; do
        local t=${phase[$i]}
        if wait "${pids[$i]}"; then
            local runs
            runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/$t-fuzz.log")
            echo "$t: ${runs:-?} executions in $(seconds_of "$t") s: clean" \
                 "(corpus $(find "$build/corpus-$t" -type f | wc -l) inputs)"
        else
            echo "$t: FINDING (log: $build/$t-fuzz.log; input: $build/artifacts/$t-*)"
            grep -m1 -A12 -E 'FUZZ FINDING|ERROR: (AddressSanitizer|libFuzzer)|runtime error' \
                "$build/$t-fuzz.log" || tail -30 "$build/$t-fuzz.log"
            status=1
        fi
    done
    return $status
}

fuzz() {
    [ "$seconds" -gt 0 ] || return 0
    mkdir -p "$build/artifacts"
    local status=0
    fuzz_phase fuzz_kernels fuzz_options || status=1
    fuzz_phase fuzz_npy || status=1
    return $status
}

case "${1:-all}" in
build) build_targets ;;
replay) replay ;;
fuzz) fuzz ;;
all) build_targets && replay && fuzz ;;
*) echo "usage: bash fuzz/run.sh [build|replay|fuzz|all]" >&2; exit 2 ;;
esac
