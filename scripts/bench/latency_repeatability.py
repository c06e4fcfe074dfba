#!/usr/bin/python3
"""Repeatability of the latency a search measures (`latency_ms`): 20 nets timed twice in one run
by `deeper bench --latency` (batch 1, never from the cache), the second pass in reverse order so
that a drift of the machine does not pass for agreement. Prints both passes, the rank
correlation (Spearman) of the two, and the relative differences. Run it on an idle machine.

  /usr/bin/python3 scripts/bench/latency_repeatability.py [build/release/deeper] [--threads N]
"""
import csv
import io
import os
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

# (net, knobs): CIFAR-style ResNets, MobileNets and EfficientNet-B0 at Fashion-MNIST-like sizes
NETS = [(n, ["--width", w]) for n in ["resnet8", "resnet14", "resnet20", "resnet32", "resnet56"] for w in ["0.5", "1"]]
NETS += [(n, ["--width", w]) for n in ["mobilenet-v1", "mobilenet-v2"] for w in ["0.25", "0.5", "1"]]
NETS += [("efficientnet-b0", ["--width", "0.25"]), ("efficientnet-b0", ["--width", "0.5"]),
         ("plain20", ["--width", "1"]), ("vgg-a", ["--width", "0.25", "--fc-width", "256"])]


def time_one(deeper, net, knobs, threads):
    out = subprocess.run([deeper, "bench", net, "--latency", "--resolution", "32", "--in-channels", "1", "--classes",
                          "10", "--threads", str(threads), "--format", "csv", *knobs],
                         capture_output=True, text=True, check=True).stdout
    row = next(csv.DictReader(io.StringIO(out)))
    return float(row["latency_ms"]), float(row["p25_ms"]), float(row["p75_ms"]), row["isa"]


def ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    r = [0.0] * len(values)
    for rank, i in enumerate(order):
        r[i] = rank
    return r


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    return 1 - 6 * sum((x - y) ** 2 for x, y in zip(ra, rb)) / (n * (n * n - 1))


def main():
    args = sys.argv[1:]
    threads = 1
    if "--threads" in args:
        i = args.index("--threads")
        threads = int(args[i + 1])
        del args[i:i + 2]
    deeper = os.path.abspath(args[0]) if args else os.path.join(ROOT, "build/release/deeper")
    first = [time_one(deeper, n, k, threads) for n, k in NETS]
    second = list(reversed([time_one(deeper, n, k, threads) for n, k in reversed(NETS)]))
    print("| net | knobs | first ms (p25-p75) | second ms (p25-p75) | second / first |")
    print("|---|---|---:|---:|---:|")
    rel = []
    for (n, k), a, b in zip(NETS, first, second):
        rel.append(b[0] / a[0] - 1)
        print(f"| {n} | {' '.join(k)} | {a[0]:.4f} ({a[1]:.4f}-{a[2]:.4f}) | {b[0]:.4f} ({b[1]:.4f}-{b[2]:.4f}) "
              f"| {b[0] / a[0]:.3f} |")
    spread = [(a[2] - a[1]) / a[0] for a in first + second]
    print(f"\nisa {first[0][3]}, {threads} thread(s), batch 1, resolution 32")
    print(f"Spearman rank correlation of the two passes: {spearman([a[0] for a in first], [b[0] for b in second]):.4f}")
    print(f"|second / first - 1|: median {statistics.median(abs(r) for r in rel):.4f}, max {max(abs(r) for r in rel):.4f}")
    print(f"interquartile range / median within a measurement: median {statistics.median(spread):.4f}, "
          f"max {max(spread):.4f}")


if __name__ == "__main__":
    main()
