#!/bin/bash
# GOMP_SPINCOUNT 0 vs 1000 (both with PASSIVE), alternated, N pairs; label in $1
cd /work/main
for i in $(seq 1 ${N:-4}); do
  for sc in 0 1000; do
    line="$1 pair $i spin $sc"
    for f in efficientnet_lite0_infer_int8 mobilenet_v2_infer_int8 efficientnet_lite0_infer resnet18_train_top; do
      v=$(GOMP_SPINCOUNT=$sc .build/release/transfer-bench --only $f --repeats 5 --json 2>/dev/null | python3 -c "import json,sys; print('%.1f'%json.load(sys.stdin)['results'][0]['value'])")
      line="$line $f=$v"
    done
    echo "$line"
  done
done
