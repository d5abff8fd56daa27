"""The session-10 comparison table from one bench.sh run: raw oneDNN int8/fp32 floors (probe-*.md), TransferKit's
rows (main's binary and this branch's), ORT/OpenVINO int8 (peers-*.json; OpenVINO's LATENCY figure from its progress
lines). Usage: python3 summarize.py [DIR]"""
import json, re, sys, pathlib

d = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
probe = {"efficientnet_lite0": "lite0", "resnet18": "resnet18", "minilm": "minilm"}
print("| model | floor int8 (median / min) | floor fp32 (median) | TK int8 main | TK int8 branch | TK fp32 | ORT int8 | OV int8 LAT / THR | floor ÷ faster peer | TK branch ÷ floor |")
print("|---|---|---|---|---|---|---|---|---|---|")
for model, p in probe.items():
    try:
        text = (d / f"probe-{p}.md").read_text()
        med = re.search(r"TOTAL \S+: \d+ layers, int8 [\d.]+ ms \(([\d.]+) /s\), fp32 [\d.]+ ms \(([\d.]+) /s\)", text)
        mn = re.search(r"TOTAL-OF-MINIMA \S+: int8 [\d.]+ ms \(([\d.]+) /s\)", text)
        tk = {r["name"]: r["value"] for r in json.load(open(d / f"tk-{model}.json"))["results"]}
        tkm = {r["name"]: r["value"] for r in json.load(open(d / f"tk-main-{model}.json"))["results"]}
        peers = json.load(open(d / f"peers-{model}.json"))["results"]
    except (OSError, AttributeError, ValueError) as e:
        print(f"| {model} | missing: {e} |")
        continue
    ort = next((r["value"] for r in peers if r["peer"] == "onnxruntime" and r["precision"] == "int8"), float("nan"))
    ov = next((r for r in peers if r["peer"] == "openvino" and r["precision"] == "int8"), None)
    ovt = ov["value"] if ov else float("nan")
    err = (d / f"peers-{model}.err").read_text() if (d / f"peers-{model}.err").exists() else ""
    lat = re.findall(rf"{model}_infer_int8 openvino LATENCY\n\s+([\d.]+)", err)
    best = max(ort, ovt)
    fi, ff = float(med.group(1)), float(med.group(2))
    ti = tk.get(f"{model}_infer_int8", float("nan"))
    print(f"| {model} | {fi:.1f} / {float(mn.group(1)):.1f} | {ff:.1f} | {tkm.get(f'{model}_infer_int8', float('nan')):.1f} | {ti:.1f} "
          f"| {tk.get(f'{model}_infer', float('nan')):.1f} | {ort:.1f} | {(lat[0] if lat else '?')} / {ovt:.1f} | {fi / best:.2f} | {ti / fi:.2f} |")
