#!/usr/bin/env python3
"""Reference values for the TransferKit metrics tests, computed by scikit-learn.

Run by hand in a venv with scikit-learn and numpy (CI never runs it):
    /root/tkvenv/bin/pip install scikit-learn
    /root/tkvenv/bin/python tools/make_metrics_fixtures.py
Writes Tests/TransferKitTests/Fixtures/metrics_sklearn.json (a few tens of KB).

Every input is stored in the fixture, so the Swift tests recompute the metrics from the same numbers. Probabilities
are drawn in float64, rounded to float32 (the type TransferKit computes with) and then handed to scikit-learn as
float64, the same widening the Swift code does.

Cases:
- classification: "four_classes" (class "bird" is never predicted, class "fish" never occurs in the targets),
  "seven_classes" (top-5 accuracy, with two rows of tied probabilities to pin down the tie-break of
  top_k_accuracy_score), "absent_class" (a class that is neither a target nor a prediction, where precision, recall
  and F1 are all ill-defined and scikit-learn's zero_division default makes them 0). scikit-learn has no expected
  calibration error, so "ece" is computed with numpy the usual way (Guo et al. 2017: 15 equal-width bins over the
  top probability, bin (lo, hi], |accuracy − mean confidence| weighted by the bin's share of samples).
- regression: one output, three outputs (scikit-learn's "uniform_average": the mean of the per-output scores), and
  constant targets (r2_score's force_finite: 1 for a perfect prediction, 0 otherwise).
- multilabel: five classes (the last never positive), at the default threshold 0.5 and at per-class thresholds
  (positive when probability ≥ threshold), plus the thresholds TransferKit's tuning must pick: for each class, the
  candidate thresholds are its sorted unique probabilities, the F1 of each comes from scikit-learn, the best wins and
  among tied candidates the middle one (index (n − 1) // 2 of the ascending list); a class with no positive target
  keeps 0.5.
"""
import json
import os
import warnings

import numpy as np
import sklearn
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_recall_fscore_support,
    r2_score,
    root_mean_squared_error,
    top_k_accuracy_score,
)

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TransferKitTests", "Fixtures", "metrics_sklearn.json")
RNG = np.random.default_rng(0)
warnings.filterwarnings("ignore")  # zero_division and "probabilities do not sum to one" (float32 rounding)


