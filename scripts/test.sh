#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds xdpl with
# ASan+UBSan, and runs every test (unit, language, errors, kernel, e2e)
# against the real kernel. Needs root. Ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
BUILD=${XDPL_TEST_BUILD:-build-test}
cmake -S . -B "$BUILD" -DXDPL_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
# LLVM keeps some global state alive until exit; that is not our leak.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
cd "$BUILD"
ctest --output-on-failure -j1 "$@"
