"""Golden fixtures for Tests/DenseTests/DetectionGoldenTests: COCO box mAP by pycocotools, NMS by torchvision, and
CenterNet box decoding by PyTorch, on small random cases. Run once (CI never runs Python):

    /opt/torchvenv/bin/python tools/make_detection_fixtures.py Tests/DenseTests/Fixtures

Writes detection_golden.json:
  "coco": a list of cases {"classes", "truths": [[x0,y0,x1,y1,label]] per image, "detections":
          [[x0,y0,x1,y1,label,score]] per image, "stats": pycocotools' stats[0] (mAP@[.5:.95]) and stats[1]
          (AP@.5), "per_threshold": the mean over classes of precision[t,:,k,0,2] per IoU threshold};
  "nms": {"boxes", "scores", "labels", "threshold", "keep"} from torchvision.ops.batched_nms;
  "decode": {"heatmap", "size", "offset" (flat, shapes given), "shape", "k", "boxes": [[x0,y0,x1,y1,label,score]]}.
"""
import contextlib
import io
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def coco_case(rng, images, classes):
    truths, dets = [], []
    for _ in range(images):
        t = []
        for _ in range(rng.integers(1, 6)):
            x, y = rng.uniform(0, 80, 2)
            w, h = rng.uniform(5, 30, 2)
            t.append([float(x), float(y), float(x + w), float(y + h), int(rng.integers(0, classes))])
        d = []
        for box in t:  # a noisy detection of most truths, plus false positives
            if rng.uniform() < 0.8:
                j = rng.normal(0, 3, 4)
                d.append([box[0] + j[0], box[1] + j[1], box[2] + j[2], box[3] + j[3], box[4], float(rng.uniform(0.3, 1))])
        for _ in range(rng.integers(0, 4)):
            x, y = rng.uniform(0, 80, 2)
            w, h = rng.uniform(5, 30, 2)
            d.append([float(x), float(y), float(x + w), float(y + h), int(rng.integers(0, classes)), float(rng.uniform(0, 0.9))])
        d = [[float(v) for v in b[:4]] + [int(b[4]), round(float(b[5]), 4)] for b in d]
        truths.append(t)
        dets.append(d)
    gt = {"images": [{"id": i + 1} for i in range(images)], "categories": [{"id": c + 1} for c in range(classes)], "annotations": []}
    res = []
    for i, (t, d) in enumerate(zip(truths, dets)):
        for b in t:
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": i + 1, "category_id": b[4] + 1,
                                      "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "area": (b[2] - b[0]) * (b[3] - b[1]), "iscrowd": 0})
        for b in d:
            res.append({"image_id": i + 1, "category_id": b[4] + 1, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": b[5]})
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        dt = coco.loadRes(res)
        ev = COCOeval(coco, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"][:, :, :, 0, 2]  # [T, R, K]
    per_threshold = []
    for t in range(10):
        vals = [precision[t, :, k].mean() for k in range(classes) if (precision[t, :, k] > -1).all()]
        per_threshold.append(float(np.mean(vals)))
    return {"classes": classes, "truths": truths, "detections": dets, "stats": [float(ev.stats[0]), float(ev.stats[1])],
            "per_threshold": per_threshold}


def main(folder):
    rng = np.random.default_rng(0)
    out = {"coco": [coco_case(rng, 4, 1), coco_case(rng, 6, 3), coco_case(rng, 3, 2)]}
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(40, 2, generator=g) * 50
    wh = torch.rand(40, 2, generator=g) * 20 + 5
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.rand(40, generator=g)
    labels = torch.randint(0, 2, (40,), generator=g)
    keep = torchvision.ops.batched_nms(boxes, scores, labels, 0.3)
    out["nms"] = {"boxes": boxes.tolist(), "scores": scores.tolist(), "labels": labels.tolist(), "threshold": 0.3, "keep": keep.tolist()}

    n, c, h, w, k = 2, 2, 8, 10, 12
    heat = torch.randn(n, c, h, w, generator=g) * 2
    size = torch.randn(n, 2, h, w, generator=g) * 0.5 + 1
    offset = torch.rand(n, 2, h, w, generator=g)
    scores = heat.sigmoid()
    peaks = (scores == F.max_pool2d(scores, 3, stride=1, padding=1)).float() * scores
    decoded = []
    for b in range(n):
        flat = peaks[b].reshape(-1)
        top = torch.topk(flat, k)
        boxes_b = []
        for s, i in zip(top.values.tolist(), top.indices.tolist()):
            cls, cell = divmod(i, h * w)
            y, x = divmod(cell, w)
            bw, bh = size[b, 0, y, x].exp().item(), size[b, 1, y, x].exp().item()
            cx, cy = x + offset[b, 0, y, x].item(), y + offset[b, 1, y, x].item()
            boxes_b.append([(cx - bw / 2) * 4, (cy - bh / 2) * 4, (cx + bw / 2) * 4, (cy + bh / 2) * 4, cls, s])
        decoded.append(boxes_b)
    out["decode"] = {"shape": [n, c, h, w], "k": k, "heatmap": heat.reshape(-1).tolist(), "size": size.reshape(-1).tolist(),
                     "offset": offset.reshape(-1).tolist(), "boxes": decoded}
    with open(f"{folder}/detection_golden.json", "w") as f:
        json.dump(out, f)
    print("stats", [c["stats"] for c in out["coco"]], "keep", len(keep))


if __name__ == "__main__":
    main(sys.argv[1])
