#!/usr/bin/env python3
"""dist_model.py - a model of canopy's pull schedules (doc/distribution.md):
predicts distribution time for chain / tree / flat / staged at any size,
calibrated on the 16-host emulated cluster (bench/dist_netns.sh's CSV).

Model.  m bytes in n = ceil(m/c) chunks; every host's egress runs at
B' = eta * B (eta: TCP/IP + Ethernet framing that tbf counts; fitted on the
flat baseline when measured, else 1448/1514).  Every target pulls from one
upstream (the plan of src/lib/distplan.c, rebuilt here for kary:K, binomial
and flat control trees), keeps `window` requests outstanding, and a chunk is
forwarded as soon as it is verified.  A node with k downstream links shares
its egress between them, so each link sends a chunk every s = k*c/B'.  A
chunk that arrives at a relay is forwarded after a per-hop cost L (verify,
write, read back, encrypt, scheduling).  A target at the end of the path
e_1..e_h is then a flow shop of identical jobs:

    T = t0 + sum_e (s_e + L) + (n - 1) * max_e s_e

(the last chunk follows the first through every hop; the slowest link sets
the pace of the rest).  twotree (two stripes, chunk i on stripe i mod 2):
each stripe is a flow shop of n/2 chunks over its own tree, a node's egress
shared by its links in both stripes (the source: one per stripe; an
interior node: two children in one stripe), and a target is done when both
stripes are.  `--des` also runs a chunk-level discrete-event
simulation (per-link request queues, window, latency) to check the formula.

L (and t0, fixed at the measured start cost) is calibrated on the measured
16-host chain to all ranks; every other measured case is then a prediction.
Usage: dist_model.py [CSV] [--chunk 1M] [--window 8] [--des] [--L SECONDS]
"""
import argparse
import csv
import heapq
import math
import os
import sys

ETA_TCP = 1448 / 1514  # TCP payload per Ethernet frame at MTU 1500 (timestamps on)


def parse_size(s):
    s = s.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


# ---------------------------------------------------------------- topologies
def parents(topo, p):
    """parent of every rank (rank 0: None), as src/lib/topo.c builds them"""
    par = [None] * p
    for r in range(1, p):
        if topo.startswith("kary:"):
            k = int(topo[5:]) or (p - 1)
            par[r] = (r - 1) // k
        elif topo == "binomial":
            par[r] = r & (r - 1)
        elif topo == "flat":
            par[r] = 0
        else:
            raise SystemExit(f"dist_model.py: unknown topology {topo}")
    return par


def levels(par):
    lv = [0] * len(par)
    for r in range(1, len(par)):
        lv[r] = lv[par[r]] + 1  # parents have smaller ranks in all three shapes
    return lv


def targets_of(par, which):
    p = len(par)
    if which == "leaves":
        has_child = [False] * p
        for r in range(1, p):
            has_child[par[r]] = True
        return [r for r in range(1, p) if not has_child[r]]
    return list(range(1, p))


def plan(par, targets, schedule, staged=0):
    """upstream of each target (dict), as src/lib/distplan.c plans it"""
    up = {}
    tset = set(targets)
    if staged > 0:
        lv = levels(par)
        prev = 0
        for t in targets:
            if lv[t] <= staged:
                up[t] = prev
                prev = t
        last = {}
        for t in targets:
            if t in up:
                continue
            a = t
            while lv[a] > staged:
                a = par[a]
            head = a if a in tset else 0
            up[t] = last.get(a, head)
            last[a] = t
    elif schedule == "chain":
        prev = 0
        for t in targets:
            up[t] = prev
            prev = t
    elif schedule == "tree":
        for t in targets:
            a = par[t]
            while a != 0 and a not in tset:
                a = par[a]
            up[t] = a
    elif schedule == "flat":
        for t in targets:
            up[t] = 0
    else:
        raise SystemExit(f"dist_model.py: unknown schedule {schedule}")
    return up


