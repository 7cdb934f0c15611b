#!/bin/bash
# Transfer units on the sealed data plane end to end (doc/distribution.md,
# "Transfer units"), on local brokers: a forced small unit (1 MiB chunks in
# 16 KiB pieces; chain and twotree) and an archive of many small files
# (packs) give byte-identical trees on every target; the result names the
# unit size; pieces corrupted in transit fail their tag and are fetched
# again; a target killed mid-transfer in pieces (rank 3 slowed per chunk
# written) resumes from its complete chunks; a bad --unit-size is refused.
. "$(dirname "$0")/lib.sh"
D=$T_TMP
export TMPDIR=$D
S=$D/src/data
mkdir -p "$S/many" "$S/big"
for i in $(seq 1 300); do head -c $((RANDOM % 3000 + 1)) /dev/urandom > "$S/many/f$i"; done
: > "$S/many/empty"
head -c 3M /dev/urandom > "$S/big/blob"
head -c 1234567 /dev/urandom > "$S/big/odd"   # a last short chunk, a last short piece
export S OUT=$D/out
mkdir -p "$OUT"

cat > "$D/job1.sh" <<'EOS'
set -u
canopy archive create --name u1 --dir "$S/.." data >/dev/null || exit 1
canopy archive distribute --name u1 -C "$OUT/pieces/{rank}" --unit-size 16K --json > "$OUT/pieces.json" || exit 1
canopy archive distribute --name u1 -C "$OUT/tt/{rank}" --unit-size 64K --schedule twotree > "$OUT/tt.txt" || exit 1
canopy archive distribute --name u1 -C "$OUT/auto/{rank}" --json > "$OUT/auto.json" || exit 1
canopy archive distribute --name u1 -C "$OUT/zero/{rank}" --unit-size 0 --json > "$OUT/zero.json" || exit 1
canopy archive distribute --name u1 -C "$OUT/bad/{rank}" --unit-size 1K 2> "$OUT/bad.txt" && exit 1
cat "$CANOPY_RUNDIR"/broker-*.log > "$OUT/job1.log"
exit 0
EOS
canopy start --size 6 --topo kary:2 bash "$D/job1.sh"
check "piece, twotree, automatic and unit-0 distributions succeed" [ $? -eq 0 ]
for n in pieces tt auto zero; do
    bad=""
    for r in 1 2 3 4 5; do diff -r --no-dereference "$S" "$OUT/$n/$r/data" >/dev/null || bad="$bad $r"; done
    check "$n: bytes identical on every target${bad:+ (differ:$bad)}" [ -z "$bad" ]
done
check "the result names the forced unit (16 KiB)" python3 -c "
import json; d = json.load(open('$OUT/pieces.json')); assert d['unit'] == 16384, d['unit']"
check "unit 0: one unit per chunk" python3 -c "
import json; d = json.load(open('$OUT/zero.json')); assert d['unit'] == 0, d['unit']"
check "automatic: a unit size of the model (16K..1M) is named" python3 -c "
import json; d = json.load(open('$OUT/auto.json')); assert d['unit'] in (16384, 65536, 262144, 1048576), d['unit']"
check "the text result names the unit" grep -q 'units of 64 KiB' "$OUT/tt.txt"
# 300 small files + 1 empty: packs (many files per unit), so far fewer units than chunks
check "small files packed: the 16K distribution has fewer units than pieces + files" python3 -c "
import re
t = open('$OUT/job1.log').read()
m = re.findall(r'archive u1: sealed distribution \S+ on data plane \S+ \((\d+) units of 16384 bytes\)', t)
assert m, 'no registration line'
n = int(m[0])
# 4234567 bytes of big files in 16K pieces = 260 pieces; 300 files of <= 3000 bytes pack >= 5 per unit
assert 260 < n < 260 + 300 // 4, n"
check "unit 0 registered with one unit per chunk" grep -q 'units of 0 bytes' "$OUT/job1.log"
check "bad --unit-size refused" grep -q "invalid --unit-size '1K'" "$OUT/bad.txt"

# ---- pieces corrupted in transit (every 7th sealed unit each broker sends)
head -c 6M /dev/urandom > "$D/c.bin"
export C=$D/c.bin
cat > "$D/job2.sh" <<'EOS'
canopy archive create --name c1 --dir "$(dirname $C)" c.bin >/dev/null || exit 1
canopy archive distribute --name c1 -C "$OUT/corrupt/{rank}" -r 1-3 --unit-size 64K || exit 1
cat "$CANOPY_RUNDIR"/broker-*.log > "$OUT/corrupt.log"
EOS
CANOPY_TEST_CORRUPT_SEALED=7 canopy start --size 4 --topo kary:1 bash "$D/job2.sh"
check "distribution with corrupted pieces succeeds" [ $? -eq 0 ]
for r in 1 2 3; do check "corrupt/$r identical" cmp -s "$C" "$OUT/corrupt/$r/c.bin"; done
check "corrupted pieces were rejected by their tag" \
    grep -q 'sealed chunk from rank .* rejected: unit .*tag check failed' "$OUT/corrupt.log"
check "and fetched again" grep -q 'unit [0-9]* from rank [0-9]* is corrupt, fetching again' "$OUT/corrupt.log"

# ---- a target killed mid-transfer in 64 KiB pieces; restarted, it resumes
head -c 12M /dev/urandom > "$D/k.bin"
export K=$D/k.bin
cat > "$D/job3.sh" <<'EOS'
canopy archive create --name k1 --dir "$(dirname $K)" k.bin >/dev/null || exit 1
pid3=$(canopy exec -r 3 sh -c 'echo $PPID')
( sleep 1.0; kill -9 $pid3 ) &
canopy archive distribute --name k1 -C "$OUT/kill/{rank}" -r 1-3 --unit-size 64K > "$OUT/kill.txt"
echo "rc=$?" >> "$OUT/kill.txt"
CANOPY_TEST_SLOW= canopy-broker --config "$CANOPY_RUNDIR/canopy.yaml" --rank 3 --rundir "$CANOPY_RUNDIR/3" \
    >/dev/null 2>"$OUT/r3.log" &
echo $! > "$OUT/r3.pid"
for i in $(seq 50); do canopy overlay status | grep -q '3 .*: online' && break; sleep 0.2; done
canopy archive distribute --name k1 -C "$OUT/kill/{rank}" -r 3 --unit-size 64K > "$OUT/resume.txt"
echo "rc=$?" >> "$OUT/resume.txt"
kill $(cat "$OUT/r3.pid")
EOS
CANOPY_TEST_SLOW=3:250 canopy start --size 4 --topo kary:1 --heartbeat 0.2 --timeout 1 bash "$D/job3.sh"
check "the killed rank 3 is named FAILED" grep -qE '^3 +FAILED' "$OUT/kill.txt"
for r in 1 2; do check "rank $r completed with identical bytes" cmp -s "$K" "$OUT/kill/$r/k.bin"; done
check "restarted rank 3 completes" grep -q 'rc=0' "$OUT/resume.txt"
check "restarted rank 3 has identical bytes" cmp -s "$K" "$OUT/kill/3/k.bin"
check "restarted rank 3 resumed from its complete chunks ($(grep -o 'resumed [0-9]* of [0-9]*' "$OUT/r3.log"))" \
    grep -qE 'resumed [1-9][0-9]* of 12 chunks' "$OUT/r3.log"
finish
