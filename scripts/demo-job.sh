#!/bin/bash
# The main job, run inside a local instance by scripts/demo.sh: show the
# tree, run a command on every rank, then create an archive on rank 0 and
# distribute it to every other rank, its time next to as many parallel `cp`
# of the file on the same file system (the ratio printed), and check every
# copy.
set -eu
SIZE_MB=${DEMO_SIZE_MB:-256}
work=$(mktemp -d "${TMPDIR:-/tmp}/canopy-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "== canopy overlay status"
canopy overlay status
echo "== canopy exec -r all (each rank reports itself)"
canopy exec -r all -l sh -c 'echo "rank $CANOPY_RANK on $(hostname)"' | sort -n
echo "== canopy archive create (${SIZE_MB} MiB of model weights)"
mkdir -p "$work/src/weights"
head -c "${SIZE_MB}M" /dev/urandom > "$work/src/weights/model.bin"
echo '{"layers": 32}' > "$work/src/weights/config.json"
canopy archive create --name weights --dir "$work/src" weights
ntargets=$(($(canopy overlay status | grep -c ': online$') - 1))
echo "== canopy archive distribute to the other $ntargets ranks (pipelined chain)"
now () { date +%s.%N; }
t0=$(now)
canopy archive distribute --name weights -C "$work/out/{rank}" -r "1-$ntargets" --no-progress
t1=$(now)
echo "== the same file by $ntargets parallel cp on the same file system, for comparison"
t2=$(now)
for r in $(seq 1 "$ntargets"); do
    mkdir -p "$work/cp/$r/weights"
    cp "$work/src/weights/model.bin" "$work/src/weights/config.json" "$work/cp/$r/weights/" &
done
wait
t3=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v n="$ntargets" 'BEGIN {
    printf "distribute %.2f s, %d parallel cp %.2f s: distribute/cp = %.2f\n", b - a, n, d - c, (b - a) / (d - c) }'
rm -rf "$work/cp"
echo "== verify every copy"
want=$(sha256sum < "$work/src/weights/model.bin")
bad=0
for d in "$work"/out/*; do
    [ "$(sha256sum < "$d/weights/model.bin")" = "$want" ] || { echo "rank $(basename "$d"): MISMATCH"; bad=1; }
done
[ $bad -eq 0 ] && echo "all $(ls "$work/out" | wc -l) copies identical (sha256)"
exit $bad
