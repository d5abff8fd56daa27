#!/bin/bash
# The int8 accuracy proof (docs/int8.md): fp32 bundles trained on real data, quantised by `transfer quantize` with each
# calibration method, evaluated on the same held-out data as their fp32 bundle.
#   Fashion-MNIST: EfficientNet-Lite0 (and MobileNetV2 with MODELS=...; real ImageNet weights), features strategy,
#                  300 training images (30 per class), FM_TEST per class (default 50: 500 images) of the official test split;
#   BBC News:      MiniLM-L6 (real weights), features strategy, 100 articles (20 per class); the test set is every
#                  BBC_STRIDE-th (default 7th, ~300) of the other 2125 articles, none of them a training article.
# Calibration: 300 inputs of the training folder (all of it where smaller). CI never runs it.
#   TRANSFER=.build/release/transfer tools/int8_proof.sh [WORKDIR] > proof.tsv
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TRANSFER=${TRANSFER:-$ROOT/.build/release/transfer}
WORK=${1:-$(mktemp -d)}
METHODS=${METHODS:-minmax percentile entropy}
MODELS=${MODELS:-efficientnet-lite0:fm minilm-l6:bbc}
FM_TEST=${FM_TEST:-50}
BBC_STRIDE=${BBC_STRIDE:-7}
export CI=1
mkdir -p "$WORK" && cd "$WORK"
[ -d fm-train ] || "$TRANSFER" datasets export fashion-mnist --split train --per-class 30 --out fm-train --seed 1 --json >/dev/null
[ -d fm-test ] || "$TRANSFER" datasets export fashion-mnist --split test --per-class "$FM_TEST" --out fm-test --seed 2 --json >/dev/null
[ -d bbc-train ] || "$TRANSFER" datasets export bbc-news --per-class 20 --out bbc-train --rest bbc-rest --seed 1 --json >/dev/null
if [ ! -d bbc-test ]; then
    for c in bbc-rest/*/; do
        mkdir -p "bbc-test/$(basename "$c")"
        ls "$c" | sort | awk -v s="$BBC_STRIDE" 'NR % s == 0' | while read -r f; do cp "$c/$f" "bbc-test/$(basename "$c")/"; done
    done
fi
accuracy() { "$TRANSFER" evaluate --model "$1" --data "$2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["accuracy"])'; }
printf 'model\tdata\tprecision\tmethod\taccuracy\n'
for spec in $MODELS; do
    model=${spec%%:*} data=${spec##*:}
    [ -d "$model.transferkit" ] || "$TRANSFER" train --model "$model" --strategy features --data "$data-train" --out "$model.transferkit" --json >/dev/null
    printf '%s\t%s\tfp32\t-\t%s\n' "$model" "$data" "$(accuracy "$model.transferkit" "$data-test")"
    for method in $METHODS; do
        [ -d "$model-$method.transferkit" ] || "$TRANSFER" quantize "$model.transferkit" --calibration "$data-train" --samples 300 \
            --calibration-method "$method" --out "$model-$method.transferkit" --json >/dev/null
        printf '%s\t%s\tint8\t%s\t%s\n' "$model" "$data" "$method" "$(accuracy "$model-$method.transferkit" "$data-test")"
    done
done
