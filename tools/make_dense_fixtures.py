#!/usr/bin/env python3
"""Writes the PyTorch golden fixtures for dense-prediction ops: upsampling (F.interpolate) and channel concatenation.

Run by hand with a Python environment that has torch and safetensors (CI never runs this; the outputs are committed):

    /opt/torchvenv/bin/python tools/make_dense_fixtures.py

Outputs
  Tests/TensorsTests/Fixtures/dense_<case>.safetensors
      One file per case: the float32 input(s) "x" (or "x0", "x1", "x2" for concat), a random float32 "upstream"
      gradient, the forward output "out" and the input gradient(s) "grad_x" ("grad_x0", ...) of
      `(out * upstream).sum()`. Every case seeds torch with its own fixed seed. The reference runs in float64 from
      the float32 inputs and is rounded to float32 once; the script also runs the float32 op and checks that it
      agrees with the float64 one within 5e-6, so PyTorch's float32 index arithmetic (which the Swift kernels
      reproduce) selects the same source pixels as the float64 reference. `__metadata__` has one entry, "golden":
      a JSON object with "op" ("upsample" or "concat"), its parameters and a "description".

Upsample parameters: "mode" ("nearest" is PyTorch's legacy `mode='nearest'`, source index floor(dst * in / out);
"bilinear"), "align_corners" (bilinear only; null for nearest), and either "size" [H, W] or "scale_factor"
[sH, sW] exactly as passed to F.interpolate (recompute_scale_factor left at None, so PyTorch maps coordinates with
1 / scale_factor).

The script is deterministic: running it again produces byte-identical files on the same torch version.
"""

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "Tests" / "TensorsTests" / "Fixtures"

torch.use_deterministic_algorithms(True)


def save(name, tensors, meta):
    out = {k: v.detach().contiguous().to(torch.float32) for k, v in tensors.items()}
    meta = dict(meta, generator="tools/make_dense_fixtures.py (torch %s)" % torch.__version__)
    path = GOLDEN / f"dense_{name}.safetensors"
    save_file(out, str(path), metadata={"golden": json.dumps(meta, sort_keys=True)})
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")


def upsample_case(name, seed, x_shape, mode, align_corners=None, size=None, scale_factor=None, description=""):
    torch.manual_seed(seed)
    x32 = torch.randn(*x_shape, dtype=torch.float32)
    kwargs = dict(mode=mode, size=size, scale_factor=scale_factor)
    if mode != "nearest":
        kwargs["align_corners"] = align_corners
    x = x32.to(torch.float64).requires_grad_(True)
    out = F.interpolate(x, **kwargs)
    upstream32 = torch.randn(*out.shape, dtype=torch.float32)
    (out * upstream32.to(torch.float64)).sum().backward()

    # The float32 op must agree with the float64 reference (same source pixels, weights within rounding).
    xf = x32.clone().requires_grad_(True)
    outf = F.interpolate(xf, **kwargs)
    (outf * upstream32).sum().backward()
    assert (outf.double() - out).abs().max().item() < 5e-6, name
    assert (xf.grad.double() - x.grad).abs().max().item() < 1e-5, name

    meta = {"op": "upsample", "mode": mode, "align_corners": align_corners, "description": description,
            "input_shape": list(x_shape), "output_shape": list(out.shape)}
    if size is not None:
        meta["size"] = list(size)
    if scale_factor is not None:
        meta["scale_factor"] = list(scale_factor)
    save(name, {"x": x32, "upstream": upstream32, "out": out, "grad_x": x.grad}, meta)


def upsample_cases():
    shape = (2, 3, 4, 5)
    upsample_case("upsample_nearest_scale2", 11, shape, "nearest", scale_factor=(2.0, 2.0),
                  description="nearest, scale_factor 2 (4x5 -> 8x10)")
    upsample_case("upsample_nearest_5to7", 12, (1, 3, 5, 6), "nearest", size=(7, 9),
                  description="nearest, size (7, 9) from 5x6: source index floor(dst * in / out)")
    upsample_case("upsample_nearest_down", 13, (1, 3, 8, 8), "nearest", size=(5, 4),
                  description="nearest downscale 8x8 -> 5x4")
    upsample_case("upsample_nearest_sf1p7", 14, (1, 2, 5, 4), "nearest", scale_factor=(1.7, 1.5),
                  description="nearest, scale_factor (1.7, 1.5): output floor(in * s), coordinates mapped with 1/s")
    for align in (False, True):
        tag = "ac" if align else "hp"
        upsample_case(f"upsample_bilinear_{tag}_scale2", 21 + align, shape, "bilinear", align, scale_factor=(2.0, 2.0),
                      description=f"bilinear align_corners={align}, scale_factor 2 (4x5 -> 8x10)")
        upsample_case(f"upsample_bilinear_{tag}_5to7", 23 + align, (1, 3, 5, 6), "bilinear", align, size=(7, 9),
                      description=f"bilinear align_corners={align}, size (7, 9) from 5x6")
        upsample_case(f"upsample_bilinear_{tag}_down", 25 + align, (1, 3, 8, 8), "bilinear", align, size=(5, 4),
                      description=f"bilinear align_corners={align}, downscale 8x8 -> 5x4")
        upsample_case(f"upsample_bilinear_{tag}_sf1p7", 27 + align, (1, 2, 5, 4), "bilinear", align,
                      scale_factor=(1.7, 1.5),
                      description=f"bilinear align_corners={align}, scale_factor (1.7, 1.5)")


def concat_case():
    torch.manual_seed(31)
    xs32 = [torch.randn(2, c, 3, 4, dtype=torch.float32) for c in (3, 8, 5)]
    xs = [t.to(torch.float64).requires_grad_(True) for t in xs32]
    out = torch.cat(xs, dim=1)
    upstream = torch.randn(*out.shape, dtype=torch.float32)
    (out * upstream.to(torch.float64)).sum().backward()
    tensors = {"upstream": upstream, "out": out}
    for i, (x32, x) in enumerate(zip(xs32, xs)):
        tensors[f"x{i}"] = x32
        tensors[f"grad_x{i}"] = x.grad
    save("concat_channels", tensors, {"op": "concat", "axis": 1, "channels": [3, 8, 5],
                                      "description": "torch.cat of [2, 3|8|5, 3, 4] along dim 1"})


def main():
    GOLDEN.mkdir(parents=True, exist_ok=True)
    upsample_cases()
    concat_case()


if __name__ == "__main__":
    main()
