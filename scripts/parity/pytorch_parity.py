#!/usr/bin/python3
"""Checks one deeper training step against PyTorch: loads the parameters that `deeper dump`
wrote into the equivalent PyTorch model, feeds the same batch and labels (train mode, dropout
and stochastic depth off), and compares logits, loss and every parameter gradient.

    build/release/deeper dump resnet20 --out /tmp/r20.safetensors
    scripts/parity/pytorch_parity.py /tmp/r20.safetensors
    scripts/parity/pytorch_parity.py --trace /tmp/r20.safetensors   # node by node
    scripts/parity/pytorch_parity.py --own-fp32 /tmp/r20.safetensors   # and PyTorch's fp32 rounding

    scripts/parity/run_all.sh   # resnet20, vgg-a with BN, mobilenet-v2, efficientnet-b0

    # a B0 scaled by width and depth (knobs as `deeper dump` records them), e.g. ~145 blocks:
    build/release/deeper dump efficientnet --width 0.5 --depth 9.05 --resolution 32 --in-channels 1 \
        --classes 10 --dropout 0 --drop-connect 0 --batch 8 --out /tmp/deep.safetensors

The reference runs in double precision. Our float32 forward differs from it by rounding
(1e-6 relative early, 1e-4 deep in a small-batch net), which is enough to flip a ReLU whose
input is within that rounding of 0, or a max-pool whose two largest inputs are that close:
the gradient then takes another path, and a per-element gradient comparison says nothing
about the engine. So the reference replays deeper's decisions: each ReLU/ReLU6 passes the
gradient where deeper's output was inside (0, 6), and each max-pool routes it to the input
deeper's activations make the maximum. Every decision PyTorch would have made differently is
counted and must lie within rounding of its boundary (else it is a real disagreement and the
check fails); given the same decisions, the gradients must match.

Parameters are matched in order (deeper lists them in graph order, which is PyTorch's module
order for these nets) and every pair's shape is checked. Needs Debian's python3-torch and
python3-torchvision; not part of CI."""
import copy
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from pytorch_bench import CifarResNet, vgg11_bn_small  # noqa: E402

# Pass marks by the precision deeper ran in (`deeper dump --precision`), all relative:
# - decision: a replayed decision must lie this close to its boundary, relative to the largest
#   input of its tensor: well above the rounding after ~50 layers, far below a disagreement;
# - gradient: gradients given the same decisions, each relative to its largest entry, or to
#   `floor` x the largest gradient anywhere when that is more (a bias just before a BN has a
#   gradient that is zero up to rounding);
# - lineup: how far deeper's activation may be from the twin's where a decision is replayed
#   (a misaligned graph is off by 100%).
# fp32: measured worst gradient 3e-5 (resnet20, vgg-a) to 4e-4 (mobilenet-v2,
# efficientnet-b0: BN over 8 values on 1x1 maps) over seeds 0..5. Rounding grows with depth:
# at ~145 MBConv blocks (efficientnet, width 0.5, depth 9.05) deeper's worst is 2.7-3.5e-3 and
# PyTorch's own fp32 step 2.2-7.0e-3 (seeds 0..2, --own-fp32), both past the mark.
# bf16 (8-bit significand, unit roundoff 2^-9 = 2e-3, a rounding or two per layer), measured
# over seeds 0..2 on the AMX machine: logits within 2.7e-2 (resnet20, vgg-a) and 7.7e-2
# (efficientnet-b0, ~80 layers), decisions replayed within 2.2e-2 of their boundary,
# activations within 5.1e-2 (mobilenet-v2), gradients within 3.8e-2 (resnet20, vgg-a).
TOLERANCES = {
    "f32": {"logits": 1e-3, "loss": 1e-4, "decision": 1e-3, "gradient": 2e-3, "floor": 1e-3, "lineup": 1e-3,
            "norm": False},
    "bf16": {"logits": 1e-1, "loss": 2e-2, "decision": 5e-2, "gradient": 5e-2, "floor": 1e-2, "lineup": 5e-1,
             "norm": True},
}
LINEUP_TOLERANCE = TOLERANCES["f32"]["lineup"]  # main() sets the dump's


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
    if net == "efficientnet":  # B0 scaled by plain width and depth multipliers
        if any(k in knobs for k in ("alpha", "beta", "gamma", "phi")):
            raise SystemExit("efficientnet twin: give plain width and depth, not compound coefficients")
        from pytorch_train_twin import efficientnet
        return efficientnet(float(knobs.get("width", 1)), float(knobs.get("depth", 1)), classes, 0.0, 0.0,
                            in_channels=int(knobs.get("in_channels", 3)))
    raise SystemExit(f"no PyTorch twin for {net}")


