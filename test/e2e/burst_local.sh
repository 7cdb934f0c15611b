#!/bin/bash
# Bursting with the local provider (doc/bursting.md): a 2-node instance with
# a 2-node pool.  A burstable -N4 job bursts, runs on all four and prints
# four ranks; the pool nodes show as burst, then free under their own names,
# then burst again after the idle time; a second burst reuses the same
# external name and the same ranks; `burst stop` releases by hand.  A
# non-burstable -N4 job and a burstable -N5 one are refused at submit with
# the numbers; a non-burstable job cannot be put on pool ranks.
. "$(dirname "$0")/lib.sh"
export CANOPY_FAKE_RESOURCES="cores=2"
cat > "$T_TMP/inner.sh" <<'INNER'
. "$CANOPY_SRCDIR/test/e2e/lib.sh"
L=$CANOPY_RUNDIR/broker-0.log
row () { canopy resource list | awk -v s="$1" '$1 == s {print $2, $5}'; }
check "before: the pool's two nodes are in state burst" [ "$(row burst | cut -d' ' -f1)" = 2 ]
cluster=$(canopy burst list | awk '$1 == "local" {print $2}')
check "burst list names the external cluster local-<8 hex> ($cluster)" grep -qE '^local-[0-9a-f]{8}$' <<<"$cluster"
expect_fail "a non-burstable -N4 job is refused at submit" "needs 4 nodes; the instance has 2 \(pool nodes only for burstable jobs\)" \
    canopy submit -N4 true
expect_fail "a burstable -N5 job is refused, naming the limit" "needs 5 nodes; the instance has 2 and its pools 2" \
    canopy submit -N5 --setattr burstable true
expect_fail "a non-burstable job cannot be put on pool ranks" "satisfy the constraint|constraint" \
    canopy submit -N1 --requires rank:2 true
out=$(timeout 60 canopy run -N4 --setattr burstable sh -c 'echo $CANOPY_RANK' | sort | tr '\n' ' ')
check "run -N4 --setattr burstable runs on all four ranks (got: $out)" [ "$out" = "0 1 2 3 " ]
id=$(canopy job last)
nl=$(canopy job info "$id" R | jq -r '.execution.nodelist | join(" ")')
check "its R holds the two pool nodes by their names ($nl)" grep -qF "$cluster-[0-1]" <<<"$nl"
check "the pool nodes are free under their own names while up" bash -c "canopy resource list | awk '\$1 == \"free\"' | grep -q '$cluster'"
check "burst list: 2 up" bash -c "canopy burst list | awk '\$1 == \"local\" {exit !(\$7 == 2)}'"
if [ "$(id -u)" -eq 0 ]; then
    check "as root: the ipc:// endpoints cannot be reached from a namespace: one warning line per start" \
        grep -q "burst: pool local: pool brokers run in this network namespace: default_connect 'ipc://.*' is not a tcp://%h template" "$L"
fi
check "the pool brokers run (found by --host and this instance's run directory)" sh -c "[ \$(pgrep -f -- \"[-]-host $cluster-[0-9]* --rundir $CANOPY_RUNDIR/\" | wc -l) -eq 2 ]"
check "released after the idle time: burst again" wait_until 20 sh -c "canopy resource list | awk '\$1 == \"burst\" {exit !(\$2 == 2)}'"
check "... logged" grep -q "burst: pool local: released $cluster-\[0-1\] (idle for 3s)" "$L"
check "... and their brokers stopped" wait_until 10 sh -c "! pgrep -f -- \"[-]-host $cluster-[0-9]* --rundir $CANOPY_RUNDIR/\" >/dev/null"
out=$(timeout 60 canopy run -N4 --setattr burstable sh -c 'echo $CANOPY_RANK' | sort | tr '\n' ' ')
check "a second burst runs again (got: $out)" [ "$out" = "0 1 2 3 " ]
check "... with the same external name" [ "$(grep -c "starting 2 nodes $cluster-\[0-1\]" "$L")" -eq 2 ]
check "... and the same ranks" bash -c "[ \$(grep -c 'host $cluster-0 joins as rank 2' '$L') -eq 2 ] && [ \$(grep -c 'host $cluster-1 joins as rank 3' '$L') -eq 2 ]"
check "burst stop releases by hand" sh -c "canopy burst stop local | grep -q 'released 2 node(s) of $cluster'"
check "... burst again" wait_until 10 sh -c "canopy resource list | awk '\$1 == \"burst\" {exit !(\$2 == 2)}'"
expect_fail "burst stop of an unknown pool" "no burst pool 'nope'" canopy burst stop nope
check "no sanitizer report in the pool brokers' logs" sh -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' $CANOPY_RUNDIR/0/state/burst/*/log"
finish
INNER
CANOPY_SRCDIR=${CANOPY_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)} \
    canopy start --size 2 --burst local:2,idle_time=3 bash "$T_TMP/inner.sh"
