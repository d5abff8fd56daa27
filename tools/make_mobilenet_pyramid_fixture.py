#!/usr/bin/env python3
"""Golden fixture for DenseTests' MobileNetV2 pyramid test: the stage outputs a dense decoder reads, as
segmentation_models.pytorch's `MobileNetV2Encoder` splits torchvision's `features`
(`smp/encoders/mobilenet.py`, `get_stages`: features[:2], [2:4], [4:7], [7:14], [14:]) — strides 2, 4, 8, 16, 32.
smp's last stage runs on through features.18 (the 1280-channel 1×1 convolution); TransferKit's pyramid leaves that
head convolution out (as for EfficientNet-Lite), so the stride-32 level here is features[:18] (320 channels).

Run by hand (CI never runs it):
    /opt/torchvenv/bin/python tools/make_mobilenet_pyramid_fixture.py

Weights: ${TRANSFERKIT_CACHE:-~/.cache/transferkit}/mobilenet-v2/mobilenet_v2-b0353104.pth (`transfer fetch mobilenet-v2`).
Writes Tests/DenseTests/Fixtures/mobilenet_pyramid.safetensors (≈ 40 KB): `x` F32 [1, 3, 32, 32] (the formula input
sin(0.011·i + 0.3) + 0.5·sin(0.173·i)) and `level0` … `level4`, the eval-mode outputs at strides 2 … 32.
"""
import math
import os

import torch
import torchvision
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "DenseTests", "Fixtures", "mobilenet_pyramid.safetensors")
CACHE = os.environ.get("TRANSFERKIT_CACHE", os.path.expanduser("~/.cache/transferkit"))
WEIGHTS = os.path.join(CACHE, "mobilenet-v2", "mobilenet_v2-b0353104.pth")


def main():
    torch.set_grad_enabled(False)
    model = torchvision.models.mobilenet_v2()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu"))
    model.eval()
    n = 3 * 32 * 32
    i = torch.arange(n, dtype=torch.float64)
    x = (torch.sin(0.011 * i + 0.3) + 0.5 * torch.sin(0.173 * i)).float().reshape(1, 3, 32, 32)
    tensors = {"x": x}
    h = x
    for level, (a, b) in enumerate([(0, 2), (2, 4), (4, 7), (7, 14), (14, 18)]):
        h = model.features[a:b](h)
        tensors[f"level{level}"] = h.contiguous()
    save_file(tensors, OUT)
    print("wrote", OUT, {k: tuple(v.shape) for k, v in tensors.items()})


if __name__ == "__main__":
    main()
