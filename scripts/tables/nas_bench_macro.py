#!/usr/bin/env python3
"""NAS-Bench-Macro (Su et al., CVPR 2021) as a table a search stage can query.

Reads the published JSON (8-character keys over {0, 1, 2}, three test accuracies per net) and
writes a CSV with one row per (architecture, seed): the eight positions as the choices a search
space names (net.l1 .. net.l8, each id | ir_k3_e3 | ir_k5_e6), the seed, the accuracy as a
fraction, and the net's params and MACs as the table counts them.

The benchmark has no validation split: its test accuracy stands in as val_top1, as searches on
tabular benchmarks query it.

    python3 scripts/tables/nas_bench_macro.py ../shared/reference/nas-bench-macro/nas-bench-macro_cifar10.json OUT.csv
"""
import csv
import json
import os
import sys

OPS = ["id", "ir_k3_e3", "ir_k5_e6"]  # the table's digits 0, 1, 2 (train/model.py's candidate_OP)
POSITIONS = 8


def rows(table):
    for arch in sorted(table):
        entry = table[arch]
        if len(arch) != POSITIONS or any(c not in "012" for c in arch):
            raise ValueError(f"key {arch!r}: expected {POSITIONS} digits over 0, 1, 2")
        choices = [OPS[int(c)] for c in arch]
        for seed, acc in enumerate(entry["test_acc"]):
            yield choices + [seed, f"{acc / 100:.6f}", entry["params"], entry["flops"], arch]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    source, out = sys.argv[1], sys.argv[2]
    with open(source) as f:
        table = json.load(f)
    if len(table) != len(OPS) ** POSITIONS:
        sys.exit(f"{source}: {len(table)} architectures, expected {len(OPS) ** POSITIONS}")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([f"net.l{i + 1}" for i in range(POSITIONS)] + ["seed", "val_top1", "params", "macs", "arch"])
        w.writerows(rows(table))
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
