#!/bin/bash
# archive_mem.sh - broker memory for an archive of many small files.
# Creates NFILES small files (default 100000), starts a local instance of
# NBROKERS brokers (default 4), creates the archive on rank 0 and distributes
# it to every rank, then prints each broker's VmHWM (peak) and VmRSS (now)
# from /proc/PID/status next to the target (every broker under 64 MiB).
# Usage: bench/archive_mem.sh [NFILES] [NBROKERS]   (needs build/bin)
set -u
NFILES=${1:-100000}
NB=${2:-4}
TARGET_KB=$((64 * 1024))
BIN=${CANOPY_BIN:-$(cd "$(dirname "$0")/../build/bin" && pwd)}
export PATH="$BIN:$PATH"
D=$(mktemp -d "${TMPDIR:-/tmp}/canopy-mem-XXXXXX")
trap 'rm -rf "$D"' EXIT
export TMPDIR=$D
mkdir -p "$D/src/data"
python3 - "$D/src/data" "$NFILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 1000))
    if i < 1000:
        os.mkdir(d)
    with open(os.path.join(d, "file-%06d.txt" % i), "w") as f:
        f.write("small file number %d\n" % i * 3)
PY
export D NB
cat > "$D/job.sh" <<'EOS'
set -u
pids=()
for r in $(seq 0 $((NB - 1))); do pids+=("$(canopy exec -r $r sh -c 'echo $PPID')"); done
mem () {  # mem LABEL
    for r in $(seq 0 $((NB - 1))); do
        p=${pids[$r]}
        echo "$1 $r $(awk '/^VmHWM/ {h=$2} /^VmRSS/ {r=$2} END {print h, r}' /proc/$p/status)"
    done
}
mem start > "$D/mem.txt"
t0=$(date +%s.%N)
canopy archive create --name many --dir "$D/src" data > "$D/create.txt" || exit 1
mem create >> "$D/mem.txt"
canopy archive distribute --name many -C "$D/out/{rank}" --no-progress > "$D/dist.txt" 2>&1
echo "rc=$?" >> "$D/dist.txt"
mem distribute >> "$D/mem.txt"
# a target the controller gave up on may still be working: wait until every
# rank holds the archive (recorded when its extraction completed)
for r in $(seq 1 $((NB - 1))); do
    for i in $(seq 600); do
        canopy archive list -r $r 2>/dev/null | grep -q '^many ' && break
        sleep 0.5
    done
done
echo "$(date +%s.%N) - $t0" | bc > "$D/secs"
sleep 2
mem idle >> "$D/mem.txt"
for r in $(seq 0 $((NB - 1))); do
    [ "$(find "$D/out/$r" -type f | wc -l)" -eq "$(find "$D/src/data" -type f | wc -l)" ] && echo "rank $r: complete" || echo "rank $r: INCOMPLETE"
done >> "$D/dist.txt"
EOS
canopy start --size "$NB" --topo kary:2 bash "$D/job.sh" || { echo "bench failed"; exit 1; }
cat "$D/create.txt"
grep -E 'FAILED|^distributed|rc=|complete' "$D/dist.txt"
echo "files: $NFILES  brokers: $NB  create+distribute: $(cat "$D/secs") s  target: every broker < $((TARGET_KB / 1024)) MiB"
printf '%-11s %4s %12s %12s  %s\n' PHASE RANK "VmHWM MiB" "VmRSS MiB" "vs target"
worst=0
while read -r phase r hwm rss; do
    v=ok; [ "$hwm" -ge "$TARGET_KB" ] && v="PEAK OVER"
    [ "$hwm" -gt "$worst" ] && worst=$hwm
    printf '%-11s %4s %12.1f %12.1f  %s (peak %.2fx target)\n' "$phase" "$r" "$(echo "$hwm/1024" | bc -l)" \
        "$(echo "$rss/1024" | bc -l)" "$v" "$(echo "$hwm/$TARGET_KB" | bc -l)"
done < "$D/mem.txt"
printf 'worst peak: %.1f MiB = %.2fx the 64 MiB target\n' "$(echo "$worst/1024" | bc -l)" "$(echo "$worst/$TARGET_KB" | bc -l)"