class DecisionReplay:
    """Patches F.relu, F.hardtanh (ReLU6) and F.max_pool2d while the model runs: the value is
    PyTorch's own, the gradient follows deeper's decision. Calls are lined up with deeper's
    relu/relu6/max_pool nodes in graph order (the twins call them in the same order)."""

    def __init__(self, t, nodes):
        self.t = t
        self.queue = [n for n in nodes if n[1] in ("relu", "relu6", "max_pool")]
        self.flips = []  # (node, count, largest distance from the boundary / tensor scale)
        self.originals = {}

    def __enter__(self):
        for name in ("relu", "hardtanh", "max_pool2d"):
            self.originals[name] = getattr(F, name)
        F.relu = lambda x, inplace=False: self.activation(x, "relu")
        F.hardtanh = lambda x, min_val=-1.0, max_val=1.0, inplace=False: self.activation(x, "relu6", min_val, max_val)
        F.max_pool2d = self.max_pool
        return self

    def __exit__(self, *exc):
        for name, f in self.originals.items():
            setattr(F, name, f)

    def next_node(self, op, shape):
        if not self.queue:
            raise SystemExit(f"PyTorch calls a {op} that deeper's graph does not have")
        name, node_op, inputs = self.queue.pop(0)
        if node_op != op or ("act." + name) not in self.t or self.t["act." + name].numel() != shape.numel():
            raise SystemExit(f"cannot line up PyTorch's {op} {tuple(shape)} with deeper's {node_op} node {name}")
        return name, inputs

    def record(self, name, differs, distance, scale):
        n = int(differs.sum())
        if n:
            self.flips.append((name, n, float(distance[differs].max()) / max(scale, 1e-30)))

    def activation(self, x, op, lo=0.0, hi=6.0):
        if op == "relu6" and (lo, hi) != (0.0, 6.0):
            return self.originals["hardtanh"](x, lo, hi)
        name, _ = self.next_node(op, x.shape)
        own = self.originals["relu"](x) if op == "relu" else self.originals["hardtanh"](x, lo, hi)
        ours = self.t["act." + name].reshape(x.shape).to(x.dtype)
        check_same(name, ours, own.detach())
        inside = lambda v: (v > lo) & (v < hi) if op == "relu6" else v > lo  # noqa: E731
        mask = inside(ours)
        xd = x.detach()
        distance = torch.minimum((xd - lo).abs(), (xd - hi).abs()) if op == "relu6" else xd.abs()
        self.record(name, mask != inside(xd), distance, float(xd.abs().max()))
        return own.detach() + (x * mask - (x * mask).detach())

    def max_pool(self, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 return_indices=False):
        pool = self.originals["max_pool2d"]
        name, inputs = self.next_node("max_pool", pool(x.detach(), kernel_size, stride, padding, dilation, ceil_mode).shape)
        own, own_idx = pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
        ours_in = self.t["act." + inputs[0]].reshape(x.shape).to(x.dtype)
        check_same(inputs[0], ours_in, x.detach())
        _, idx = pool(ours_in, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)
        flat = x.flatten(2)
        routed = flat.gather(2, idx.flatten(2)).view_as(own)
        xd = x.detach().flatten(2)
        gap = (xd.gather(2, own_idx.flatten(2)) - xd.gather(2, idx.flatten(2))).view_as(own)
        self.record(name, idx != own_idx, gap, float(xd.abs().max()))
        out = own.detach() + (routed - routed.detach())
        return (out, idx) if return_indices else out


def check_same(name, ours, theirs):
    d = float((ours - theirs).abs().max() / (theirs.abs().max() + 1e-30))
    if d > LINEUP_TOLERANCE:
        raise SystemExit(f"deeper's act.{name} is not PyTorch's tensor there (max rel diff {d:.1e}): "
                         "the graph and the twin do not line up")


def record_leaf_calls(model):
    """Every leaf module's output and, after backward, its gradient, in call order."""
    calls = []
    for name, m in model.named_modules():
        if list(m.children()):
            continue
        if hasattr(m, "inplace"):
            m.inplace = False  # a hooked output must not be overwritten

        def hook(mod, inputs, out, name=name):
            rec = {"name": name, "out": out.detach(), "grad": None}
            if out.requires_grad:
                out.register_hook(lambda g, rec=rec: rec.__setitem__("grad", g.detach()))
            calls.append(rec)
        m.register_forward_hook(hook)
    return calls


