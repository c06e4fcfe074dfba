#!/usr/bin/env bash
# The input pipeline on photo-sized JPEGs (scripts/bench/make_photo_folder.py: 500 x 375, about
# ImageNet's size and weight), side by side in one run: training img/s of NET at RES with
# RandomResizedCrop from the files, (a) batches built inline on the net's threads between steps,
# (b) one data thread ahead of the net's remaining threads, (c) one data thread beside all the
# net's threads (oversubscribed), and (d) the same images decoded once into memory (the net's
# speed without decoding). Prints each round, the medians and the ratios to (d). Run it idle.
#   scripts/bench/data_pipeline.sh [ROUNDS]   (env: NET=resnet18 RES=112 BATCH=64 THREADS=2
#                                              PRECISION=bf16 IMAGES=/tmp/deeper-photos)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
net=${NET:-resnet18} res=${RES:-112} batch=${BATCH:-64} threads=${THREADS:-2}
precision=${PRECISION:-bf16} images=${IMAGES:-/tmp/deeper-photos}
deeper=build/release/deeper
[ -x "$deeper" ] || scripts/build.sh release >/dev/null
"$deeper" bench resnet8 --steps 1 --warmup 0 --precision "$precision" >/dev/null 2>&1 || precision=f32
[ -d "$images/train" ] || /usr/bin/python3 scripts/bench/make_photo_folder.py "$images" 10 128
isa=$("$deeper" bench resnet8 --steps 1 --warmup 0 --format csv 2>/dev/null | tail -n 1 | awk -F, '{print $(NF-7)}')
echo "isa $isa, $net at ${res}x${res}, batch $batch, $precision, $threads cores; $(find "$images/train" -name '*.jpg' | wc -l) JPEGs of $(du -sh "$images" | cut -f1)"
. scripts/bench/common.sh

# img/s of the second epoch (the first pays for compiling and the page cache)
img_per_s() {  # DATA_OPTIONS THREADS DATA_THREADS
  local out; out=$(mktemp -d)
  "$deeper" train "$net" --data "folder:$images,size=$res,$1" --resolution "$res" --classes 10 --epochs 2 \
    --batch "$batch" --val-size 128 --train-eval-size 0 --crop resized --precision "$precision" \
    --threads "$2" --data-threads "$3" --normalize imagenet --out "$out" >/dev/null
  awk -F, 'NR == 3 {print $NF}' "$out/metrics.csv"
  rm -rf "$out"
}
declare -A runs=([a]="cache=false $threads 0" [b]="cache=false $((threads - 1)) 1"
                 [c]="cache=false $threads 1" [d]="cache=true $threads 0")
declare -A names=([a]="inline (decode on the net's $threads threads)" [b]="1 data thread + $((threads - 1)) net threads"
       [c]="1 data thread + $threads net threads" [d]="decoded in memory, no decoding")
declare -A all
for r in $(seq "$rounds"); do
  line="round $r:"
  for k in a b c d; do
    v=$(img_per_s ${runs[$k]}); all[$k]+="$v "; line+=" $k=$v"
  done
  echo "$line"
done
d=$(echo ${all[d]} | tr ' ' '\n' | median)
for k in a b c d; do
  m=$(echo ${all[$k]} | tr ' ' '\n' | median)
  printf '%-45s %8.1f img/s  %.2fx of in-memory\n' "${names[$k]}" "$m" "$(echo "$m / $d" | bc -l)"
done
