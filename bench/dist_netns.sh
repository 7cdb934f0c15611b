#!/bin/bash
# dist_netns.sh - archive distribution on an emulated cluster: N network
# namespaces joined through a bridge, each host's egress shaped with tc tbf
# to RATE, one broker per host.  For each control topology and size it times
# `canopy archive distribute` to all ranks and to the leaves with the chain
# and tree schedules, and staged (--staged 1); the naive baseline (--schedule
# flat: the root sends every copy) is measured once per size.  Prints
# efficiency = (size / link rate) / time, the time of the naive baseline and
# the CPU the brokers used, and writes a CSV (bench/dist_plot.py plots it).
#
# Usage (root): bench/dist_netns.sh [--hosts N] [--rate 200mbit] [--sizes "256M 1G"]
#         [--topos "kary:1 kary:2 binomial flat"] [--full] [--no-flat] [--csv FILE]
#         [--window W] [--repeat R] [--no-flat | --flat-all-sizes]
#         [--schedules "chain twotree"] [--chunk-size 256K] [--prefix cnpb] [--keep-logs DIR]
#         [--slow "RANK RATE egress|ingress"]
# --slow: with --schedules, run every case twice, as is and with one host's
# egress (or ingress) at RATE, and print the other targets' time against
# their time without it (doc/distribution.md, "Slow targets").
# --schedules: only distribute to all ranks, once with each schedule named
# ("default": none forced, the controller's choice)
# (the depth runs: chain against twotree on the same brokers, alternating);
# --chunk-size: the archive's chunk size (archive create --chunk-size);
# --prefix: the namespace name prefix (one of your own on a shared machine).
# Default: a quick subset (256M only, about 8 minutes).  --full: 256M and 1G,
# every topology (about 30 minutes at 200mbit).  The naive baseline runs at
# the first size only (it takes N-1 times longer): --flat-all-sizes for all.
# Env CANOPY_BIN: where canopy and canopy-broker are (default build/bin, else
# build-bench/bin).  Writes FILE.csv and FILE.jsonl (each run's full result).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
if [ -z "${CANOPY_BIN:-}" ]; then
    CANOPY_BIN=$SRC/build/bin
    [ -x "$CANOPY_BIN/canopy-broker" ] || CANOPY_BIN=$SRC/build-bench/bin
fi
export PATH="$CANOPY_BIN:$PATH"

N=16
RATE=200mbit
SIZES="256M"
TOPOS="kary:1 kary:2 binomial flat"
FLAT=1
WINDOW=8
REPEAT=1
CSV=$HERE/dist_netns.csv
PREFIX=cnpb
SCHEDULES=""
CHUNK=""
KEEP=""
SLOW=""
while [ $# -gt 0 ]; do
    case $1 in
    --slow) SLOW=$2; shift ;;
    --hosts) N=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --sizes) SIZES=$2; shift ;;
    --topos) TOPOS=$2; shift ;;
    --full) SIZES="256M 1G" ;;
    --no-flat) FLAT=0 ;;
    --flat-all-sizes) FLAT=2 ;;
    --csv) CSV=$2; shift ;;
    --window) WINDOW=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    --schedules) SCHEDULES=$2; shift ;;
    --chunk-size) CHUNK=$2; shift ;;
    --prefix) PREFIX=$2; shift ;;
    --keep-logs) KEEP=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "dist_netns.sh: unknown argument '$1' (try --help)" >&2; exit 1 ;;
    esac
    shift
done
if [ "$(id -u)" -ne 0 ] || ! command -v tc >/dev/null || ! command -v ip >/dev/null; then
    echo "dist_netns.sh: needs root, ip and tc (network namespaces, tbf)" >&2
    exit 1
fi
if ! [ -x "$CANOPY_BIN/canopy-broker" ]; then
    echo "dist_netns.sh: no canopy-broker in $CANOPY_BIN (build it, or set CANOPY_BIN)" >&2
    exit 1
fi
case $N in ''|*[!0-9]*) echo "dist_netns.sh: --hosts must be a number" >&2; exit 1 ;; esac
if [ "$N" -lt 2 ] || [ "$N" -gt 200 ]; then echo "dist_netns.sh: --hosts must be 2-200" >&2; exit 1; fi

