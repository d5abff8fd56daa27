"""The wait-policy table from one bench-wait-policy.sh run (default vs OMP_WAIT_POLICY=PASSIVE): per model the raw
int8 floor under PASSIVE, TransferKit's fp32/bf16/int8 rows, ORT int8 and OpenVINO int8 (LATENCY / THROUGHPUT, from
the progress lines). Usage: python3 summarize_wait_policy.py [DIR]"""
import json, re, sys, pathlib

d = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
probe = {"efficientnet_lite0": "lite0", "resnet18": "resnet18", "minilm": "minilm"}
nan = float("nan")
print("| model | policy | floor int8 | TK fp32 | TK bf16 | **TK int8** | ORT int8 | OV int8 LAT / THR | TK int8 ÷ faster peer |")
print("|---|---|---|---|---|---|---|---|---|")
for model, p in probe.items():
    for pol in ("default", "passive"):
        try:
            tk = {r["name"]: r["value"] for r in json.load(open(d / f"{pol}-tk-{model}.json"))["results"]}
            err = (d / f"{pol}-peers-{model}.err").read_text()
        except (OSError, ValueError) as e:
            print(f"| {model} | {pol} | missing: {e} |")
            continue
        def peer(name, hint):
            m = re.search(rf"{model}_infer_int8 {name}{(' ' + hint) if hint else ''}\n(?:(?!{model}_infer).*\n)*?\s+([\d.]+) items/s", err)
            return float(m.group(1)) if m else nan
        ort, lat, thr = peer("onnxruntime", ""), peer("openvino", "LATENCY"), peer("openvino", "THROUGHPUT")
        floor = "—"
        if pol == "passive":
            m = re.search(r"TOTAL \S+: \d+ layers, int8 [\d.]+ ms \(([\d.]+) /s\)", (d / f"passive-probe-{p}.md").read_text())
            floor = m.group(1) if m else "?"
        else:
            m = re.search(r"TOTAL \S+: \d+ layers, int8 [\d.]+ ms \(([\d.]+) /s\)", (d / f"probe-{p}.md").read_text())
            floor = (m.group(1) + " (run 1)") if m else "?"
        ti = tk.get(f"{model}_infer_int8", nan)
        print(f"| {model} | {pol} | {floor} | {tk.get(f'{model}_infer', nan):.1f} | {tk.get(f'{model}_infer_bf16', nan):.1f} "
              f"| **{ti:.1f}** | {ort:.1f} | {lat:.1f} / {thr:.1f} | {ti / max(ort, lat, thr):.2f} |")
