#!/usr/bin/python3
"""Parity of `deeper export --format onnx` against an independent runtime: for every zoo family,
a plain and an MBConv net file, and a net proposed by a search stage, a short training on
Fashion-MNIST gives weights that are not near their initialization; the net is exported, checked
with onnx.checker (full check) and onnx's strict shape inference, run in OpenCV 4.6's DNN module on
16 test images, and compared with `deeper eval`'s logits for the same images (its --inputs are
the exact tensors the net saw). The table printed is README's: argmax agreement and the largest
logit difference relative to the largest logit.
Needs Debian's python3-onnx and python3-opencv (never the product or CI).

  /usr/bin/python3 scripts/parity/onnx_export.py [build/release/deeper] [NAME ...]
"""
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
import onnx

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TOLERANCE = 1e-4  # relative: max |onnx - deeper| / max |deeper|
IMAGES = 16

# name, what it covers, the net (zoo name or --spec FILE [--position K=V ...]), training knobs.
CASES = [
    ("alexnet", "LRN, overlapping max pool, dropout, FC", ["alexnet"], ["--resolution", "96", "--lrn", "--fc-width", "256"]),
    ("vgg-a-bn", "3x3 stacks with BN, FC head", ["vgg-a"], ["--resolution", "32", "--width", "0.25", "--batchnorm", "--fc-width", "128"]),
    ("googlenet", "Inception concat, 1x1 reductions, BN, aux heads dropped", ["googlenet"], ["--resolution", "96", "--aux", "--batchnorm"]),
    ("resnet20", "option-A shortcuts (Slice + Pad)", ["resnet20"], ["--resolution", "28"]),
    ("plain20", "plain CIFAR net", ["plain20"], ["--resolution", "28"]),
    ("resnet18", "option-B shortcuts, max-pool stem", ["resnet18"], ["--resolution", "64", "--width", "0.25"]),
    ("resnet50", "bottlenecks", ["resnet50"], ["--resolution", "64", "--width", "0.25"]),
    ("se-resnet50", "SE channel scale", ["se-resnet50"], ["--resolution", "64", "--width", "0.25"]),
    ("mobilenet-v1", "depthwise convs", ["mobilenet-v1"], ["--resolution", "64", "--width", "0.5"]),
    ("mobilenet-v2", "ReLU6 (Clip), inverted residuals", ["mobilenet-v2"], ["--resolution", "64", "--width", "0.5"]),
    ("efficientnet-b0", "swish, SE, drop-connect", ["efficientnet-b0"], ["--resolution", "64", "--width", "0.5"]),
    ("net file: plain", "a plain net file (tanh, avg pool)", ["--spec", "experiments/nets/krizhevsky-fig1-four-layer.yaml"], []),
    ("net file: MBConv", "NAS-Bench-Macro, identities and stride-2 1x1 downsamples",
     ["--spec", "experiments/nets/nas-bench-macro.yaml"] +
     sum([["--position", f"l{i}={v}"] for i, v in enumerate(["ir_k3_e3", "id", "ir_k5_e6", "ir_k3_e3", "id", "ir_k5_e6", "ir_k3_e3", "ir_k5_e6"], 1)],
         []),
     []),
]

SEARCH_EXPERIMENT = """\
name: onnx-parity-search
seed: 3
defaults:
  data: fashion-mnist
  spec: {root}/experiments/nets/mnas-fashion-space.yaml
  train_limit: 1024
  val_size: 256
  epochs: 1
  batch: 64
  net.k2: 3
  net.e2: 6
  net.se2: 0.25
  net.r2: 2
  net.k3: 5
  net.e3: 3
  net.se3: 0
  net.r3: 1
stages:
  - name: search
    search:
      strategy: random
      budget: 2
      seed: 5
      space:
        net.k1: {{choice: [3, 5]}}
        net.e1: {{choice: [1, 3, 6]}}
        net.se1: {{choice: [0, 0.25]}}
        net.r1: {{choice: [1, 2, 3]}}
"""


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}\n{r.stdout}{r.stderr}")
    return r.stdout


def first_line(error):
    """OpenCV's message, from its file:line to the failed check."""
    text = str(error).strip().splitlines()[0]
    return text[text.find("shape_utils"):][:60] if "shape_utils" in text else text[:60]


def opencv_logits(path, inputs):
    net = cv2.dnn.readNetFromONNX(path)
    net.setInput(inputs)
    return net.forward()