# rate in bits per second (tc units: kbit, mbit, gbit)
RATE_BPS=$(echo "$RATE" | awk '{
    v = $1 + 0; u = tolower($1); sub(/^[0-9.]+/, "", u)
    m = (u == "kbit") ? 1e3 : (u == "mbit") ? 1e6 : (u == "gbit") ? 1e9 : (u == "bit" || u == "") ? 1 : -1
    if (m < 0 || v <= 0) exit 1; printf "%.0f", v * m }') || { echo "dist_netns.sh: --rate like 200mbit or 1gbit" >&2; exit 1; }

size_bytes () {  # 256M -> 268435456
    echo "$1" | awk '{ v = $1 + 0; u = toupper(substr($1, length($1)))
        m = (u == "K") ? 1024 : (u == "M") ? 1048576 : (u == "G") ? 1073741824 : 1
        printf "%.0f", v * m }'
}

D=$(mktemp -d /tmp/cnpb-XXXXXX)
DST=$D/dst            # targets write here: a tmpfs, as each host would have its own disk
T_CLEANUP=()
PIDS=()
stop_brokers () {
    local p
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null; done
    PIDS=()
}
cleanup () {
    stop_brokers
    [ -n "$KEEP" ] && mkdir -p "$KEEP" && cp "$D"/log* "$KEEP"/ 2>/dev/null
    local f
    for f in "${T_CLEANUP[@]+"${T_CLEANUP[@]}"}"; do eval "$f" >/dev/null 2>&1 || true; done
    umount "$DST" 2>/dev/null
    rm -rf "$D"
    [ -n "${OLD_BACKLOG:-}" ] && sysctl -qw net.core.netdev_max_backlog="$OLD_BACKLOG"
    if [ -n "${OLD_NEIGH:-}" ]; then
        local g1 g2 g3
        read -r g1 g2 g3 <<< "$OLD_NEIGH"
        sysctl -qw net.ipv4.neigh.default.gc_thresh1="$g1" net.ipv4.neigh.default.gc_thresh2="$g2" \
            net.ipv4.neigh.default.gc_thresh3="$g3"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$SRC/test/e2e/netns.sh"

# Every emulated host's veth hands its packets to the same per-CPU receive
# backlog (net.core.netdev_max_backlog, 1000 by default), where a real host
# has a NIC ring of its own: at 128 hosts the bursts tbf releases overflowed
# it (/proc/net/softnet_stat, dropped column), losing data and SYNs alike.
# Raised for the run; the drops that remain are printed with every case.
OLD_BACKLOG=$(sysctl -n net.core.netdev_max_backlog)
[ "$OLD_BACKLOG" -lt 100000 ] && sysctl -qw net.core.netdev_max_backlog=100000
# Likewise the ARP cache: its limits (gc_thresh3, 1024 by default) count the
# entries of every namespace together, where each real host has a table of
# its own.  At 128 hosts a two-tree run after a chain run overflowed it
# ("neighbour: arp_cache: neighbor table overflow!" in the kernel log): new
# neighbours could not be resolved and their SYNs were lost (~900 SYN
# retransmissions, targets idle for 10-25 s).  Raised for the run.
OLD_NEIGH=$(sysctl -n net.ipv4.neigh.default.gc_thresh1 net.ipv4.neigh.default.gc_thresh2 net.ipv4.neigh.default.gc_thresh3 | tr '\n' ' ')
read -r _ _ g3 <<< "$OLD_NEIGH"
[ "$g3" -lt 65536 ] && sysctl -qw net.ipv4.neigh.default.gc_thresh1=16384 net.ipv4.neigh.default.gc_thresh2=32768 \
    net.ipv4.neigh.default.gc_thresh3=65536
echo "== $N hosts (namespaces ${PREFIX}0..$((N - 1))), egress tbf $RATE each, sizes: $SIZES, topologies: $TOPOS"
netns_create $PREFIX "$N" "$RATE"
mkdir -p "$DST" "$D/src"
maxsize=0
for s in $SIZES; do b=$(size_bytes "$s"); [ "$b" -gt $maxsize ] && maxsize=$b; done
# room for every target's copy of the largest archive, plus slack
mount -t tmpfs -o size=$(( (maxsize * N + (1 << 30)) / 1048576 ))m tmpfs "$DST"
for s in $SIZES; do
    head -c "$(size_bytes "$s")" /dev/urandom > "$D/src/d$s"
done
canopy keygen "$D/curve.cert" >/dev/null

write_config () {  # write_config TOPO
    {
        echo "curve_cert: $D/curve.cert"
        echo "topology: $1"
        echo "default_port: 8060"
        echo "hosts:"
        for i in $(seq 0 $((N - 1))); do
            printf '  - host: node%d\n    bind: tcp://10.77.0.%d:8060\n    connect: tcp://10.77.0.%d:8060\n' \
                "$i" $((i + 1)) $((i + 1))
        done
    } > "$D/canopy.yaml"
}
start_brokers () {
    local i
    for i in $(seq 0 $((N - 1))); do
        ip netns exec $PREFIX$i canopy-broker --config "$D/canopy.yaml" --rank "$i" --rundir "$D/run$i" \
            >>"$D/log$i" 2>&1 &
        PIDS+=($!)
    done
    local end=$((SECONDS + 60))
    while [ $SECONDS -lt $end ]; do
        [ "$(canopy overlay status 2>/dev/null | grep -c ': online$')" -eq "$N" ] && return 0
        sleep 0.3
    done
    echo "dist_netns.sh: the $N brokers did not all come online; see $D/log*" >&2
    canopy overlay status >&2
    return 1
}

cpu_busy_ticks () { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
broker_ticks () {
    local p t=0
    for p in "${PIDS[@]}"; do
        t=$((t + $(awk '{ print $14 + $15 }' /proc/$p/stat 2>/dev/null || echo 0)))
    done
    echo $t
}
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
echo "hosts,rate_bps,topology,size,bytes,targets,ntargets,nremote,schedule,window,seconds,efficiency,cpu_busy,broker_cpu_s,created_gbps,failed" > "$CSV"
JSONL=${CSV%.csv}.jsonl     # every result (per-rank seconds, upstreams), one JSON per line
: > "$JSONL"

# SYN and SYN-ACK retransmissions summed over the hosts (TcpExt TCPSynRetrans):
# a new TCP connection whose handshake was lost behind a full tbf queue
syn_retrans () {
    local i t=0 v
    for i in $(seq 0 $((N - 1))); do
        v=$(ip netns exec "$PREFIX$i" awk '/^TcpExt:/ { if (!h) { for (j = 1; j <= NF; j++) if ($j == "TCPSynRetrans") c = j; h = 1 } else print $c }' /proc/net/netstat 2>/dev/null)
        t=$((t + ${v:-0}))
    done
    echo $t
}

# packets dropped at the per-CPU receive backlog, summed over the CPUs
backlog_drops () {
    local t=0 a b rest
    while read -r a b rest; do t=$((t + 16#$b)); done < /proc/net/softnet_stat
    echo $t
}

# run_case TOPO SIZE TARGETSET(all|leaves|staged) SCHEDULE
run_case () {
    local topo=$1 size=$2 set=$3 sched=$4 args=() bytes
    bytes=$(size_bytes "$size")
    case $set in
    all) ;;
    leaves) args+=(--leaves) ;;
    staged) args+=(--staged 1) ;;
    esac
    local rep
    for rep in $(seq 1 "$REPEAT"); do
        rm -rf "${DST:?}"/*
        local c0 b0 c1 b1 t0 t1 out
        local syn0 syn1 bd0 bd1
        syn0=$(syn_retrans); bd0=$(backlog_drops)
        read -r c0 t0 < <(cpu_busy_ticks); b0=$(broker_ticks)
        local sarg=(--schedule "$sched")
        [ "$sched" = default ] && sarg=()   # the controller's own choice (the result names it)
        out=$(canopy archive distribute --name "d$size" -C "$DST/{rank}" "${sarg[@]+"${sarg[@]}"}" --window "$WINDOW" \
            "${args[@]+"${args[@]}"}" --json --no-progress 2>"$D/err")
        local rc=$?
        read -r c1 t1 < <(cpu_busy_ticks); b1=$(broker_ticks)
        syn1=$(syn_retrans); bd1=$(backlog_drops)
        local secs ntargets nremote last failed
        # a result (JSON) comes back even when some ranks failed: keep it, with the failures
        if ! read -r secs ntargets nremote last failed < <(echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
ranks = sorted(int(k) for k in r["ranks"])
ok = [k for k in ranks if r["ranks"][str(k)]["ok"]]
print(r["seconds"], len(ranks), len([k for k in ranks if k != 0]), ok[-1] if ok else -1, len(ranks) - len(ok))' 2>/dev/null); then
            echo "  $topo $size $set $sched: FAILED: $(head -c 300 "$D/err")"
            continue
        fi
        printf '{"topology":"%s","size":"%s","targets":"%s","schedule":"%s","result":%s}\n' \
            "$topo" "$size" "$set" "$sched" "$(echo "$out" | tr -d '\n')" >> "$JSONL"
        if [ "$failed" -gt 0 ]; then
            echo "  $topo $size $set $sched: $failed ranks FAILED: $(echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print("; ".join("rank %s: %s" % (k, v.get("error")) for k, v in r["ranks"].items() if not v["ok"]))')"
            local fr
            for fr in $(echo "$out" | python3 -c '
import json, sys
print(" ".join(k for k, v in json.load(sys.stdin)["ranks"].items() if not v["ok"]))'); do
                grep -h 'archive' "$D/log$fr" 2>/dev/null | tail -4 | sed "s/^/    rank $fr log: /"
            done
        fi
        # the farthest target's copy must be identical to the source
        if [ "$last" -ge 0 ] && ! cmp -s "$D/src/d$size" "$DST/$last/d$size"; then
            echo "  $topo $size $set $sched: rank $last's copy differs from the source" >&2
            exit 1
        fi
        local sw
        sw=$(cat "$D"/log* 2>/dev/null | grep -c 'now pulling from')
        sw=$((sw - SWITCHES)); SWITCHES=$((SWITCHES + sw))
        local eff busy bcpu
        eff=$(awk -v b="$bytes" -v r="$RATE_BPS" -v s="$secs" 'BEGIN{ printf "%.3f", b * 8 / r / s }')
        busy=$(awk -v a="$c0" -v b="$c1" -v x="$t0" -v y="$t1" 'BEGIN{ printf "%.2f", (b - a) / (y - x) }')
        bcpu=$(awk -v a="$b0" -v b="$b1" -v hz="$HZ" 'BEGIN{ printf "%.1f", (b - a) / hz }')
        printf '  %-9s %5s %-7s %-6s %3s targets: %8.2f s  efficiency %.3f  CPU busy %3.0f%% of %d, brokers %s CPU-s, %s upstream switches, %s SYN retransmits, %s backlog drops\n' \
            "$topo" "$size" "$set" "$sched" "$ntargets" "$secs" "$eff" "$(awk -v b="$busy" 'BEGIN{print b*100}')" \
            "$NCPU" "$bcpu" "$sw" "$((syn1 - syn0))" "$((bd1 - bd0))"
        echo "$N,$RATE_BPS,$topo,$size,$bytes,$set,$ntargets,$nremote,$sched,$WINDOW,$secs,$eff,$busy,$bcpu,${CREATED[$size]:-},$failed" >> "$CSV"
        canopy archive remove --name "d$size" -r "1-$((N - 1))" >/dev/null 2>&1
        rm -rf "${DST:?}"/*
    done
}

# slow_set on|off: one host slower (its egress tbf, or its ingress: the
# bridge side of its veth)
slow_set () {
    local r rate dir
    read -r r rate dir <<< "$SLOW"
    if [ "$dir" = ingress ]; then
        if [ "$1" = on ]; then
            ip netns exec ${PREFIX}br tc qdisc add dev h$r root tbf rate "$rate" burst 256kb latency 50ms
        else
            ip netns exec ${PREFIX}br tc qdisc del dev h$r root 2>/dev/null
        fi
    else
        ip netns exec $PREFIX$r tc qdisc change dev veth0 root tbf rate "$([ "$1" = on ] && echo "$rate" || echo "$RATE")" \
            burst 256kb latency 50ms
    fi
}
# the last two results (without, with the slow host): the others' times
slow_report () {
    tail -2 "$JSONL" | python3 -c '
import json, sys
r, rate, d = sys.argv[1].split()
a, b = [json.loads(l)["result"]["ranks"] for l in sys.stdin.read().splitlines()]
o = lambda x: max(v["seconds"] for k, v in x.items() if k not in (r, "0"))
print("  slow rank %s (%s %s): the others took %.2f s against %.2f s without it (x %.2f, target <= 1.2); rank %s %.2f s (%.2f s without)"
      % (r, d, rate, o(b), o(a), o(b) / o(a), r, b[r]["seconds"], a[r]["seconds"]))' "$SLOW"
    grep -h 'is slow' "$D"/log0 | tail -3 | sed 's/^/    rank 0 log: /'
}

SWITCHES=0
declare -A CREATED
first=1
export CANOPY_URI=ipc://$D/run0/local
for topo in $TOPOS; do
    write_config "$topo"
    start_brokers || exit 1
    echo "-- topology $topo: $N brokers online"
    for size in $SIZES; do
        if [ -z "${CREATED[$size]:-}" ]; then
            line=$(canopy archive create --name "d$size" --dir "$D/src" --replace ${CHUNK:+--chunk-size "$CHUNK"} "d$size") || exit 1
            CREATED[$size]=$(echo "$line" | sed -nE 's/.*\(([0-9.]+) GB\/s\).*/\1/p')
            echo "  $line"
        fi
        if [ $first -eq 1 ] && { [ $FLAT -eq 2 ] || { [ $FLAT -eq 1 ] && [ "$size" = "${SIZES%% *}" ]; }; }; then
            run_case "$topo" "$size" all flat   # naive baseline: independent of the control topology
        fi
        if [ -n "$SCHEDULES" ]; then
            for rep in $(seq 1 "$REPEAT"); do
                for sc in $SCHEDULES; do
                    REPEAT=1 run_case "$topo" "$size" all "$sc"
                    if [ -n "$SLOW" ]; then
                        slow_set on
                        REPEAT=1 run_case "$topo" "$size" all "$sc"
                        slow_set off
                        slow_report
                    fi
                done
            done
            continue
        fi
        run_case "$topo" "$size" all chain
        [ "$topo" != flat ] && run_case "$topo" "$size" all tree   # on flat, tree = the baseline
        run_case "$topo" "$size" leaves chain
        run_case "$topo" "$size" staged chain
    done
    first=0
    stop_brokers
done

echo
echo "== summary ($N hosts, $RATE per host; efficiency = (size / link rate) / time; naive = flat to the same targets,"
echo "   measured for all ranks at the first size, scaled by the number of remote targets and bytes otherwise)"
python3 - "$CSV" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
naive = {}   # size -> seconds per target for the flat baseline
for r in rows:
    if r["schedule"] == "flat" and r["targets"] == "all":
        naive.setdefault(r["size"], []).append(float(r["seconds"]) / int(r["nremote"]))
print(f'{"topology":9} {"size":>5} {"targets":7} {"schedule":8} {"n":>3} {"seconds":>8} {"eff":>6} {"naive s":>8} {"speedup":>7} {"CPU":>5}  note')
for r in rows:
    s = float(r["seconds"])
    per = naive.get(r["size"])
    nv = sum(per) / len(per) * int(r["nremote"]) if per else None
    if nv is None and naive:   # not measured at this size: scale the per-byte time of another size
        z, v = next(iter(naive.items()))
        zb = int(next(x["bytes"] for x in rows if x["size"] == z))
        nv = sum(v) / len(v) / zb * int(r["bytes"]) * int(r["nremote"])
    sched = "staged" if r["targets"] == "staged" else r["schedule"]
    tg = "all" if r["targets"] == "staged" else r["targets"]
    print(f'{r["topology"]:9} {r["size"]:>5} {tg:7} {sched:8} {r["ntargets"]:>3} {s:8.2f} {float(r["efficiency"]):6.3f} '
          f'{(f"{nv:8.1f}" if nv else "       -")} {(f"{nv / s:7.1f}" if nv else "      -")} {float(r["cpu_busy"]) * 100:4.0f}%'
          f'{"  " + r["failed"] + " ranks failed" if r["failed"] != "0" else ""}')
EOF
echo "CSV: $CSV"
