#!/usr/bin/env bash
# The tuner's worth and cost on this machine, side by side in one run: for each net and
# precision, training img/s with the fixed rules (--tune off) and with the measured plan
# (--tune cached), ROUNDS alternating runs, medians and measured/rules; then the compile time
# (tuning included) with an empty cache and with a warm one. Run it on an idle machine.
#   scripts/bench/tune_ab.sh [ROUNDS] [NET...]     (env: BATCH=128 THREADS=2 STEPS=10)
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/bench/common.sh
rounds="${1:-3}"; shift || true
nets=("$@")
[ ${#nets[@]} -gt 0 ] || nets=(resnet20 resnet56 plain20 plain56 vgg-a mobilenet-v2 efficientnet-b0)
batch="${BATCH:-128}"; threads="${THREADS:-2}"; steps="${STEPS:-10}"
deeper=build/release/deeper
[ -x "$deeper" ] || scripts/build.sh release >/dev/null
cache=$(mktemp -d)  # this run's own cache: cold at first, warm after
trap 'rm -rf "$cache"' EXIT
export DEEPER_TUNE_CACHE="$cache"
precisions=(f32)
"$deeper" bench resnet8 --steps 1 --warmup 0 --precision bf16 --tune off >/dev/null 2>&1 && precisions+=(bf16)
isa=$("$deeper" bench resnet8 --steps 1 --warmup 0 --tune off --format csv | tail -n 1 | awk -F, '{print $(NF-7)}')
echo "isa $isa, batch $batch, threads $threads, $rounds rounds (medians), training img/s"

# "train_img_per_s compile_s peak_rss_mib" of one run (fields counted from the end: the quoted
# knobs column holds commas)
run() {  # NET PRECISION TUNE
  # shellcheck disable=SC2046
  "$deeper" bench "$1" $(knobs_for "$1") --precision "$2" --tune "$3" --batch "$batch" \
    --threads "$threads" --steps "$steps" --format csv 2>/dev/null | tail -n 1 |
    awk -F, '{print $(NF-6), $(NF-8), $(NF-2)}'
}

printf "%-16s %5s %12s %12s %9s %10s %10s %10s %10s\n" net prec rules_img_s tuned_img_s tuned/rules \
  compile_off compile_cold compile_warm rss_tuned
for net in "${nets[@]}"; do
  for precision in "${precisions[@]}"; do
    read -r _ cold _ < <(run "$net" "$precision" cached)  # the first: measures everything
    rules=(); tuned=(); off_s=(); warm_s=(); rss=()
    for ((r = 0; r < rounds; r++)); do
      read -r img s _ < <(run "$net" "$precision" off); rules+=("$img"); off_s+=("$s")
      read -r img s m < <(run "$net" "$precision" cached); tuned+=("$img"); warm_s+=("$s"); rss+=("$m")
    done
    r_med=$(printf "%s\n" "${rules[@]}" | median); t_med=$(printf "%s\n" "${tuned[@]}" | median)
    printf "%-16s %5s %12s %12s %8.2fx %10s %10s %10s %10s\n" "$net" "$precision" "$r_med" "$t_med" \
      "$(echo "$t_med / $r_med" | bc -l)" "$(printf "%s\n" "${off_s[@]}" | median)" "$cold" \
      "$(printf "%s\n" "${warm_s[@]}" | median)" "$(printf "%s\n" "${rss[@]}" | median)"
  done
done
echo "compile_*: seconds to compile the training net (off: the fixed rules; cold: measuring every form; warm: from the cache)"
