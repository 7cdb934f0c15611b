#!/bin/bash
# The two-tree schedule end to end in local instances: bytes identical on
# every target for rank sets of every shape (one rank, leaves, a middle
# level, all, a sparse set, the default schedule), a relay whose own
# upstream is still filling is not taken for stalled (slow relays, short
# stall timer), a broker killed mid-transfer (survivors complete, the
# result names it), and a resume.
. "$(dirname "$0")/lib.sh"
D=$T_TMP
export TMPDIR=$D

S=$D/src/data
mkdir -p "$S/small"
for i in $(seq 1 40); do echo "small $i $RANDOM" > "$S/small/f$i"; done
head -c 3M /dev/urandom > "$S/blob"
: > "$S/empty"
export S OUT=$D/out
mkdir -p "$OUT"
same () { diff -r --no-dereference "$S" "$1/data" >/dev/null; }

# ---- rank sets of every shape on 15 brokers (kary:2: levels 0, 1-2, 3-6, 7-14)
cat > "$D/job1.sh" <<'EOS'
set -u
canopy archive create --name t2 --chunk-size 64K --dir "$S/.." data >/dev/null || exit 1
for spec in "one:-r 5" "leaves:--leaves" "middle:--level 2" "all:-r all" "sparse:-r 2,5,6,11,14"; do
    n=${spec%%:*}
    canopy archive distribute --name t2 -C "$OUT/$n/{rank}" --schedule twotree ${spec#*:} --json \
        > "$OUT/$n.json" || { echo "distribute $n failed"; exit 1; }
done
canopy archive distribute --name t2 -C "$OUT/default/{rank}" > "$OUT/default.txt" || exit 1
exit 0
EOS
canopy start --size 15 --topo kary:2 bash "$D/job1.sh"
check "five twotree distributions and a default one succeed" [ $? -eq 0 ]
ranks_of () { ls "$OUT/$1" 2>/dev/null | sort -n | tr '\n' ' '; }
check "one rank: exactly rank 5" [ "$(ranks_of one)" = "5 " ]
check "leaves: exactly 7-14" [ "$(ranks_of leaves)" = "7 8 9 10 11 12 13 14 " ]
check "middle level: exactly 3-6" [ "$(ranks_of middle)" = "3 4 5 6 " ]
check "sparse: exactly 2 5 6 11 14" [ "$(ranks_of sparse)" = "2 5 6 11 14 " ]
check "all: 0-14" [ "$(ranks_of all)" = "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 " ]
for n in one leaves middle all sparse default; do
    bad=""
    for r in $(ranks_of $n); do same "$OUT/$n/$r" || bad="$bad $r"; done
    check "$n: bytes identical on every target${bad:+ (differ:$bad)}" [ -z "$bad" ] 
done
check "the result names the schedule and two stripes per rank" python3 -c "
import json, sys
d = json.load(open('$OUT/all.json'))
assert d['schedule'] == 'twotree', d['schedule']
st = d['ranks']['9']['stripes']
assert len(st) == 2 and st[0][-1] == 0 and st[1][-1] == 0, st"
check "the default for 14 remote targets and ~90 chunks is the chain (distplan_default)" grep -q 'chain)' "$OUT/default.txt"

# ---- slow relays, short stall timer: a deep target waits longer than the
# stall timer for its first chunk, but its upstream is alive and filling
# (window 1, so a broker sleeping on each chunk still runs its timers).
# On the default sealed plane: a target's first request waits for the
# upstream's data endpoint (asked over CURVE); the stall timer counts from
# when that link is ready, not from the request (issue 10)
head -c 1536K /dev/urandom > "$D/s.bin"
export SB=$D/s.bin
cat > "$D/job2.sh" <<'EOS'
canopy archive create --name s2 --chunk-size 64K --dir "$(dirname $SB)" s.bin >/dev/null || exit 1
canopy archive distribute --name s2 -C "$OUT/slow/{rank}" --schedule chain --window 1 > "$OUT/slow.txt" || exit 1
grep -h 'stalled\|now pulling from' "$CANOPY_RUNDIR"/broker-*.log > "$OUT/slow.switches"
grep -l 'sealed distribution' "$CANOPY_RUNDIR"/broker-*.log | wc -l > "$OUT/slow.sealed"
exit 0
EOS
CANOPY_TEST_STALL_MS=1000 CANOPY_TEST_SLOW=250 canopy start --size 8 --topo kary:1 bash "$D/job2.sh"
check "a chain of 7 slow relays completes" [ $? -eq 0 ]
check "no target took its filling upstream for stalled ($(wc -l < "$OUT/slow.switches" 2>/dev/null) switches)" \
    [ ! -s "$OUT/slow.switches" ]
check "the deepest target has identical bytes" cmp -s "$SB" "$OUT/slow/7/s.bin"
check "it ran on the sealed plane ($(cat "$OUT/slow.sealed" 2>/dev/null) brokers say so)" [ "$(cat "$OUT/slow.sealed" 2>/dev/null || echo 0)" -ge 8 ]

# ---- a broker killed mid-transfer; a restarted one resumes
head -c 300M /dev/urandom > "$D/k.bin"
export K=$D/k.bin
cat > "$D/job3.sh" <<'EOS'
canopy archive create --name k2 --dir "$(dirname $K)" k.bin >/dev/null || exit 1
pid1=$(canopy exec -r 1 sh -c 'echo $PPID')
( sleep 1.0; kill -9 $pid1 ) &
canopy archive distribute --name k2 -C "$OUT/kill/{rank}" --schedule twotree --window 2 --json > "$OUT/kill.json"
echo "rc=$?" > "$OUT/kill.rc"
canopy-broker --config "$CANOPY_RUNDIR/canopy.yaml" --rank 1 --rundir "$CANOPY_RUNDIR/1" >/dev/null 2>"$OUT/r1.log" &
echo $! > "$OUT/r1.pid"
for i in $(seq 150); do canopy overlay status | grep -q '1 .*: online' && break; sleep 0.2; done
canopy archive distribute --name k2 -C "$OUT/kill/{rank}" -r 1 --schedule twotree > "$OUT/resume.txt"
echo "rc=$?" >> "$OUT/resume.txt"
kill $(cat "$OUT/r1.pid")
EOS
# rank 1 is the first target: the root of tree A, its interior nodes' upstream
canopy start --size 8 --topo kary:1 --heartbeat 0.2 --timeout 1 bash "$D/job3.sh"
check "distribution with a killed broker exits non-zero" grep -q 'rc=1' "$OUT/kill.rc"
check "the result names rank 1 failed" python3 -c "
import json; d = json.load(open('$OUT/kill.json')); assert not d['ranks']['1']['ok'] and d['ranks']['1'].get('error')"
for r in 2 3 4 5 6 7; do
    check "surviving rank $r completed (routed around 1)" python3 -c "
import json; d = json.load(open('$OUT/kill.json')); assert d['ranks']['$r']['ok']"
    check "surviving rank $r has identical bytes" cmp -s "$K" "$OUT/kill/$r/k.bin"
done
check "restarted rank 1 completes" grep -q 'rc=0' "$OUT/resume.txt"
check "restarted rank 1 has identical bytes" cmp -s "$K" "$OUT/kill/1/k.bin"
check "restarted rank 1 resumed (fetched fewer than all chunks)" grep -qE 'resumed [1-9][0-9]* of' "$OUT/r1.log"
finish
