import collections,sys
lines=[l.strip().split(',') for l in open(sys.argv[1]) if l.startswith('onednn_verbose,exec')]
n=len(lines)//int(sys.argv[2]) if len(sys.argv)>2 else len(lines)//2
agg=collections.defaultdict(lambda:[0,0.0])
for f in lines[-n:]:
    key=(f[3],f[4],f[6][:70],f[-2][:40])
    agg[key][0]+=1; agg[key][1]+=float(f[-1])
tot=sum(v[1] for v in agg.values())
print('total ms',tot, 'prims', n)
for k,v in sorted(agg.items(),key=lambda kv:-kv[1][1])[:30]: print('%7.2f %3d %s'%(v[1],v[0],' | '.join(k)))
