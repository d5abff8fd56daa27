#!/bin/bash
# usage: spin.sh LABEL  — runs the int8 inference rows under several libgomp spin counts
cd /work/main
for sc in ${SPINS:-0 1000 10000 100000 active}; do
  if [ $sc = active ]; then env OMP_WAIT_POLICY=ACTIVE .build/release/transfer-bench --filter _infer_int8 --repeats 5 --json > /work/runs11/spin-$1-$sc.json 2>/dev/null
  else env GOMP_SPINCOUNT=$sc .build/release/transfer-bench --filter _infer_int8 --repeats 5 --json > /work/runs11/spin-$1-$sc.json 2>/dev/null; fi
  python3 -c "
import json,sys
d=json.load(open('/work/runs11/spin-$1-$sc.json'))
print('$1 $sc', ' '.join('%s=%.1f'%(r['name'].replace('_infer_int8',''),r['value']) for r in d['results']))"
done
