# Shared by the benchmark scripts (sourced): the deeper knobs that match
# scripts/bench/pytorch_bench.py's models, and the median of numbers on stdin.
knobs_for() {
  case "$1" in
    resnet*|plain*) echo "--resolution 32 --classes 10" ;;
    vgg-a) echo "--resolution 32 --classes 10 --batchnorm --fc-width 512" ;;
    mobilenet-v2) echo "--resolution 32 --classes 10" ;;
    efficientnet-b0) echo "--resolution 64 --classes 10" ;;
  esac
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
