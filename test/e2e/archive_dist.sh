#!/bin/bash
# Archives end to end in local instances: bytes identical on every target
# (many small files, empty files, a sparse file over 4 GiB, symlinks, modes,
# mtimes), every target strategy, a corrupt chunk recovered, a broker killed
# mid-transfer (others complete, it is named, a restart resumes), a full
# disk on one target, and bad input.
. "$(dirname "$0")/lib.sh"
D=$T_TMP
export TMPDIR=$D

# ---- a source tree
S=$D/src/data
mkdir -p "$S/many" "$S/sub/deeper"
for i in $(seq 1 300); do echo "file $i $RANDOM" > "$S/many/f$i"; done
: > "$S/empty1"; : > "$S/sub/empty2"
head -c 20M /dev/urandom > "$S/sub/deeper/blob"
truncate -s 4100M "$S/sparse"
printf 'middle' | dd of="$S/sparse" bs=1 seek=2147483648 conv=notrunc status=none
printf 'tail' | dd of="$S/sparse" bs=1 seek=$((4100 * 1048576 - 4)) conv=notrunc status=none
ln -s sub/deeper/blob "$S/link"
chmod 640 "$S/many/f7"; chmod 700 "$S/sub"
touch -d '2020-01-02 03:04:05' "$S/many/f9"
SUM_SPARSE=$(md5sum < "$S/sparse")

same_tree () {  # same_tree DIR: identical to $S (content, modes, mtimes, links), sparse kept sparse
    local d=$1/data
    diff -r --no-dereference -x sparse "$S" "$d" >/dev/null || return 1
    [ "$(cd "$S" && find . ! -name sparse -printf '%p %m %T@ %y\n' | sort)" = \
      "$(cd "$d" && find . ! -name sparse -printf '%p %m %T@ %y\n' | sort)" ] || return 1
    [ "$(stat -c %s "$d/sparse")" = "$(stat -c %s "$S/sparse")" ] || return 1
    [ "$(du -k "$d/sparse" | cut -f1)" -lt 65536 ] || return 1
    return 0
}
export -f same_tree
export S SUM_SPARSE

cat > "$D/job1.sh" <<'EOS'
set -u
canopy archive create --name t1 --dir "$S/.." data || exit 1
canopy archive list | grep -q '^t1 ' || { echo "list lacks t1"; exit 1; }
canopy archive distribute --name t1 -C "$OUT/all/{rank}" > "$OUT/all.txt" || exit 1
canopy archive distribute --name t1 -C "$OUT/tree/{rank}" --schedule tree > "$OUT/tree.txt" || exit 1
canopy archive distribute --name t1 -C "$OUT/flat/{rank}" --schedule flat -r 1-3 > "$OUT/flat.txt" || exit 1
canopy archive distribute --name t1 -C "$OUT/leaves/{rank}" --leaves --json > "$OUT/leaves.json" || exit 1
canopy archive distribute --name t1 -C "$OUT/level/{rank}" --level 1 > "$OUT/level.txt" || exit 1
canopy archive distribute --name t1 -C "$OUT/staged/{rank}" --staged 1 > "$OUT/staged.txt" || exit 1
canopy exec -r 5 canopy archive extract --name t1 -C "$OUT/extract5" || exit 1
canopy archive extract --name t1 -C "$OUT/extract0" || exit 1
canopy archive list -r 4 | grep -q '^t1 ' || { echo "rank 4 did not keep t1"; exit 1; }
canopy archive remove --name t1 > "$OUT/remove.txt" || exit 1
canopy archive list -r 4 | grep -q '^t1 ' && { echo "t1 still on rank 4"; exit 1; }
exit 0
EOS
export OUT=$D/out; mkdir -p "$OUT"
canopy start --size 7 --topo kary:2 bash "$D/job1.sh"
check "create, six distributions, extracts, remove: all succeed" [ $? -eq 0 ]
for r in 0 1 2 3 4 5 6; do
    check "all/$r identical to the source" same_tree "$OUT/all/$r"
