#!/bin/bash
# Faults: rank 0 killed (SIGKILL) and restarted by hand with jobs pending
# and running (running ones are LOST and their tasks killed, pending ones run,
# nothing acknowledged is lost, ids keep growing; an attach through the
# killed rank 0 ends with an error); a broker killed under a
# running job (the job fails with node-failure, its node is down, and comes
# back when the broker rejoins).  4 local brokers, 2 fake cores each.
. "$(dirname "$0")/lib.sh"
export CANOPY_FAKE_RESOURCES="cores=2,host=node%r"
cat > "$T_TMP/inner.sh" <<'INNER'
. "$CANOPY_SRCDIR/test/e2e/lib.sh"
cd "$T_TMP"
result () { canopy jobs -a -n | awk -v id="$1" '$1 == id {print $8}'; }
restart () {   # restart rank R by hand, as canopy start ran it
    canopy-broker --config "$CANOPY_RUNDIR/canopy.yaml" --rank "$1" --rundir "$CANOPY_RUNDIR/$1" \
        >>"$CANOPY_RUNDIR/broker-$1-restart.log" 2>&1 &
    echo $!
}

# -- rank 0 restart
run=$(canopy submit --requires rank:2 sh -c 'echo pid $$; exec sleep 60')
wait_until 10 sh -c "canopy jobs | grep '^ *$run' | grep -q ' R '"
sleep 0.3
pend=$(canopy submit -N 4 -c 2 sh -c 'echo pending-ran')
dep=$(canopy submit --dependency afterok:$pend echo dep-ran)
many=$(canopy submit --cc 1-30 -n 1 true | tr '\n' ' ')
check "jobs pending before the restart" sh -c "canopy jobs | grep -q '^ *$pend .* S '"
pid0=$(canopy exec -r 0 sh -c 'echo $PPID')
canopy job attach "$run" >"$T_TMP/att0.out" 2>&1 &
apid0=$!
sleep 0.3
kill -9 "$pid0"
check "an attach through the killed rank 0 ends" wait_until 10 sh -c "! kill -0 $apid0 2>/dev/null"
kill $apid0 2>/dev/null   # never wait on a hung attach
wait $apid0
rc=$?
check "... with a non-zero exit naming the lost broker (rc=$rc: $(tail -1 "$T_TMP/att0.out"))" \
    sh -c "[ $rc -ne 0 ] && grep -q 'lost connection to broker' $T_TMP/att0.out"
newpid=$(restart 0)
wait_until 10 canopy jobs
T_CLEANUP+=("kill $newpid")
out=$(canopy job attach "$pend")
check "pending job runs after the restart" [ "$(echo "$out" | grep -c pending-ran)" -eq 4 ]
if [ "$(echo "$out" | grep -c pending-ran)" -ne 4 ]; then   # diagnostics
    echo "# attach: $out"; canopy job info "$pend" eventlog | sed 's/^/# /'
    tail -20 "$CANOPY_RUNDIR/broker-0-restart.log" | sed 's/^/# /'
fi
check "its dependent runs after it" [ "$(canopy job attach "$dep")" = dep-ran ]
canopy job attach "$run" >"$T_TMP/lost.out" 2>&1
check "the running job is reported LOST" [ "$(result $run)" = LOST ]
check "LOST with a clear reason" grep -q "exception: lost: rank 0 restarted while the job was running" "$T_TMP/lost.out"
check "the output kept before the restart is still there" grep -q '^pid ' "$T_TMP/lost.out"
tpid=$(awk '/^pid/ {print $2}' "$T_TMP/lost.out")
check "the LOST job's task was killed on rank 2" wait_until 10 sh -c "! kill -0 $tpid 2>/dev/null"
missing=0
for id in $many; do
    canopy job attach "$id" >/dev/null 2>&1
    [ "$(result $id)" = COMPLETED ] || missing=$((missing + 1))
done
check "all 30 acknowledged submits survived the restart and completed ($missing missing)" [ $missing -eq 0 ]
new=$(canopy submit true)
last_old=$(echo $many | awk '{print $NF}')
check "ids keep growing after the restart" [ "$(printf '%s\n%s\n' "$last_old" "$new" | sort | tail -1)" = "$new" ]
check "ids are unique" [ "$(canopy jobs -a -n | awk '{print $1}' | sort | uniq -d | wc -l)" -eq 0 ]

# -- a broker killed under a running job
j=$(canopy submit -N 2 --requires rank:2-3 sh -c 'echo pid $$ on $CANOPY_RANK; exec sleep 60')
wait_until 10 sh -c "canopy jobs | grep '^ *$j' | grep -q ' R '"
sleep 0.3
canopy job attach "$j" >"$T_TMP/nf.out" 2>&1 &
apid=$!
pid3=$(canopy exec -r 3 sh -c 'echo $PPID')
kill -9 "$pid3"
wait_until 20 sh -c "! kill -0 $apid 2>/dev/null"
wait $apid
rc=$?
check "attach ends when a broker of the job is lost (rc=$rc)" [ $rc -ne 0 ]
check "the job FAILED with node-failure naming rank 3" grep -q "exception: node-failure: rank 3 (node3)" "$T_TMP/nf.out"
check "result FAILED" [ "$(result $j)" = FAILED ]
t2=$(awk '/on 2$/ {print $2}' "$T_TMP/nf.out")
check "the task on the surviving broker was killed" wait_until 10 sh -c "! kill -0 $t2 2>/dev/null"
t3=$(awk '/on 3$/ {print $2}' "$T_TMP/nf.out")
[ -n "$t3" ] && kill "$t3" 2>/dev/null   # orphaned by the SIGKILLed broker
out=$(canopy resource list)
check "resource list: node3 down (got: $(grep down <<<"$out"))" grep -qE '^ +down +1 +2 +0 node3$' <<<"$out"
check "a job needing rank 3 waits" sh -c "id=\$(canopy submit --requires rank:3 echo on3); echo \$id > $T_TMP/on3; sleep 0.5; canopy jobs | grep -q \"^ *\$id .* S \""
p3=$(restart 3)
T_CLEANUP+=("kill $p3")
check "node3 comes back when its broker rejoins" wait_until 15 sh -c "canopy resource list | grep -qE '^ +down +0 +0 +0'"
check "the waiting job then runs on rank 3" [ "$(canopy job attach "$(cat $T_TMP/on3)")" = on3 ]
finish
INNER
CANOPY_SRCDIR=${CANOPY_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)} T_TMP=$T_TMP \
    canopy start --size 4 --topo kary:2 bash "$T_TMP/inner.sh"
