"""Golden fixture for HeadFittingTests: scikit-learn's lbfgs multinomial LogisticRegression, LogisticRegressionCV
and StratifiedKFold on a small synthetic 3-class set (60 rows, 5 features, unbalanced classes).

Run: /opt/torchvenv/bin/python tools/sklearn_logistic_fixture.py  (writes Tests/HeadFittingTests/Fixtures/logistic.json)
"""
import json
import pathlib

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold

rng = np.random.default_rng(7)
counts = [25, 20, 15]
centres = rng.normal(0, 1.2, size=(3, 5))
X = np.concatenate([centres[c] + rng.normal(0, 1.0, size=(n, 5)) for c, n in enumerate(counts)])
y = np.concatenate([[c] * n for c, n in enumerate(counts)])
perm = rng.permutation(len(y))
X, y = X[perm], y[perm]

out = {"sklearn": sklearn.__version__, "x": X.round(6).tolist(), "y": y.tolist(), "fits": []}
X = np.array(out["x"])
for C in [0.05, 1.0, 100.0]:
    m = LogisticRegression(C=C, solver="lbfgs", tol=1e-10, max_iter=10000).fit(X, y)
    out["fits"].append({"c": C, "coef": m.coef_.tolist(), "intercept": m.intercept_.tolist(),
                        "proba": m.predict_proba(X[:10]).tolist()})
folds = np.zeros(len(y), dtype=int)
for f, (_, test) in enumerate(StratifiedKFold(n_splits=5).split(X, y)):
    folds[test] = f
out["folds5"] = folds.tolist()
cv = LogisticRegressionCV(Cs=10, cv=5, scoring="neg_log_loss", tol=1e-8, max_iter=10000).fit(X, y)
out["cv_c"] = float(cv.C_[0])
out["cv_scores"] = (-cv.scores_[0].mean(axis=0)).tolist()  # mean held-out log-loss per C (class 0's copy; all equal)
path = pathlib.Path(__file__).resolve().parent.parent / "Tests/HeadFittingTests/Fixtures/logistic.json"
path.write_text(json.dumps(out))
print(f"wrote {path} (C chosen by CV: {out['cv_c']:.4g})")
