#!/usr/bin/env python3
"""Issue 16's comparison over many draws: `transfer train --strategy features` (its default head) against
scikit-learn's `LogisticRegression()` fitted on the very features TransferKit computes, on the same training draw
and the same test set, repeated over seeds so that a difference of a few test items is not read as a result.

For each set and seed:
  1. `transfer datasets export` draws the training set (BBC News: N articles per class, the rest is the test set;
     Fashion-MNIST: N images per class of the train split, the test set is fixed: --fm-test, by default all 10,000
     official test images);
  2. `transfer train --strategy features --json` (default options) gives TransferKit's test accuracy;
  3. `transfer features` exports the same features (same split) as CSV, and scikit-learn fits
     `LogisticRegression()` (C = 1, lbfgs, max_iter 100: the issue's baseline) and `LogisticRegression(max_iter=1000)`
     on the raw training rows and scores the test rows.
Prints per-seed rows and, per set, the mean of each column and the paired difference (TransferKit − scikit-learn)
with its 95% interval (1.96 σ/√n). Features are cached by `transfer`, so re-runs cost only the fits.

Run by hand (CI never runs it; scikit-learn is in the tools venv):
    /opt/torchvenv/bin/python tools/heads_vs_sklearn.py --transfer .build/release/transfer --work /tmp/hv \\
        --sets bbc5 bbc20 fm10 fm100 --seeds 10 --json
"""
import argparse
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sklearn_head_reference import load as load_features  # noqa: E402  (split, label, rows of a `transfer features` CSV)

warnings.filterwarnings("ignore")

SETS = {  # name: (dataset, model, per class)
    "bbc5": ("bbc-news", "minilm-l6", 5),
    "bbc20": ("bbc-news", "minilm-l6", 20),
    "fm10": ("fashion-mnist", "efficientnet-lite0", 10),
    "fm100": ("fashion-mnist", "efficientnet-lite0", 100),
}


def run(cmd):
    env = dict(os.environ, CI="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r.stdout


def sklearn_accuracies(csv_path):
    split, label, x = load_features(csv_path)
    classes = sorted(set(label))
    y = np.array([classes.index(v) for v in label])
    tr, te = split == "train", split == "test"
    out = {}
    for name, model in (("sklearn", LogisticRegression()), ("sklearn_1000", LogisticRegression(max_iter=1000))):
        model.fit(x[tr], y[tr])
        out[name] = float((model.predict(x[te]) == y[te]).mean())
    return out


def one(transfer, work, name, seed, fm_test):
    dataset, model, per_class = SETS[name]
    d = os.path.join(work, f"{name}-s{seed}")
    train, test = os.path.join(d, "train"), os.path.join(d, "test")
    if not os.path.isdir(train):
        if dataset == "bbc-news":
            run([transfer, "datasets", "export", dataset, "--per-class", str(per_class), "--seed", str(seed),
                 "--out", train, "--rest", test])
        else:
            run([transfer, "datasets", "export", dataset, "--split", "train", "--per-class", str(per_class),
                 "--seed", str(seed), "--out", train])
    if dataset == "fashion-mnist":
        test = fm_test
    result = json.loads(run([transfer, "train", "--model", model, "--data", train, "--test", test,
                             "--strategy", "features", "--out", os.path.join(d, "bundle.transferkit"), "--json"]))
    feats = os.path.join(d, "features.csv")
    if not os.path.exists(feats):
        run([transfer, "features", "--model", model, "--data", train, "--test", test, "--out", feats])
    row = {"set": name, "seed": seed, "transferkit": result["test"]["accuracy"],
           "logistic_c": float(result.get("head_notes", {}).get("logistic_c", "nan"))}
    row.update(sklearn_accuracies(feats))
    return row


def summary(rows):
    n = len(rows)
    out = {"n": n}
    for k in ("transferkit", "sklearn", "sklearn_1000"):
        out[k] = sum(r[k] for r in rows) / n
    for base in ("sklearn", "sklearn_1000"):
        diffs = [r["transferkit"] - r[base] for r in rows]
        mean = sum(diffs) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in diffs) / (n - 1)) if n > 1 else 0.0
        out[f"diff_vs_{base}"] = mean
        out[f"diff_vs_{base}_ci95"] = 1.96 * sd / math.sqrt(n)
        out[f"wins_vs_{base}"] = sum(1 for v in diffs if v > 1e-12)
        out[f"ties_vs_{base}"] = sum(1 for v in diffs if abs(v) <= 1e-12)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--transfer", default=".build/release/transfer")
    ap.add_argument("--work", default="/tmp/heads-vs-sklearn")
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--fm-test", default=None, help="Fashion-MNIST test folder (default: all 10,000, exported once)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    fm_test = a.fm_test or os.path.join(a.work, "fm-test-10000")
    if any(SETS[s][0] == "fashion-mnist" for s in a.sets) and not os.path.isdir(fm_test):
        run([a.transfer, "datasets", "export", "fashion-mnist", "--split", "test", "--per-class", "1000",
             "--seed", "0", "--out", fm_test])
    results = {}
    for name in a.sets:
        rows = []
        for seed in range(a.seeds):
            row = one(a.transfer, a.work, name, seed, fm_test)
            rows.append(row)
            print(f"{name} seed {seed}: transferkit {row['transferkit']:.4f}  sklearn {row['sklearn']:.4f}  "
                  f"sklearn(max_iter 1000) {row['sklearn_1000']:.4f}  C {row['logistic_c']:.3g}", file=sys.stderr)
        results[name] = {"rows": rows, "summary": summary(rows)}
        s = results[name]["summary"]
        print(f"{name}: transferkit {100 * s['transferkit']:.2f}%  sklearn {100 * s['sklearn']:.2f}%  "
              f"paired difference {100 * s['diff_vs_sklearn']:+.2f} ± {100 * s['diff_vs_sklearn_ci95']:.2f} points "
              f"(wins {s['wins_vs_sklearn']}, ties {s['ties_vs_sklearn']} of {s['n']})", file=sys.stderr)
    if a.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
