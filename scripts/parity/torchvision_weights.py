#!/usr/bin/python3
"""Parity of torchvision weights in deeper: a torchvision ResNet with random weights (and random
BN running statistics, so that they matter) is saved as safetensors under torchvision's names,
a PNG test folder is written, and `deeper eval --normalize none --predictions` must give the
same prediction and confidence for every image as torchvision's own forward pass; then
`deeper export --to torchvision` must give back the same tensors.
Needs Debian's python3-torch and python3-torchvision (never the product or CI).

  /usr/bin/python3 scripts/parity/torchvision_weights.py [build/release/deeper] [resnet18|resnet50|mobilenet-v2|...]
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from torch_safetensors import load_safetensors, save_safetensors  # noqa: E402


def png_rgb(path, pixels):  # pixels: H x W x 3 uint8 tensor
    h, w, _ = pixels.shape
    raw = pixels.numpy().tobytes()
    rows = b"".join(b"\x00" + raw[y * w * 3:(y + 1) * w * 3] for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def main():
    deeper = sys.argv[1] if len(sys.argv) > 1 else "build/release/deeper"
    net = sys.argv[2] if len(sys.argv) > 2 else "resnet18"
    batchnorm = net.endswith(":bn")  # vgg-a:bn is torchvision's vgg11_bn
    net = net.removesuffix(":bn")
    vgg = {"vgg-a": "vgg11", "vgg-b": "vgg13", "vgg-d": "vgg16", "vgg-e": "vgg19"}
    theirs_name = vgg[net] + ("_bn" if batchnorm else "") if net in vgg else {"googlenet-tv": "googlenet"}.get(
        net, net.replace("-", "_"))
    knobs = ["--batchnorm"] if batchnorm else ["--aux"] if net == "googlenet-tv" else []
    torch.manual_seed(0)
    extra = {"aux_logits": True, "init_weights": True} if theirs_name == "googlenet" else {}
    model = getattr(torchvision.models, theirs_name)(num_classes=10, **extra).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d) and net.startswith("efficientnet"):
                m.eps = 1e-3  # deeper's EfficientNet keeps TensorFlow's BN epsilon; torchvision's is 1e-5
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.uniform_(-0.2, 0.2)  # VGG-BN's conv biases, which deeper folds into the BN means
    work = tempfile.mkdtemp(prefix="tv-parity-")
    weights = os.path.join(work, "tv.safetensors")
    save_safetensors(weights, model.state_dict())
    # AlexNet's and VGG's classifiers and GoogLeNet's auxiliary heads take torchvision's pooled
    # maps only at 224 (6x6, 7x7, 4x4: no adaptive pooling here)
    side = 224 if net in ("alexnet", "googlenet-tv") or net in vgg else 64
    images = torch.randint(0, 256, (24, side, side, 3), dtype=torch.uint8)
    for i in range(24):  # two classes; test/ holds the same images (deeper evaluates the test split)
        for split in ("train", "test"):
            d = os.path.join(work, "data", split, "c%d" % (i % 2))
            os.makedirs(d, exist_ok=True)
            png_rgb(os.path.join(d, "%02d.png" % i), images[i])
    order = [i for c in (0, 1) for i in range(24) if i % 2 == c]  # class folders, then files
    with torch.no_grad():
        x = images[order].permute(0, 3, 1, 2).float() / 255
        prob = torch.softmax(model(x), dim=1)
    pred = os.path.join(work, "pred.csv")
    cmd = [deeper, "eval", net, "--weights", weights, "--data", "folder:%s,size=%d" % (os.path.join(work, "data"), side),
           "--split", "test", "--classes", "10", "--resolution", str(side), "--normalize", "none", "--batch", "8",
           "--predictions", pred] + knobs
    print(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())
    worst, agree = 0.0, 0
    with open(pred) as f:
        next(f)
        for row in f:
            index, label, prediction, confidence = row.strip().split(",")
            k = int(index)
            agree += int(prediction) == int(prob[k].argmax())
            worst = max(worst, abs(float(confidence) - float(prob[k].max())))
    print("predictions agreeing: %d of 24; largest confidence difference %.2e" % (agree, worst))
    back = os.path.join(work, "back.safetensors")
    ckpt = os.path.join(work, "ckpt")
    # deeper's own checkpoint of these weights: a zero-step run from them, then exported back
    subprocess.run([deeper, "train", net, "--init", weights, "--data", "folder:%s,size=%d" % (os.path.join(work, "data"), side),
                    "--classes", "10", "--resolution", str(side), "--epochs", "1", "--lr", "0", "--weight-decay", "0",
                    "--batch", "8", "--val-size", "8", "--out", ckpt] + knobs, check=True, capture_output=True)
    subprocess.run([deeper, "export", net, "--weights", os.path.join(ckpt, "checkpoint.safetensors"), back],
                   check=True, capture_output=True)
    theirs, ours = model.state_dict(), load_safetensors(back)
    missing = sorted(set(theirs) - set(ours))
    # weights as loaded (VGG-BN's conv biases come back as zeros: they live in the BN means here)
    params = [k for k in theirs if not k.endswith("num_batches_tracked") and "running" not in k
              and not (batchnorm and k.startswith("features.") and k.endswith(".bias") and theirs[k].dim() == 1
                       and k.replace(".bias", ".weight") in theirs and theirs[k.replace(".bias", ".weight")].dim() == 4)]
    diff = max(float((theirs[k] - ours[k]).abs().max()) for k in params)
    print("export: %d of %d torchvision keys present; largest weight difference after a zero-lr epoch %.2e"
          % (len(theirs) - len(missing), len(theirs), diff))
    ok = agree == 24 and worst < 1e-4 and not missing and diff == 0
    print("parity:", "ok" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
