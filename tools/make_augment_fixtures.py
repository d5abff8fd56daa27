#!/usr/bin/env python3
"""Writes the augmentation fixtures of Tests/DatasetsTests (run by hand; needs torchvision, Pillow and NumPy).

    /root/tkvenv/bin/python tools/make_augment_fixtures.py

One small synthetic RGB image (`source.png`, 23×17: gradients, a checkerboard, seeded noise, values kept inside
30…220 so that autocontrast and equalize have work to do) and what torchvision's functional transforms on the PIL
image make of it with fixed parameters: rotation (bilinear and nearest, PIL's affine path and transposition fast
paths), affine transforms (all three of PIL's nearest engines and bilinear), TrivialAugment's shear, the colour
adjustments (brightness, contrast, saturation, hue, sharpness), posterize, solarize, autocontrast, equalize,
greyscale, Gaussian blur and resized crop. Each output is raw RGB bytes (`<name>.rgb`); `manifest.json` lists the
cases with their parameters.
"""
import json
from pathlib import Path

import numpy as np
import PIL
import torchvision
import torchvision.transforms.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode as IM

OUT = Path(__file__).resolve().parent.parent / "Tests" / "DatasetsTests" / "Fixtures" / "augment"


def synth(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([30 + x * 190 / (w - 1), 30 + y * 190 / (h - 1), 125 + 80 * np.sin(x / 3.0 + y / 5.0)], -1)
    checker = ((x // 5 + y // 5) % 2 == 0)[..., None]
    img = np.where(checker, img * 0.75 + 20, img) + rng.normal(0, 10, img.shape)
    return np.clip(np.rint(img), 30, 220).astype(np.uint8)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    src = Image.fromarray(synth(23, 17, 5), "RGB")
    src.save(OUT / "source.png")
    square = src.crop((0, 0, 17, 17))
    cases = []

    def add(name, op, params, image, tolerance=0):
        out = np.asarray(image.convert("RGB"))
        (OUT / f"{name}.rgb").write_bytes(out.tobytes())
        cases.append({"name": name, "op": op, "params": params, "width": image.width, "height": image.height,
                      "square": op.endswith("_square"), "tolerance": tolerance})

    for angle, interp in [(30.0, "bilinear"), (-47.5, "nearest"), (90.0, "bilinear"), (180.0, "nearest"), (200.0, "bilinear")]:
        mode = IM.BILINEAR if interp == "bilinear" else IM.NEAREST
        add(f"rotate_{angle:g}_{interp}", "rotate", {"angle": angle, "interpolation": interp},
            F.rotate(src, angle, interpolation=mode))
    add("rotate_90_square", "rotate_square", {"angle": 90.0, "interpolation": "nearest"}, F.rotate(square, 90.0))
    add("rotate_270_square", "rotate_square", {"angle": 270.0, "interpolation": "nearest"}, F.rotate(square, 270.0))
    affines = [
        ("affine_full_bilinear", dict(angle=10.0, translate=[3, -2], scale=1.2, shear=[5.0, 0.0]), "bilinear", None),
        ("affine_full_nearest", dict(angle=10.0, translate=[3, -2], scale=1.2, shear=[5.0, 0.0]), "nearest", None),
        ("affine_translate_nearest", dict(angle=0.0, translate=[4, 1], scale=1.0, shear=[0.0, 0.0]), "nearest", None),
        ("affine_scale_nearest", dict(angle=0.0, translate=[0, 0], scale=0.8, shear=[0.0, 0.0]), "nearest", None),
        ("affine_shearx_nearest", dict(angle=0.0, translate=[0, 0], scale=1.0, shear=[26.565051177077990, 0.0]), "nearest", [0, 0]),
        ("affine_sheary_bilinear", dict(angle=0.0, translate=[0, 0], scale=1.0, shear=[0.0, -20.0]), "bilinear", [0, 0]),
    ]
    for name, kw, interp, center in affines:
        mode = IM.BILINEAR if interp == "bilinear" else IM.NEAREST
        params = dict(kw, interpolation=interp, center=center)
        add(name, "affine", params, F.affine(src, interpolation=mode, center=center, **kw))
    for f in [0.0, 0.6, 1.3]:
        add(f"brightness_{f:g}", "brightness", {"factor": f}, F.adjust_brightness(src, f))
    for f in [0.5, 1.7]:
        add(f"contrast_{f:g}", "contrast", {"factor": f}, F.adjust_contrast(src, f))
    for f in [0.3, 1.8]:
        add(f"saturation_{f:g}", "saturation", {"factor": f}, F.adjust_saturation(src, f))
    for f in [0.2, -0.35, 0.5]:
        add(f"hue_{f:g}", "hue", {"factor": f}, F.adjust_hue(src, f))
    for f in [0.2, 1.9]:
        add(f"sharpness_{f:g}", "sharpness", {"factor": f}, F.adjust_sharpness(src, f))
    add("posterize_3", "posterize", {"bits": 3}, F.posterize(src, 3))
    add("solarize_128.5", "solarize", {"threshold": 128.5}, F.solarize(src, 128.5))
    add("autocontrast", "autocontrast", {}, F.autocontrast(src))
    add("equalize", "equalize", {}, F.equalize(src))
    add("grayscale", "grayscale", {}, F.rgb_to_grayscale(src, num_output_channels=3))
    add("blur_5_1.3", "blur", {"kernel": 5, "sigma": 1.3}, F.gaussian_blur(src, [5, 5], [1.3, 1.3]), tolerance=1)
    add("blur_3_0.7", "blur", {"kernel": 3, "sigma": 0.7}, F.gaussian_blur(src, [3, 3], [0.7, 0.7]), tolerance=1)
    add("resized_crop", "resized_crop", {"top": 2, "left": 3, "height": 11, "width": 15, "size": 16},
        F.resized_crop(src, 2, 3, 11, 15, [16, 16], interpolation=IM.BILINEAR, antialias=True))
    manifest = {"pillow": PIL.__version__, "torchvision": torchvision.__version__, "cases": cases}
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
