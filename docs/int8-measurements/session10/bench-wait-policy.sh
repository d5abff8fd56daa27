#!/bin/bash
# Session 10, second run: the same comparison with GNU OpenMP's OMP_WAIT_POLICY=PASSIVE (threads sleep at barriers
# instead of spinning) against the default, per model: the raw floor (probe) under PASSIVE, TransferKit's rows
# (this branch) default then PASSIVE, the peers PASSIVE then default. Same binaries as bench.sh.
set -u
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
OUT=${OUT:-$ROOT/docs/int8-measurements/session10}
BIN=${BIN:-/tmp/int8c}
MODELS=${MODELS:-efficientnet_lite0 resnet18 minilm}
export TRANSFERKIT_THREADS=2 OMP_NUM_THREADS=2
cd "$OUT"
load() { cut -d' ' -f1-3 /proc/loadavg; }
for model in $MODELS; do
  case $model in efficientnet_lite0) p=lite0;; resnet18) p=resnet18;; minilm) p=minilm;; esac
  echo "load before $model probe PASSIVE: $(load)"
  OMP_WAIT_POLICY=PASSIVE nice -n 10 "$BIN/probe" 5 $p > passive-probe-$p.md
  echo "load before $model TK default: $(load)"
  nice -n 10 "$BIN/tb" --threads 2 --filter ${model}_infer --json > default-tk-$model.json 2> default-tk-$model.err
  echo "load before $model TK PASSIVE: $(load)"
  OMP_WAIT_POLICY=PASSIVE nice -n 10 "$BIN/tb" --threads 2 --filter ${model}_infer --json > passive-tk-$model.json 2> passive-tk-$model.err
  echo "load before $model peers PASSIVE: $(load)"
  OMP_WAIT_POLICY=PASSIVE nice -n 10 /opt/torchvenv/bin/python "$ROOT/benchmarks/peers.py" --threads 2 --models $model \
    --peers onnxruntime,openvino --json passive-peers-$model.json 2> passive-peers-$model.err
  echo "load before $model peers default: $(load)"
  nice -n 10 /opt/torchvenv/bin/python "$ROOT/benchmarks/peers.py" --threads 2 --models $model \
    --peers onnxruntime,openvino --json default-peers-$model.json 2> default-peers-$model.err
  echo "load after $model: $(load)"
done
echo done
