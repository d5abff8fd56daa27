#!/usr/bin/env bash
# Multi-task proof of docs/lora-and-multitask.md: Fashion-MNIST (100 train images per class, the 1,000 official test
# images of the demo), EfficientNet-Lite0 features (cached), tasks class + garment group + brightness; multi-task heads
# under each weighting, with half the rows lacking the group label, and single-task heads trained alone.
# usage: tools/multitask_proof.sh WORKDIR   (writes WORKDIR/mt-*.json)
set -euo pipefail
W=${1:?usage: multitask_proof.sh WORKDIR}
T=${TRANSFER:-$(dirname "$0")/../.build/release/transfer}
mkdir -p "$W" && cd "$W"
[ -d fm-train ] || "$T" datasets export fashion-mnist --split train --per-class 100 --out fm-train --seed 0 >/dev/null
[ -d fm-test ] || "$T" datasets export fashion-mnist --split test --per-class 100 --out fm-test --seed 0 >/dev/null
PY=${PYTHON:-/opt/torchvenv/bin/python}
D=$(cd "$(dirname "$0")" && pwd)
[ -f train.csv ] || "$PY" -W ignore "$D/multitask_fashion_csv.py" fm-train train.csv
[ -f train-half.csv ] || "$PY" -W ignore "$D/multitask_fashion_csv.py" fm-train train-half.csv --drop-group-every-other
[ -f test.csv ] || "$PY" -W ignore "$D/multitask_fashion_csv.py" fm-test test.csv
run() {  # name data columns weighting
  "$T" train --model efficientnet-lite0 --strategy features --data "$2" --test test.csv --label-columns "$3" \
    --task-weighting "$4" --epochs 40 --seed 0 --out "mt-$1.transferkit" --json > "mt-$1.json"
  echo "$1: $(tr -d '\n ' < "mt-$1.json" | grep -o '"test":{.*}' | head -c 400)"
}
run all-fixed train.csv class,group,brightness fixed
run all-uncertainty train.csv class,group,brightness uncertainty
run all-dwa train.csv class,group,brightness dwa
run half-fixed train-half.csv class,group,brightness fixed
run half-uncertainty train-half.csv class,group,brightness uncertainty
run half-dwa train-half.csv class,group,brightness dwa
run single-class train.csv class fixed
run single-group train.csv group fixed
run single-brightness train.csv brightness fixed
run single-group-half train-half.csv group fixed
