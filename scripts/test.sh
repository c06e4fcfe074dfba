#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install what is missing, build the
# release preset and run every test; the SLURM integration test against a real single-node
# cluster it starts and stops (scripts/slurm-test.sh; needs root, DEEPER_SKIP_SLURM=1 skips);
# then the sanitizer preset (ASan + UBSan) on the tests not tagged [slow]
# (DEEPER_SKIP_SANITIZE=1 skips).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each phase's wall time, so a CI log shows where its minutes go.
phase_start=$SECONDS
phase_done() { echo "test.sh: $1 took $((SECONDS - phase_start)) s"; phase_start=$SECONDS; }
scripts/setup.sh
phase_done setup
# One test at a time: the training tests use every core, and two OpenMP teams on the same
# cores spin against each other (several times slower than running them in turn).
scripts/build.sh release
phase_done "release build"
ctest --preset release
phase_done "release tests"

if [ "${DEEPER_SKIP_SLURM:-0}" != 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    scripts/slurm-test.sh
    phase_done "slurm test"
  else
    echo "slurm-test: skipped (starting slurmctld/slurmd needs root)"
  fi
fi

if [ "${DEEPER_SKIP_SANITIZE:-0}" != 1 ]; then
  scripts/build.sh dev
  phase_done "sanitizer build"
  log=build/dev/sanitizer-tests.log
  if ! DEEPER_TUNE_CACHE="$PWD/build/dev/tune-cache" ASAN_OPTIONS=detect_leaks=1 \
      UBSAN_OPTIONS=print_stacktrace=1 build/dev/deeper_tests '~[slow]' --durations yes >"$log" 2>&1; then
    cat "$log"
    exit 1
  fi
  tail -n 3 "$log"
  echo "slowest under the sanitizers:"
  # awk reads all of sort's output: head would exit after 10 lines, and sort, writing in
  # buffer-sized pieces, could then die of SIGPIPE (exit 141), which pipefail makes the run's
  grep -E '^[0-9.]+ s: ' "$log" | sort -rn | awk 'NR <= 10'
  phase_done "sanitizer tests"
fi
