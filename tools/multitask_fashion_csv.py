#!/usr/bin/env python3
"""Writes the multi-task CSVs of docs/lora-and-multitask.md from an exported Fashion-MNIST folder
(`transfer datasets export fashion-mnist --out DIR`): path,class,group,brightness where group is the garment
group (tops, bottoms, dresses, shoes, bags) and brightness the mean pixel in [0, 1].

usage: multitask_fashion_csv.py FOLDER OUT.csv [--drop-group-every-other]
With --drop-group-every-other, every other row (in sorted order) has an empty group cell (a missing label)."""
import os
import sys

from PIL import Image

GROUPS = {"T-shirt_top": "tops", "Pullover": "tops", "Coat": "tops", "Shirt": "tops", "Dress": "dresses",
          "Trouser": "bottoms", "Sandal": "shoes", "Sneaker": "shoes", "Ankle_boot": "shoes", "Bag": "bags"}


def main():
    folder, out = sys.argv[1], sys.argv[2]
    drop = "--drop-group-every-other" in sys.argv[3:]
    rows, i = ["path,class,group,brightness"], 0
    for c in sorted(os.listdir(folder)):
        for f in sorted(os.listdir(os.path.join(folder, c))):
            p = os.path.join(folder, c, f)
            img = Image.open(p).convert("RGB")
            px = list(img.getdata())
            mean = sum(sum(t) for t in px) / (3 * len(px)) / 255
            group = "" if drop and i % 2 == 1 else GROUPS.get(c, c.lower())
            rows.append(f"{os.path.abspath(p)},{c},{group},{mean:.5f}")
            i += 1
    with open(out, "w") as fh:
        fh.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
