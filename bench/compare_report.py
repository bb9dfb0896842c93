#!/usr/bin/python3
# compare_report.py OUT ROUNDS "SYSTEMS" [COMMIT] [BASE_COMMIT] — the tables
# of bench/compare.sh from its raw outputs in OUT (SYSTEM.rN.SUITE.txt,
# rss.SYSTEM.rN.txt). Can be run again on a finished OUT.
#
# Prints, per section (the workload: run.sh and workload.sh figures; the
# real tasks: tasks.sh), one row per figure with the median over rounds of
# each system, and speed ratios: above 1 the first system is better (for
# figures in seconds the ratio is inverted). A BigFS/MooseFS or
# base/MooseFS ratio below 1 is marked ("<" here, bold in markdown). Then
# the peak RSS of every BigFS process and every integrity line that is not
# ok. Writes the same as markdown to OUT/table.md and each round's values
# to OUT/rounds.txt. Exits with 3 if an integrity line is not ok.
import glob, os, re, statistics, sys, time

out, rounds, systems = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
commit = sys.argv[4] if len(sys.argv) > 4 else "?"
base_commit = sys.argv[5] if len(sys.argv) > 5 else ""
NAMES = {"bigfs": "BigFS", "moosefs": "MooseFS", "ptll": "passthrough_ll",
         "local": "local", "base": "base"}
STATUS = {"integrity", "tasks_integrity", "bigfile_sha256", "suite_exit"}
SKIP = {"drop_caches", "rand_direct"}
RSS_LIMIT_MIB = 150
LINE = re.compile(r"^([A-Za-z0-9_]+):\s+(\S+)\s*(.*)$")

data = {}        # (section, figure) -> system -> round -> float or str
order = {"workload": [], "tasks": []}
units = {}       # figure -> unit text
statuses = []    # (system, round, suite, name, value)
for path in sorted(glob.glob(os.path.join(out, "*.r*.*.txt"))):
    m = re.match(r"^([a-z]+)\.r(\d+)\.([a-z]+)\.txt$", os.path.basename(path))
    if not m or m.group(1) == "rss":
        continue
    system, r, suite = m.group(1), int(m.group(2)), m.group(3)
    section = "tasks" if suite == "tasks" else "workload"
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("#"):
                continue
            lm = LINE.match(line.strip())
            if not lm:
                continue
            name, val, rest = lm.groups()
            if name in STATUS:
                statuses.append((system, r, suite, name, (val + " " + rest).strip()))
                continue
            if name in SKIP:
                continue
            try:
                v = float(val)
            except ValueError:
                v = val
            key = (section, name)
            if key not in data:
                data[key] = {}
                order[section].append(name)
            data[key].setdefault(system, {})[r] = v
            if isinstance(v, float) and name not in units:
                units[name] = rest

def unit_of(name):
    u = units.get(name, "").split()
    return u[0] if u else ""

def is_secs(name):
    return unit_of(name) in ("s", "seconds")

def median(key, system):
    vals = data[key].get(system, {})
    nums = [v for v in vals.values() if isinstance(v, float)]
    if nums:
        return statistics.median(nums)
    return next(iter(vals.values()), None)   # a failure string, or None

def speed(name, a, ref):
    """a against ref as a speed ratio: above 1, a is better."""
    if not isinstance(a, float) or not isinstance(ref, float) or a <= 0 or ref <= 0:
        return None
    return ref / a if is_secs(name) else a / ref

def fmt(v):
    if v is None:
        return "-"
    if not isinstance(v, float):
        return v
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    if abs(v) >= 1:
        return "%.2f" % v
    return "%.3f" % v

def fmt_ratio(x):
    return "-" if x is None else "%.2f" % x

present = [s for s in systems if any(s in d for d in data.values())]
def has(s):
    return s in present

def columns(section):
    """(header, cell(name, key) -> (text, below_one)) for this section."""
    cols = []
    def val(s):
        return lambda n, k: (fmt(median(k, s)), False)
    def ratio(a, b, mark):
        def cell(n, k):
            x = speed(n, median(k, a), median(k, b))
            return fmt_ratio(x), mark and x is not None and x < 1.0
        return cell
    cols.append(("BigFS", val("bigfs")))
    if has("moosefs"):
        cols.append(("MooseFS", val("moosefs")))
        cols.append(("BigFS/MooseFS", ratio("bigfs", "moosefs", True)))
    if has("ptll"):
        cols.append(("BigFS/ptll", ratio("bigfs", "ptll", False)))
    if has("base"):
        cols.append(("base", val("base")))
        if has("moosefs"):
            cols.append(("base/MooseFS", ratio("base", "moosefs", True)))
        cols.append(("BigFS/base", ratio("bigfs", "base", False)))
    if has("ptll"):
        cols.append(("ptll", val("ptll")))
    if section == "tasks" and has("local"):
        cols.append(("local", val("local")))
        cols.append(("BigFS/local", ratio("bigfs", "local", False)))
    return cols

TITLES = {"workload": "Workload (bench/run.sh, ../shared/bench/workload.sh)",
          "tasks": "Real tasks (bench/tasks.sh), seconds"}
