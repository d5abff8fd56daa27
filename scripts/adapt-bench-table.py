"""Summarises scripts/adapt-bench's results.jsonl as a Markdown table: per pair and method, target accuracy
mean ± sample standard deviation over seeds, against source-only and the target-trained oracle of the same runs."""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
acc, base, lost, secs, oracles = defaultdict(list), defaultdict(list), defaultdict(int), defaultdict(list), defaultdict(list)
for r in rows:
    k = (r["pair"], r["method"])
    acc[k].append(r["target_accuracy"])
    secs[k].append(r.get("seconds", 0))
    base[k].append(r["source_only"])
    lost[k] += 1 if r.get("lost") else 0
    if r.get("oracle") is not None:
        oracles[k].append(r["oracle"])


def ms(v):
    v = [x * 100 for x in v]
    return f"{statistics.mean(v):.1f} ± {statistics.stdev(v) if len(v) > 1 else 0:.1f}"


print("| pair | method | seeds | adapted: target accuracy % | source-only % (same runs) | gain (points) | seeds lost to source-only | target-trained oracle % | s/run |")
print("|---|---|---|---|---|---|---|---|---|")
pairs = sorted({p for p, _ in acc}, key=lambda p: ["digits-mnist", "mnist-digits", "articles-leads"].index(p) if p in ["digits-mnist", "mnist-digits", "articles-leads"] else 9)
for p in pairs:
    for (q, m) in acc:
        if q != p:
            continue
        oracle = oracles.get((q, m), [])
        gain = statistics.mean(a - b for a, b in zip(acc[(q, m)], base[(q, m)])) * 100
        print(f"| {p} | {m} | {len(acc[(q, m)])} | {ms(acc[(q, m)])} | {ms(base[(q, m)])} | {gain:+.1f} | {lost[(q, m)]}/{len(acc[(q, m)])} | "
              f"{ms(oracle) if oracle else '—'} | {statistics.mean(secs[(q, m)]):.0f} |")
