#!/bin/bash
# dist_loopback.sh - per-byte cost of archive distribution against raw TCP,
# side by side in one run on loopback (no shaping): SIZE MiB of random data
#   - raw TCP: socat from the source file to a new file, once (1 hop) and N-1
#     times in sequence;
#   - canopy, sealed data plane and the CURVE peer links: one hop (-r 1) and
#     the (N-1)-hop chain (-r 1-(N-1)) on N brokers (default 8), kary:1, each
#     on its own tcp://127.0.0.(10+i) endpoint from a config file.
# Every output is written to the same tmpfs (/dev/shm) and checked.  Prints
# wall time, its ratio to raw TCP (1 hop vs one socat copy, the chain vs 7
# sequential copies), CPU-seconds of the processes (brokers: utime+stime from
# /proc), CPU ns per byte per hop, and the same less
# the kernel's write of one target's file (`dd` from /dev/zero into a fresh
# tmpfs file, measured in the same run).  Run it alone:
#   flock /tmp/canopy-bench.lock bench/dist_loopback.sh [SIZE_MB]   (default 1024)
# Needs socat (apt-get install -y socat).  Env CANOPY_BIN (default build/bin);
# N brokers (default 8; 2..16); CREATE=copy stores the archive's chunks as
# blobs (default: --reference, read in place from the source file);
# PERF=NAME records `perf record -g` of the brokers in the sealed chain run
# (PERF_HOPS=1: in the sealed one-hop run) into NAME.data, thread ids per
# rank in NAME.tids; STATS=1 prints each target's last "complete" log line
# (chunks served downstream on arrival / read back) to stderr; KEEP_LOGS=FILE
# keeps the brokers' logs (e.g. each distribution's "sealed here (N of them
# known good...)" line) in FILE.
# (This replaces bench/dist_cpu.sh, whose one figure was the sealed chain's
# row here: `N=8 CREATE=copy bench/dist_loopback.sh 256`.)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${CANOPY_BIN:-$HERE/../build/bin}
SZ=${1:-1024}; PERF=${PERF:-}; STATS=${STATS:-}
N=${N:-8}; CREATE=${CREATE:-reference}
[ "$N" -ge 2 ] && [ "$N" -le 16 ] || { echo "dist_loopback.sh: N must be 2..16" >&2; exit 2; }
H=$((N - 1)); PERF_HOPS=${PERF_HOPS:-$H}
case $CREATE in copy) CFLAG= ;; reference) CFLAG=--reference ;;
    *) echo "dist_loopback.sh: CREATE must be copy or reference" >&2; exit 2 ;; esac
# the benchmark's own dependency (not CI's: scripts/deps.sh leaves it out)
if ! command -v socat >/dev/null; then
    SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get install -y -qq socat >/dev/null || { echo "dist_loopback.sh: needs socat" >&2; exit 1; }
