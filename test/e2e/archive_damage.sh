#!/bin/bash
# A damaged copy at the source is found at once, named (chunk and file) in
# the source's log and in list, and the chunk is taken from another rank's
# verified copy; only when no rank has one does the distribution fail, at
# once, with that message.  Cases: a flipped byte in a blob of rank 0's store
# (copy mode) before any other rank has the archive (fails) and after they
# have it (succeeds), and with --from R an extracted file on R changed after
# it was recorded (succeeds from another rank).  Re-creating clears the mark.
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
# --from 2 after rank 2's extracted copy was changed: rank 3 takes that
# chunk from another rank
printf 'X' | dd of="$OUT/d2/2/data/a.bin" bs=1 seek=2000000 conv=notrunc status=none
t0=$(date +%s.%N)
canopy archive distribute --name dmg --from 2 -C "$OUT/d3/{rank}" -r 3 > "$OUT/d3.txt" 2>&1
echo "rc=$?" >> "$OUT/d3.txt"
echo "$(date +%s.%N) - $t0" | bc > "$OUT/d3.secs"
canopy archive list -r 2 > "$OUT/list3.txt"
# rank 0's blob damaged again, now that ranks 1-3 hold verified copies
blob=$(find "$CANOPY_RUNDIR/0" -path "*content/blobs/*" -name "$H-1048576" | head -1)
[ -n "$blob" ] || { echo "no blob $H after re-create"; exit 1; }
printf '\xff' | dd of="$blob" bs=1 seek=4242 conv=notrunc status=none
t0=$(date +%s.%N)
canopy archive distribute --name dmg -C "$OUT/d4/{rank}" -r 1-3 > "$OUT/d4.txt" 2>&1
echo "rc=$?" >> "$OUT/d4.txt"
echo "$(date +%s.%N) - $t0" | bc > "$OUT/d4.secs"
canopy archive list > "$OUT/list4.txt"
cat "$CANOPY_RUNDIR"/broker-*.log > "$OUT/all.log" 2>/dev/null
exit 0
EOS
timeout 300 canopy start --size 4 --topo kary:1 bash "$D/job.sh"
check "job ran" [ $? -eq 0 ]
cat "$OUT/d1.txt"
check "corrupt blob at the source: distribution fails" grep -q 'rc=1' "$OUT/d1.txt"
for r in 1 2 3; do
    check "rank $r FAILED naming the chunk and its file" \
        grep -qE "^$r +FAILED .*damaged: chunk [0-9]+ \(file data/b.bin, offset 1048576\)" "$OUT/d1.txt"
    check "rank $r: and that no other rank has a verified copy" grep -qE "^$r +FAILED .*no other rank holds a verified copy" "$OUT/d1.txt"
done
check "it failed within 15 s ($(cat "$OUT/d1.secs") s)" awk -v s="$(cat "$OUT/d1.secs")" 'BEGIN { exit !(s < 15) }'
cat "$OUT/list1.txt"
check "list shows the archive damaged" grep -qE '^dmg .* damaged: .*chunk [0-9]+ \(file data/b.bin' "$OUT/list1.txt"
check "the source logged it" grep -qE 'archive dmg is damaged: chunk [0-9]+ \(file data/b.bin' "$OUT/broker0.log"
check "the source's sealer found it first (an unchecked read) and had the store read it again" \
    grep -q 'archive dmg: \(chunk\|unit\) [0-9]* does not match its manifest here; reading it again, verified' "$OUT/broker0.log"
check "re-create clears the damage" grep -qE '^dmg .* ok$' "$OUT/list2.txt"
check "after re-create the distribution succeeds" grep -q 'rc=0' "$OUT/d2.txt"
check "and the bytes are right" cmp -s "$S/b.bin" "$OUT/d2/3/data/b.bin"
cat "$OUT/d3.txt"
check "--from 2 with a changed copy on 2: succeeds from another rank's copy" grep -q 'rc=0' "$OUT/d3.txt"
check "--from 2: the changed file arrives right" cmp -s "$S/a.bin" "$OUT/d3/3/data/a.bin"
check "--from 2: within 15 s ($(cat "$OUT/d3.secs") s)" awk -v s="$(cat "$OUT/d3.secs")" 'BEGIN { exit !(s < 15) }'
check "--from 2: rank 2 lists it damaged, naming the file" grep -qE '^dmg .* damaged: .*\(file data/a.bin, offset 1048576\)' "$OUT/list3.txt"
check "--from 2: rank 3 logged where the chunk came from" \
    grep -qE "archive dmg: chunk [0-9]+, damaged at rank 2, taken from rank [01]'s verified copy" "$OUT/all.log"
cat "$OUT/d4.txt"
check "damaged at the source after the ranks have it: succeeds" grep -q 'rc=0' "$OUT/d4.txt"
for r in 1 2 3; do
    check "rank $r: b.bin right" cmp -s "$S/b.bin" "$OUT/d4/$r/data/b.bin"
done
check "within 15 s ($(cat "$OUT/d4.secs") s)" awk -v s="$(cat "$OUT/d4.secs")" 'BEGIN { exit !(s < 15) }'
check "a target logged taking the chunk from another rank" \
    grep -qE "archive dmg: chunk [0-9]+, damaged at rank 0, taken from rank [1-3]'s verified copy" "$OUT/all.log"
check "rank 0 lists the archive damaged" grep -qE '^dmg .* damaged: .*chunk [0-9]+ \(file data/b.bin' "$OUT/list4.txt"
finish
