#!/usr/bin/python3
# med.py FILE — medians and main/base ratios of ab.sh output ("variant rN name: value").
import re, sys, statistics as S
d={}; order=[]
for l in open(sys.argv[1]):
    m=re.match(r'(\w+) r(\d+) (\w+): ([\d.]+)',l)
    if m:
        k=m.group(3)
        if k not in order: order.append(k)
        d.setdefault((m.group(1),k),[]).append(float(m.group(4)))
for k in order:
    if ('base',k) not in d or ('main',k) not in d: continue
    b=S.median(d[('base',k)]); m=S.median(d[('main',k)])
    if b == 0: continue
    print("%-22s base %9.1f main %9.1f main/base %.2f   %s | %s" % (k, b, m, m/b, d[('base',k)], d[('main',k)]))
