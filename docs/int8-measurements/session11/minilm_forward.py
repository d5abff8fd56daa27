# One MiniLM int8 forward from an ONEDNN_VERBOSE=1 log (the last one: from the LayerNorm before the last six int8
# q/k/v matmuls), summed by primitive and shape.  usage: python3 minilm_forward.py VERBOSE.txt
import collections, sys
L = [l.strip().split(',') for l in open(sys.argv[1]) if l.startswith('onednn_verbose,exec')]
idx = [i for i, f in enumerate(L) if '384x1152' in f[-2] and 'src_s8' in f[6]]
start = idx[-6] - 1
while 'layer_normalization' not in L[start][3]:
    start -= 1
agg = collections.defaultdict(float)
for f in L[start:]:
    agg[(f[3], f[4], f[6][:40], f[-2])] += float(f[-1])
print('one forward: %d primitives, %.1f ms' % (len(L) - start, sum(agg.values())))
for k, v in sorted(agg.items(), key=lambda kv: -kv[1]):
    print('%7.2f  %s' % (v, ' | '.join(k)))