def compare(deeper_bin, name, run_dir, tmp, extra_export=()):
    """Export the run's checkpoint, check it, run it in OpenCV; returns a table row."""
    onnx_path = os.path.join(tmp, name.replace(" ", "_").replace(":", "") + ".onnx")
    run([deeper_bin, "export", "--weights", run_dir, *extra_export, onnx_path], cwd=ROOT)
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    meta = {p.key: p.value for p in model.metadata_props}
    inputs_npy, logits_npy = os.path.join(tmp, "in.npy"), os.path.join(tmp, "logits.npy")
    run([deeper_bin, "eval", "--weights", run_dir, "--split", "test", "--limit", str(IMAGES), "--threads", "2",
         "--inputs", inputs_npy, "--logits", logits_npy], cwd=ROOT)
    inputs, ref = np.load(inputs_npy), np.load(logits_npy)
    note = "dynamic batch"
    try:
        got = opencv_logits(onnx_path, inputs)
    except cv2.error as e:
        # OpenCV 4.6 broadcasts SE's channel scale only with a fixed batch
        fixed = onnx_path.replace(".onnx", "-b16.onnx")
        run([deeper_bin, "export", "--weights", run_dir, "--batch", str(IMAGES), *extra_export, fixed], cwd=ROOT)
        got = opencv_logits(fixed, inputs)
        note = "fixed batch (--batch 16): OpenCV 4.6 broadcasts SE's scale only so (" + first_line(e) + ")"
    diff = float(np.abs(got - ref).max())
    rel = diff / float(np.abs(ref).max())
    agree = int((got.argmax(1) == ref.argmax(1)).sum())
    ok = agree == len(ref) and rel <= TOLERANCE
    return [name, meta.get("deeper.net", "?"), str(len(model.graph.node)), meta.get("deeper.macs", "?"),
            f"{agree}/{len(ref)}", f"{diff:.2e}", f"{rel:.2e}", "ok" if ok else "FAIL", note], ok


def train(deeper_bin, net, knobs, out):
    run([deeper_bin, "train", *net, *knobs, "--data", "fashion-mnist", "--train-limit", "1024", "--val-size", "256",
         "--epochs", "1", "--batch", "64", "--lr", "0.02", "--threads", "2", "--seed", "1", "--out", out], cwd=ROOT)


def search_trial(deeper_bin, tmp):
    """A tiny search stage over the MnasNet-style net file; returns a trained trial's folder."""
    path = os.path.join(tmp, "search.yaml")
    with open(path, "w") as f:
        f.write(SEARCH_EXPERIMENT.format(root=os.path.abspath(ROOT)))
    results = os.path.join(tmp, "search")
    run([deeper_bin, "run", path, "--out", results, "--jobs", "1"], cwd=ROOT)
    trials = os.path.join(results, "trials")
    return os.path.join(trials, sorted(os.listdir(trials))[0])


def main():
    deeper_bin = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(ROOT, "build/release/deeper")
    only = set(sys.argv[2:])
    rows, failed = [], 0
    with tempfile.TemporaryDirectory(prefix="deeper-onnx-parity-") as tmp:
        for name, covers, net, knobs in CASES:
            if only and name not in only:
                continue
            run_dir = os.path.join(tmp, "runs", name.replace(" ", "_").replace(":", ""))
            train(deeper_bin, net, knobs, run_dir)
            row, ok = compare(deeper_bin, name, run_dir, tmp)
            rows.append(row + [covers])
            failed += not ok
            if name == "resnet18":  # BN folded into the convs: the same numbers, fewer nodes
                row, ok = compare(deeper_bin, name + " (--fold-bn)", run_dir, tmp, ["--fold-bn"])
                rows.append(row + ["BN folded into conv weights"])
                failed += not ok
            print(" | ".join(rows[-1]), flush=True)
        if not only or "search" in only:
            trial = search_trial(deeper_bin, tmp)
            row, ok = compare(deeper_bin, "searched net", trial, tmp)
            rows.append(row + ["a trial of a search stage (mnas-fashion-space.yaml)"])
            failed += not ok
    head = ["case", "net", "ONNX nodes", "MACs", "argmax agree", "max abs diff", "relative", "verdict", "OpenCV's input",
            "covers"]
    print("\n| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"\nOpenCV {cv2.__version__}, onnx {onnx.__version__}; {IMAGES} Fashion-MNIST test images per net; "
          f"tolerance {TOLERANCE:g} relative")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
