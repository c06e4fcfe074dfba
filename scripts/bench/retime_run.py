#!/usr/bin/python3
"""Time every net of a results folder again, in one pass on this machine, and set the times
against the latency_ms the run recorded: for a run whose nets were timed at different hours
(a resumed run, an experiment extended later), this shows whether the machine drifted between
them. Each distinct net (its zoo name and knobs, or its net file and positions) is timed twice
by `deeper bench --latency` in fresh processes, the second pass in reverse order; prints both,
the run's value, the Spearman rank correlation of the run's values with the passes' mean, and
each net's ratio. Run it on an idle machine.

  /usr/bin/python3 scripts/bench/retime_run.py RESULTS_DIR [--spec NET_FILE] [--deeper build/release/deeper]
      [--resolution 28] [--in-channels 1] [--classes 10]

--spec names the net file of the run's trials with positions (net.NAME columns: a search's
proposals and their retraining); without it those trials are left out.
"""
import argparse
import csv
import io
import os
import statistics
import subprocess

from latency_repeatability import spearman  # this folder is on sys.path when run as a script

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
KNOBS = ["width", "depth", "resolution"]  # the zoo knobs an experiment's row can carry


def nets_of(results_dir, spec):
    """(label, deeper bench arguments, the run's latency_ms) per distinct net with a timing."""
    seen = {}
    with open(os.path.join(results_dir, "results.csv")) as f:
        for r in csv.DictReader(f):
            if not r.get("latency_ms") or r["status"] not in ("done", "stopped"):
                continue
            positions = sorted((k[4:], v) for k, v in r.items() if k.startswith("net.") and v != "")
            if positions:  # a net file's trial
                if not spec:
                    continue
                args = ["--spec", spec]
                for k, v in positions:
                    args += ["--position", f"{k}={v}"]
                label = " ".join(f"{k}={v}" for k, v in positions)
            else:
                args = [r["net"]] + sum([[f"--{k}", r[k]] for k in KNOBS if r.get(k)], [])
                label = " ".join([r["net"]] + [f"{k}={r[k]}" for k in KNOBS if r.get(k)])
            seen.setdefault(label, (r["stage"], args, float(r["latency_ms"])))
    return seen


def time_one(deeper, args, common):
    out = subprocess.run([deeper, "bench", *args, "--latency", "--threads", "1", "--format", "csv", *common],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return float(next(csv.DictReader(io.StringIO(out)))["latency_ms"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("results_dir")
    p.add_argument("--spec", help="the net file of the trials with net.NAME positions")
    p.add_argument("--deeper", default=os.path.join(ROOT, "build/release/deeper"))
    p.add_argument("--resolution", default="28")
    p.add_argument("--in-channels", default="1")
    p.add_argument("--classes", default="10")
    a = p.parse_args()
    common = ["--resolution", a.resolution, "--in-channels", a.in_channels, "--classes", a.classes]
    nets = nets_of(a.results_dir, a.spec and os.path.abspath(a.spec))
    labels = list(nets)
    first = {l: time_one(a.deeper, nets[l][1], common) for l in labels}
    second = {l: time_one(a.deeper, nets[l][1], common) for l in reversed(labels)}
    print("| stage | net | run's latency_ms | first pass | second pass | run / passes' mean |")
    print("|---|---|---:|---:|---:|---:|")
    ratios = []
    for l in labels:
        stage, _, run = nets[l]
        mean = (first[l] + second[l]) / 2
        ratios.append(run / mean)
        print(f"| {stage} | {l} | {run:.4f} | {first[l]:.4f} | {second[l]:.4f} | {run / mean:.3f} |")
    mean = [(first[l] + second[l]) / 2 for l in labels]
    print(f"\n{len(labels)} nets, batch 1, one thread, resolution {a.resolution}")
    print(f"Spearman, the run's latency_ms against the passes' mean: {spearman([nets[l][2] for l in labels], mean):.4f}")
    print(f"Spearman, first pass against second: {spearman([first[l] for l in labels], [second[l] for l in labels]):.4f}")
    print(f"run / passes' mean: median {statistics.median(ratios):.3f}, min {min(ratios):.3f}, max {max(ratios):.3f}")


if __name__ == "__main__":
    main()
