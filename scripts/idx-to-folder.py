#!/usr/bin/env python3
"""Writes an IDX dataset (MNIST, Fashion-MNIST) as an image folder of PNGs:
OUT/train/<class>/<index>.png and OUT/test/<class>/<index>.png, the layout `--data folder:OUT`
reads (torchvision's ImageFolder too). Standard library only.

  python3 scripts/idx-to-folder.py /usr/share/datasets/fashion-mnist data/fashion-mnist-png
"""
import gzip
import os
import struct
import sys
import zlib


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    sizes = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return sizes, data[4 + 4 * dims:]


def png_gray(width, height, pixels):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def find(dir_, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(dir_, name)):
            return os.path.join(dir_, name)
    sys.exit(f"{dir_}: no {stem}[.gz]")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    for split, prefix in (("train", "train"), ("test", "t10k")):
        (n, h, w), images = read_idx(find(src, f"{prefix}-images-idx3-ubyte"))
        _, labels = read_idx(find(src, f"{prefix}-labels-idx1-ubyte"))
        for i in range(n):
            d = os.path.join(out, split, str(labels[i]))
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"{i:05d}.png"), "wb") as f:
                f.write(png_gray(w, h, images[i * h * w:(i + 1) * h * w]))
        print(f"{split}: {n} images in {os.path.join(out, split)}")


if __name__ == "__main__":
    main()