done
check "sparse file over 4 GiB identical on rank 6" sh -c "[ \"\$(md5sum < $OUT/all/6/data/sparse)\" = \"$SUM_SPARSE\" ]"
for r in 0 1 2 3 4 5 6; do check "tree/$r identical" same_tree "$OUT/tree/$r"; done
check "flat -r 1-3 reached exactly ranks 1-3" [ "$(ls "$OUT/flat" | tr '\n' ' ')" = "1 2 3 " ]
check "flat/3 identical" same_tree "$OUT/flat/3"
check "--leaves reached exactly 3-6" [ "$(ls "$OUT/leaves" | tr '\n' ' ')" = "3 4 5 6 " ]
check "--leaves --json names each rank ok" python3 -c "import json,sys; d=json.load(open('$OUT/leaves.json')); sys.exit(0 if sorted(d['ranks'])==['3','4','5','6'] and all(v['ok'] for v in d['ranks'].values()) else 1)"
check "--level 1 reached exactly 1-2" [ "$(ls "$OUT/level" | tr '\n' ' ')" = "1 2 " ]
for r in 0 1 2 3 4 5 6; do check "staged/$r identical" same_tree "$OUT/staged/$r"; done
check "per-rank times printed" grep -qE '^6 +ok +[0-9.]+' "$OUT/all.txt"
check "extract on rank 5 (which did not hold it) fetched it" same_tree "$OUT/extract5"
check "extract on the source" same_tree "$OUT/extract0"
check "remove reported every rank" grep -q 'remove: 7 ranks done' "$OUT/remove.txt"

# ---- corrupt chunks are detected and fetched again
head -c 64M /dev/urandom > "$D/c.bin"
export C=$D/c.bin
cat > "$D/job2.sh" <<'EOS'
canopy archive create --name c1 --dir "$(dirname $C)" c.bin || exit 1
canopy archive distribute --name c1 -C "$OUT/corrupt/{rank}" -r 1-3 || exit 1
# found by a target (CURVE links: extract_put; sealed plane: the tag) or,
# on the sealed plane, first by the source's sealer (it reads again, verified)
grep -hE 'is corrupt, fetching again|does not match its manifest here' "$CANOPY_RUNDIR"/broker-*.log | wc -l > "$OUT/ncorrupt"
EOS
CANOPY_TEST_CORRUPT=7 canopy start --size 4 --topo kary:1 bash "$D/job2.sh"
check "distribution with corrupt chunks injected succeeds" [ $? -eq 0 ]
check "corrupt chunks were detected (count $(cat $OUT/ncorrupt 2>/dev/null))" [ "$(cat $OUT/ncorrupt 2>/dev/null || echo 0)" -gt 0 ]
for r in 1 2 3; do check "corrupt/$r identical" cmp -s "$C" "$OUT/corrupt/$r/c.bin"; done

# ---- a broker killed mid-transfer; a restarted one resumes
head -c 400M /dev/urandom > "$D/k.bin"
export K=$D/k.bin
cat > "$D/job3.sh" <<'EOS'
canopy archive create --name k1 --dir "$(dirname $K)" k.bin || exit 1
pid3=$(canopy exec -r 3 sh -c 'echo $PPID')
( sleep 1.0; kill -9 $pid3 ) &
canopy archive distribute --name k1 -C "$OUT/kill/{rank}" --window 2 > "$OUT/kill.txt"
echo "rc=$?" >> "$OUT/kill.txt"
canopy-broker --config "$CANOPY_RUNDIR/canopy.yaml" --rank 3 --rundir "$CANOPY_RUNDIR/3" >/dev/null 2>"$OUT/r3.log" &
echo $! > "$OUT/r3.pid"
for i in $(seq 50); do canopy overlay status | grep -q '3 .*: online' && break; sleep 0.2; done
canopy archive distribute --name k1 -C "$OUT/kill/{rank}" -r 3 > "$OUT/resume.txt"
echo "rc=$?" >> "$OUT/resume.txt"
kill $(cat "$OUT/r3.pid")
EOS
canopy start --size 6 --topo kary:1 --heartbeat 0.2 --timeout 1 bash "$D/job3.sh"
cat "$OUT/kill.txt"
check "distribution with a killed broker exits non-zero" grep -q 'rc=1' "$OUT/kill.txt"
check "the killed rank 3 is named FAILED" grep -qE '^3 +FAILED' "$OUT/kill.txt"
for r in 1 2 4 5; do
    check "surviving rank $r completed (routed around 3)" grep -qE "^$r +ok" "$OUT/kill.txt"
    check "surviving rank $r has identical bytes" cmp -s "$K" "$OUT/kill/$r/k.bin"
