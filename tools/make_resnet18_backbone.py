#!/usr/bin/env python3
"""Writes a torchvision ResNet-18 with torchvision's own initialisation (seed 0) as a TransferKit adapted-backbone
directory (backbone.json + backbone.safetensors), so `transfer train --model DIR` can train a ResNet-18 bundle on this
machine, where no pretrained ResNet-18 weights are reachable (the registry's resnet18 needs --weights).

    /opt/torchvenv/bin/python tools/make_resnet18_backbone.py OUT_DIR
"""
import hashlib
import json
import os
import struct
import sys

import torch
import torchvision


def write_safetensors(tensors, path):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("fc.")}
    weights = os.path.join(out, "backbone.safetensors")
    write_safetensors(state, weights)
    sha = hashlib.sha256(open(weights, "rb").read()).hexdigest()
    info = {"backbone": "resnet18", "method": "torchvision-init-seed0", "weights_sha256": sha, "settings": {}, "losses": []}
    with open(os.path.join(out, "backbone.json"), "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    print(weights, sha)


if __name__ == "__main__":
    main()
