#!/usr/bin/env python3
"""A shifted domain for the SimCLR experiment (docs/explain-cluster-pretrain.md): Fashion-MNIST garments composited on
real photographs. CI never runs it; the images are written outside the repository.

    /opt/torchvenv/bin/python tools/make_shifted_fashion_mnist.py OUT_DIR [--unlabelled 1000] [--train 20] [--test 50]

Inputs: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*.gz, IDX) and scikit-learn's two sample
photographs (sklearn/datasets/images/china.jpg and flower.jpg, shipped in its wheel: `pip install scikit-learn`).

Each 64 × 64 image: a random crop (side 64…200 px, resized to 64) of one of the two photos, and a garment upscaled
from 28 to 44 px (bilinear) at a random position, its grey level used both as colour and as opacity
(out = a · garment + (1 − a) · background, a = grey / 255). Seeded (numpy default_rng(0)); disjoint samples:
    OUT_DIR/unlabelled/NNNNN.png        `--unlabelled` training-split garments, 1/10 per class, no labels (for SimCLR)
    OUT_DIR/train/<class>/NNNNN.png     `--train` per class from other training-split garments (labelled)
    OUT_DIR/test/<class>/NNNNN.png      `--test` per class from the test split
Class folder names as `transfer datasets export` writes them (T-shirt_top, Ankle_boot).
"""
import argparse
import gzip
import os

import numpy as np
import sklearn
from PIL import Image

FMNIST = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def composite(garment, photos, rng):
    photo = photos[rng.integers(len(photos))]
    side = int(rng.integers(64, 201))
    y, x = rng.integers(0, photo.shape[0] - side + 1), rng.integers(0, photo.shape[1] - side + 1)
    bg = np.asarray(Image.fromarray(photo[y:y + side, x:x + side]).resize((64, 64), Image.BILINEAR), np.float32)
    g = np.asarray(Image.fromarray(garment).resize((44, 44), Image.BILINEAR), np.float32)
    oy, ox = rng.integers(0, 21), rng.integers(0, 21)
    out = bg.copy()
    a = (g / 255)[..., None]
    out[oy:oy + 44, ox:ox + 44] = a * g[..., None] + (1 - a) * bg[oy:oy + 44, ox:ox + 44]
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--unlabelled", type=int, default=1000)
    p.add_argument("--train", type=int, default=20)
    p.add_argument("--test", type=int, default=50)
    a = p.parse_args()
    images_dir = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images")
    photos = [np.asarray(Image.open(os.path.join(images_dir, n)).convert("RGB")) for n in ("china.jpg", "flower.jpg")]
    rng = np.random.default_rng(0)
    tr_x, tr_y = idx(f"{FMNIST}/train-images-idx3-ubyte.gz"), idx(f"{FMNIST}/train-labels-idx1-ubyte.gz")
    te_x, te_y = idx(f"{FMNIST}/t10k-images-idx3-ubyte.gz"), idx(f"{FMNIST}/t10k-labels-idx1-ubyte.gz")
    per_u = a.unlabelled // 10
    for c in range(10):
        pool = rng.permutation(np.flatnonzero(tr_y == c))
        for i in pool[:per_u]:
            os.makedirs(os.path.join(a.out, "unlabelled"), exist_ok=True)
            composite(tr_x[i], photos, rng).save(os.path.join(a.out, "unlabelled", f"{i:05d}.png"))
        for i in pool[per_u:per_u + a.train]:
            d = os.path.join(a.out, "train", CLASSES[c])
            os.makedirs(d, exist_ok=True)
            composite(tr_x[i], photos, rng).save(os.path.join(d, f"{i:05d}.png"))
        for i in rng.permutation(np.flatnonzero(te_y == c))[:a.test]:
            d = os.path.join(a.out, "test", CLASSES[c])
            os.makedirs(d, exist_ok=True)
            composite(te_x[i], photos, rng).save(os.path.join(d, f"{i:05d}.png"))
    print("wrote", a.out)


if __name__ == "__main__":
    main()
