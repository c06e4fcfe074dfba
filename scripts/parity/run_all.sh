#!/usr/bin/env bash
# Parity of one training step against PyTorch for resnet20, vgg-a with BN, mobilenet-v2 and
# efficientnet-b0, each for several seeds (weights, batch and labels):
#   scripts/parity/run_all.sh            # seeds 0..4
#   scripts/parity/run_all.sh 7 8 9      # these seeds
#   PRECISION=bf16 scripts/parity/run_all.sh   # deeper's bf16 mixed precision (looser marks)
# Needs python3-torch and python3-torchvision; not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x build/release/deeper ] || scripts/build.sh release >/dev/null
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(0 1 2 3 4)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=()
run() {
  local net=$1; shift
  for seed in "${seeds[@]}"; do
    echo "== $net seed $seed"
    build/release/deeper dump "$net" "$@" --batch 8 --seed "$seed" --precision "${PRECISION:-f32}" --out "$tmp/$net.safetensors" >/dev/null
    if /usr/bin/python3 scripts/parity/pytorch_parity.py "$tmp/$net.safetensors"; then
      passed=$((passed + 1))
    else
      failed+=("$net/$seed")
    fi
  done
}
run resnet20 --classes 10
run vgg-a --batchnorm --fc-width 512 --resolution 32 --classes 10 --dropout 0
run mobilenet-v2 --resolution 32 --classes 10 --dropout 0
run efficientnet-b0 --resolution 64 --classes 10 --dropout 0 --drop-connect 0
echo "parity: $passed passed, ${#failed[@]} failed ${failed[*]}"
[ ${#failed[@]} = 0 ]
