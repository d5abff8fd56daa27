#!/bin/bash
# Alternating MiniLM int8: TransferKit (transfer-bench, median of 7) and OpenVINO (peers.py, LATENCY and THROUGHPUT), 4 pairs.
cd /work/main
O=${OUT:-/work/runs11/alt}; mkdir -p $O
for i in 1 2 3 4; do
  echo "pair $i $(date +%T) $(cat /proc/loadavg)"
  .build/release/transfer-bench --filter minilm_infer_int8 --repeats 7 --json > $O/tk-$i.json 2>/dev/null
  /opt/torchvenv/bin/python benchmarks/peers.py --threads 2 --models minilm --peers openvino --json $O/ov-$i.json > $O/ov-$i.log 2>&1
done
echo "done $(date +%T) $(cat /proc/loadavg)"