def twotree(targets):
    """the two stripes' upstreams (dicts), as distplan.c's distplan_stripes"""
    n = len(targets)
    h = n // 2
    oa = list(range(n))
    ob = list(range(h, 2 * h)) + list(range(h)) + ([n - 1] if n % 2 else [])
    ups = []
    for order in (oa, ob):
        up = {}
        for pos, i in enumerate(order):
            up[targets[i]] = 0 if pos == 0 else targets[order[(pos - 1) // 2]]
        ups.append(up)
    return ups


ETA2 = [1.0]   # throughput a node keeps when its egress carries two flows (fitted in main)


def closed_form_stripes(ups, m, c, Bp, L, t0):
    """like closed_form, for len(ups) stripes sharing each node's egress"""
    Bp = Bp * ETA2[0]
    k = len(ups)
    fan = {}
    for up in ups:
        for u in up.values():
            fan[u] = fan.get(u, 0) + 1
    n = math.ceil(m / c)
    done = {}
    for si, up in enumerate(ups):
        ns = len(range(si, n, k))
        memo = {}
        for t in up:
            stack = []
            v = t
            while v != 0 and v not in memo:
                stack.append(v)
                v = up[v]
            acc, mx = memo[v] if v != 0 else (0.0, 0.0)
            for v in reversed(stack):
                sv = fan[up[v]] * c / Bp
                acc, mx = acc + sv + L, max(mx, sv)
                memo[v] = (acc, mx)
            a, x = memo[t]
            done[t] = max(done.get(t, 0.0), t0 + a + max(ns - 1, 0) * x)
    return done, max(done.values()) if done else 0.0


# ---------------------------------------------------------------- the model
def closed_form(up, m, c, Bp, L, t0):
    """completion time of every target, and the makespan"""
    n = math.ceil(m / c)
    fan = {}
    for t, u in up.items():
        fan[u] = fan.get(u, 0) + 1
    done = {}
    memo = {}  # target -> (sum of (s+L) along its path, max s)

    def path(t):
        if t in memo:
            return memo[t]
        # iterative walk to the source (chains are thousands deep)
        stack = []
        v = t
        while v != 0 and v not in memo:
            stack.append(v)
            v = up[v]
        acc, mx = memo[v] if v != 0 else (0.0, 0.0)
        for v in reversed(stack):
            s = fan[up[v]] * c / Bp
            acc, mx = acc + s + L, max(mx, s)
            memo[v] = (acc, mx)
        return memo[t]

    for t in up:
        acc, mx = path(t)
        done[t] = t0 + acc + (n - 1) * mx
    return done, max(done.values()) if done else 0.0


def des(up, m, c, Bp, L, t0, window):
    """chunk-level discrete-event simulation: each target keeps `window`
    requests outstanding to its upstream; an upstream's egress sends one
    chunk at a time (c/B'), serving whichever ready request came first; a
    chunk is usable at the receiver L after its last byte arrives."""
    n = math.ceil(m / c)
    tx = c / Bp
    have = {0: [0.0] * n}            # node -> time chunk j is usable there
    for t in up:
        have[t] = [None] * n
    waiting = {}                      # (node, j) -> requests parked until node has chunk j
    queue = {u: [] for u in set(up.values())}   # link u: heap of (ready time, seq, target, j)
    busy = {u: False for u in queue}
    nextreq = {t: 0 for t in up}
    cnt = {t: 0 for t in up}
    ev = []                           # (time, seq, kind, a, b)
    seq = 0

    def push(time, kind, a, b):
        nonlocal seq
        seq += 1
        heapq.heappush(ev, (time, seq, kind, a, b))

    def request(t, now):
        nonlocal seq
        j = nextreq[t]
        if j >= n:
            return
        nextreq[t] = j + 1
        u = up[t]
        h = have[u][j]
        if h is None:
            waiting.setdefault((u, j), []).append(t)
        else:
            seq += 1
            heapq.heappush(queue[u], (max(now, h), seq, t, j))
            if not busy[u]:
                push(max(now, h), 0, u, None)   # kick the link

    for t in up:
        for _ in range(window):
            request(t, t0)
    done = {}
    while ev:
        now, _, kind, a, b = heapq.heappop(ev)
        if kind == 0:                      # link a free: start the earliest ready send
            q = queue[a]
            if busy[a] or not q:
                continue
            ready, _, t, j = q[0]
            if ready > now:
                push(ready, 0, a, None)
                continue
            heapq.heappop(q)
            busy[a] = True
            push(now + tx, 1, t, j)
        elif kind == 1:                    # last byte of chunk j at target a
            u = up[a]
            busy[u] = False
            push(now, 0, u, None)
            push(now + L, 2, a, b)
            request(a, now)
        else:                              # chunk b usable at a
            have[a][b] = now
            for t in waiting.pop((a, b), []):
                seq += 1
                heapq.heappush(queue[a], (now, seq, t, b))
                if not busy[a]:
                    push(now, 0, a, None)
            cnt[a] += 1
            if cnt[a] == n:
                done[a] = now
    return done, max(done.values()) if done else 0.0


def case_plan(topo, p, which, schedule):
    par = parents(topo, p)
    if schedule == "twotree":
        return twotree(targets_of(par, which))
    if which == "staged":
        tg = targets_of(par, "all")
        return plan(par, tg, "chain", staged=1)
    return plan(par, targets_of(par, which), schedule)


def predict(plan_, m, c, Bp, L, t0):
    if isinstance(plan_, list):
        return closed_form_stripes(plan_, m, c, Bp, L, t0)
    return closed_form(plan_, m, c, Bp, L, t0)


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                          "dist_netns.csv"))
    ap.add_argument("--chunk", default="1M", help="chunk size (default 1M, canopy's default)")
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--rate", default=None, help="link rate in bit/s for predictions (default: the CSV's)")
    ap.add_argument("--L", type=float, default=None, help="per-hop cost in seconds (default: calibrated)")
    ap.add_argument("--o", type=float, default=50e-6, help="per-chunk cost in seconds for the chunk-size table (default 50e-6)")
    ap.add_argument("--t0", type=float, default=0.05, help="start cost in seconds (default 0.05)")
    ap.add_argument("--des", action="store_true", help="also run the discrete-event simulation (slow at 4096)")
    ap.add_argument("--sizes", default="256M,1G", help="sizes to predict (default 256M,1G)")
    ap.add_argument("--fit-hosts", type=lambda x: [int(v) for v in x.split(",")], default=None,
                    help="fit L and eta2 only on runs with these host counts (e.g. 64,128)")
    ap.add_argument("--headline-rate", type=float, default=10e9, help="link rate of the last table (default 10e9)")
    ap.add_argument("--headline-chunk", type=parse_size, default=256 << 10,
                    help="second chunk size of the last table (default 256K)")
    a = ap.parse_args()
    c = parse_size(a.chunk)
    rows = []
    if os.path.exists(a.csv):
        rows = list(csv.DictReader(open(a.csv)))
    else:
        print(f"dist_model.py: no measurements in {a.csv}: predictions with defaults only", file=sys.stderr)
    rate = float(a.rate) if a.rate else (float(rows[0]["rate_bps"]) if rows else 200e6)
    B = rate / 8
    hosts = int(rows[0]["hosts"]) if rows else 16
    t0 = a.t0

    # eta from the flat baseline: T = t0 + (n + 1)*k*c/B' + L with k remote targets (L small next to it)
    eta = ETA_TCP
    flats = [r for r in rows if r["schedule"] == "flat" and r["targets"] == "all"]
    if flats:
        ests = []
        for r in flats:
            m, k, T = int(r["bytes"]), int(r["nremote"]), float(r["seconds"])
            n = math.ceil(m / c)
            ests.append((n + 1) * k * c / B / (T - t0))
        eta = sum(ests) / len(ests)
        print(f"eta (goodput / link rate) from the flat baseline: {eta:.3f}  (TCP over Ethernet at MTU 1500: {ETA_TCP:.3f})")
    else:
        print(f"eta = {eta:.3f} (TCP over Ethernet, MTU 1500; no flat baseline measured)")
    Bp = eta * B

    # L from the measured chains: T = t0 + (n + h - 1)*c/B' + h*L, h = hops.  On the emulated
    # cluster all brokers share the host's CPUs, so L grows with the load: rho = sum over links
    # of the share of B' each carries (chain to all: N-1).  Fit L = L1 + b*(rho - 1).
    def plan_load(up):
        ups = up if isinstance(up, list) else [up]
        fan = {}
        for x in ups:
            for u in x.values():
                fan[u] = fan.get(u, 0) + 1
        return sum(1 / fan[u] for x in ups for u in x.values()) / len(ups)
    pts = []
    for r in rows:
        if r["schedule"] != "chain" or r["targets"] not in ("all", "leaves") or int(r["nremote"]) < 3:
            continue
        if a.fit_hosts and int(r["hosts"]) not in a.fit_hosts:
            continue
        m, h, T = int(r["bytes"]), int(r["nremote"]), float(r["seconds"])
        n = math.ceil(m / c)
        pts.append((h, (T - t0 - (n + h - 1) * c / Bp) / h))
    L1, slope = (a.L if a.L is not None else 0.002), 0.0
    if a.L is None and pts:
        xs = [x for x, _ in pts]
        ys = [y for _, y in pts]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in pts) / var if var > 0 else 0.0
        slope = max(slope, 0.0)
        L1 = max(0.001, my - slope * (mx - 1))
        print(f"L (per-hop cost) from {len(pts)} measured chains: " + ", ".join(f"{y * 1e3:.0f} ms at load {x}" for x, y in pts))
        print(f"  fit L = {L1 * 1e3:.1f} ms + {slope * 1e3:.2f} ms per unit of load above 1 "
              f"(load = links x share of B' they carry; chain to all {hosts} hosts = {hosts - 1})")
    elif a.L is None:
        print(f"L = {L1 * 1e3:.1f} ms (default; no chain measured)")

    def L_of(up, contended=True):
        return L1 + (slope * (plan_load(up) - 1) if contended else 0.0)
    L = L1
    # eta2 from the measured two-tree runs: the link-time part of the model against the measured time
    tw = [r for r in rows if r["schedule"] == "twotree" and r["targets"] == "all"
          and (not a.fit_hosts or int(r["hosts"]) in a.fit_hosts)]
    if tw:
        ests = []
        for r in tw:
            hp = int(r["hosts"])
            up = case_plan(r["topology"], hp, "all", "twotree")
            depth = max(len(bin(len(up[0]))) - 2, 1)
            _, pred = predict(up, int(r["bytes"]), c, Bp, 0.0, t0)
            Lr = L_of(up)
            ests.append((pred - t0) / (float(r["seconds"]) - t0 - depth * Lr))
        ETA2[0] = min(1.0, sum(ests) / len(ests))
        print(f"eta2 (two flows per egress) from {len(tw)} measured two-tree runs: {ETA2[0]:.3f}  ("
              + ", ".join(f"{x:.3f}" for x in ests) + ")")
    print(f"chunk {c >> 10} KiB, window {a.window}, link {rate / 1e6:.0f} Mbit/s, goodput B' = {Bp / 1e6:.2f} MB/s, "
          f"t0 = {t0 * 1e3:.0f} ms")

    # measured vs predicted at the measured size
    if rows:
        print(f"\n== measured vs predicted")
        print(f'{"hosts":5} {"topology":9} {"size":>5} {"targets":7} {"schedule":8} {"measured":>9} {"model":>8} {"error":>7}'
              + (f' {"DES":>8}' if a.des else ""))
        seen = {}
        for r in rows:
            which = "staged" if r["targets"] == "staged" else r["targets"]
            sched = "staged" if which == "staged" else r["schedule"]
            key = (int(r["hosts"]), r["topology"], r["size"], which, sched)
            seen.setdefault(key, []).append(float(r["seconds"]))
        errs = []
        for (hp, topo, size, which, sched), ts in seen.items():
            T = sum(ts) / len(ts)
            up = case_plan(topo, hp, which, sched)
            cc = int(rows[0].get("chunk") or 0) or c
            _, pred = predict(up, parse_size(size), cc, Bp, L_of(up), t0)
            err = (pred - T) / T
            errs.append(abs(err))
            extra = ""
            if a.des and not isinstance(up, list):
                _, d = des(up, parse_size(size), c, Bp, L_of(up), t0, a.window)
                extra = f" {d:8.2f}"
            tg = "all" if which == "staged" else which
            print(f"{hp:5} {topo:9} {size:>5} {tg:7} {sched:8} {T:9.2f} {pred:8.2f} {err * 100:+6.1f}%{extra}")
        print(f"mean |error| {sum(errs) / len(errs) * 100:.1f}%, max {max(errs) * 100:.1f}%")

    # predictions at 256 and 4096 nodes
    print(f"\n== predicted (same schedules, {rate / 1e6:.0f} Mbit/s per host, every host with its own CPU: "
          f"L = {L * 1e3:.1f} ms, the fit at load 1); efficiency = (size / link rate) / time")
    print(f'{"nodes":>5} {"topology":9} {"size":>5} {"targets":7} {"schedule":8} {"seconds":>9} {"eff":>6}'
          + (f' {"DES":>8}' if a.des else ""))
    for p in (hosts, 256, 4096):
        for size in a.sizes.split(","):
            m = parse_size(size)
            for topo in ("kary:1", "kary:2", "binomial", "flat"):
                for which, sched in (("all", "chain"), ("all", "tree"), ("leaves", "chain"), ("staged", "staged"),
                                     ("all", "flat"), ("all", "twotree")):
                    if sched in ("flat", "twotree") and topo != "kary:1":
                        continue  # flat and twotree do not depend on the control topology
                    up = case_plan(topo, p, which, sched)
                    _, pred = predict(up, m, c, Bp, L, t0)
                    extra = ""
                    if a.des and not isinstance(up, list) and p * math.ceil(m / c) <= 300000:
                        _, d = des(up, m, c, Bp, L, t0, a.window)
                        extra = f" {d:8.2f}"
                    tg = "all" if which == "staged" else which
                    tp = "-" if sched in ("flat", "twotree") else topo
                    print(f"{p:5} {tp:9} {size:>5} {tg:7} {sched:8} {pred:9.1f} {m * 8 / rate / pred:6.3f}{extra}")

    # the chain's fill cost is (p - 2) * c / B': what smaller chunks would buy at scale
    print(f"\n== chain to all, by chunk size (a per-chunk cost o = {a.o * 1e6:.0f} us is added to each chunk's "
          f"send time; L per hop as calibrated)")
    cs = [1 << 20, 256 << 10, 64 << 10, 16 << 10]
    print(f'{"nodes":>5} {"size":>5} ' + " ".join(f'{f"c={x >> 10}K":>14}' for x in cs))
    for p in (hosts, 256, 4096):
        for size in a.sizes.split(","):
            m = parse_size(size)
            up = case_plan("kary:1", p, "all", "chain")
            cells = []
            for cc in cs:
                bp = cc / (cc / Bp + a.o)     # per-chunk cost as a lower goodput
                _, pred = closed_form(up, m, cc, bp, L, t0)
                cells.append(f"{pred:7.1f}s {m * 8 / rate / pred:5.3f}")
            print(f"{p:5} {size:>5} " + " ".join(f"{x:>14}" for x in cells))

    # the headline: 256 and 4096 nodes, 1 and 10 GiB, 10 Gbit/s links, every host on its own
    # CPU (per-hop cost L as fitted at load 1), against the chain and Flux's measured 0.04 at 256
    hr = a.headline_rate
    hB = eta * hr / 8
    print(f"\n== predicted at {hr / 1e9:.0f} Gbit/s per host (L = {L * 1e3:.1f} ms per hop, "
          f"chunk {c >> 10} KiB and {a.headline_chunk >> 10} KiB); efficiency = (size / link rate) / time")
    print(f'{"nodes":>5} {"size":>5} {"chain":>16} {"twotree":>16} {"twotree c=" + str(a.headline_chunk >> 10) + "K":>16} {"Flux (measured)":>16}')
    for p in (256, 4096):
        for size in ("1G", "10G"):
            m = parse_size(size)
            cells = []
            for sched, cc in (("chain", c), ("twotree", c), ("twotree", a.headline_chunk)):
                up = case_plan("kary:1", p, "all", sched)
                _, pred = predict(up, m, cc, hB, L, t0)
                cells.append(f"{pred:7.2f}s {m * 8 / hr / pred:5.3f}")
            flux = "0.04" if p == 256 else "-"
            print(f"{p:5} {size:>5} " + " ".join(f"{x:>16}" for x in cells) + f" {flux:>16}")


if __name__ == "__main__":
    main()
