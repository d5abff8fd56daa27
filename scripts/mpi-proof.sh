#!/usr/bin/env bash
# The figures of docs/distributed.md: data-parallel fine-tuning over MPI against one process, on a Fashion-MNIST
# sample with the real EfficientNet-Lite0 weights. Usage: scripts/mpi-proof.sh [PER_CLASS] [INPUT_SIZE] [EPOCHS]
# (defaults 30, 64, 2). Needs `transfer fetch efficientnet-lite0` and scripts/setup (Open MPI, Fashion-MNIST).
set -euo pipefail
PER_CLASS=${1:-30}; SIZE=${2:-64}; EPOCHS=${3:-2}; BATCH=${BATCH:-32}
BIN=${TRANSFER:-$(swift build -c release --show-bin-path)/transfer}
WORK=$(mktemp -d /tmp/tk-mpi-proof.XXXXXX)
REAL=${TRANSFERKIT_CACHE:-$HOME/.cache/transferkit}
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none)
fresh_cache() { rm -rf "$WORK/cache"; mkdir -p "$WORK/cache"; ln -s "$REAL/efficientnet-lite0" "$WORK/cache/efficientnet-lite0"; }
export CI=1 TRANSFERKIT_CACHE="$WORK/cache"
fresh_cache
"$BIN" datasets export fashion-mnist --split train --per-class "$PER_CLASS" --out "$WORK/train" --seed 0 >/dev/null
"$BIN" datasets export fashion-mnist --split test --per-class 20 --out "$WORK/test" --seed 0 >/dev/null
FT=(train --model efficientnet-lite0 --data "$WORK/train" --test "$WORK/test" --strategy fine-tune --input-size "$SIZE"
    --epochs "$EPOCHS" --head-epochs 2 --head-lr 0.01 --lr 0.002 --batch-size "$BATCH" --augment none --unfreeze 2
    --val-split 0.2 --no-calibrate --json)
FE=(train --model efficientnet-lite0 --data "$WORK/train" --strategy features --input-size "$SIZE" --val-split 0.2
    --no-calibrate --json)
run() { # name, then the command
  local name=$1; shift
  local t0=$(date +%s.%N)
  "$@" --out "$WORK/$name.transferkit" --report "$WORK/$name.report" > "$WORK/$name.json"
  echo "$name wall $(echo "$(date +%s.%N) - $t0" | bc) s" | tee -a "$WORK/walls.txt"
}
echo "load before: $(cat /proc/loadavg)"
# Features: a fresh cache each time (all extraction is measured).
fresh_cache; TRANSFERKIT_THREADS=2 run fe-1x2 "$BIN" "${FE[@]}"
fresh_cache; OMP_WAIT_POLICY=passive TRANSFERKIT_THREADS=2 run fe-1x2-passive "$BIN" "${FE[@]}"
fresh_cache; TRANSFERKIT_THREADS=1 run fe-1x1 "$BIN" "${FE[@]}"
fresh_cache; run fe-2x1 "${MPI[@]}" -np 2 -x TRANSFERKIT_THREADS=1 -x CI -x TRANSFERKIT_CACHE "$BIN" "${FE[@]}"
# Fine-tuning: one process with 1 thread (the equivalence baseline), 1 process x 2 threads, 2 processes x 1 thread.
fresh_cache; TRANSFERKIT_THREADS=1 run ft-1x1 "$BIN" "${FT[@]}"
fresh_cache; TRANSFERKIT_THREADS=2 run ft-1x2 "$BIN" "${FT[@]}"
# The same with OpenMP's threads sleeping instead of spinning while they wait (matters on a loaded machine).
fresh_cache; OMP_WAIT_POLICY=passive TRANSFERKIT_THREADS=2 run ft-1x2-passive "$BIN" "${FT[@]}"
fresh_cache; run ft-2x1 "${MPI[@]}" -np 2 -x TRANSFERKIT_THREADS=1 -x CI -x TRANSFERKIT_CACHE "$BIN" "${FT[@]}"
echo "load after: $(cat /proc/loadavg)"
python3 - "$WORK" "$PER_CLASS" <<'PY'
import json, sys, struct, os
w = sys.argv[1]
def j(n): return json.load(open(f"{w}/{n}.json"))
def weights(n):
    b = open(f"{w}/{n}.transferkit/weights.safetensors", "rb").read()
    k = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8+k]); base = 8 + k; out = {}
    for name, m in h.items():
        if name == "__metadata__": continue
        s, e = m["data_offsets"]; out[name] = struct.unpack(f"<{(e-s)//4}f", b[base+s:base+e])
    return out
def epochs(n):
    return [json.loads(l) for l in open(f"{w}/{n}.report/metrics.jsonl")]
a, b = weights("ft-1x1"), weights("ft-2x1")
diff = max(abs(x - y) for k in a for x, y in zip(a[k], b[k]))
rel = max(abs(x - y) / max(abs(x), 1e-3) for k in a for x, y in zip(a[k], b[k]))
print(f"max |w(1 process, 1 thread) - w(2 ranks x 1 thread)| = {diff:.3g} (max relative {rel:.3g})")
for n in ["ft-1x1", "ft-1x2", "ft-1x2-passive", "ft-2x1"]:
    r = j(n); t = r["test"]["accuracy"]; ft = [e for e in epochs(n) if e["phase"] == "fine-tune"]
    n_train = r["train_size"]
    secs = sum(e["seconds"] for e in ft); ims = n_train * len(ft) / secs
    d = r.get("distributed", {})
    print(f"{n}: test accuracy {t:.4f}; fine-tune {len(ft)} epochs {secs:.2f} s = {ims:.1f} images/s; "
          + (f"allreduce {1000*d['allreduce_seconds_per_step']:.1f} ms/step (waited {1000*d['allreduce_wait_seconds_per_step']:.1f} ms), "
             f"{d['gradient_values_per_step']} values/step, {d['steps']} steps" if d else ""))
for n in ["fe-1x1", "fe-1x2", "fe-1x2-passive", "fe-2x1"]:
    r = j(n); d = r.get("distributed")
    secs = d["feature_seconds_all_ranks"] if d else r["feature_seconds"]
    total = 10 * int(sys.argv[2])
    print(f"{n}: features of {total} images in {secs:.2f} s = {total/secs:.1f} images/s"
          + (f" (rank 0 computed {d['features_computed']})" if d else ""))
PY
echo "work directory: $WORK"
