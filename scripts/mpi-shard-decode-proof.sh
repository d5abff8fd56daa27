#!/usr/bin/env bash
# Fine-tuning throughput of `mpirun -np 2` (1 thread per rank) when every rank decodes the whole global batch and
# keeps its rows (BEFORE: a `transfer` binary built before per-rank decoding) against each rank decoding only its own
# rows (AFTER), runs alternated to share the machine's load; and the cost of SyncBatchNorm
# (--batchnorm-batch-statistics) with AFTER. Usage: scripts/mpi-shard-decode-proof.sh BEFORE AFTER [PER_CLASS] [SIZE] [ROUNDS]
set -euo pipefail
BEFORE=$1; AFTER=$2; PER_CLASS=${3:-30}; SIZE=${4:-64}; ROUNDS=${5:-2}
WORK=$(mktemp -d /tmp/tk-mpi-decode.XXXXXX)
REAL=${TRANSFERKIT_CACHE:-$HOME/.cache/transferkit}
mkdir -p "$WORK/cache"; ln -s "$REAL/efficientnet-lite0" "$WORK/cache/efficientnet-lite0"
export CI=1 TRANSFERKIT_CACHE="$WORK/cache"
"$AFTER" datasets export fashion-mnist --split train --per-class "$PER_CLASS" --out "$WORK/train" --seed 0 >/dev/null
FT=(train --model efficientnet-lite0 --data "$WORK/train" --strategy fine-tune --input-size "$SIZE" --epochs 2 --head-epochs 1
    --head-lr 0.01 --lr 0.002 --batch-size 32 --augment none --unfreeze 2 --val-split 0.2 --no-calibrate --json)
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 -x TRANSFERKIT_THREADS=1 -x CI -x TRANSFERKIT_CACHE)
echo "load before: $(cat /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  for v in before after after-syncbn; do
    bin=$AFTER; extra=(); [ "$v" = before ] && bin=$BEFORE; [ "$v" = after-syncbn ] && extra=(--batchnorm-batch-statistics)
    "${MPI[@]}" "$bin" "${FT[@]}" "${extra[@]}" --out "$WORK/$v-$r.transferkit" --report "$WORK/$v-$r.report" > "$WORK/$v-$r.json"
  done
done
echo "load after: $(cat /proc/loadavg)"
python3 - "$WORK" "$ROUNDS" <<'PY'
import json, sys
w, rounds = sys.argv[1], int(sys.argv[2])
for v in ["before", "after", "after-syncbn"]:
    rates = []
    for r in range(1, rounds + 1):
        n = json.load(open(f"{w}/{v}-{r}.json"))["train_size"]
        ft = [json.loads(l) for l in open(f"{w}/{v}-{r}.report/metrics.jsonl")]
        ft = [e for e in ft if e["phase"] == "fine-tune"]
        rates.append(n * len(ft) / sum(e["seconds"] for e in ft))
    print(f"{v}: fine-tune images/s per round {', '.join(f'{x:.1f}' for x in rates)}; mean {sum(rates)/len(rates):.1f}")
PY
echo "work directory: $WORK"
