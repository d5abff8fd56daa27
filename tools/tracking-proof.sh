#!/usr/bin/env bash
# The figures of docs/tracking.md, measured with the real `transfer` on real Fashion-MNIST images (EfficientNet-Lite0,
# features strategy): recording overhead per run (tracked vs --no-track, alternating), two concurrent train runs
# into one database (every epoch kept), and a SIGKILLed run read back as killed.
#
#   make build && tools/tracking-proof.sh [.build/release/transfer]
#
# Needs the cached EfficientNet-Lite0 weights (`transfer fetch efficientnet-lite0`) and dataset-fashion-mnist.
# Writes only under a temporary directory (its own feature cache and database). python3 reads the JSON.
set -euo pipefail
T=$(realpath "${1:-.build/release/transfer}")
REPS=${REPS:-7}
EPOCHS=${EPOCHS:-300}
W=$(mktemp -d /tmp/tk-tracking-proof.XXXXXX)
trap 'rm -rf "$W"' EXIT
REAL_CACHE=${TRANSFERKIT_CACHE:-$HOME/.cache/transferkit}
mkdir -p "$W/cache"
ln -s "$REAL_CACHE/efficientnet-lite0" "$W/cache/efficientnet-lite0"
export TRANSFERKIT_CACHE="$W/cache" TRANSFERKIT_THREADS=1 CI=1
cd "$W"
"$T" datasets export fashion-mnist --split train --per-class 20 --out train --seed 0 >/dev/null
"$T" datasets export fashion-mnist --split test --per-class 10 --out test --seed 0 >/dev/null
py() { python3 -c "$1"; }
now() { date +%s.%N; }
train() {  # train OUT SEED EPOCHS [extra...]
  local out=$1 seed=$2 epochs=$3; shift 3
  "$T" train --model efficientnet-lite0 --data train --test test --strategy features --epochs "$epochs" --seed "$seed" \
    --out "$out" --json "$@"
}
echo "transfer $("$T" --version); $(nproc) cores; $(date -u +%FT%TZ)"
train warm.transferkit 0 5 --no-track >/dev/null   # features cached: every timed run below trains heads only

echo "== overhead: ${REPS} x (tracked, --no-track), features strategy, 40 epochs, 200 train + 100 test images"
: >times.txt
for i in $(seq 1 "$REPS"); do
  t0=$(now); train o.transferkit 0 40 --runs-db db/overhead.sqlite >o.json; t1=$(now)
  train n.transferkit 0 40 --no-track >/dev/null; t2=$(now)
  py "import json; j=json.load(open('o.json')); print($t1-$t0, $t2-$t1, j['tracking']['seconds'], j['epochs_run'])" >>times.txt
done
py "
import statistics as s
rows=[list(map(float,l.split())) for l in open('times.txt')]
tr=[r[0] for r in rows]; nt=[r[1] for r in rows]; rec=[r[2] for r in rows]
print(f'wall tracked   median {s.median(tr):.3f} s  (min {min(tr):.3f})')
print(f'wall no-track  median {s.median(nt):.3f} s  (min {min(nt):.3f})')
print(f'difference of medians {s.median(tr)-s.median(nt):+.3f} s')
print(f'recording cost measured in-process (open + fingerprint + {int(rows[0][3])} epoch writes + end): median {s.median(rec)*1000:.1f} ms, max {max(rec)*1000:.1f} ms')
"

echo "== two concurrent train runs into one database, ${EPOCHS} epochs each"
t0=$(now)
train c1.transferkit 1 "$EPOCHS" --runs-db db/concurrent.sqlite >c1.json &
p1=$!
train c2.transferkit 2 "$EPOCHS" --runs-db db/concurrent.sqlite >c2.json &
p2=$!
wait $p1; wait $p2
echo "both exited 0 after $(py "print(round($(now)-$t0,1))") s"
"$T" runs list --json --runs-db db/concurrent.sqlite >list.json
py "
import json
runs=json.load(open('list.json'))['runs']
outs={json.load(open(f))['tracking']['run_id']: json.load(open(f)) for f in ['c1.json','c2.json']}
for r in sorted(runs, key=lambda r: r['id']):
    o=outs[r['id']]
    print(f\"run {r['id']}: status {r['status']}, epochs recorded {r['epoch_count']} of {o['epochs_run']} run, \"
          f\"{r['started_at']} .. {r['ended_at']}, test_accuracy {r['metrics'].get('test_accuracy')} (train said {o['test']['accuracy']})\")
a,b=sorted(runs, key=lambda r: r['id'])
print('overlapping in time:', a['started_at'] < b['ended_at'] and b['started_at'] < a['ended_at'])
"
echo "sqlite3 integrity_check: $(sqlite3 db/concurrent.sqlite 'PRAGMA integrity_check')"
echo "epoch rows in the database: $(sqlite3 db/concurrent.sqlite 'SELECT run_id || ":" || count(*) FROM epochs GROUP BY run_id' | tr '\n' ' ')"

echo "== a SIGKILLed run"
# Started directly (not through the shell function), so $! is transfer's own PID.
"$T" train --model efficientnet-lite0 --data train --strategy features --epochs 100000 --seed 3 --out k.transferkit >/dev/null 2>&1 &
pk=$!
id=""
for _ in $(seq 1 600); do
  sleep 0.2
  [ -f "$TRANSFERKIT_CACHE/runs.sqlite" ] || continue
  id=$("$T" runs list --json | py "import json,sys; r=json.load(sys.stdin)['runs']; print(r[0]['id'] if r and r[0]['epoch_count']>=5 else '')")
  [ -n "$id" ] && break
done
"$T" runs list --status running
kill -9 "$pk"; wait "$pk" 2>/dev/null || true
echo "after kill -9 of PID $pk:"
"$T" runs list
"$T" runs show "$id" --json | py "import json,sys; d=json.load(sys.stdin); r=d['run']; print('status', r['status'], '| epochs kept', len(d['epochs']), '| error:', r['error'])"
