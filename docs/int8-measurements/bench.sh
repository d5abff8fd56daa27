#!/bin/bash
# One run: TransferKit fp32/int8 rows and the ORT/OpenVINO int8 peers, interleaved per model, load average logged.
cd "${WORK:-/tmp/int8b}"  # tb: a copy of .build/release/transfer-bench (so a rebuild cannot replace it mid-run)
export TRANSFERKIT_THREADS=2
for model in efficientnet_lite0 minilm resnet18; do
  echo "load before $model TK: $(cut -d' ' -f1-3 /proc/loadavg)"
  nice -n 10 /tmp/int8b/tb --threads 2 --filter ${model}_infer --json > tk-$model.json 2> tk-$model.err
  echo "load before $model peers: $(cut -d' ' -f1-3 /proc/loadavg)"
  nice -n 10 /opt/torchvenv/bin/python /work/wt-int8b/benchmarks/peers.py --threads 2 --models $model --peers onnxruntime,openvino --json peers-$model.json 2> peers-$model.err
  echo "load after $model: $(cut -d' ' -f1-3 /proc/loadavg)"
done
echo done
