#!/usr/bin/env bash
# A two-"host" MPI job on one machine: two network namespaces joined by a veth pair (10.77.0.1 <-> 10.77.0.2), Open
# MPI's rsh launcher entering the namespace instead of ssh-ing, TCP between the ranks. Runs the fine-tune of
# scripts/mpi-proof.sh's recipe over that network and compares its weights with one process's. Needs root (ip netns).
# Usage: scripts/mpi-netns-check.sh WORK  (WORK: a directory left by scripts/mpi-proof.sh, with train/, test/, cache/
# and ft-1x1.transferkit)
set -euo pipefail
WORK=${1:?usage: scripts/mpi-netns-check.sh WORK_DIRECTORY_OF_MPI_PROOF}
BIN=${TRANSFER:-$(swift build -c release --show-bin-path)/transfer}
AGENT=$(mktemp /tmp/tk-netns-rsh.XXXXXX); HOSTS=$(mktemp /tmp/tk-hosts.XXXXXX)
cleanup() { ip netns del tkh1 2>/dev/null || true; ip netns del tkh2 2>/dev/null || true; rm -f "$AGENT" "$HOSTS"; }
trap cleanup EXIT
for n in 1 2; do ip netns add tkh$n; ip -n tkh$n link set lo up; done
ip link add tkv1 type veth peer name tkv2
ip link set tkv1 netns tkh1; ip link set tkv2 netns tkh2
ip -n tkh1 addr add 10.77.0.1/24 dev tkv1; ip -n tkh2 addr add 10.77.0.2/24 dev tkv2
ip -n tkh1 link set tkv1 up; ip -n tkh2 link set tkv2 up
cat > "$AGENT" <<'SH'
#!/bin/sh
host=$1; shift
case "$host" in 10.77.0.1) ns=tkh1 ;; 10.77.0.2) ns=tkh2 ;; *) echo "unknown host $host" >&2; exit 1 ;; esac
exec ip netns exec "$ns" /bin/sh -c "$*"
SH
chmod +x "$AGENT"
printf "10.77.0.1 slots=1\n10.77.0.2 slots=1\n" > "$HOSTS"
export CI=1 TRANSFERKIT_CACHE="$WORK/cache"
rm -rf "$WORK/cache/features" "$WORK/ft-net.transferkit"
ip netns exec tkh1 mpirun --allow-run-as-root -np 2 --hostfile "$HOSTS" --mca plm_rsh_agent "$AGENT" \
  --mca oob_tcp_if_include 10.77.0.0/24 --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 \
  -x TRANSFERKIT_THREADS=1 -x CI -x TRANSFERKIT_CACHE \
  "$BIN" train --model efficientnet-lite0 --data "$WORK/train" --test "$WORK/test" --strategy fine-tune --input-size 64 \
  --epochs 2 --head-epochs 2 --head-lr 0.01 --lr 0.002 --batch-size 32 --augment none --unfreeze 2 --val-split 0.2 \
  --no-calibrate --json --out "$WORK/ft-net.transferkit" > "$WORK/ft-net.json"
python3 - "$WORK" <<'PY'
import json, struct, sys
w = sys.argv[1]
def weights(p):
    b = open(p + "/weights.safetensors", "rb").read(); k = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8+k]); out = {}
    for n, m in h.items():
        if n == "__metadata__": continue
        s, e = m["data_offsets"]; out[n] = struct.unpack(f"<{(e-s)//4}f", b[8+k+s:8+k+e])
    return out
a, b = weights(w + "/ft-1x1.transferkit"), weights(w + "/ft-net.transferkit")
r, one = json.load(open(w + "/ft-net.json")), json.load(open(w + "/ft-1x1.json"))
print("two hosts over veth/TCP: max |w - w(1 process)| =", max(abs(x - y) for k in a for x, y in zip(a[k], b[k])))
print("test accuracy", r["test"]["accuracy"], "(1 process:", one["test"]["accuracy"], ")")
d = r["distributed"]
print(f"allreduce {1000*d['allreduce_seconds_per_step']:.1f} ms/step, waited {1000*d['allreduce_wait_seconds_per_step']:.1f} ms")
PY
