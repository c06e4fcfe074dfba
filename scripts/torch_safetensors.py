#!/usr/bin/python3
"""A PyTorch state_dict (.pth, e.g. torchvision's pretrained weights) as safetensors, which
`deeper train --init` and `deeper eval --weights` read (torchvision's names are recognized), and
back. Needs PyTorch (Debian: python3-torch); not the `safetensors` package.

  /usr/bin/python3 scripts/torch_safetensors.py resnet18-f37072fd.pth resnet18.safetensors
"""
import json
import struct
import sys

import torch


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        if t.dtype not in (torch.float32, torch.int64):
            t = t.float()
        data = t.numpy().tobytes()
        header[name] = {"dtype": "F32" if t.dtype == torch.float32 else "I64", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        dtype = {"F32": torch.float32, "I64": torch.int64}[h["dtype"]]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=dtype).reshape(h["shape"])
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    state = torch.load(sys.argv[1], map_location="cpu")
    save_safetensors(sys.argv[2], state.get("state_dict", state) if isinstance(state, dict) else state.state_dict())
    print("wrote", sys.argv[2])
