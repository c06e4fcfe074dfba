#!/usr/bin/python3
"""Checks one deeper training step against PyTorch: loads the parameters that `deeper dump`
wrote into the equivalent PyTorch model, feeds the same batch and labels (train mode, dropout
and stochastic depth off), and compares logits, loss and every parameter gradient.

    build/release/deeper dump resnet20 --out /tmp/r20.safetensors
    scripts/parity/pytorch_parity.py /tmp/r20.safetensors

    scripts/parity/run_all.sh   # resnet20, vgg-a with BN, mobilenet-v2, efficientnet-b0

Parameters are matched in order (deeper lists them in graph order, which is PyTorch's module
order for these nets) and every pair's shape is checked. Needs Debian's python3-torch and
python3-torchvision; not part of CI."""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from pytorch_bench import CifarResNet, vgg11_bn_small  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        v = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32)
        tensors[name] = v.reshape(t["shape"]) if t["shape"] else v
    return tensors, meta


def model_for(net, knobs):
    classes = int(knobs.get("classes", 1000))
    if net.startswith("resnet") or net.startswith("plain"):
        return CifarResNet(int(net[6:] if net.startswith("resnet") else net[5:]), net.startswith("resnet"), classes)
    if net == "vgg-a":
        return vgg11_bn_small(classes)
    if net == "mobilenet-v2":
        return torchvision.models.mobilenet_v2(num_classes=classes, dropout=0.0)
    if net == "efficientnet-b0":
        return torchvision.models.efficientnet_b0(num_classes=classes)  # dropout zeroed below
    raise SystemExit(f"no PyTorch twin for {net}")


def main():
    path = sys.argv[1]
    t, meta = read_safetensors(path)
    knobs = dict(kv.split("=") for kv in meta.get("knobs", "").split(",") if kv)
    model = model_for(meta["net"], knobs)
    for m in model.modules():  # the dump ran with dropout and drop-connect off
        if isinstance(m, nn.Dropout):
            m.p = 0.0
        if type(m).__name__ == "StochasticDepth":
            m.p = 0.0
        # deeper's EfficientNet keeps the reference (TensorFlow) BN epsilon; torchvision's B0 uses 1e-5
        if meta["net"].startswith("efficientnet") and isinstance(m, nn.BatchNorm2d):
            m.eps = 1e-3
    ours = meta["param_order"].split(",")
    theirs = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    if len(ours) != len(theirs):
        raise SystemExit(f"{len(ours)} deeper tensors vs {len(theirs)} PyTorch tensors")
    state = model.state_dict()
    for o, p in zip(ours, theirs):
        v = t["param." + o]
        if tuple(v.shape) != tuple(state[p].shape):
            raise SystemExit(f"shape mismatch: deeper {o} {tuple(v.shape)} vs torch {p} {tuple(state[p].shape)}")
        state[p] = v.clone()
    model.load_state_dict(state)
    model.train()
    # The reference runs in double precision: float32 frameworks differ from each other by
    # their summation orders (BN backward cancels a lot), double tells who is right.
    model.double()
    x, y = t["input"].double(), t["labels"].long()
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    named = dict(model.named_parameters())
    rel = lambda a, b: float((a.double() - b).abs().max() / (b.abs().max() + 1e-12))  # noqa: E731
    print(f"{meta['net']}: logits max rel diff {rel(t['logits'], logits.detach()):.2e}, "
          f"loss {t['loss'].item():.6f} vs {loss.item():.6f}")
    # Each gradient is compared relative to its own largest entry, floored at 1e-3 of the largest
    # gradient anywhere: a bias just before a BN has a gradient that is zero up to rounding.
    pairs = [(o, p) for o, p in zip(ours, theirs) if ("grad." + o) in t and p in named]
    scale = max(float(named[p].grad.abs().max()) for _, p in pairs)
    worst, worst_name = 0.0, ""
    for o, p in pairs:
        a, b = t["grad." + o].double(), named[p].grad
        d = float((a - b).abs().max()) / max(float(b.abs().max()), 1e-3 * scale)
        if d > worst:
            worst, worst_name = d, o
    print(f"  worst parameter gradient: {worst_name} max rel diff {worst:.2e}")
    ok = rel(t["logits"], logits.detach()) < 1e-3 and abs(t["loss"].item() - loss.item()) < 1e-4 and worst < 1e-2
    print("  PARITY OK" if ok else "  PARITY FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
