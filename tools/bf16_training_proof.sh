#!/usr/bin/env bash
# bf16 mixed-precision training proof of docs/bf16-training.md, through the real CLI: EfficientNet-Lite0 (real
# ImageNet weights) fine-tuned on Fashion-MNIST (PER_CLASS train images per class, seed 0; test = 100 official test
# images per class, 1,000 in all) with every parameter trainable (--strategy full, EPOCHS epochs), once with
# --precision fp32 and once with --precision bf16, same seed and data; prints both test accuracies and run times.
# usage: tools/bf16_training_proof.sh WORKDIR   (writes WORKDIR/bf16-proof-{fp32,bf16}.json)
set -euo pipefail
W=${1:?usage: bf16_training_proof.sh WORKDIR}
T=${TRANSFER:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/transfer}
PC=${PER_CLASS:-30}
EP=${EPOCHS:-3}
mkdir -p "$W" && cd "$W"
[ -d fm-train ] || "$T" datasets export fashion-mnist --split train --per-class "$PC" --out fm-train --seed 0 >/dev/null
[ -d fm-test ] || "$T" datasets export fashion-mnist --split test --per-class 100 --out fm-test --seed 0 >/dev/null
for p in fp32 bf16; do
  rm -rf "fm-$p.transferkit"
  "$T" train --model efficientnet-lite0 --data fm-train --test fm-test --strategy full --epochs "$EP" --batch-size 32 \
    --seed 0 --precision "$p" --out "fm-$p.transferkit" --json > "bf16-proof-$p.json"
  /opt/torchvenv/bin/python -c "import json,sys; j=json.load(open(sys.argv[1])); print(sys.argv[2], 'test accuracy', j['test']['accuracy'], 'seconds', round(j['seconds']))" "bf16-proof-$p.json" "$p"
done
