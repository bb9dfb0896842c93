#!/usr/bin/python3
# med.py FILE [LABEL] — medians of ab.sh / stepab.sh / readab.sh output
# ("variant rN name: value"), LABEL (default main) against base
# and how main compares with base, as a speed ratio (above 1: main is faster;
# names ending in _s are seconds, so their ratio is base/main):
#   ratio of the medians, and the median of the per-round ratios (main rK
#   against base rK, which stepab.sh ran right next to it).
import re, sys, statistics as S
d = {}; order = []
vs = sys.argv[2] if len(sys.argv) > 2 else 'main'
for l in open(sys.argv[1]):
    m = re.match(r'(\w+) r(\d+) (\w+): ([\d.]+)\s*$', l)
    if not m:
        continue
    v, r, k, x = m.group(1), int(m.group(2)), m.group(3), float(m.group(4))
    if k not in order:
        order.append(k)
    d.setdefault((v, k), {})[r] = x
def speed(k, main, base):
    if main == 0 or base == 0:
        return float('nan')
    return base / main if k.endswith('_s') else main / base
print("%-20s %10s %10s %8s %8s   rounds base | %s" % ("figure", "base", vs, "med", "paired", vs))
for k in order:
    if ('base', k) not in d or (vs, k) not in d:
        continue
    b, m = d[('base', k)], d[(vs, k)]
    mb, mm = S.median(b.values()), S.median(m.values())
    pr = [speed(k, m[r], b[r]) for r in b if r in m]
    print("%-20s %10.2f %10.2f %8.2f %8.2f   %s | %s" % (k, mb, mm, speed(k, mm, mb),
          S.median(pr) if pr else float('nan'), list(b.values()), list(m.values())))
