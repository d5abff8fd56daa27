#!/usr/bin/env python3
"""Golden fixture for the Grad-CAM / Grad-CAM++ tests (Tests/ExplainTests): pytorch-grad-cam's maps on two real
photos for EfficientNet-Lite0 (its real ImageNet weights) and torchvision's ResNet-18 (the deterministic formula
weights of make_vision_fixtures.py: no real ResNet weights are reachable from this machine).

Run by hand in the tools venv (CI never runs it):
    /opt/torchvenv/bin/pip install grad-cam          # pytorch-grad-cam 1.5.7 (pulls opencv-python-headless, torchvision)
    /opt/torchvenv/bin/python tools/make_gradcam_fixtures.py

Inputs: the photos of Tests/ModelsTests/Fixtures/efficientnet_lite0.safetensors (`photos`, U8 [2, 224, 224, 3]: the
scikit-image cat and coffee photos after resize 256 + centre crop 224) and the Lite0 checkpoint that
make_vision_fixtures.py finds (`transfer fetch efficientnet-lite0` puts it in the cache).

Writes Tests/ExplainTests/Fixtures/gradcam.safetensors (≈ 140 KB):
    {model}_{method}_maps  F32 [2, 56, 56]  pytorch-grad-cam's final maps (224 × 224, in [0, 1]) at every 4th row and
                                            column (rows and columns 0, 4, …, 220), targets=None (the predicted class)
        for (lite0, gradcam), (lite0, gradcampp), (lite0blocks15, gradcam), (resnet18, gradcam), (resnet18, gradcampp)
        with target layers: lite0 = the head block's output (ReLU6 after _conv_head/_bn1), lite0blocks15 =
        model._blocks[15], resnet18 = model.layer4
    {model}_classes        I64 [2]          the predicted classes
    jet                    U8  [256, 3]     cv2.applyColorMap(0…255, COLORMAP_JET) as RGB
    overlay                U8  [56, 56, 3]  show_cam_on_image(photo0 / 255, lite0 gradcam map 0, use_rgb=True) at every
                                            4th row and column
Input normalisation: Lite0 (x − 127) / 128; ResNet-18 ImageNet mean/std over x / 255.
"""
import os
import sys

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.image import show_cam_on_image
from safetensors.numpy import load_file
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_vision_fixtures import LITE0_CANDIDATES, EfficientNetLite, formula_state  # noqa: E402

OUT = os.path.join(HERE, "..", "Tests", "ExplainTests", "Fixtures")
PHOTOS = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures", "efficientnet_lite0.safetensors")


class Lite0WithHeadActivation(EfficientNetLite):
    """The reference Lite0 with the head's ReLU6 as a module, so pytorch-grad-cam can hook its output."""

    def __init__(self):
        super().__init__("lite0")
        self.head_act = nn.ReLU6()

    def features(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        x = self.head_act(self._bn1(self._conv_head(x)))
        return x.mean((2, 3))


def main():
    photos = load_file(PHOTOS)["photos"]  # [2, 224, 224, 3] uint8
    pixels = torch.from_numpy(photos).permute(0, 3, 1, 2).float()

    path = next((p for p in LITE0_CANDIDATES if os.path.exists(p)), None)
    if path is None:
        raise SystemExit(f"EfficientNet-Lite0 checkpoint not found in {LITE0_CANDIDATES}")
    lite0 = Lite0WithHeadActivation()
    lite0.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    lite0.eval()
    resnet = torchvision.models.resnet18()
    resnet.load_state_dict(formula_state(resnet), strict=True)
    resnet.eval()

    x_lite = (pixels - 127) / 128
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x_res = (pixels / 255 - mean) / std

    cases = [
        ("lite0", "gradcam", lite0, lite0.head_act, x_lite),
        ("lite0", "gradcampp", lite0, lite0.head_act, x_lite),
        ("lite0blocks15", "gradcam", lite0, lite0._blocks[15], x_lite),
        ("resnet18", "gradcam", resnet, resnet.layer4, x_res),
        ("resnet18", "gradcampp", resnet, resnet.layer4, x_res),
    ]
    tensors = {}
    full = {}
    for name, method, model, layer, x in cases:
        cls = GradCAM if method == "gradcam" else GradCAMPlusPlus
        with cls(model=model, target_layers=[layer]) as cam:
            maps = cam(input_tensor=x, targets=None)  # [2, 224, 224]
        full[(name, method)] = maps
        tensors[f"{name}_{method}_maps"] = torch.from_numpy(np.ascontiguousarray(maps[:, ::4, ::4]))
        with torch.no_grad():
            tensors[f"{name}_classes"] = model(x).argmax(1)
        print(name, method, "classes", tensors[f"{name}_classes"].tolist(), "map mean", float(maps.mean()))

    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(-1, 1), cv2.COLORMAP_JET)[:, 0, ::-1]
    tensors["jet"] = torch.from_numpy(np.ascontiguousarray(lut))
    overlay = show_cam_on_image(photos[0].astype(np.float32) / 255, full[("lite0", "gradcam")][0], use_rgb=True)
    tensors["overlay"] = torch.from_numpy(np.ascontiguousarray(overlay[::4, ::4]))
    os.makedirs(OUT, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, "gradcam.safetensors"),
              {"generator": "tools/make_gradcam_fixtures.py", "grad_cam_version": "1.5.7"})


if __name__ == "__main__":
    main()
