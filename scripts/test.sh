#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install what is missing, build the
# release preset and run every test; then the sanitizer preset (ASan + UBSan) on the tests
# not tagged [slow]. DEEPER_SKIP_SANITIZE=1 skips the second pass.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs="$(nproc)"

scripts/build.sh release
ctest --preset release -j "$jobs"

if [ "${DEEPER_SKIP_SANITIZE:-0}" != 1 ]; then
  scripts/build.sh dev
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    build/dev/deeper_tests '~[slow]'
fi
