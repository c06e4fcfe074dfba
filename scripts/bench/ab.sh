#!/usr/bin/env bash
# Two deeper binaries side by side (before/after a change): training img/s of the compare.sh
# nets in fp32 (and bf16 where the CPU has it), rounds alternating between the binaries so the
# machine's drift hits both; prints each round, the medians and new/old.
#   scripts/bench/ab.sh OLD_DEEPER NEW_DEEPER [ROUNDS] [NET...]   (env: BATCH=128 THREADS=2 STEPS=8)
# COLD=1 (for changes to the tuner): every run tunes from an empty cache of its own, and the
# seconds each binary took to compile (tuning included) are printed beside the img/s of the
# plan it found.
# Build the old one from a worktree: git worktree add /tmp/old REV && cmake --preset release
# -S /tmp/old -DDEEPER_TESTS=OFF && cmake --build /tmp/old/build/release --target deeper
set -euo pipefail
old=$1 new=$2 rounds=${3:-3}
shift $(($# < 3 ? $# : 3))
nets=("$@")
((${#nets[@]})) || nets=(resnet20 vgg-a mobilenet-v2 efficientnet-b0)
batch=${BATCH:-128} threads=${THREADS:-2} steps=${STEPS:-8} cold=${COLD:-0}
. "$(dirname "$0")/common.sh"
caches=$(mktemp -d)
trap 'rm -rf "$caches"' EXIT
# "img/s compile_s" of one run, from the CSV's end: the knobs column may hold commas
train_img_per_s() {
  if ((cold)); then DEEPER_TUNE_CACHE=$(mktemp -d -p "$caches") && export DEEPER_TUNE_CACHE; fi
  # shellcheck disable=SC2046
  "$1" bench "$2" $(knobs_for "$2") --batch "$batch" --threads "$threads" --steps "$steps" --warmup 2 \
    --precision "$3" --format csv | tail -n 1 | awk -F, '{print $(NF-6), $(NF-8)}'
}
precisions=(f32)
"$new" bench resnet8 --steps 1 --warmup 0 --precision bf16 >/dev/null 2>&1 && precisions+=(bf16)
echo "isa: $("$new" bench resnet8 --steps 1 --warmup 0 --format csv 2>/dev/null | tail -n 1 | awk -F, '{print $(NF-7)}')"
((cold)) && echo "cold: every run tuned from an empty cache; compile seconds (tuning included) after the img/s"
echo "net precision | old img/s per round | new img/s per round | median old | median new | new/old"
for net in "${nets[@]}"; do
  for precision in "${precisions[@]}"; do
    o=() n=() os=() ns=()
    for ((r = 0; r < rounds; ++r)); do
      read -r img s < <(train_img_per_s "$old" "$net" "$precision"); o+=("$img") os+=("$s")
      read -r img s < <(train_img_per_s "$new" "$net" "$precision"); n+=("$img") ns+=("$s")
    done
    mo=$(printf '%s\n' "${o[@]}" | median) mn=$(printf '%s\n' "${n[@]}" | median)
    echo "$net $precision | ${o[*]} | ${n[*]} | $mo | $mn | $(echo "scale=3; $mn / $mo" | bc -l)"
    if ((cold)); then
      mo=$(printf '%s\n' "${os[@]}" | median) mn=$(printf '%s\n' "${ns[@]}" | median)
      echo "$net $precision compile s | ${os[*]} | ${ns[*]} | $mo | $mn | $(echo "scale=3; $mn / $mo" | bc -l)"
    fi
  done
done
