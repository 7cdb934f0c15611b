#!/bin/bash
# A damaged copy at the source fails a distribution at once with a message
# naming the chunk and its file, and the archive shows as damaged in list:
# a flipped byte in a blob of rank 0's store (copy mode), and with --from R
# an extracted file on R changed after it was recorded.  Re-creating clears it.
. "$(dirname "$0")/lib.sh"
D=$T_TMP
export TMPDIR=$D
S=$D/src/data
mkdir -p "$S"
head -c 3M /dev/urandom > "$S/a.bin"
head -c 3M /dev/urandom > "$S/b.bin"
echo small > "$S/c.txt"
# the blob of b.bin's second chunk (1 MiB chunks: bytes 1M..2M)
H=$(tail -c +1048577 "$S/b.bin" | head -c 1048576 | sha256sum | cut -d' ' -f1)
export S H OUT=$D/out
mkdir -p "$OUT"

cat > "$D/job.sh" <<'EOS'
set -u
canopy archive create --name dmg --dir "$S/.." data > /dev/null || exit 1
blob=$(find "$CANOPY_RUNDIR/0" -path "*content/blobs/*" -name "$H-1048576" | head -1)
[ -n "$blob" ] || { echo "no blob $H"; exit 1; }
printf '\xff' | dd of="$blob" bs=1 seek=4242 conv=notrunc status=none
t0=$(date +%s.%N)
canopy archive distribute --name dmg -C "$OUT/d1/{rank}" -r 1-3 > "$OUT/d1.txt" 2>&1
echo "rc=$?" >> "$OUT/d1.txt"
echo "$(date +%s.%N) - $t0" | bc > "$OUT/d1.secs"
canopy archive list > "$OUT/list1.txt"
cp "$CANOPY_RUNDIR"/broker-0.log "$OUT/broker0.log" 2>/dev/null
# re-create clears the damage and rewrites the blob
canopy archive create --name dmg --replace --dir "$S/.." data > /dev/null || exit 1
canopy archive list > "$OUT/list2.txt"
canopy archive distribute --name dmg -C "$OUT/d2/{rank}" -r 1-3 > "$OUT/d2.txt" 2>&1
echo "rc=$?" >> "$OUT/d2.txt"
# --from 2 after rank 2's extracted copy was changed
printf 'X' | dd of="$OUT/d2/2/data/a.bin" bs=1 seek=2000000 conv=notrunc status=none
t0=$(date +%s.%N)
canopy archive distribute --name dmg --from 2 -C "$OUT/d3/{rank}" -r 3 > "$OUT/d3.txt" 2>&1
echo "rc=$?" >> "$OUT/d3.txt"
echo "$(date +%s.%N) - $t0" | bc > "$OUT/d3.secs"
canopy archive list -r 2 > "$OUT/list3.txt"
exit 0
EOS
timeout 300 canopy start --size 4 --topo kary:1 bash "$D/job.sh"
check "job ran" [ $? -eq 0 ]
cat "$OUT/d1.txt"
check "corrupt blob at the source: distribution fails" grep -q 'rc=1' "$OUT/d1.txt"
for r in 1 2 3; do
    check "rank $r FAILED naming the chunk and its file" \
        grep -qE "^$r +FAILED .*damaged: chunk [0-9]+ \(file data/b.bin, offset 1048576\)" "$OUT/d1.txt"
done
check "it failed within 15 s ($(cat "$OUT/d1.secs") s)" awk -v s="$(cat "$OUT/d1.secs")" 'BEGIN { exit !(s < 15) }'
cat "$OUT/list1.txt"
check "list shows the archive damaged" grep -qE '^dmg .* damaged: .*chunk [0-9]+ \(file data/b.bin' "$OUT/list1.txt"
check "the source logged it" grep -qE 'archive dmg is damaged: chunk [0-9]+ \(file data/b.bin' "$OUT/broker0.log"
check "re-create clears the damage" grep -qE '^dmg .* ok$' "$OUT/list2.txt"
check "after re-create the distribution succeeds" grep -q 'rc=0' "$OUT/d2.txt"
check "and the bytes are right" cmp -s "$S/b.bin" "$OUT/d2/3/data/b.bin"
cat "$OUT/d3.txt"
check "--from 2 with a changed copy on 2: fails" grep -q 'rc=1' "$OUT/d3.txt"
check "--from 2: names the file and chunk" grep -qE '^3 +FAILED .*damaged: chunk [0-9]+ \(file data/a.bin, offset 1048576\)' "$OUT/d3.txt"
check "--from 2: within 15 s ($(cat "$OUT/d3.secs") s)" awk -v s="$(cat "$OUT/d3.secs")" 'BEGIN { exit !(s < 15) }'
check "--from 2: rank 2 lists it damaged" grep -qE '^dmg .* damaged' "$OUT/list3.txt"
finish
