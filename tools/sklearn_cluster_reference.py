#!/usr/bin/env python3
"""scikit-learn references for TransferKit's clustering (Sources/Clustering). CI never runs it.

    /opt/torchvenv/bin/pip install scikit-learn safetensors

Two uses:

1. The unit-test fixture (run once, committed):
       /opt/torchvenv/bin/python tools/sklearn_cluster_reference.py --fixture
   writes Tests/ClusteringTests/Fixtures/sklearn_clusters.json (≈ 20 KB) from two real tables shipped in the
   scikit-learn wheel, iris (150 × 4) and wine (178 × 13, standardised):
       points, true labels; KMeans(n_clusters=k, n_init=10, random_state=0) labels and inertia;
       AgglomerativeClustering(n_clusters=k, linkage="ward") labels; and, for each of those labelings against the true
       labels, normalized_mutual_info_score, adjusted_rand_score and silhouette_score (Euclidean).
   Plus a pair of hand-made labelings with unequal class counts for the metric definitions.

2. The reference for a feature file exported by `transfer cluster ... --features-out FILE.safetensors`
   (`features` F32 [N, D], `labels` I64 [N] (-1 when unlabelled), `clusters` I64 [N] = TransferKit's clustering):
       /opt/torchvenv/bin/python tools/sklearn_cluster_reference.py FILE.safetensors --k 10 [--n-init 10]
   prints one JSON object: scikit-learn KMeans(n_clusters=k, n_init, random_state=0) NMI and ARI against the labels,
   the same for TransferKit's clusters from the file, the agreement (NMI) between the two clusterings, and the
   silhouette of both.
"""
import argparse
import json
import os

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import load_iris, load_wine
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "Tests", "ClusteringTests", "Fixtures", "sklearn_clusters.json")


def scores(x, truth, labels):
    return {
        "nmi": normalized_mutual_info_score(truth, labels),
        "ari": adjusted_rand_score(truth, labels),
        "silhouette": float(silhouette_score(x, labels)) if len(set(labels)) > 1 else 0.0,
    }


def fixture():
    out = {"generator": "tools/sklearn_cluster_reference.py --fixture", "sets": []}
    for name, loader, scale in (("iris", load_iris, False), ("wine", load_wine, True)):
        x, y = loader(return_X_y=True)
        if scale:
            x = StandardScaler().fit_transform(x)
        x = x.astype(np.float32)
        k = len(set(y))
        km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(x)
        ward = AgglomerativeClustering(n_clusters=k, linkage="ward").fit(x)
        out["sets"].append({
            "name": name, "k": k, "points": x.tolist(), "labels": y.tolist(),
            "kmeans_labels": km.labels_.tolist(), "kmeans_inertia": float(km.inertia_),
            "kmeans_scores": scores(x, y, km.labels_),
            "ward_labels": ward.labels_.tolist(), "ward_scores": scores(x, y, ward.labels_),
        })
    a = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 3]
    b = [1, 1, 0, 0, 0, 2, 2, 2, 2, 3, 3, 3, 3]
    out["pair"] = {"truth": a, "predicted": b, "nmi": normalized_mutual_info_score(a, b),
                   "ari": adjusted_rand_score(a, b)}
    with open(FIXTURE, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", FIXTURE)


def reference(path, k, n_init):
    from safetensors.numpy import load_file

    t = load_file(path)
    x, y, ours = t["features"].astype(np.float32), t["labels"].astype(np.int64), t["clusters"].astype(np.int64)
    labelled = y >= 0
    km = KMeans(n_clusters=k, n_init=n_init, random_state=0).fit(x)
    result = {
        "file": path, "points": int(x.shape[0]), "dimension": int(x.shape[1]), "k": k, "n_init": n_init,
        "sklearn_inertia": float(km.inertia_),
        "sklearn_silhouette": float(silhouette_score(x, km.labels_)),
        "transferkit_silhouette": float(silhouette_score(x, ours)) if len(set(ours.tolist())) > 1 else 0.0,
        "agreement_nmi": normalized_mutual_info_score(km.labels_, ours),
    }
    if labelled.any():
        result.update({
            "sklearn_nmi": normalized_mutual_info_score(y[labelled], km.labels_[labelled]),
            "sklearn_ari": adjusted_rand_score(y[labelled], km.labels_[labelled]),
            "transferkit_nmi": normalized_mutual_info_score(y[labelled], ours[labelled]),
            "transferkit_ari": adjusted_rand_score(y[labelled], ours[labelled]),
        })
    print(json.dumps(result, indent=2))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file", nargs="?")
    p.add_argument("--fixture", action="store_true")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--n-init", type=int, default=10)
    a = p.parse_args()
    if a.fixture:
        fixture()
    elif a.file:
        reference(a.file, a.k, a.n_init)
    else:
        p.error("give --fixture or a feature file")


if __name__ == "__main__":
    main()
