#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, build, and run the
# quickstart experiment (a small real sweep on Fashion-MNIST, about 3 minutes on 2 cores).
# Results land in runs/quickstart/ (results.csv, curves.csv, summary.md, SVG plots); the
# committed results/quickstart/ is the reference run.
# Run it again and finished trials are skipped; pass --force to re-run them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
build/release/deeper run experiments/quickstart.yaml --out runs/quickstart "$@"
cat runs/quickstart/summary.md
