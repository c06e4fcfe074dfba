#!/usr/bin/env python3
"""Writes an image folder of photo-sized JPEGs for measuring the input pipeline: OUT/train/<class>/
<n>.jpg, CLASSES x PER_CLASS files at 500 x 375 (ImageNet's most common size), quality 90, with
smooth structure plus noise so that they weigh about what ImageNet's photos do (100-150 KB) and
decode as slowly. Needs numpy and PIL (Debian's python3-numpy, python3-pil).

  /usr/bin/python3 scripts/bench/make_photo_folder.py OUT [CLASSES] [PER_CLASS]
"""
import os
import sys

import numpy as np
from PIL import Image


def photo(rng, width=500, height=375):
    coarse = rng.uniform(0, 255, size=(6, 8, 3)).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), dtype=np.float32)
    noise = rng.normal(0, 14, size=(height, width, 3))
    return Image.fromarray(np.clip(smooth + noise, 0, 255).astype(np.uint8))


def main():
    out = sys.argv[1]
    classes = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    per_class = int(sys.argv[3]) if len(sys.argv) > 3 else 128
    rng = np.random.default_rng(1)
    for c in range(classes):
        folder = os.path.join(out, "train", f"class{c:03d}")
        os.makedirs(folder, exist_ok=True)
        for n in range(per_class):
            photo(rng).save(os.path.join(folder, f"{n:05d}.jpg"), quality=90)


if __name__ == "__main__":
    main()
