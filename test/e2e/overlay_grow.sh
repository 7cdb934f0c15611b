#!/bin/bash
# overlay_grow.sh - an instance sized beyond its listed hosts
# (doc/membership.md): free ranks show offline until a broker takes them;
# a host that is not listed asks the lead for a rank and joins; a host that
# comes back gets its old rank, also across a restart of the lead; a full
# instance and a wrong certificate are refused with one clear line.
. "$(dirname "$0")/lib.sh"
D=$T_TMP
canopy keygen "$D/good.cert"
canopy keygen "$D/other.cert"
instance_config "$D/good.cert" 6 lead
instance_start
check "the lead comes up" wait_until 10 canopy overlay status
status=$(canopy overlay status)
echo "$status"
check "the five free ranks show offline" bash -c "[ \$(grep -c ': offline' <<<'$status') = 5 ]"
for r in 1 2 3; do   # one at a time, so that h<r> gets rank r
    start_host h$r
    wait_until 20 sh -c "canopy overlay status | grep -q '$r h$r: online'"
done
check "three unlisted hosts join" wait_until 15 sh -c '[ $(canopy overlay status | grep -c ": online") -eq 4 ]'
status=$(canopy overlay status)
echo "$status"
for r in 1 2 3; do
    check "h$r got rank $r" grep -q "host h$r joins as rank $r" "$D/log-lead"
done
check "their host names show in overlay status" bash -c "grep -q '1 h1: online' <<<'$status' && grep -q '3 h3: online' <<<'$status'"
out=$(canopy exec -r 1-3 sh -c 'echo $CANOPY_RANK' | sort | tr '\n' ' ')
check "exec reaches the joined ranks (got: $out)" [ "$out" = "1 2 3 " ]
check "rank 3 reached its parent rank 1 by the endpoint it learned from the lead" \
    bash -c "canopy overlay status --json | jq -e '.[3].state == \"online\" and (.[3].attached_to // null) == null' >/dev/null"
kill -9 "${PID[h2]}"
check "h2's rank is lost" wait_until 10 sh -c 'canopy overlay status | grep -q "2 h2: lost"'
start_host h2
check "h2 comes back" wait_until 15 sh -c 'canopy overlay status | grep -q "2 h2: online"'
check "... to its old rank 2" bash -c "[ \$(grep -c 'host h2 joins as rank 2' '$D/log-lead') = 2 ]"
# the lead restarts: the table survives, so ranks stay stable
kill -9 "${PID[lead]}"
sleep 1
start_host lead
check "the lead is back with the joined ranks" wait_until 20 sh -c '[ $(canopy overlay status | grep -c ": online") -eq 4 ]'
kill "${PID[h1]}"
wait "${PID[h1]}" 2>/dev/null
start_host h4
check "a new host after the lead's restart takes a never-held rank (4)" wait_until 15 sh -c 'canopy overlay status | grep -q "4 h4: online"'
start_host h1
check "h1 comes back to rank 1 after the lead's restart" wait_until 15 sh -c 'canopy overlay status | grep -q "1 h1: online"'
start_host h5
check "h5 takes the last rank" wait_until 15 sh -c 'canopy overlay status | grep -q "5 h5: online"'
mkdir -p -m 0700 "$D/run-h6"
expect_fail "a host joining a full instance is refused" "join as h6: the lead refused.*instance is full: all 6 ranks are held" \
    canopy-broker --config "$D/g.yaml" --host h6 --rundir "$D/run-h6" --join-timeout 5
mkdir -p -m 0700 "$D/run-h7"
expect_fail "a host with another certificate gets no rank" "join as h7: no answer from the lead" \
    canopy-broker --config "$D/g.yaml" --host h7 --rundir "$D/run-h7" --cert "$D/other.cert" --join-timeout 3
check "... and the lead logged the refused key" grep -q 'refused connection.*CURVE key' "$D/log-lead"
expect_fail "--rank of a rank without a host is refused" "rank 4 has no host in the config: start without --rank to join" \
    canopy-broker --config "$D/g.yaml" --rank 4 --rundir "$D/run-h7"
# distribution reaches joined ranks
head -c 3000000 /dev/urandom > "$D/blob"
check "archive create on the lead" canopy archive create --name g --dir "$D" blob
check "archive distribute to every rank, joined ones included" canopy archive distribute --name g -C "$D/out-{rank}" -r all
check "rank 5's copy is identical" cmp "$D/blob" "$D/out-5/blob"
finish
