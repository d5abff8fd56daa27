#!/usr/bin/env python3
"""Runs an ONNX model written by `transfer export` in ONNX Runtime and compares it with the bundle's own outputs.

    transfer export BUNDLE --format onnx --out model.onnx --sample IMAGES...   (or --text --sample TEXTS...)
    /opt/torchvenv/bin/python tools/onnx_check.py model.onnx [--tolerance 1e-4] [--json]

`model.onnx.sample.safetensors` (written by --sample) holds the graph inputs exactly as the bundle prepared them and
the bundle's outputs (`outputs`, what `transfer predict` computes). The script checks the model with onnx.checker,
feeds those inputs to onnxruntime (CPU, fp32, graph optimisations off so the graph itself is what runs), and reports
the largest absolute difference of `outputs` (and of `logits` and `features`, with their largest magnitude, for
information); it exits 1 when that of `outputs` exceeds the tolerance. Needs `pip install onnx
onnxruntime numpy`; CI never runs it.
"""
import argparse
import json
import struct
import sys

import numpy as np
import onnx
import onnxruntime as ort


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{name}: {info['dtype']}"
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--sample")
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    model = onnx.load(a.model)
    onnx.checker.check_model(model, full_check=True)
    sample = read_safetensors(a.sample or a.model + ".sample.safetensors")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(a.model, options, providers=["CPUExecutionProvider"])
    feeds = {}
    for i in session.get_inputs():
        x = sample[i.name]
        feeds[i.name] = x.astype(np.int64) if i.type == "tensor(int64)" else x.astype(np.float32)
    names = [n for n in ("outputs", "logits", "features") if n in sample]
    results = dict(zip(names, session.run(names, feeds)))
    got, want = results["outputs"], sample["outputs"]
    diff = float(np.max(np.abs(got - want)))
    others = {n: {"max_abs_diff": float(np.max(np.abs(results[n] - sample[n]))),
                  "max_abs_value": float(np.max(np.abs(sample[n])))} for n in names[1:]}
    meta = {p.key: p.value for p in model.metadata_props}
    report = {
        "model": a.model, "onnxruntime": ort.__version__, "opset": model.opset_import[0].version,
        "inputs": [i.name for i in session.get_inputs()], "rows": int(want.shape[0]), "outputs": int(want.shape[1]),
        "max_abs_diff": diff, "tolerance": a.tolerance, "passed": diff <= a.tolerance, **others,
        "argmax_agree": bool((got.argmax(1) == want.argmax(1)).all()),
        "metadata_keys": sorted(meta),
    }
    print(json.dumps(report, indent=2) if a.json else
          f"{a.model}: max |onnxruntime - bundle| = {diff:.3g} over {want.shape} (tolerance {a.tolerance:g}): "
          + ("PASS" if report["passed"] else "FAIL"))
    sys.exit(0 if report["passed"] else 1)


if __name__ == "__main__":
    main()
