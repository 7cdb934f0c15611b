#!/bin/bash
# Archives in one local instance (one host): several brokers extracting into
# one directory take turns (one extraction per directory, the others find the
# result and keep it), hard links stay links, -C '' is refused, special files
# are counted at create.
. "$(dirname "$0")/lib.sh"
D=$T_TMP
export TMPDIR=$D
S=$D/src/data
mkdir -p "$S/many" "$S/sub"
for i in $(seq 1 200); do echo "file $i $RANDOM" > "$S/many/f$i"; done
head -c 6M /dev/urandom > "$S/sub/big"
ln "$S/sub/big" "$S/sub/big.hardlink"
mkfifo "$S/fifo1" "$S/sub/fifo2"
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$S/sock"
export S OUT=$D/out LIB=$(dirname "$0")/lib.sh
mkdir -p "$OUT"

cat > "$D/job.sh" <<'EOS'
set -u
canopy archive create --name loc --dir "$S/.." data > /dev/null 2> "$OUT/create.err" || exit 1
for i in 1 2 3; do
    canopy archive distribute --name loc -C "$OUT/shared$i" > "$OUT/shared$i.txt" 2>&1
    echo "rc=$?" >> "$OUT/shared$i.txt"
done
# into one directory again: everything is there already
canopy archive distribute --name loc -C "$OUT/shared1" > "$OUT/again.txt" 2>&1
echo "rc=$?" >> "$OUT/again.txt"
cd "$OUT"   # a -C '' that meant "here" must not write into the caller's directory
. "$LIB"
expect_fail "extract -C '' is refused" "must not be empty" canopy archive extract --name loc -C ''
expect_fail "distribute -C '' is refused" "must not be empty" canopy archive distribute --name loc -C ''
finish > "$OUT/bad.txt"
cat "$CANOPY_RUNDIR"/broker-*.log > "$OUT/logs.txt"
EOS
timeout 600 canopy start --size 4 --topo kary:1 bash "$D/job.sh"
check "job ran" [ $? -eq 0 ]
cat "$OUT/create.err"
check "create warns about the 3 special files, naming them" \
    grep -qE "warning: archive loc: skipped 3 special files \(devices, sockets, FIFOs\): data/fifo1, data/sock, data/sub/fifo2" "$OUT/create.err"
for i in 1 2 3; do
    cat "$OUT/shared$i.txt"
    check "round $i: 4 brokers into one directory: all ok" grep -q 'rc=0' "$OUT/shared$i.txt"
    check "round $i: every rank ok" [ "$(grep -cE '^[0-3] +ok' "$OUT/shared$i.txt")" -eq 4 ]
    check "round $i: files identical" diff -r "$S/many" "$OUT/shared$i/data/many"
    check "round $i: big identical" cmp -s "$S/sub/big" "$OUT/shared$i/data/sub/big"
    check "round $i: the hard link is a link" [ "$(stat -c %i "$OUT/shared$i/data/sub/big")" = "$(stat -c %i "$OUT/shared$i/data/sub/big.hardlink")" ]
    check "round $i: no state left" [ -z "$(ls -A "$OUT/shared$i" | grep -v '^data$')" ]
done
check "brokers waited for each other" grep -q 'is being extracted by another broker on this host; waiting' "$OUT/logs.txt"
check "and kept what the first one extracted" grep -qE 'entries already in .* and identical \(kept\)' "$OUT/logs.txt"
check "again into a complete directory: all ok" grep -q 'rc=0' "$OUT/again.txt"
check "-C '' refused" grep -q ' 0 failed' "$OUT/bad.txt"
cat "$OUT/bad.txt"
finish
