#!/usr/bin/env bash
# ResNet-18 training step fp32 vs bf16 (TransferKit and PyTorch autocast), default OpenMP wait policy vs PASSIVE, alternated.
HERE=$(cd "$(dirname "$0")" && pwd)
cd "${1:?usage: run.sh WORKDIR (with ./tb = a copy of .build/release/transfer-bench)}"
PY=/opt/torchvenv/bin/python
for round in 1 2; do
  for pol in default PASSIVE; do
    echo "== round $round policy $pol load $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ $pol = PASSIVE ]; then export OMP_WAIT_POLICY=PASSIVE; else unset OMP_WAIT_POLICY; fi
    ./tb --json --threads 2 --filter resnet18_train --repeats 3 > tk-$pol-$round.json 2> tk-$pol-$round.err
    ./tb --json --threads 2 --filter conv3x3_fwdbwd_bf16_raw --repeats 3 > raw-$pol-$round.json 2>> raw-$pol-$round.err
    for mode in train train_bf16; do
      $PY "$HERE/../../../benchmarks/peers.py" --child "{\"task\":\"pytorch\",\"model\":\"resnet18\",\"mode\":\"$mode\",\"variant\":\"nchw\",\"threads\":2,\"batch\":32,\"repeats\":3}" > pt-$mode-$pol-$round.json 2> pt-$mode-$pol-$round.err
    done
  done
done
echo done
