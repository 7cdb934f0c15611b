#!/bin/bash
# A second broker started for a rank that is already running must refuse to
# start, naming the running one, and leave the running instance alone:
# - with the same run directory: the run directory's lock says who holds it;
# - with another run directory but the same bind endpoint: refused before
#   the running one's socket is taken over;
# - elsewhere (another bind endpoint, as on another host): the parent
#   refuses the second live identity of the rank (doc/protocol.md), and the
#   new broker exits naming the running one's pid.
# The first broker's restart (kill -9, start again at once) still rejoins.
. "$(dirname "$0")/lib.sh"
D=$T_TMP

canopy keygen "$D/cert"
abc_config "$D/c.yaml" "$D/cert"
abc_config "$D/elsewhere.yaml" "$D/cert" "ipc://$D/tbon-1-elsewhere"
declare -A PID
start () {   # start RANK [ARGS...]
    local r=$1; shift
    canopy-broker --config "$D/c.yaml" --rank "$r" --rundir "$D/r$r" "$@" >/dev/null 2>>"$D/log$r" &
    PID[$r]=$!
    T_CLEANUP+=("kill ${PID[$r]}")
}
start 0; start 1; start 2
export CANOPY_URI=ipc://$D/r0/local
all_online () { [ "$(canopy overlay status | grep -c ': online$')" -eq 3 ]; }
check "three brokers online" wait_until 20 all_online

expect_fail "same rank, same run directory: refused naming the running pid" \
    "rank 1 is already running .*pid ${PID[1]}\)" \
    canopy-broker --config "$D/c.yaml" --rank 1 --rundir "$D/r1"
check "the running broker's lock still names it" test "$(cat "$D/r1/lock")" = "${PID[1]}"
expect_fail "same rank, another run directory, same endpoint: refused" \
    "cannot bind ipc://$D/tbon-1: another broker is listening there" \
    canopy-broker --config "$D/c.yaml" --rank 1 --rundir "$D/r1-other"
check "the running broker's endpoint is still there" test -S "$D/tbon-1"

# a duplicate as from another host: refused by the parent, exits naming the pid
t0=$SECONDS
out=$(timeout 60 canopy-broker --config "$D/elsewhere.yaml" --rank 1 --rundir "$D/r1-elsewhere" 2>&1 >/dev/null)
rc=$?
echo "duplicate: rc=$rc after $((SECONDS - t0)) s"; echo "$out" | tail -3
check "a duplicate of a live rank exits non-zero (not killed by timeout)" test $rc -ne 0 -a $rc -ne 124
check "naming the running broker's pid" grep -q "rank 1 is already running (pid ${PID[1]} on .*): the parent refuses" <<<"$out"
check "the parent logged the refusal" grep -q "refused a second broker for rank 1 .*pid ${PID[1]}" "$D/log0"
sleep 1.5
status=$(canopy overlay status); echo "$status"
check "overlay status still shows all online" all_online
check "rank 1 was never seen lost" sh -c "! grep -q 'child 1 .*-> lost' '$D/log0'"
out=$(canopy exec -r 1,2 sh -c 'echo ran-$CANOPY_RANK' 2>&1)
check "rank 1 and its subtree still run work" test "$(echo "$out" | grep -c ran-)" -eq 2

# a restart is not a duplicate: kill -9 rank 1 and start it again at once
kill -9 "${PID[1]}"; wait "${PID[1]}" 2>/dev/null
start 1
check "a restarted rank 1 rejoins" wait_until 20 all_online
check "and it is not refused" sh -c "! grep -q 'already running' '$D/log1'"
finish