text, md = [], []
date = time.strftime("%Y-%m-%d %H:%M", time.localtime())
head = ("bench/compare.sh, %s, BigFS at %s%s, %d round%s, medians. Ratios are speeds: "
        "above 1 the first is better (figures in seconds inverted)."
        % (date, commit, ", base at %s" % base_commit if base_commit and has("base") else "",
           rounds, "" if rounds == 1 else "s"))
text.append(head + " '<' marks a ratio below 1.0x MooseFS. ptll = libfuse passthrough_ll.")
md.append(head + " **Bold**: below 1.0x MooseFS. ptll = libfuse passthrough_ll over a local folder.")
for section in ("workload", "tasks"):
    names = order[section]
    if not names:
        continue
    cols = columns(section)
    rows = []
    for n in names:
        k = (section, n)
        label = n + (", " + unit_of(n) if unit_of(n) and section == "workload" else "")
        rows.append((label, [c[1](n, k) for c in cols]))
    w0 = max(len("figure"), max(len(r[0]) for r in rows))
    ws = [max(len(c[0]), max(len(r[1][i][0]) + 1 for r in rows)) for i, c in enumerate(cols)]
    text.append("")
    text.append("# " + TITLES[section])
    text.append("%-*s " % (w0, "figure") + " ".join("%*s" % (w, c[0]) for w, c in zip(ws, cols)))
    for label, cells in rows:
        text.append("%-*s " % (w0, label) + " ".join(
            "%*s" % (w, t + ("<" if low else " ")) for w, (t, low) in zip(ws, cells)))
    md.append("")
    md.append("**%s**" % TITLES[section])
    md.append("")
    md.append("| figure | " + " | ".join(c[0] for c in cols) + " |")
    md.append("|---|" + "---:|" * len(cols))
    for label, cells in rows:
        md.append("| %s | " % label + " | ".join("**%s**" % t if low else t for t, low in cells) + " |")

# memory
rss = {}
for path in glob.glob(os.path.join(out, "rss.*.r*.txt")):
    m = re.match(r"^rss\.([a-z]+)\.r(\d+)\.txt$", os.path.basename(path))
    if not m:
        continue
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 2 and p[1].isdigit():
                d = rss.setdefault(m.group(1), {})
                d[p[0]] = max(d.get(p[0], 0), int(p[1]))
if rss:
    procs = sorted({p for d in rss.values() for p in d if not p.endswith(".hwm")},
                   key=lambda p: (p != "master", p == "mount", int(p[1:]) if p[1:].isdigit() else 0))
    text.append("")
    text.append("# Peak RSS, MiB: VmRSS sampled every second (VmHWM); target below %d, '!' at or above"
                % RSS_LIMIT_MIB)
    md.append("")
    md.append("**Peak RSS, MiB**: VmRSS sampled every second through the rounds (in brackets VmHWM, "
              "the kernel's high-water mark); target below %d" % RSS_LIMIT_MIB)
    md.append("")
    md.append("| system | " + " | ".join(procs) + " |")
    md.append("|---|" + "---:|" * len(procs))
    for s in systems:
        if s not in rss:
            continue
        cells = []
        for p in procs:
            kib, hwm = rss[s].get(p), rss[s].get(p + ".hwm")
            if kib is None:
                cells.append(("-", False))
            else:
                t = "%.0f" % (kib / 1024) + (" (%.0f)" % (hwm / 1024) if hwm else "")
                cells.append((t, kib / 1024 >= RSS_LIMIT_MIB))
        text.append("%-8s " % s + "  ".join("%s %s%s" % (p, t, "!" if over else "")
                                          for p, (t, over) in zip(procs, cells)))
        md.append("| %s | " % NAMES.get(s, s) + " | ".join("**%s**" % t if over else t for t, over in cells) + " |")

# integrity
bad = [st for st in statuses if not re.match(r"^(ok|match)\b", st[4])]
text.append("")
if bad:
    text.append("# Integrity: NOT OK")
    for s, r, suite, name, v in bad:
        text.append("%s round %d %s: %s: %s" % (s, r, suite, name, v))
else:
    text.append("# Integrity: every check ok (%d line%s)" % (len(statuses), "" if len(statuses) == 1 else "s"))
md.append("")
md.append("Integrity: " + ("every check ok." if not bad else
          "; ".join("%s r%d %s %s: %s" % b for b in bad)))

print("\n".join(text))
with open(os.path.join(out, "table.md"), "w") as f:
    f.write("\n".join(md) + "\n")

# every round's values
with open(os.path.join(out, "rounds.txt"), "w") as f:
    for section in ("workload", "tasks"):
        for n in order[section]:
            k = (section, n)
            for s in systems:
                if s in data[k]:
                    f.write("%-24s %-8s %s\n" % (n, s, " ".join(
                        fmt(data[k][s].get(r)) for r in range(1, rounds + 1))))
print("\nmarkdown: %s/table.md; every round: %s/rounds.txt; raw: %s/" % (out, out, out))
sys.exit(3 if bad else 0)
