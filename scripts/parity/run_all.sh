#!/usr/bin/env bash
# Parity of one training step against PyTorch for resnet20, vgg-a with BN, mobilenet-v2 and
# efficientnet-b0 (needs python3-torch and python3-torchvision; not part of CI).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x build/release/deeper ] || scripts/build.sh release >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
run() {
  local net=$1; shift
  build/release/deeper dump "$net" "$@" --batch 8 --out "$tmp/$net.safetensors" >/dev/null
  /usr/bin/python3 scripts/parity/pytorch_parity.py "$tmp/$net.safetensors" || status=1
}
run resnet20 --classes 10
run vgg-a --batchnorm --fc-width 512 --resolution 32 --classes 10 --dropout 0
run mobilenet-v2 --resolution 32 --classes 10 --dropout 0
run efficientnet-b0 --resolution 64 --classes 10 --dropout 0 --drop-connect 0
exit $status