def f32(a):
    """float64 values that are exactly representable as float32."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def ece(probs, targets, bins=15):
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == targets
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += abs(correct[inside].mean() - conf[inside].mean()) * inside.mean()
    return float(total)


def classification_case(name, labels, probs, targets):
    c = len(labels)
    ids = list(range(c))
    pred = probs.argmax(axis=1)
    p, r, f, s = precision_recall_fscore_support(targets, pred, labels=ids, zero_division=0)
    case = {
        "name": name,
        "labels": labels,
        "probabilities": probs.tolist(),
        "targets": targets.tolist(),
        "accuracy": float(accuracy_score(targets, pred)),
        "precision": p.tolist(),
        "recall": r.tolist(),
        "f1": f.tolist(),
        "support": [int(x) for x in s],
        "macro_f1": float(f1_score(targets, pred, labels=ids, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(targets, pred, labels=ids, average="micro", zero_division=0)),
        "weighted_f1": float(f1_score(targets, pred, labels=ids, average="weighted", zero_division=0)),
        "confusion_matrix": confusion_matrix(targets, pred, labels=ids).tolist(),
        "log_loss": float(log_loss(targets, probs, labels=ids)),
        "ece": ece(probs, targets),
        "top5_accuracy": float(top_k_accuracy_score(targets, probs, k=5, labels=ids)) if c > 5 else None,
    }
    return case


def four_classes():
    n = 60
    probs = RNG.dirichlet(np.full(4, 0.8), size=n)
    probs[:, 2] *= 0.15  # "bird" loses its mass ...
    probs /= probs.sum(axis=1, keepdims=True)
    for row in probs:  # ... and is never the argmax
        if row.argmax() == 2:
            row[[2, 3]] = row[[3, 2]]
    targets = RNG.integers(0, 3, size=n)  # "fish" (3) never a target
    # Make the classifier better than chance: push most rows towards their target.
    for i in range(n):
        if RNG.random() < 0.55 and targets[i] != 2:
            probs[i, targets[i]] += 1.0
            probs[i] /= probs[i].sum()
    probs = f32(probs)
    pred = probs.argmax(axis=1)
    assert 2 not in pred and 3 in pred and 3 not in targets
    return classification_case("four_classes", ["cat", "dog", "bird", "fish"], probs, targets)


def seven_classes():
    n = 80
    probs = RNG.dirichlet(np.full(7, 0.5), size=n)
    targets = RNG.integers(0, 7, size=n)
    probs = f32(probs)
    probs[0] = f32(np.full(7, 1 / 7))  # ties: top_k sorts stably and reverses, so class 0 ranks last
    targets[0] = 0
    probs[1] = f32(np.full(7, 1 / 7))
    targets[1] = 4
    labels = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt"]
    return classification_case("seven_classes", labels, probs, targets)


def absent_class():
    probs = f32([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.55, 0.35, 0.1], [0.2, 0.7, 0.1], [0.45, 0.5, 0.05],
                 [0.8, 0.1, 0.1], [0.1, 0.85, 0.05], [0.6, 0.3, 0.1], [0.35, 0.6, 0.05], [0.9, 0.05, 0.05]])
    targets = np.array([0, 1, 1, 1, 0, 0, 1, 0, 0, 0])
    return classification_case("absent_class", ["a", "b", "never"], probs, targets)


def regression_case(name, pred, target):
    return {
        "name": name,
        "predictions": pred.tolist(),
        "targets": target.tolist(),
        "mae": float(mean_absolute_error(target, pred)),
        "rmse": float(root_mean_squared_error(target, pred)),
        "r2": float(r2_score(target, pred)),
    }


def regression():
    t1 = f32(RNG.normal(3.0, 2.0, size=50))
    p1 = f32(t1 + RNG.normal(0.0, 0.8, size=50))
    t3 = f32(RNG.normal(0.0, 1.0, size=(40, 3)) * np.array([1.0, 5.0, 0.1]))
    p3 = f32(t3 * 0.8 + RNG.normal(0.0, 0.5, size=(40, 3)))
    tc = f32(np.full(12, 2.0))
    pc = f32(2.0 + RNG.normal(0.0, 0.3, size=12))
    return [
        regression_case("single_output", p1, t1),
        regression_case("three_outputs", p3, t3),
        regression_case("constant_target", pc, tc),
        regression_case("constant_target_perfect", tc.copy(), tc),
    ]


def tuned_thresholds(probs, targets):
    out = []
    for c in range(probs.shape[1]):
        if targets[:, c].sum() == 0:
            out.append(0.5)
            continue
        candidates = np.unique(probs[:, c])
        scores = [f1_score(targets[:, c], (probs[:, c] >= t).astype(int), zero_division=0) for t in candidates]
        best = max(scores)
        tied = [t for t, s in zip(candidates, scores) if s == best]
        out.append(float(tied[(len(tied) - 1) // 2]))
    return out


def multilabel():
    n, c = 50, 5
    targets = (RNG.random((n, c)) < np.array([0.4, 0.3, 0.5, 0.2, 0.0])).astype(int)
    probs = f32(np.clip(0.35 * targets + RNG.random((n, c)) * 0.7, 0.0, 1.0))
    probs[3, 0] = probs[7, 0]  # a tied probability among the candidates
    cases = []
    for name, thr in [("default", [0.5] * c), ("per_class", [0.3, 0.5, 0.7, 0.4, 0.6])]:
        thr = f32(thr)
        pred = (probs >= thr).astype(int)
        p, r, f, s = precision_recall_fscore_support(targets, pred, zero_division=0)
        cases.append({
            "name": name,
            "thresholds": thr.tolist(),
            "precision": p.tolist(),
            "recall": r.tolist(),
            "f1": f.tolist(),
            "support": [int(x) for x in s],
            "micro_f1": float(f1_score(targets, pred, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(targets, pred, average="macro", zero_division=0)),
            "subset_accuracy": float(accuracy_score(targets, pred)),
        })
    return {
        "labels": ["news", "sport", "tech", "arts", "never"],
        "probabilities": probs.tolist(),
        "targets": targets.tolist(),
        "cases": cases,
        "tuned_thresholds": tuned_thresholds(probs, targets),
    }


def main():
    fixture = {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "classification": [four_classes(), seven_classes(), absent_class()],
        "regression": regression(),
        "multilabel": multilabel(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
