#!/usr/bin/env bash
# Reliability checks for CI, after `bash scripts/run.sh test` (fresh Debian 12, as root: installs
# what is missing). Each step has its own build directory; every step runs even if one fails.
#   1. asan   the whole test suite built with -Db_sanitize=address,undefined (UBSan made fatal)
#   2. tsan   a ThreadSanitizer build running tests/test_concurrency
#   3. valgrind  `lsce demo --rows 64 --vocab 4096` and tests/golden_check under memcheck
#                (valgrind has no AVX-512: the scalar and AVX2 variants run there)
#   4. fuzz   fuzz/run.sh: the libFuzzer targets (kernels: the plain loss against the oracle;
#             options: the objective options, SIMD against scalar; npy: the .npy reader) replay
#             the seed corpus, then fuzz two at a time: kernels and options for
#             LSCE_FUZZ_SECONDS (default 60) at once, then npy for half that (90 s in all)
# Usage: bash scripts/reliability.sh [asan|tsan|valgrind|fuzz ...]   (default: all four)
# Prints one line per step and a closing "N passed, N failed"; exits 1 if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."

packages=(meson ninja-build pkg-config gcc libcriterion-dev clang libclang-rt-14-dev valgrind)

# shellcheck source=packages.sh
source scripts/packages.sh # after the cd above: the repository root

# setup DIR OPTION... : configure DIR with these options (again, if it exists).
setup() {
    local dir=$1
    shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
}

# GCC's UBSan reports and carries on by default: make every report fatal. LSan (part of ASan)
# fails a test binary that leaks, except for Criterion's own 48 bytes (a calloc inside
# libcriterion.so, reported in test binaries that set a per-test timeout).
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
export TSAN_OPTIONS=exitcode=66
lsan_suppressions=$(mktemp)
trap 'rm -f "$lsan_suppressions"' EXIT
echo "leak:libcriterion.so" >"$lsan_suppressions"
export LSAN_OPTIONS=suppressions=$lsan_suppressions:print_suppressions=0

step_asan() {
    setup build-asan --buildtype=debugoptimized -Dbench=false \
        -Db_sanitize=address,undefined -Db_lundef=false || return 1
    ninja -C build-asan >/dev/null || return 1
    meson test -C build-asan --print-errorlogs --num-processes 2
}

step_tsan() {
    setup build-tsan --buildtype=debugoptimized -Dbench=false \
        -Db_sanitize=thread -Db_lundef=false || return 1
    ninja -C build-tsan tests/test_concurrency >/dev/null || return 1
    local log=build-tsan/test_concurrency.log
    build-tsan/tests/test_concurrency >"$log" 2>&1
    local status=$?
    # Kernels with more ASLR bits than this TSan runtime expects: run without randomisation.
    if grep -q "unexpected memory mapping" "$log"; then
        setarch "$(uname -m)" -R build-tsan/tests/test_concurrency >"$log" 2>&1
        status=$?
    fi
    cat "$log"
    return $status
}

step_valgrind() {
    setup build-valgrind --buildtype=debugoptimized -Dbench=false || return 1
    ninja -C build-valgrind tools/lsce tests/golden_check >/dev/null || return 1
    local memcheck=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite)
    "${memcheck[@]}" build-valgrind/tools/lsce demo --rows 64 --vocab 4096 >/dev/null || return 1
    "${memcheck[@]}" build-valgrind/tests/golden_check | tail -1
    return "${PIPESTATUS[0]}"
}

step_fuzz() {
    bash fuzz/run.sh all
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(asan tsan valgrind fuzz)
install_missing "${packages[@]}" || exit 1
passed=0
failed=0
for step in "${steps[@]}"; do
    case "$step" in
    asan | tsan | valgrind | fuzz) ;;
    *) echo "usage: bash scripts/reliability.sh [asan|tsan|valgrind|fuzz ...]" >&2; exit 2 ;;
    esac
    echo "==== $step"
    start=$SECONDS
    if "step_$step"; then
        echo "==== $step: ok ($((SECONDS - start)) s)"
        passed=$((passed + 1))
    else
        echo "==== $step: FAILED ($((SECONDS - start)) s)"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