fi
export PATH="$BIN:$PATH"
D=$(mktemp -d /dev/shm/canopy-loop-XXXXXX)
PIDS=()
cleanup () { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; [ -n "${KEEP_LOGS:-}" ] && cat "$D"/log* > "$KEEP_LOGS" 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
mkdir -p "$D/src"
head -c "${SZ}M" /dev/urandom > "$D/src/f"
want=$(sha256sum < "$D/src/f" | cut -c1-64)
BYTES=$((SZ * 1048576))
HZ=$(getconf CLK_TCK)
now () { date +%s.%N; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
# CPU seconds (user+sys) and wall of a command, from /usr/bin/time
timed () { /usr/bin/time -f '%e %U %S' -o "$D/time.out" "$@" || echo "command failed: $*" >&2; awk '{ printf "%s %.3f\n", $1, $2 + $3 }' "$D/time.out"; }

# ---- the kernel's write of one target's file (fresh tmpfs pages)
read -r _ wcpu < <(timed dd if=/dev/zero of="$D/w" bs=1M count="$SZ" status=none)
rm -f "$D/w"
W=$(awk -v c="$wcpu" -v b=$BYTES 'BEGIN { printf "%.3f", c * 1e9 / b }')

# ---- raw TCP: socat file -> socket -> file; wall and CPU of both ends
rawport=$((20000 + RANDOM % 20000))
raw_copy () {   # raw_copy OUT: prints "wall cpu"
    local out=$1 p=$((rawport++))
    /usr/bin/time -f '%U %S' -o "$D/rx.time" socat -b 1048576 -u TCP-LISTEN:$p,bind=127.0.0.1,reuseaddr OPEN:"$out",creat,trunc &
    local rx=$!
    for _ in $(seq 50); do ss -ltn 2>/dev/null | grep -q ":$p " && break; sleep 0.05; done
    local t0; t0=$(now)
    /usr/bin/time -f '%U %S' -o "$D/tx.time" socat -b 1048576 -u OPEN:"$D/src/f" TCP:127.0.0.1:$p
    wait $rx
    local t1; t1=$(now)
    awk -v a="$t0" -v b="$t1" '{ c += $1 + $2 } END { printf "%.3f %.3f\n", b - a, c }' "$D/rx.time" "$D/tx.time"
}
ok_raw=1
read -r raw1_wall raw1_cpu < <(raw_copy "$D/raw1")
[ "$(sha256sum < "$D/raw1" | cut -c1-64)" = "$want" ] || ok_raw=0
rm -f "$D/raw1"
raw7_wall=0; raw7_cpu=0
for i in $(seq 1 $H); do
    read -r w c < <(raw_copy "$D/raw7.$i")
    [ "$(sha256sum < "$D/raw7.$i" | cut -c1-64)" = "$want" ] || ok_raw=0
    raw7_wall=$(awk -v a="$raw7_wall" -v b="$w" 'BEGIN { print a + b }')
    raw7_cpu=$(awk -v a="$raw7_cpu" -v b="$c" 'BEGIN { print a + b }')
done
rm -f "$D"/raw7.*

# ---- 8 brokers on tcp://127.0.0.(10+i)
canopy keygen "$D/curve.cert" >/dev/null
port=$((20000 + RANDOM % 20000))
{ echo "curve_cert: $D/curve.cert"; echo "topology: kary:1"; echo "hosts:"
  for i in $(seq 0 $((N - 1))); do
      printf '  - host: n%d\n    bind: tcp://127.0.0.%d:%d\n    connect: tcp://127.0.0.%d:%d\n' \
          $i $((10 + i)) $port $((10 + i)) $port
  done
} > "$D/canopy.yaml"
for i in $(seq 0 $((N - 1))); do
    canopy-broker --config "$D/canopy.yaml" --rank "$i" --rundir "$D/run$i" >>"$D/log$i" 2>&1 &
    PIDS+=($!)
done
export CANOPY_URI=ipc://$D/run0/local
for _ in $(seq 100); do
    [ "$(canopy overlay status 2>/dev/null | grep -c ': online$')" -eq "$N" ] && break
    sleep 0.2
done
canopy archive create $CFLAG --name a --dir "$D/src" f >/dev/null || { echo "create failed" >&2; exit 1; }
ticks () { local s=0 p; for p in "${PIDS[@]}"; do s=$((s + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo $s; }
dist () {   # dist PLANE RANKS HOPS: prints "wall cpu ok"
    local plane=$1 ranks=$2 hops=$3 out=$D/dst-$1-$3 pp=
    if [ -n "$PERF" ] && [ "$plane" = sealed ] && [ "$hops" -eq "$PERF_HOPS" ]; then
        perf record -o "$PERF.data" -F 999 -g -p "$(IFS=,; echo "${PIDS[*]}")" 2>/dev/null &
        pp=$!
        for i in "${!PIDS[@]}"; do echo "rank $i: $(ls /proc/${PIDS[$i]}/task | tr '\n' ' ')"; done > "$PERF.tids"
        sleep 0.5
    fi
    local c0 t0 t1 c1 ok=1
    c0=$(ticks); t0=$(now)
    canopy archive distribute --name a -C "$out/{rank}" -r "$ranks" --data-plane "$plane" --no-progress \
        >"$D/dist.out" 2>&1 || { echo "distribute $plane $ranks failed: $(grep -v ' ok ' "$D/dist.out" | tail -3 | tr '\n' ' ')" >&2; ok=0; }
    t1=$(now); c1=$(ticks)
    [ -n "$pp" ] && { kill -INT "$pp"; wait "$pp"; }
    for r in $(seq 1 "$hops"); do
        [ "$(sha256sum < "$out/$r/f" 2>/dev/null | cut -c1-64)" = "$want" ] || ok=0
    done
    rm -rf "$out"
    if [ -n "$STATS" ]; then   # how each relay served its downstream: on arrival or read back
        for r in $(seq 1 "$hops"); do
            grep -h "archive a: complete" "$D/log$r" | tail -1 | sed "s/^/  $plane $ranks rank $r: /" >&2
        done
    fi
    awk -v a="$t0" -v b="$t1" -v c="$c0" -v d="$c1" -v hz="$HZ" -v ok=$ok 'BEGIN { printf "%.3f %.3f %d\n", b - a, (d - c) / hz, ok }'
}
read -r s1_wall s1_cpu s1_ok < <(dist sealed 1 1)
read -r c1_wall c1_cpu c1_ok < <(dist curve 1 1)
read -r s7_wall s7_cpu s7_ok < <(dist sealed 1-$H $H)
read -r c7_wall c7_cpu c7_ok < <(dist curve 1-$H $H)

echo "dist_loopback: $SZ MiB, output on /dev/shm, $N brokers kary:1 on tcp://127.0.0.10-$((10 + H)) (config file), raw = socat -b 1M$([ "$CREATE" = copy ] && echo ", archive in blobs")"
echo "load average before / after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) CPUs"
echo "kernel write of one target's file (dd /dev/zero -> fresh tmpfs): $W ns/B"
RAWNS=$(awk -v c="$raw1_cpu" -v b=$BYTES 'BEGIN { printf "%.3f", c * 1e9 / b }')
row () {   # row NAME WALL REFWALL CPU HOPS OK
    awk -v n="$1" -v w="$2" -v r="$3" -v c="$4" -v h="$5" -v ok="$6" -v b=$BYTES -v W="$W" -v R="$RAWNS" 'BEGIN {
        nsb = c * 1e9 / (b * h)
        printf "%-22s wall %7.2f s  x%5.2f of raw  cpu %7.2f s  %5.2f ns/B/hop  beyond write %5.2f  beyond raw tcp %5.2f  ok=%d\n",
            n, w, w / r, c, nsb, nsb - W, nsb - R, ok }'
}
row "raw tcp, 1 hop" "$raw1_wall" "$raw1_wall" "$raw1_cpu" 1 "$ok_raw"
row "sealed, 1 hop" "$s1_wall" "$raw1_wall" "$s1_cpu" 1 "$s1_ok"
row "curve, 1 hop" "$c1_wall" "$raw1_wall" "$c1_cpu" 1 "$c1_ok"
row "raw tcp, $H sequential" "$raw7_wall" "$raw7_wall" "$raw7_cpu" $H "$ok_raw"
row "sealed, $H-hop chain" "$s7_wall" "$raw7_wall" "$s7_cpu" $H "$s7_ok"
row "curve, $H-hop chain" "$c7_wall" "$raw7_wall" "$c7_cpu" $H "$c7_ok"
[ "$ok_raw$s1_ok$c1_ok$s7_ok$c7_ok" = 11111 ]
