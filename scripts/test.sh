#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install what is missing, build the
# release preset and run every test; the SLURM integration test against a real single-node
# cluster it starts and stops (scripts/slurm-test.sh; needs root, DEEPER_SKIP_SLURM=1 skips);
# then the sanitizer preset (ASan + UBSan) on the tests not tagged [slow]
# (DEEPER_SKIP_SANITIZE=1 skips).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# One test at a time: the training tests use every core, and two OpenMP teams on the same
# cores spin against each other (several times slower than running them in turn).
scripts/build.sh release
ctest --preset release

if [ "${DEEPER_SKIP_SLURM:-0}" != 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    scripts/slurm-test.sh
  else
    echo "slurm-test: skipped (starting slurmctld/slurmd needs root)"
  fi
fi

if [ "${DEEPER_SKIP_SANITIZE:-0}" != 1 ]; then
  scripts/build.sh dev
  DEEPER_TUNE_CACHE="$PWD/build/dev/tune-cache" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    build/dev/deeper_tests '~[slow]'
fi
