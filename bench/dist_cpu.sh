#!/bin/bash
# dist_cpu.sh - CPU cost of archive distribution per byte and hop, on one
# machine: N brokers over TCP loopback (no shaping, so the run is CPU-bound),
# one `canopy archive distribute` (chain, kary:1) of a SIZE MiB random file to
# every rank, output on /dev/shm.  Prints wall time, the brokers' CPU seconds
# (utime + stime from /proc) and CPU ns per byte per hop (N-1 hops), and checks
# every copy.  Optional PERF=NAME records `perf record -g` of the brokers into
# NAME.data.
#
# Usage: bench/dist_cpu.sh [N] [SIZE_MB]     (default 8 brokers, 256 MiB)
# Env CANOPY_BIN: where canopy and canopy-broker are (default build/bin).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${CANOPY_BIN:-$HERE/../build/bin}
N=${1:-8}; SZ=${2:-256}; PERF=${PERF:-}
export PATH="$BIN:$PATH"
D=$(mktemp -d /dev/shm/canopy-cpu-XXXXXX)
PIDS=()
cleanup () { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$D"; }
trap cleanup EXIT
mkdir -p "$D/src" "$D/dst"
head -c "${SZ}M" /dev/urandom > "$D/src/f"
canopy keygen "$D/curve.cert" >/dev/null
port=$((20000 + RANDOM % 20000))
{ echo "curve_cert: $D/curve.cert"; echo "topology: kary:1"; echo "hosts:"
  for i in $(seq 0 $((N - 1))); do
      printf '  - host: n%d\n    bind: tcp://127.0.0.1:%d\n    connect: tcp://127.0.0.1:%d\n' $i $((port + i)) $((port + i))
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
canopy archive create --name a --dir "$D/src" f >/dev/null || { echo "create failed" >&2; exit 1; }
ticks () { local s=0 p; for p in "${PIDS[@]}"; do s=$((s + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo $s; }
c0=$(ticks)
if [ -n "$PERF" ]; then
    perf record -o "$PERF.data" -F 999 -g -p "$(IFS=,; echo "${PIDS[*]}")" 2>/dev/null &
    PP=$!
    sleep 0.5
fi
t0=$(date +%s.%N)
canopy archive distribute --name a -C "$D/dst/{rank}" --no-progress >/dev/null || echo "distribute failed" >&2
t1=$(date +%s.%N)
[ -n "$PERF" ] && { kill -INT "$PP"; wait "$PP"; }
c1=$(ticks)
ok=1
want=$(sha256sum < "$D/src/f" | cut -c1-64)
for i in $(seq 1 $((N - 1))); do
    [ "$(sha256sum < "$D/dst/$i/f" | cut -c1-64)" = "$want" ] || ok=0
done
awk -v a="$t0" -v b="$t1" -v c="$c0" -v d="$c1" -v hz="$(getconf CLK_TCK)" -v ok=$ok -v n="$N" -v sz="$SZ" 'BEGIN {
    printf "wall %.2f s  broker_cpu %.2f s  cpu_ns_per_byte_per_hop %.2f  copies_ok=%d\n",
        b - a, (d - c) / hz, (d - c) / hz * 1e9 / (sz * 1048576 * (n - 1)), ok }'
[ $ok -eq 1 ]
