#!/usr/bin/env python3
"""dist_plot.py - PNG of bench/dist_netns.sh's CSV: distribution time by
control topology and size (one panel per size, one bar per schedule and
target set), with the ideal size/link-rate time and the naive baseline
(flat: the root sends every copy) as lines; a second row shows efficiency.
Usage: dist_plot.py [CSV] [PNG]   (defaults: bench/dist_netns.csv, bench/dist_netns.png)
Needs matplotlib (Debian: python3-matplotlib, for /usr/bin/python3).
"""
import csv
import os
import sys

try:
    import matplotlib
except ImportError:
    # Debian's python3-matplotlib serves /usr/bin/python3; another python3 may come first on PATH
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
            and not os.environ.get("DIST_PLOT_REEXEC"):
        os.environ["DIST_PLOT_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("dist_plot.py: needs matplotlib (apt-get install python3-matplotlib)")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "dist_netns.csv")
out = sys.argv[2] if len(sys.argv) > 2 else os.path.splitext(src)[0] + ".png"
try:
    rows = list(csv.DictReader(open(src)))
except OSError as e:
    sys.exit(f"dist_plot.py: {src}: {e.strerror}")
if not rows:
    sys.exit(f"dist_plot.py: {src}: no measurements")


def label(r):
    if r["targets"] == "staged":
        return "staged 1 (all)"
    return f'{r["schedule"]} ({r["targets"]})'


sizes = sorted({r["size"] for r in rows}, key=lambda s: int(next(x["bytes"] for x in rows if x["size"] == s)))
topos = [t for t in ("kary:1", "kary:2", "binomial", "flat") if any(r["topology"] == t for r in rows)]
topos += sorted({r["topology"] for r in rows} - set(topos))
cases = ["chain (all)", "tree (all)", "chain (leaves)", "staged 1 (all)"]
colors = {"chain (all)": "#1f77b4", "tree (all)": "#ff7f0e", "chain (leaves)": "#2ca02c", "staged 1 (all)": "#9467bd"}
rate = float(rows[0]["rate_bps"])
hosts = rows[0]["hosts"]

# mean over repeats
cell = {}
for r in rows:
    if r["schedule"] == "flat":
        continue
    cell.setdefault((r["size"], r["topology"], label(r)), []).append(r)
naive = {}
for r in rows:
    if r["schedule"] == "flat" and r["targets"] == "all":
        naive.setdefault(r["size"], []).append(float(r["seconds"]) / int(r["nremote"]))

fig, axes = plt.subplots(2, len(sizes), figsize=(5.5 * len(sizes), 8), squeeze=False)
width = 0.8 / len(cases)
for col, size in enumerate(sizes):
    nbytes = int(next(x["bytes"] for x in rows if x["size"] == size))
    ideal = nbytes * 8 / rate
    for row, what in enumerate(("seconds", "efficiency")):
        ax = axes[row][col]
        for i, case in enumerate(cases):
            xs, ys = [], []
            for j, t in enumerate(topos):
                rs = cell.get((size, t, case))
                if rs:
                    xs.append(j + (i - (len(cases) - 1) / 2) * width)
                    ys.append(sum(float(r[what]) for r in rs) / len(rs))
            ax.bar(xs, ys, width, label=case, color=colors[case])
            for x, y in zip(xs, ys):
                ax.text(x, y, f"{y:.2f}" if what == "efficiency" else f"{y:.0f}", ha="center", va="bottom",
                        fontsize=7)
        ax.set_xticks(range(len(topos)))
        ax.set_xticklabels(topos)
        if what == "seconds":
            ax.axhline(ideal, color="black", linestyle=":", linewidth=1, label=f"size / link rate ({ideal:.1f} s)")
            if naive:
                z = size if size in naive else next(iter(naive))
                zb = int(next(x["bytes"] for x in rows if x["size"] == z))
                nv = sum(naive[z]) / len(naive[z]) * (int(hosts) - 1) * nbytes / zb
                ax.set_title(f"{size} to {hosts} hosts at {rate / 1e6:.0f} Mbit/s\n"
                             f"naive baseline (root sends every copy): {'' if size in naive else '~'}{nv:.0f} s")
            else:
                ax.set_title(f"{size} to {hosts} hosts at {rate / 1e6:.0f} Mbit/s")
            ax.set_ylabel("time (s)")
        else:
            ax.axhline(0.85, color="red", linestyle="--", linewidth=1, label="target 0.85")
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("efficiency = (size / link rate) / time")
        ax.set_xlabel("control topology")
        ax.legend(fontsize=7, loc="upper left")
fig.suptitle("canopy archive distribution, emulated cluster (network namespaces, tbf egress)")
fig.tight_layout()
fig.savefig(out, dpi=110)
print(f"wrote {out}")
