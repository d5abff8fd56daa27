"""Trivial detection baseline for docs/dense.md: per held-out DeepForest photograph, a regular grid of boxes of the
mean width and height of the trees of the other three photographs (the training folds of `make dense-bench`), one
box per cell of that size, every box with the same score; scored by pycocotools' COCOeval (bbox, maxDets = the
number of grid boxes), the semantics `transfer evaluate` reproduces. It says how much mAP@0.5 and recall a
detector gets with no image evidence at all.

    /opt/torchvenv/bin/python tools/dense_grid_baseline.py ~/.cache/transferkit/datasets/deepforest
"""
import contextlib
import io
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def read(folder):
    xml = next(folder.glob("*.xml"))
    root = ET.parse(xml).getroot()
    size = root.find("size")
    boxes = [[float(o.find("bndbox").find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")] for o in root.iter("object")]
    return int(size.find("width").text), int(size.find("height").text), boxes


def evaluate(width, height, truths, detections):
    gt = COCO()
    gt.dataset = {"images": [{"id": 1, "width": width, "height": height}], "categories": [{"id": 1, "name": "Tree"}],
                  "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                                   "area": (b[2] - b[0]) * (b[3] - b[1]), "iscrowd": 0} for i, b in enumerate(truths)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dt = gt.loadRes([{"image_id": 1, "category_id": 1, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": 1.0} for b in detections])
        e = COCOeval(gt, dt, "bbox")
        e.params.maxDets = [1, 10, len(detections)]
        e.evaluate()
        e.accumulate()
        e.summarize()
    # precision[T, R, K, A, M], recall[T, K, A, M]: area "all" (A = 0), the largest maxDets (M = 2); a recall that
    # never reaches a threshold leaves pycocotools' -1 placeholders, which count as 0 here.
    precision = e.eval["precision"][:, :, 0, 0, 2].clip(min=0)
    return precision.mean(), precision[0].mean(), max(0.0, e.eval["recall"][0, 0, 0, 2])


def main(root):
    photos = {p.name: read(p) for p in sorted(Path(root).iterdir()) if p.is_dir()}
    print("| held-out photograph | trees | grid box (w × h px) | grid boxes | mAP@0.5 | recall@0.5 | COCO mAP |")
    print("|---|---|---|---|---|---|---|")
    for held, (width, height, truths) in photos.items():
        train = [b for name, (_, _, bs) in photos.items() if name != held for b in bs]
        w = sum(b[2] - b[0] for b in train) / len(train)
        h = sum(b[3] - b[1] for b in train) / len(train)
        grid = [[x, y, min(width, x + w), min(height, y + h)] for y in frange(0, height, h) for x in frange(0, width, w)]
        m, m50, r50 = evaluate(width, height, truths, grid)
        print(f"| {held} | {len(truths)} | {w:.1f} × {h:.1f} | {len(grid)} | {m50:.3f} | {r50:.3f} | {m:.3f} |")


def frange(start, stop, step):
    v = start
    while v < stop:
        yield v
        v += step


if __name__ == "__main__":
    main(sys.argv[1])
