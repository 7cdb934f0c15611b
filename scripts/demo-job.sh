#!/bin/bash
# The main job, run inside a local instance by scripts/demo.sh: show the
# tree, run a command on every rank, then create an archive on rank 0 and
# distribute it to every rank, with timings, and check every copy.
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
echo "== canopy archive distribute to all ranks (pipelined chain)"
canopy archive distribute --name weights -C "$work/out/{rank}" --no-progress
echo "== verify every copy"
want=$(sha256sum < "$work/src/weights/model.bin")
bad=0
for d in "$work"/out/*; do
    [ "$(sha256sum < "$d/weights/model.bin")" = "$want" ] || { echo "rank $(basename "$d"): MISMATCH"; bad=1; }
done
[ $bad -eq 0 ] && echo "all $(ls "$work/out" | wc -l) copies identical (sha256)"
exit $bad
