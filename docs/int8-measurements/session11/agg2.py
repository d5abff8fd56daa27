import collections,sys
lines=[l.strip().split(',') for l in open(sys.argv[1]) if l.startswith('onednn_verbose,exec')]
marker=sys.argv[2]
idx=[i for i,f in enumerate(lines) if marker in ','.join(f)]
start=idx[-1]
agg=collections.defaultdict(lambda:[0,0.0])
for f in lines[start:]:
    key=(f[3],f[4],f[6][:40],f[-2][:60])
    agg[key][0]+=1; agg[key][1]+=float(f[-1])
tot=sum(v[1] for v in agg.values())
print('one forward: total ms %.1f, %d primitives'%(tot, len(lines)-start))
for k,v in sorted(agg.items(),key=lambda kv:-kv[1][1])[:int(sys.argv[3]) if len(sys.argv)>3 else 25]: print('%7.2f %3d %s'%(v[1],v[0],' | '.join(k)))
