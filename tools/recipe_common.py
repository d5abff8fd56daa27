"""Helpers shared by the PyTorch peer recipes (tools/pytorch_recipe_*.py): logging, class folders, fastai's one-cycle
schedule, scores and seeding. Imported, not run."""
import os
import random
import sys

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def list_class_folder(root, limit, suffix):
    """(paths, labels, class names) of a class folder: files ending in `suffix` under one folder per class; classes
    and files sorted, at most `limit` per class."""
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    paths, labels = [], []
    for c, name in enumerate(classes):
        files = sorted(f for f in os.listdir(os.path.join(root, name)) if f.lower().endswith(suffix))
        for f in files[:limit]:
            paths.append(os.path.join(root, name, f))
            labels.append(c)
    return paths, np.array(labels), classes


def one_cycle(optimizer, max_lrs, total_steps):
    """fastai's fit_one_cycle schedule (pct_start 0.25, div 25, div_final 1e5, momentum 0.95 → 0.85 → 0.95)."""
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lrs, total_steps=max(total_steps, 1),
                                               pct_start=0.25, div_factor=25, final_div_factor=1e5 / 25,
                                               base_momentum=0.85, max_momentum=0.95)


def scores(y_true, y_pred):
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0))}


def seed_everything(threads, seed):
    """One thread count for torch and one seed for torch, numpy and random."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
