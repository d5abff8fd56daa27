#!/usr/bin/env python3
"""Markdown tables of docs/lora-and-multitask.md from the JSON that tools/lora_proof.sh, tools/multitask_proof.sh and
transfer-bench (--json) wrote into WORKDIR. usage: proof_tables.py WORKDIR"""
import json
import os
import sys

W = sys.argv[1]


def load(name):
    p = os.path.join(W, name)
    if not os.path.exists(p) or os.path.getsize(p) == 0:
        return None
    with open(p) as f:
        return json.load(f)


bench = {}
for b in ["bench-image.json", "bench-text.json"]:
    j = load(b)
    for r in (j or {}).get("results", []):
        bench[r["name"]] = r
rows = {"image": ("efficientnet_lite0_train", "images/s"), "text": ("minilm_train", "seq/s")}
suffix = {"lora": "_lora", "fine-tune": "_top", "full": ""}
print("| model | strategy | test accuracy | trainable parameters | % of base + head | adapter file | run seconds | bench step (batch 32) | bench peak RSS |")
print("|---|---|---|---|---|---|---|---|---|")
for kind, (bname, unit) in rows.items():
    base = None
    for s in ["fine-tune", "full", "lora"]:
        j = load(f"lora-{kind}-{s}.json")
        if j and s != "lora":
            base = j["total_parameters"]
    for s in ["lora", "fine-tune", "full"]:
        j = load(f"lora-{kind}-{s}.json")
        b = bench.get(bname + suffix[s])
        if not j:
            if b:
                print(f"| {'EfficientNet-Lite0' if kind == 'image' else 'MiniLM-L6'} | {s} | (run not finished) | — | — | — | — "
                      f"| {32 / b['value']:.2f} s ({b['value']:.2f} {unit}) | {b['peak_rss_mb']:.0f} MB |")
            continue
        step = f"{32 / b['value']:.2f} s ({b['value']:.1f} {unit})" if b and b.get("value") == b.get("value") else "—"
        rss = f"{b['peak_rss_mb']:.0f} MB" if b and b.get("peak_rss_mb") else "—"
        total = base or j["total_parameters"]
        adapter = f"{j['adapter_bytes'] / 1024:.0f} KiB" if j.get("adapter_bytes") else "—"
        print(f"| {'EfficientNet-Lite0' if kind == 'image' else 'MiniLM-L6'} | {s} | {j['test']['accuracy']:.4f} "
              f"| {j['trainable_parameters']:,} | {100 * j['trainable_parameters'] / total:.2f}% | {adapter} | {j['seconds']:.0f} | {step} | {rss} |")
print()
for kind in ["image", "text"]:
    a, b = load(f"pred-{kind}-lora.json"), load(f"pred-{kind}-merged.json")
    if not a or not b:
        continue
    d = max(abs(x["probability"] - {t["label"]: t["probability"] for t in q["top"]}[x["label"]])
            for p, q in zip(a, b) for x in p["top"])
    same = sum(p["top"][0]["label"] == q["top"][0]["label"] for p, q in zip(a, b))
    ea = load(f"lora-{kind}-lora.json")["test"]["accuracy"]
    eb = (load(f"eval-{kind}-merged.json") or {}).get("accuracy")
    print(f"- {kind}: merged vs unmerged on {len(a)} inputs: max |Δ probability| {d:.2e}, same top-1 {same}/{len(a)}; "
          f"test accuracy unmerged {ea:.4f}, merged {eb}")
print()
print("| run | class accuracy | group accuracy | brightness MAE | final weights (class, group, brightness) | seconds |")
print("|---|---|---|---|---|---|")
for n in ["all-fixed", "all-uncertainty", "all-dwa", "half-fixed", "half-uncertainty", "half-dwa",
          "single-class", "single-group", "single-group-half", "single-brightness"]:
    j = load(f"mt-{n}.json")
    if not j:
        continue
    t = j["test"]
    cell = lambda k, f: f"{t[k][f]:.4f}" if k in t else "—"
    print(f"| {n} | {cell('class', 'accuracy')} | {cell('group', 'accuracy')} | {cell('brightness', 'mae')} "
          f"| {', '.join(f'{w:.3g}' for w in j['final_weights'])} | {j['seconds']:.0f} |")
