#!/bin/bash
# Overlay benchmarks: time until all brokers are online (8, 32, 128 local
# brokers; target: 128 in under 2 s) and ping round-trip by hop count on a
# chain (target: under 100 us per hop), measured in one run side by side.
set -eu
BIN=${CANOPY_BIN:-$(cd "$(dirname "$0")/../build/bin" && pwd)}
export PATH="$BIN:$PATH"
echo "== time until all brokers online (canopy start --verbose, best of 3)"
for n in 8 32 128; do
    best=999
    for i in 1 2 3; do
        t=$(canopy start --size $n --topo kary:2 -v true 2>&1 | sed -nE 's/.* online in ([0-9.]+) s.*/\1/p')
        best=$(echo "$t $best" | awk '{print ($1 < $2) ? $1 : $2}')
    done
    echo "size $n: $best s  (target for 128: < 2 s; ratio to target $(echo "$best" | awk '{printf "%.2f", $1/2}'))"
done
echo "== ping round trip by hops (kary:1 chain of 9, 500 pings each, 64-byte pad)"
canopy start --size 9 --topo kary:1 bash -c '
base=""
for r in 0 1 2 4 8; do
    avg=$(canopy ping --quiet --count 500 --pad 64 $r | sed -nE "s#.*min/avg/max = ([0-9.]+)/([0-9.]+)/.*#\1#p")
    [ -z "$base" ] && base=$avg
    if [ $r -gt 0 ]; then
        per=$(echo "$avg $base $r" | awk "{printf \"%.1f\", (\$1-\$2)*1000/\$3}")
        echo "hops $r: min rtt $avg ms; per hop (rtt over hop 0, both directions) $per us"
    else
        echo "hops 0: min rtt $avg ms (client <-> broker only)"
    fi
done'
