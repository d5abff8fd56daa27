#!/bin/bash
# The int8 accuracy proof (docs/int8.md): fp32 bundles trained on real data, quantised by `transfer quantize` with each
# calibration method, evaluated on the same held-out data as their fp32 bundle.
#   Fashion-MNIST: EfficientNet-Lite0 and MobileNetV2 (real ImageNet weights), features strategy, 300 training images
#                  (30 per class), 1000 test images (100 per class) from the official test split;
#   BBC News:      MiniLM-L6 (real weights), features strategy, 100 articles (20 per class); every other article
#                  (2125) is the test set.
# Calibration: 300 inputs of the training folder (all of it where smaller). CI never runs it.
#   TRANSFER=.build/release/transfer tools/int8_proof.sh [WORKDIR] > proof.tsv
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRANSFER=${TRANSFER:-$ROOT/.build/release/transfer}
WORK=${1:-$(mktemp -d)}
METHODS=${METHODS:-minmax percentile entropy}
export CI=1
mkdir -p "$WORK" && cd "$WORK"
[ -d fm-train ] || "$TRANSFER" datasets export fashion-mnist --split train --per-class 30 --out fm-train --seed 1 --json >/dev/null
[ -d fm-test ] || "$TRANSFER" datasets export fashion-mnist --split test --per-class 100 --out fm-test --seed 2 --json >/dev/null
[ -d bbc-train ] || "$TRANSFER" datasets export bbc-news --per-class 20 --out bbc-train --rest bbc-test --seed 1 --json >/dev/null
accuracy() { "$TRANSFER" evaluate --model "$1" --data "$2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])'; }
printf 'model\tdata\tprecision\tmethod\taccuracy\n'
for spec in "efficientnet-lite0 fm" "mobilenet-v2 fm" "minilm-l6 bbc"; do
    set -- $spec
    model=$1 data=$2
    [ -d "$model.transferkit" ] || "$TRANSFER" train --model "$model" --strategy features --data "$data-train" --out "$model.transferkit" --json >/dev/null
    printf '%s\t%s\tfp32\t-\t%s\n' "$model" "$data" "$(accuracy "$model.transferkit" "$data-test")"
    for method in $METHODS; do
        [ -d "$model-$method.transferkit" ] || "$TRANSFER" quantize "$model.transferkit" --calibration "$data-train" --samples 300 \
            --calibration-method "$method" --out "$model-$method.transferkit" --json >/dev/null
        printf '%s\t%s\tint8\t%s\t%s\n' "$model" "$data" "$method" "$(accuracy "$model-$method.transferkit" "$data-test")"
    done
done