done
check "restarted rank 3 completes" grep -q 'rc=0' "$OUT/resume.txt"
check "restarted rank 3 has identical bytes" cmp -s "$K" "$OUT/kill/3/k.bin"
check "restarted rank 3 resumed (fetched fewer than all chunks)" grep -qE 'resumed [1-9][0-9]* of' "$OUT/r3.log"

# ---- full disk on one target; an unwritable target
if [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$OUT/full/2"
    if mount -t tmpfs -o size=8M tmpfs "$OUT/full/2" 2>/dev/null; then
        T_CLEANUP+=("umount $OUT/full/2")
        cat > "$D/job4.sh" <<'EOS'
canopy archive create --name f1 --dir "$(dirname $C)" c.bin || exit 1
canopy archive distribute --name f1 -C "$OUT/full/{rank}" -r 1-3 > "$OUT/full.txt"
echo "rc=$?" >> "$OUT/full.txt"
canopy archive distribute --name f1 -C "/proc/canopy-nope/{rank}" -r 1 > "$OUT/unwritable.txt" 2>&1
echo "rc=$?" >> "$OUT/unwritable.txt"
EOS
        canopy start --size 4 --topo kary:1 bash "$D/job4.sh"
        cat "$OUT/full.txt"
        check "full disk: non-zero exit" grep -q 'rc=1' "$OUT/full.txt"
        check "full disk: rank 2 fails with a clear error" grep -qE '^2 +FAILED .*(No space left|ENOSPC|space)' "$OUT/full.txt"
        check "full disk: ranks 1 and 3 complete" sh -c "grep -qE '^1 +ok' $OUT/full.txt && grep -qE '^3 +ok' $OUT/full.txt"
        check "full disk: nothing partial left on rank 2" [ "$(find "$OUT/full/2" -type f | wc -l)" -eq 0 ]
        check "unwritable target: clear per-rank error" grep -qE '^1 +FAILED .*canopy-nope' "$OUT/unwritable.txt"
    else
        echo "# tmpfs mount failed: full-disk case not run"
    fi
fi

# ---- bad input
cat > "$D/job5.sh" <<'EOS'
. "$LIB"
expect_fail "distribute an unknown archive" "nope: not found" canopy archive distribute --name nope -C /tmp/x
expect_fail "create with a bad name" "invalid archive name" canopy archive create --name ../x /etc/hostname
expect_fail "create from a missing path" "No such file" canopy archive create --name m1 /no/such/path
expect_fail "distribute to an unknown rank" "rank 9 is not in this instance" canopy archive distribute --name x -C /tmp/x -r 9
expect_fail "unknown schedule" "unknown schedule" canopy archive distribute --name x -C /tmp/x --schedule ring
expect_fail "extract an unknown archive" "not found" canopy archive extract --name nope -C /tmp/x
expect_fail "remove an unknown archive" "no such archive" canopy archive remove --name nope
finish
EOS
LIB=$(dirname "$0")/lib.sh canopy start --size 2 bash "$D/job5.sh" > "$D/bad.txt" 2>&1
cat "$D/bad.txt" | grep -E '^(ok|not ok)'
check "bad input cases" grep -q ' 0 failed' "$D/bad.txt"
finish
