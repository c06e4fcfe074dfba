#!/usr/bin/env bash
# deeper vs PyTorch, side by side on this machine: for each net, ROUNDS alternating runs of
# `deeper bench` and scripts/bench/pytorch_bench.py (same batch, threads, SGD momentum), in
# fp32 and, where the CPU has bf16 instructions, in bf16 (deeper --precision bf16 against
# PyTorch's bf16 autocast), so machine drift hits all; prints the medians and the ratios.
# Run it on an idle machine.
#   scripts/bench/compare.sh [ROUNDS] [NET...]     (env: BATCH=128 THREADS=2 STEPS=10)
# Needs Debian's python3-torch and python3-torchvision; uses OpenBLAS for PyTorch's Linear
# layers when libopenblas0-openmp is installed (Debian's torch falls back to reference BLAS).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-3}"; shift || true
nets=("$@")
[ ${#nets[@]} -gt 0 ] || nets=(resnet20 resnet56 plain20 plain56 vgg-a mobilenet-v2 efficientnet-b0)
batch="${BATCH:-128}"; threads="${THREADS:-2}"; steps="${STEPS:-10}"
deeper=build/release/deeper
[ -x "$deeper" ] || scripts/build.sh release >/dev/null
/usr/bin/python3 -c "import torch, torchvision" 2>/dev/null || {
  echo "compare.sh: needs python3-torch and python3-torchvision (apt-get install them)" >&2; exit 2; }
openblas=/usr/lib/x86_64-linux-gnu/openblas-openmp
[ -d "$openblas" ] && export LD_LIBRARY_PATH="$openblas${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

. scripts/bench/common.sh
# a / b, or nan when either is not a number (a PyTorch run that could not run at bf16)
ratio() { [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]] && echo "$1 / $2" | bc -l || echo nan; }

# bf16 where the CPU has it (deeper refuses bf16 without the instructions).
precisions=(f32)
"$deeper" bench resnet8 --steps 1 --warmup 0 --precision bf16 >/dev/null 2>&1 && precisions+=(bf16)
isa=$("$deeper" bench resnet8 --steps 1 --warmup 0 --format csv 2>/dev/null | tail -n 1 | awk -F, '{print $(NF-7)}')
echo "isa $isa, batch $batch, threads $threads, $rounds rounds (medians), training and inference img/s"

# One measurement: prints "train infer rss" for a side (deeper or torch) at a precision.
measure() {
  local side=$1 net=$2 precision=$3
  if [ "$side" = deeper ]; then
    # shellcheck disable=SC2046
    # fields counted from the end: the quoted knobs column holds commas
    "$deeper" bench "$net" $(knobs_for "$net") --precision "$precision" \
      --batch "$batch" --threads "$threads" --steps "$steps" --format csv | tail -n 1 |
      awk -F, '{print $(NF-6), $(NF-5), $(NF-2)}'
  else
    /usr/bin/python3 scripts/bench/pytorch_bench.py "$net" --precision "$precision" \
      --batch "$batch" --threads "$threads" --steps "$steps" | awk -F, '{print $4, $5, $6}'
  fi
}

printf "%-16s %5s %12s %12s %7s %12s %12s %7s %9s %9s %9s\n" net prec deeper_train torch_train \
  ratio deeper_infer torch_infer ratio deeper_mib torch_mib vs_f32
for net in "${nets[@]}"; do
  base=""
  for precision in "${precisions[@]}"; do
    d_train=(); t_train=(); d_inf=(); t_inf=(); d_rss=(); t_rss=()
    for ((r = 0; r < rounds; r++)); do
      read -r tr inf rss < <(measure deeper "$net" "$precision")
      d_train+=("$tr"); d_inf+=("$inf"); d_rss+=("$rss")
      read -r tr inf rss < <(measure torch "$net" "$precision")
      t_train+=("$tr"); t_inf+=("$inf"); t_rss+=("$rss")
    done
    dt=$(printf "%s\n" "${d_train[@]}" | median); tt=$(printf "%s\n" "${t_train[@]}" | median)
    di=$(printf "%s\n" "${d_inf[@]}" | median); ti=$(printf "%s\n" "${t_inf[@]}" | median)
    dr=$(printf "%s\n" "${d_rss[@]}" | median); tr=$(printf "%s\n" "${t_rss[@]}" | median)
    [ -n "$base" ] || base=$dt
    printf "%-16s %5s %12s %12s %6.2fx %12s %12s %6.2fx %9s %9s %8.2fx\n" "$net" "$precision" \
      "$dt" "$tt" "$(ratio "$dt" "$tt")" "$di" "$ti" "$(ratio "$di" "$ti")" "$dr" "$tr" \
      "$(ratio "$dt" "$base")"
  done
done
echo "ratio: deeper / PyTorch at the same precision; vs_f32: deeper's training img/s / its own fp32"
