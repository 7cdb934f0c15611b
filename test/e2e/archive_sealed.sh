#!/bin/bash
# The sealed data plane end to end (doc/distribution.md, "Sealed data
# plane"), on local brokers: bytes identical on every target over it (chain
# and tree) and over the CURVE links (--data-plane curve); a raw client on a
# data endpoint gets nothing without the token, and with a sniffed token only
# ciphertext; sealed chunks corrupted in transit are rejected and fetched
# again; a bad --data-plane is refused; the source seals its create's
# unchanged blobs without hashing them again.
. "$(dirname "$0")/lib.sh"
D=$T_TMP
export TMPDIR=$D
PROBE=${CANOPY_BIN}/../test/dp_probe
S=$D/src/data
mkdir -p "$S/small"
for i in $(seq 1 50); do echo "file $i $RANDOM" > "$S/small/f$i"; done
head -c 9M /dev/urandom > "$S/blob"
export S PROBE OUT=$D/out
mkdir -p "$OUT"

cat > "$D/job1.sh" <<'EOS'
set -u
canopy archive create --name s1 --dir "$S/.." data || exit 1
canopy archive distribute --name s1 -C "$OUT/sealed/{rank}" > "$OUT/sealed.txt" || exit 1
canopy archive distribute --name s1 -C "$OUT/tree/{rank}" --schedule tree > "$OUT/tree.txt" || exit 1
canopy archive distribute --name s1 -C "$OUT/curve/{rank}" --data-plane curve > "$OUT/curve.txt" || exit 1
canopy archive distribute --name s1 -C "$OUT/bad/{rank}" --data-plane nope 2> "$OUT/badplane.txt" && exit 1
# a raw client, no certificate, on the source's data endpoint
ep=$(sed -n 's/.*sealed distribution .* on data plane \(ipc:[^ ]*\).*/\1/p' "$CANOPY_RUNDIR"/broker-0.log | head -1)
echo "$ep" > "$OUT/ep"
read -r _ _ dist tok < <(grep '^0 s1 ' "$OUT/tokens" | head -1)
bad=$(echo "$tok" | tr '0-9a-f' '1-9a-f0')
"$PROBE" "$ep" "$dist" "$bad" 0 2000 > "$OUT/probe_bad.txt"; echo "rc=$?" >> "$OUT/probe_bad.txt"
"$PROBE" "$ep" 0123456789abcdef "$tok" 0 2000 > "$OUT/probe_nodist.txt"; echo "rc=$?" >> "$OUT/probe_nodist.txt"
"$PROBE" "$ep" "$dist" "$tok" 0 5000 "$OUT/sniffed.bin" > "$OUT/probe_good.txt"; echo "rc=$?" >> "$OUT/probe_good.txt"
sleep 0.3
grep -c 'data plane: refused a request' "$CANOPY_RUNDIR"/broker-0.log > "$OUT/nrefused"
sleep 2.5   # each distribution's counts are logged once it is idle for 2 s
cp "$CANOPY_RUNDIR"/broker-0.log "$OUT/b0.log"
exit 0
EOS
CANOPY_TEST_DP_TOKENS=$OUT/tokens canopy start --size 4 --topo kary:1 bash "$D/job1.sh"
check "sealed chain, tree, curve distributions succeed" [ $? -eq 0 ]
for r in 0 1 2 3; do
    check "sealed/$r identical" diff -r "$S" "$OUT/sealed/$r/data"
    check "tree/$r identical" diff -r "$S" "$OUT/tree/$r/data"
    check "curve/$r identical" diff -r "$S" "$OUT/curve/$r/data"
done
check "each sealed distribution registered on every target" [ "$(grep -c ' s1 ' "$OUT/tokens")" -eq 8 ]
check "the curve distribution did not use the data plane" [ "$(cut -d' ' -f3 "$OUT/tokens" | sort -u | wc -l)" -eq 2 ]
check "unknown --data-plane refused" grep -q "unknown data plane 'nope'" "$OUT/badplane.txt"
check "data endpoint found in the log ($(cat "$OUT/ep"))" grep -q '^ipc://' "$OUT/ep"
check "bad token: nothing comes back" grep -q 'rc=1' "$OUT/probe_bad.txt"
check "unknown distribution: nothing comes back" grep -q 'rc=1' "$OUT/probe_nodist.txt"
check "the right token gets an answer" grep -q 'rc=0' "$OUT/probe_good.txt"
# chunk 0 of the archive (default 1 MiB chunks): its bytes start the packed files
# in manifest order; whatever they are, they must not appear in what was sniffed
check "that answer is one sealed chunk: plaintext + 16-byte tag" \
    sh -c "grep -qE 'errnum=0 bytes=[0-9]+' $OUT/probe_good.txt && [ \$(stat -c %s $OUT/sniffed.bin) -gt 16 ]"
check "and it is ciphertext (no plaintext of the small files in it)" sh -c "! grep -qa 'file 1 ' $OUT/sniffed.bin"
check "the refusal was logged" [ "$(cat "$OUT/nrefused")" -ge 1 ]
# the source's blobs were hashed by the create and are unchanged: it seals
# them without hashing again (doc/archive.md, "Hashed files")
grep 'sealed here' "$OUT/b0.log" | head -3
check "the source sealed every chunk as known good (not hashed again)" \
    grep -qE ' ([1-9][0-9]*) sealed here \(\1 of them known good' "$OUT/b0.log"

# ---- sealed chunks corrupted in transit (every 5th sent by each broker)
head -c 24M /dev/urandom > "$D/c.bin"
export C=$D/c.bin
cat > "$D/job2.sh" <<'EOS'
canopy archive create --name c1 --dir "$(dirname $C)" c.bin || exit 1
canopy archive distribute --name c1 -C "$OUT/corrupt/{rank}" -r 1-3 || exit 1
cat "$CANOPY_RUNDIR"/broker-*.log > "$OUT/corrupt.log"
EOS
CANOPY_TEST_CORRUPT_SEALED=5 canopy start --size 4 --topo kary:1 bash "$D/job2.sh"
check "distribution with corrupted sealed chunks succeeds" [ $? -eq 0 ]
for r in 1 2 3; do check "corrupt/$r identical" cmp -s "$C" "$OUT/corrupt/$r/c.bin"; done
check "corrupted sealed chunks were rejected by their tag ($(grep -c 'sealed chunk from rank .* rejected: .*tag check failed' "$OUT/corrupt.log"))" \
    grep -q 'sealed chunk from rank .* rejected: .*tag check failed' "$OUT/corrupt.log"
check "and fetched again" grep -q 'is corrupt, fetching again' "$OUT/corrupt.log"
finish
