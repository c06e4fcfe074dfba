#!/usr/bin/python3
"""The PyTorch side of `scripts/bench/compare.sh`: the same nets, batch, threads and step
(forward + cross-entropy + backward + SGD momentum) as `deeper bench`, on synthetic data,
NCHW, fp32 or (--precision bf16) under torch.autocast("cpu", torch.bfloat16), PyTorch's own
mixed precision. Prints one CSV row per net like `deeper bench --format csv`:
net,batch,threads,train_img_per_s,infer_img_per_s,peak_rss_mib
Needs Debian's python3-torch and python3-torchvision."""
import argparse
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class ShortcutA(nn.Module):
    """He et al.'s option A: subsample by stride 2, zero-pad the new channels (after the old
    ones, as deeper does; some CIFAR ports pad half before, half after: the same function class)."""

    def __init__(self, inp, planes):
        super().__init__()
        self.pad = planes - inp

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 0, self.pad))


class Basic(nn.Module):
    def __init__(self, inp, planes, stride, residual):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.residual = residual
        self.shortcut = ShortcutA(inp, planes) if (stride != 1 or inp != planes) else nn.Identity()

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.residual:
            y = y + self.shortcut(x)
        return F.relu(y)


class CifarResNet(nn.Module):
    def __init__(self, depth, residual, classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        layers, inp = [], 16
        for i, planes in enumerate([16, 32, 64]):
            for b in range(n):
                layers.append(Basic(inp, planes, 2 if (i > 0 and b == 0) else 1, residual))
                inp = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn(self.conv(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def vgg11_bn_small(classes=10):
    cfg = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers, nn.Flatten(),
                         nn.Linear(512, 512), nn.ReLU(True), nn.Dropout(0.5),
                         nn.Linear(512, 512), nn.ReLU(True), nn.Dropout(0.5),
                         nn.Linear(512, classes))


# name -> (constructor, resolution); the deeper side uses the same names and knobs
NETS = {
    "resnet20": (lambda: CifarResNet(20, True), 32),
    "resnet56": (lambda: CifarResNet(56, True), 32),
    "plain20": (lambda: CifarResNet(20, False), 32),
    "plain56": (lambda: CifarResNet(56, False), 32),
    "vgg-a": (vgg11_bn_small, 32),
    "mobilenet-v2": (lambda: torchvision.models.mobilenet_v2(num_classes=10), 32),
    "efficientnet-b0": (lambda: torchvision.models.efficientnet_b0(num_classes=10), 64),
}


def bench(name, batch, steps, warmup, precision):
    make, res = NETS[name]
    model = make()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, res, res)
    y = torch.randint(0, 10, (batch,))
    times = []
    bf16 = precision == "bf16"
    model.train()
    for i in range(warmup + steps):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model.eval()
    infer = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in range(warmup + steps):
            t = time.perf_counter()
            model(x)
            if i >= warmup:
                infer.append(time.perf_counter() - t)
    return batch / statistics.median(times), batch / statistics.median(infer), rss


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("net", choices=sorted(NETS))
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    try:
        train, infer, rss = bench(a.net, a.batch, a.steps, a.warmup, a.precision)
    except RuntimeError as e:  # e.g. PyTorch 1.13 has no bf16 backward for ReLU6 (hardtanh)
        print(f"pytorch_bench: {a.net} {a.precision}: {str(e).splitlines()[0]}", file=sys.stderr)
        print(f"{a.net},{a.batch},{a.threads},nan,nan,nan")
        return
    print(f"{a.net},{a.batch},{a.threads},{train:.1f},{infer:.1f},{rss:.0f}")


if __name__ == "__main__":
    main()
