"""scikit-learn reference for TransferKit's heads, on the very features TransferKit computes.

Export the features first (same split as `transfer train`: --val-split and --seed must match):
    transfer features --model minilm-l6 --data TRAIN_DIR --test TEST_DIR --out feats.csv
then:
    /opt/torchvenv/bin/python tools/sklearn_head_reference.py feats.csv [--json]

It fits on the rows whose split is "train" (as `transfer train` does; the "validation" rows are held out) and
scores the "test" rows with:
  - LogisticRegression() (C=1, lbfgs) on the raw features (the issue's baseline);
  - LogisticRegressionCV(Cs=10, cv=min(5, smallest class)) with the default scoring (accuracy) and with
    scoring="neg_log_loss";
  - the same two on TransferKit's standardisation (column means removed, one overall scale), which is what
    `--head logistic` solves on.
"""
import argparse
import csv
import json
import sys
import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import accuracy_score, log_loss

warnings.filterwarnings("ignore")


def load(path):
    splits, labels, rows = [], [], []
    with open(path, newline="") as f:
        r = csv.reader(f)
        next(r)
        for line in r:
            splits.append(line[0]); labels.append(line[1]); rows.append([float(v) for v in line[3:]])
    return np.array(splits), np.array(labels), np.array(rows, dtype=np.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    split, label, x = load(a.csv)
    classes = sorted(set(label))
    y = np.array([classes.index(v) for v in label])
    tr, te = split == "train", split == "test"
    if not te.any():
        sys.exit("no test rows: export with --test")
    mean = x[tr].mean(axis=0)
    scale = np.sqrt(((x[tr] - mean) ** 2).mean()) or 1.0
    variants = {"raw": x, "standardised": (x - mean) / scale}
    out = {"file": a.csv, "train": int(tr.sum()), "validation": int((split == "validation").sum()), "test": int(te.sum()),
           "dimension": x.shape[1], "results": {}}
    folds = int(min(5, np.bincount(y[tr]).min()))  # scikit-learn refuses more folds than the smallest class
    out["cv_folds"] = folds
    for vname, xv in variants.items():
        models = {
            "LogisticRegression(C=1)": LogisticRegression(max_iter=100),
            "LogisticRegressionCV(accuracy)": LogisticRegressionCV(Cs=10, cv=folds),
            "LogisticRegressionCV(neg_log_loss)": LogisticRegressionCV(Cs=10, cv=folds, scoring="neg_log_loss"),
        }
        for mname, m in models.items():
            m.fit(xv[tr], y[tr])
            p = m.predict_proba(xv[te])
            res = {"accuracy": float(accuracy_score(y[te], p.argmax(1))),
                   "log_loss": float(log_loss(y[te], p, labels=list(range(len(classes)))))}
            if hasattr(m, "C_"):
                res["C"] = float(np.ravel(m.C_)[0])
            out["results"][f"{mname} {vname}"] = res
    if a.json:
        print(json.dumps(out, indent=1))
    else:
        print(f"{a.csv}: train {out['train']}, test {out['test']}, dimension {out['dimension']}")
        for k, v in out["results"].items():
            c = f" C={v['C']:.3g}" if "C" in v else ""
            print(f"  {k:52s} accuracy {v['accuracy']:.4f}  log-loss {v['log_loss']:.4f}{c}")


if __name__ == "__main__":
    main()
