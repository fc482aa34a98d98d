#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root) and for CI:
#   bash scripts/run.sh demo   — install what is missing, build, run `lsce demo`
#   bash scripts/run.sh test   — install what is missing, build, run every test suite
#   bash scripts/run.sh bench  — install what is missing, build, run the full benchmark
set -euo pipefail
cd "$(dirname "$0")/.."

build=${LSCE_BUILD_DIR:-build}
packages=(meson ninja-build pkg-config gcc g++ libcriterion-dev libsleef-dev libbenchmark-dev)

# shellcheck source=packages.sh
source scripts/packages.sh # after the cd above: the repository root

configure_and_build() {
    if [ -f "$build/build.ninja" ]; then
        meson setup --reconfigure "$build" >/dev/null
    else
        meson setup "$build" --buildtype=release >/dev/null
    fi
    ninja -C "$build"
}

case "${1:-}" in
demo)
    install_missing "${packages[@]}"
    configure_and_build >&2
    shift
    "$build/tools/lsce" demo "$@"
    ;;
test)
    install_missing "${packages[@]}"
    configure_and_build
    status=0
    meson test -C "$build" --print-errorlogs --num-processes 2 || status=$?
    # One plain closing line for CI: the counts of meson's test log.
    log="$build/meson-logs/testlog.json"
    passed=$(grep -c '"result": "OK"' "$log" || true)
    skipped=$(grep -c '"result": "SKIP"' "$log" || true)
    failed=$(grep -c -v -E '"result": "(OK|SKIP|EXPECTEDFAIL)"' "$log" || true)
    echo "$passed passed, $failed failed, $skipped skipped"
    exit "$status"
    ;;
bench)
    install_missing "${packages[@]}"
    configure_and_build
    shift
    "$build/bench/lsce_bench" "$@"
    ;;
*)
    echo "usage: bash scripts/run.sh demo|test|bench" >&2
    exit 2
    ;;
esac
