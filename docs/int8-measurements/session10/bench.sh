#!/bin/bash
# Session 10, one run: per model the raw oneDNN int8/fp32 kernel floor (tools/int8_conv_probe.c), TransferKit's
# fp32/bf16/int8 rows with main's binary (before) and this branch's (after), then the ORT/OpenVINO int8 peers.
# Load average logged before each step. Copies of the binaries so a rebuild cannot replace them mid-run:
#   gcc -O2 tools/int8_conv_probe.c -o /tmp/int8c/probe -ldnnl; cp main's and this branch's transfer-bench to
#   /tmp/int8c/tb-main and /tmp/int8c/tb; OUT=docs/int8-measurements/session10 docs/int8-measurements/session10/bench.sh
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
  echo "load before $model probe: $(load)"
  nice -n 10 "$BIN/probe" 5 $p > probe-$p.md
  echo "load before $model TK main: $(load)"
  nice -n 10 "$BIN/tb-main" --threads 2 --filter ${model}_infer --json > tk-main-$model.json 2> tk-main-$model.err
  echo "load before $model TK branch: $(load)"
  nice -n 10 "$BIN/tb" --threads 2 --filter ${model}_infer --json > tk-$model.json 2> tk-$model.err
  echo "load before $model peers: $(load)"
  nice -n 10 /opt/torchvenv/bin/python "$ROOT/benchmarks/peers.py" --threads 2 --models $model --peers onnxruntime,openvino \
    --json peers-$model.json 2> peers-$model.err
  echo "load after $model: $(load)"
done
echo done
