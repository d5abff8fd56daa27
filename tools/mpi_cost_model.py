#!/usr/bin/env python3
"""The cost model of docs/distributed.md: data-parallel step time on N machines joined by a ring all-reduce.

step(N) = compute + exposed communication
compute = local_batch * seconds_per_image                        (measured on one machine)
allreduce(N) = 2 (N-1)/N * bytes / bandwidth + 2 (N-1) * buckets * latency   (ring: reduce-scatter + all-gather)
exposed = max(0, allreduce - overlap * backward),  backward = 2/3 of compute (the usual share of a training step)
efficiency = compute / step(N); throughput(N) = N * local_batch / step(N)

Usage: python3 tools/mpi_cost_model.py SECONDS_PER_IMAGE LOCAL_BATCH PARAMETERS BUCKETS
"""
import sys

def table(sec_per_image, batch, params, buckets, latency={10: 30e-6, 100: 10e-6}):
    compute = sec_per_image * batch
    nbytes = 4 * (params + buckets)
    rows = []
    for gbit in (10, 100):
        bw = gbit * 1e9 / 8
        for n in (2, 8, 64):
            ar = 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * buckets * latency[gbit]
            for overlap in (0.0, 1.0):
                exposed = max(0.0, ar - overlap * 2 / 3 * compute)
                step = compute + exposed
                rows.append((gbit, n, overlap, ar, step, compute / step, n * batch / step))
    return compute, nbytes, rows

if __name__ == "__main__":
    s, b, p, k = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    compute, nbytes, rows = table(s, b, p, k)
    print(f"compute per step {compute*1e3:.1f} ms (local batch {b}), gradient {nbytes/1e6:.2f} MB in {k} buckets")
    print("| network | machines | overlap | all-reduce | step | efficiency | images/s |")
    print("|---|---|---|---|---|---|---|")
    for gbit, n, ov, ar, step, eff, ips in rows:
        print(f"| {gbit} Gbit/s | {n} | {'none' if ov == 0 else 'backward'} | {ar*1e3:.1f} ms | {step*1e3:.1f} ms | {eff*100:.0f}% | {ips:.0f} |")
