#!/usr/bin/env bash
# bf16 mixed-precision training proof of docs/bf16-training.md, through the real CLI: EfficientNet-Lite0 (real
# ImageNet weights) fine-tuned on Fashion-MNIST (PER_CLASS train images per class, seed 0; test = 100 official test
# images per class, 1,000 in all) with every parameter trainable (--strategy full, EPOCHS epochs), once with
# --precision fp32 and once with --precision bf16, same seed and data; then MiniLM-L6 fine-tuned (top 2 layers,
# --strategy fine-tune, BBC_EPOCHS epochs) on BBC News leads (BBC_PER_CLASS sentences per class, seed 0; test = the
# other sentences: 2,125 at 20 per class) the same two ways. Prints the test accuracies and run times.
# usage: tools/bf16_training_proof.sh WORKDIR   (writes WORKDIR/bf16-proof-{fp32,bf16}-seedS.json, bbc-bf16-proof-*-seedS.json)
# SETS="fm bbc" (default) picks the recipes; SEED (default 0) seeds both trainings (the data draws stay seed 0).
set -euo pipefail
W=${1:?usage: bf16_training_proof.sh WORKDIR}
T=${TRANSFER:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/transfer}
PC=${PER_CLASS:-30}
EP=${EPOCHS:-3}
SEED=${SEED:-0}
mkdir -p "$W" && cd "$W"
[ -d fm-train ] || "$T" datasets export fashion-mnist --split train --per-class "$PC" --out fm-train --seed 0 >/dev/null
[ -d fm-test ] || "$T" datasets export fashion-mnist --split test --per-class 100 --out fm-test --seed 0 >/dev/null
report() { /opt/torchvenv/bin/python -c "import json,sys; j=json.load(open(sys.argv[1])); print(sys.argv[2], 'test accuracy', j['test']['accuracy'], 'seconds', round(j['seconds']))" "$1" "$2"; }
SETS=${SETS:-fm bbc}
for p in fp32 bf16; do
  [[ " $SETS " == *" fm "* ]] || break
  rm -rf "fm-$p.transferkit"
  "$T" train --model efficientnet-lite0 --data fm-train --test fm-test --strategy full --epochs "$EP" --batch-size 32 \
    --seed "$SEED" --precision "$p" --out "fm-$p.transferkit" --json > "bf16-proof-$p-seed$SEED.json"
  report "bf16-proof-$p-seed$SEED.json" "fashion-mnist $p seed $SEED"
done
[[ " $SETS " == *" bbc "* ]] || exit 0
LEADS=${TRANSFERKIT_CACHE:-$HOME/.cache/transferkit}/datasets/bbc-news-leads
[ -d "$LEADS" ] || "$T" datasets fetch bbc-news-leads >/dev/null
[ -d bbc-train ] || "$T" datasets export bbc-news-leads --per-class "${BBC_PER_CLASS:-20}" --seed 0 --out bbc-train --rest bbc-test >/dev/null
for p in fp32 bf16; do
  rm -rf "bbc-$p.transferkit"
  "$T" train --model minilm-l6 --data bbc-train --test bbc-test --strategy fine-tune --epochs "${BBC_EPOCHS:-5}" --batch-size 16 \
    --seed "$SEED" --precision "$p" --out "bbc-$p.transferkit" --json > "bbc-bf16-proof-$p-seed$SEED.json"
  report "bbc-bf16-proof-$p-seed$SEED.json" "bbc-news-leads $p seed $SEED"
done
