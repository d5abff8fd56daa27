#!/bin/bash
# The ONNX export proof: trains three small bundles on real data (EfficientNet-Lite0 and ResNet-18 on Fashion-MNIST
# images, MiniLM-L6 on BBC News articles), exports each with `transfer export --format onnx --sample ...`, and runs
# tools/onnx_check.py (onnx.checker + ONNX Runtime) on it: the largest |ONNX Runtime − bundle| over the outputs of
# real inputs (20 held-out Fashion-MNIST test images; 10 BBC News articles) must be ≤ 1e-4. ResNet-18 has no reachable pretrained weights here: its backbone is
# torchvision's initialisation (seed 0, tools/make_resnet18_backbone.py), which exercises the same graph.
#
#   TRANSFER=.build/release/transfer PYTHON=/opt/torchvenv/bin/python tools/onnx_export_proof.sh [WORKDIR]
# Needs `pip install onnx onnxruntime` in PYTHON (with torch/torchvision for the ResNet-18 backbone); CI never runs it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRANSFER=${TRANSFER:-$ROOT/.build/release/transfer}
PYTHON=${PYTHON:-/opt/torchvenv/bin/python}
WORK=${1:-$(mktemp -d)}
export CI=1
mkdir -p "$WORK" && cd "$WORK"
[ -d fm-train ] || "$TRANSFER" datasets export fashion-mnist --split train --per-class 8 --out fm-train --seed 1 --json >/dev/null
[ -d fm-test ] || "$TRANSFER" datasets export fashion-mnist --split test --per-class 2 --out fm-test --seed 2 --json >/dev/null
[ -d bbc ] || "$TRANSFER" datasets export bbc-news --per-class 8 --out bbc --seed 1 --json >/dev/null
[ -d r18-backbone ] || "$PYTHON" "$ROOT/tools/make_resnet18_backbone.py" r18-backbone >/dev/null
[ -d lite0.transferkit ] || "$TRANSFER" train --model efficientnet-lite0 --strategy features --data fm-train --out lite0.transferkit --json >/dev/null
[ -d r18.transferkit ] || "$TRANSFER" train --model r18-backbone --strategy features --head mlp --head-epochs 3 --data fm-train --out r18.transferkit --json >/dev/null
[ -d minilm.transferkit ] || "$TRANSFER" train --model minilm-l6 --strategy features --data bbc --out minilm.transferkit --json >/dev/null
images=$(find fm-test -name '*.png' | sort)
texts=()  # two real BBC News articles per class (their first 2,000 characters), the last two of each class by name
while IFS= read -r f; do texts+=("$(head -c 2000 "$f")"); done < <(for c in bbc/*/; do
    ls "${TRANSFERKIT_CACHE:-$HOME/.cache/transferkit}/datasets/bbc-news/$(basename "$c")"/*.txt | sort | tail -2; done)
"$TRANSFER" export lite0.transferkit --format onnx --out lite0.onnx --sample $images --json
"$TRANSFER" export r18.transferkit --format onnx --out r18.onnx --weights r18-backbone/backbone.safetensors --sample $images --json
"$TRANSFER" export minilm.transferkit --format onnx --out minilm.onnx --text --sample "${texts[@]}" --json
for m in lite0 r18 minilm; do "$PYTHON" "$ROOT/tools/onnx_check.py" $m.onnx --json; done