def print_trace(t, nodes, ours, theirs, calls):
    """Node by node (graph order): deeper's activation and gradient against PyTorch's module
    output, for the nodes that map to a module (conv, bn, linear; the activation after a bn
    when it is a module). A fused BN+ReLU keeps only the ReLU's output in act.<bn>."""
    module_of = {}  # deeper node -> PyTorch module name
    for o, p in zip(ours, theirs):
        if o.endswith(".weight"):
            module_of[o[: -len(".weight")]] = p[: -len(".weight")]
    call_of = {c["name"]: i for i, c in enumerate(calls)}
    for node in list(module_of):
        if node.endswith(".bn") and module_of[node] in call_of:
            nxt = call_of[module_of[node]] + 1
            if nxt < len(calls):
                module_of[node[: -len(".bn")] + ".act"] = calls[nxt]["name"]
    rel = lambda a, b: float((a.double() - b).abs().max() / (b.abs().max() + 1e-30))  # noqa: E731
    for node, _, _ in nodes:
        if node not in module_of or module_of[node] not in call_of:
            continue
        c = calls[call_of[module_of[node]]]
        line = f"  {node:40s} {c['name']:28s}"
        if "act." + node in t:
            line += f" act {rel(t['act.' + node].reshape(c['out'].shape), c['out']):.1e}"
        if "dact." + node in t and c["grad"] is not None:
            line += f" dact {rel(t['dact.' + node].reshape(c['grad'].shape), c['grad']):.1e}"
        print(line)


def own_fp32_worst(model, x, y, reference, size, floor):
    """How far PyTorch's own float32 step lies from the double-precision one, by the gradient
    measure above: the rounding yardstick for a net deeper than the marks were set on (the
    twin has no decisions to replay when it has no ReLU or max-pool, as EfficientNet)."""
    F.cross_entropy(model(x.float()), y).backward()
    worst = 0.0
    for name, p in model.named_parameters():
        b = reference[name].grad
        worst = max(worst, size(p.grad.double() - b) / max(size(b), floor))
    return worst


def main():
    trace = "--trace" in sys.argv
    own_fp32 = "--own-fp32" in sys.argv
    args = [a for a in sys.argv[1:] if a not in ("--trace", "--own-fp32")]
    if len(args) != 1:
        raise SystemExit(__doc__)
    t, meta = read_safetensors(args[0])
    tol = TOLERANCES[meta.get("precision", "f32")]
    global LINEUP_TOLERANCE
    LINEUP_TOLERANCE = tol["lineup"]
    knobs = dict(kv.split("=") for kv in meta.get("knobs", "").split(",") if kv)
    nodes = json.loads(meta["nodes"])
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
    fp32_twin = copy.deepcopy(model) if own_fp32 else None
    model.double()
    x, y = t["input"].double(), t["labels"].long()
    calls = record_leaf_calls(model) if trace else None
    with DecisionReplay(t, nodes) as replay:
        logits = model(x)
    if replay.queue:
        raise SystemExit(f"deeper's {replay.queue[0][1]} node {replay.queue[0][0]} has no PyTorch call")
    loss = F.cross_entropy(logits, y)
    loss.backward()
    if trace:
        print_trace(t, nodes, ours, theirs, calls)
    named = dict(model.named_parameters())
    rel = lambda a, b: float((a.double() - b).abs().max() / (b.abs().max() + 1e-12))  # noqa: E731
    print(f"{meta['net']} ({meta.get('precision', 'f32')}): logits max rel diff {rel(t['logits'], logits.detach()):.2e}, "
          f"loss {t['loss'].item():.6f} vs {loss.item():.6f}")
    flips = sum(n for _, n, _ in replay.flips)
    far = max((d for _, _, d in replay.flips), default=0.0)
    print(f"  decisions PyTorch makes otherwise: {flips} in {len(replay.flips)} node(s), "
          f"all within {far:.1e} of their boundary (tolerance {tol['decision']:.0e})")
    for name, n, d in replay.flips:
        print(f"    {name}: {n} ({d:.1e})")
    # Each gradient is compared relative to its own size (largest entry, or its norm with
    # tol["norm"]), floored at tol["floor"] of the largest gradient anywhere.
    pairs = [(o, p) for o, p in zip(ours, theirs) if ("grad." + o) in t and p in named]
    size = (lambda v: float(v.norm())) if tol["norm"] else (lambda v: float(v.abs().max()))  # noqa: E731
    scale = max(size(named[p].grad) for _, p in pairs)
    worst, worst_name = 0.0, ""
    for o, p in pairs:
        a, b = t["grad." + o].double(), named[p].grad
        d = size(a - b) / max(size(b), tol["floor"] * scale)
        if d > worst:
            worst, worst_name = d, o
    print(f"  worst parameter gradient: {worst_name} {'normwise' if tol['norm'] else 'max'} rel diff {worst:.2e}")
    if fp32_twin is not None:
        print(f"  PyTorch's own fp32 step, same measure: {own_fp32_worst(fp32_twin, x, y, named, size, tol['floor'] * scale):.2e}")
    ok = (rel(t["logits"], logits.detach()) < tol["logits"] and abs(t["loss"].item() - loss.item()) < tol["loss"]
          and far <= tol["decision"] and worst < tol["gradient"])
    print("  PARITY OK" if ok else "  PARITY FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
