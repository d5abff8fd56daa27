#!/bin/bash
# Session 11 same-run table: TransferKit int8 inference rows and training rows, then the peers, twice.
cd /work/main
O=/work/runs11/final
mkdir -p $O
for r in 1 2; do
  echo "== round $r $(date +%T) $(uptime)"
  .build/release/transfer-bench --filter _infer_int8 --repeats 7 --json > $O/tk-int8-$r.json 2>$O/tk-int8-$r.err
  .build/release/transfer-bench --filter resnet18_train --repeats 5 --json > $O/tk-train-$r.json 2>$O/tk-train-$r.err
  echo "   tk done $(date +%T) $(uptime)"
  /opt/torchvenv/bin/python benchmarks/peers.py --threads 2 --models efficientnet_lite0,resnet18,minilm --peers pytorch,onnxruntime,openvino --json $O/peers-$r.json > $O/peers-$r.log 2>&1
  echo "   peers done $(date +%T) $(uptime)"
done
