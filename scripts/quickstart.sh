#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, build, and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
# MobileNet's Table 8: mult-adds and parameters of MobileNet, GoogLeNet and VGG16.
build/release/deeper count mobilenet-v1 googlenet vgg-d --format md
