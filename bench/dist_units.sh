#!/bin/bash
# dist_units.sh - transfer units (doc/distribution.md, "Transfer units") on
# loopback: one local instance of N brokers (canopy start, ipc endpoints),
# SIZE MiB of random data in C-byte chunks, distributed to all ranks with
# the chain on the sealed plane once per unit size in UNITS ("auto": the
# controller's choice; 0: one unit per chunk, the wire before units), and
# once as many small files (FILES files of SIZE/FILES bytes).  Prints wall
# seconds and MiB/s per rank as canopy prints them, and the load average.
#   flock /tmp/canopy-bench.lock bench/dist_units.sh [SIZE_MB] [N]
# Env CANOPY_BIN (default build/bin), UNITS (default "0 auto 256K 64K 16K"), MANY_UNITS
# (the same for the small files, default "0 auto"),
# CHUNK (default 1M), FILES (default 4096).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${CANOPY_BIN:-$HERE/../build/bin}
SZ=${1:-64}; N=${2:-8}
UNITS=${UNITS:-0 auto 256K 64K 16K}; MANY_UNITS=${MANY_UNITS:-0 auto}; CHUNK=${CHUNK:-1M}; FILES=${FILES:-4096}
export PATH="$BIN:$PATH"
D=$(mktemp -d /dev/shm/canopy-units-XXXXXX)
trap 'rm -rf "$D"' EXIT
mkdir -p "$D/src/big" "$D/src/many"
head -c "${SZ}M" /dev/urandom > "$D/src/big/f"
per=$((SZ * 1048576 / FILES))
head -c "${SZ}M" /dev/urandom | split -a 5 -b "$per" - "$D/src/many/f"
cat > "$D/job.sh" <<EOS
set -u
canopy archive create --name big --chunk-size $CHUNK --dir "$D/src" big >/dev/null || exit 1
canopy archive create --name many --chunk-size $CHUNK --dir "$D/src" many >/dev/null || exit 1
for u in $UNITS; do
    arg=; [ "\$u" != auto ] && arg="--unit-size \$u"
    canopy archive distribute --name big -C "$D/out/big-\$u/{rank}" --schedule chain --no-progress \$arg | tail -1 | sed "s/^/big  unit=\$u: /"
    rm -rf "$D/out"
done
for u in $MANY_UNITS; do
    arg=; [ "\$u" != auto ] && arg="--unit-size \$u"
    canopy archive distribute --name many -C "$D/out/many-\$u/{rank}" --schedule chain --no-progress \$arg | tail -1 | sed "s/^/many unit=\$u: /"
    rm -rf "$D/out"
done
EOS
echo "# dist_units.sh: $N brokers, ${SZ} MiB, chunks $CHUNK, $FILES small files; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
canopy start --size "$N" --topo kary:1 bash "$D/job.sh"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
