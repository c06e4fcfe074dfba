#!/usr/bin/python3
"""Trains the PyTorch twin of a deeper EfficientNet trial on Fashion-MNIST with the same
recipe, to tell a recipe's or an architecture's failure from a deeper bug: if the twin does no
better, the net and recipe are at fault, not the engine.

    scripts/parity/pytorch_train_twin.py --width 0.5 --depth 8.5 \
        --resolution 32 --epochs 12 --lr 0.05 --weight-decay 1e-5 --warmup-epochs 1 \
        --label-smoothing 0.1 --augment --seed 1

The twin follows deeper's recipe, not its bits: SGD with momentum 0.9 (weight decay on every
parameter, as deeper's decay_norm_and_bias default), the learning rate set per step (linear
warm-up from lr/10, then cosine to 0), label smoothing, batch 128, bf16 autocast with
--precision bf16. Data as deeper renders it: the training set less 5,000 held-out images
(a seeded split of its own), normalized by the training split's mean and std, bilinear
resize (half-pixel centres) to the resolution; --augment pads the 28x28 image by 4 pixels,
crops 28x28 at random and flips, before the resize.

EfficientNet is torchvision's, built from B0's stages with the width and depth multipliers
(repeats ceil'ed, channels rounded to 8, as deeper does), a one-channel stem, deeper's head
(1,280 channels times the width, rounded to 8), BN eps 1e-3, stochastic depth 0.2 and dropout
0.2 (--drop-connect, --dropout), --zero-last-bn as deeper's zero_init_residual. Prints one line
per epoch (the test set after the last); needs Debian's python3-torch and python3-torchvision, not part of CI."""
import argparse
import functools
import gzip
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import efficientnet as tv_efficientnet

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        magic = struct.unpack(">I", f.read(4))[0]
        dims = struct.unpack(">" + "I" * (magic & 0xFF), f.read(4 * (magic & 0xFF)))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)


def efficientnet(width, depth, classes, drop_connect, dropout, zero_last_bn=False, in_channels=1):
    settings, _ = tv_efficientnet._efficientnet_conf("efficientnet_b0", width_mult=width, depth_mult=depth)
    head = tv_efficientnet._make_divisible(1280 * width, 8)
    model = tv_efficientnet.EfficientNet(settings, dropout, stochastic_depth_prob=drop_connect,
                                         num_classes=classes, last_channel=head,
                                         norm_layer=functools.partial(nn.BatchNorm2d, eps=1e-3))
    stem = model.features[0][0]
    model.features[0][0] = nn.Conv2d(in_channels, stem.out_channels, stem.kernel_size, stem.stride, stem.padding,
                                     bias=False)
    nn.init.kaiming_normal_(model.features[0][0].weight, mode="fan_out")
    if zero_last_bn:  # Goyal et al. 2017: each residual block starts as the identity
        for m in model.modules():
            if isinstance(m, tv_efficientnet.MBConv) and m.use_res_connect:
                nn.init.zeros_(m.block[-1][1].weight)
    return model


def learning_rate(a, epoch):
    if a.warmup_epochs > 0 and epoch < a.warmup_epochs:
        start = a.lr / 10
        return start + (a.lr - start) * epoch / a.warmup_epochs
    e, total = epoch - a.warmup_epochs, max(1, a.epochs - a.warmup_epochs)
    return 0.5 * a.lr * (1 + math.cos(math.pi * min(1.0, e / total)))


def render(images, resolution, mean, std, augment, rng):
    x = torch.from_numpy(np.array(images)).float().unsqueeze(1)  # N,1,28,28 raw pixels
    if augment:
        padded = F.pad(x, (4, 4, 4, 4))
        n = x.shape[0]
        dy, dx = rng.integers(0, 9, n), rng.integers(0, 9, n)
        x = torch.stack([padded[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28] for i in range(n)])
        flip = torch.from_numpy(rng.random(n) < 0.5)
        x[flip] = x[flip].flip(-1)
    if resolution != 28:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return (x / 255.0 - mean) / std


def evaluate(model, images, labels, a, mean, std):
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=a.precision == "bf16"):
        for i in range(0, len(images), 500):
            x = render(images[i:i + 500], a.resolution, mean, std, False, None)
            y = torch.from_numpy(labels[i:i + 500].astype(np.int64))
            out = model(x).float()
            loss += F.cross_entropy(out, y, reduction="sum").item()
            correct += (out.argmax(1) == y).sum().item()
    return loss / len(images), correct / len(images)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--depth", type=float, default=1.0)
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--drop-connect", type=float, default=0.2)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--zero-last-bn", action="store_true",
                   help="start each residual block's last BN at gamma 0 (the block an identity)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--warmup-epochs", type=int, default=0)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--augment", action="store_true")
    p.add_argument("--train-limit", type=int, default=0, help="use only this many training images (0: all)")
    p.add_argument("--val-size", type=int, default=5000)
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    images, labels = read_idx("train-images-idx3-ubyte.gz"), read_idx("train-labels-idx1-ubyte.gz")
    order = rng.permutation(len(images))
    val, train = order[:a.val_size], order[a.val_size:]
    if a.train_limit:
        train = train[:a.train_limit]
    mean, std = images[train].mean() / 255.0, images[train].std() / 255.0
    test_images, test_labels = read_idx("t10k-images-idx3-ubyte.gz"), read_idx("t10k-labels-idx1-ubyte.gz")

    model = efficientnet(a.width, a.depth, 10, a.drop_connect, a.dropout, a.zero_last_bn)
    params = sum(t.numel() for t in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay)
    steps = len(train) // a.batch
    print(f"# efficientnet width {a.width} depth {a.depth} resolution {a.resolution}: {params:,} parameters, "
          f"{len(train)} training images, {steps} steps per epoch, {a.precision}, torch {torch.__version__}")
    print("epoch,lr,train_loss,val_loss,val_top1,test_loss,test_top1,seconds", flush=True)
    for epoch in range(a.epochs):
        model.train()
        start, total = time.time(), 0.0
        perm = rng.permutation(train)
        for b in range(steps):
            for g in opt.param_groups:
                g["lr"] = learning_rate(a, epoch + b / steps)
            idx = perm[b * a.batch:(b + 1) * a.batch]
            x = render(images[idx], a.resolution, mean, std, a.augment, rng)
            y = torch.from_numpy(labels[idx].astype(np.int64))
            with torch.autocast("cpu", torch.bfloat16, enabled=a.precision == "bf16"):
                out = model(x)
            loss = F.cross_entropy(out.float(), y, label_smoothing=a.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
        val_loss, val_top1 = evaluate(model, images[val], labels[val], a, mean, std)
        test = ""  # the test set only after the last epoch (10,000 images through a deep net are slow)
        if epoch + 1 == a.epochs:
            test = "{:.4f},{:.4f}".format(*evaluate(model, test_images, test_labels, a, mean, std))
        print(f"{epoch + 1},{learning_rate(a, epoch):.5f},{total / steps:.4f},{val_loss:.4f},{val_top1:.4f},"
              f"{test or ','},{time.time() - start:.0f}", flush=True)


if __name__ == "__main__":
    main()
