#!/usr/bin/env python3
"""The table of `make distill-bench`: one row per `transfer distill` JSON in WORK (argv[1])."""
import glob
import json
import os
import sys

work = sys.argv[1]
rows = []
for path in sorted(glob.glob(os.path.join(work, "*.json"))):
    name = os.path.basename(path)[:-5]
    if name.startswith("teacher"):
        continue
    with open(path) as f:
        j = json.load(f)
    acc = lambda k: (j.get(k) or {}).get("accuracy", float("nan"))
    sp = j.get("speed", {})
    rows.append((name, j["student"], j["labelled"], j["unlabelled"], acc("teacher"), acc("student_alone"), acc("student_distilled"),
                 sp.get("teacher_items_per_s", float("nan")), sp.get("student_items_per_s", float("nan")), j.get("seconds", float("nan"))))
print("| run | student | labelled | unlabelled | teacher acc | student alone | student distilled | gain | teacher items/s | student items/s | seconds |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.4f} | {r[5]:.4f} | {r[6]:.4f} | {r[6] - r[5]:+.4f} | {r[7]:.1f} | {r[8]:.1f} | {r[9]:.0f} |")
