#!/bin/bash
# Faults and bad input for the overlay: a broker with the wrong certificate
# is refused; a middle broker killed is seen lost with its subtree and comes
# back when restarted; malformed configs, unknown ranks, bad certificates and
# an unreachable parent each give one clear line and a non-zero exit.
. "$(dirname "$0")/lib.sh"
D=$T_TMP

# --- a two-level instance from a config file, three brokers, rank 2 with a foreign key
canopy keygen "$D/good.cert"
canopy keygen "$D/other.cert"
abc_config "$D/c.yaml" "$D/good.cert"
canopy-broker --config "$D/c.yaml" --rank 0 --rundir "$D/r0" >/dev/null 2>"$D/log0" &
P0=$!; T_CLEANUP+=("kill $P0")
canopy-broker --config "$D/c.yaml" --rank 1 --rundir "$D/r1" >/dev/null 2>"$D/log1" &
P1=$!; T_CLEANUP+=("kill $P1")
canopy-broker --config "$D/c.yaml" --rank 2 --rundir "$D/r2" --cert "$D/other.cert" >/dev/null 2>"$D/log2" &
P2=$!; T_CLEANUP+=("kill $P2")
export CANOPY_URI=ipc://$D/r0/local
wait_until 10 sh -c 'canopy overlay status | grep -q "1 b: online"'
sleep 1
status=$(canopy overlay status)
echo "$status"
check "rank 1 with the instance key is online" grep -q '1 b: online' <<<"$status"
check "rank 2 with a foreign key stays offline" grep -q '2 c: offline' <<<"$status"
check "the refusal is logged by rank 0" grep -q 'refused connection.*CURVE key' "$D/log0"
expect_fail "exec on a rank that never joined fails clearly" "rank 2" canopy exec -r 2 true

# --- a middle broker killed: its subtree is lost, then it comes back
cat > "$D/k.yaml" <<EOC
curve_cert: $D/good.cert
topology: kary:2
heartbeat: 0.2
timeout: 1
default_bind: ipc://$D/k-%h
default_connect: ipc://$D/k-%h
hosts:
  - host: "n[0-6]"
EOC
PIDS=()
for r in 0 1 2 3 4 5 6; do
    canopy-broker --config "$D/k.yaml" --rank $r --rundir "$D/k$r" >/dev/null 2>"$D/klog$r" &
    PIDS[$r]=$!
    T_CLEANUP+=("kill ${PIDS[$r]}")
done
export CANOPY_URI=ipc://$D/k0/local
check "7 brokers from a hostlist config come online" wait_until 10 sh -c '[ $(canopy overlay status | grep -c ": online$") -eq 7 ]'
kill -9 "${PIDS[1]}"
check "killed rank 1 is noticed lost" wait_until 5 sh -c 'canopy overlay status | grep -q "1 n1: lost"'
# its children re-attach to the nearest live ancestor (doc/membership.md)
check "its subtree (3, 4) re-attaches to rank 0" wait_until 10 sh -c \
    'canopy overlay status | grep -q "3 n3: online (attached to 0)" && canopy overlay status | grep -q "4 n4: online (attached to 0)"'
status=$(canopy overlay status)
echo "$status"
check "the dead middle broker still shows lost" grep -q '1 n1: lost' <<<"$status"
check "the other side stays online" grep -q '5 n5: online' <<<"$status"
out=$(canopy exec -r 3,4 sh -c 'echo $CANOPY_RANK' | sort | tr '\n' ' ')
check "exec reaches ranks 3 and 4 past the dead broker (got: $out)" [ "$out" = "3 4 " ]
check "overlay status --json says where they hang" sh -c "canopy overlay status --json | jq -e '.[3].state == \"online\" and .[3].attached_to == 0' >/dev/null"
expect_fail "exec on the dead broker itself fails with a clear error" "rank 1: .*(lost|unreachable|offline)" canopy exec -r 1 true
canopy-broker --config "$D/k.yaml" --rank 1 --rundir "$D/k1" >/dev/null 2>>"$D/klog1" &
P1=$!; T_CLEANUP+=("kill $P1")
check "restarted rank 1 and its subtree are online again, under rank 1" \
    wait_until 15 sh -c '[ $(canopy overlay status | grep -c ": online$") -eq 7 ]'
check "rank 3 logged its move back" grep -q "parent 1 is back: moving under it" "$D/klog3"
out=$(canopy exec -r 3 sh -c 'echo $CANOPY_RANK')
check "exec reaches rank 3 again" [ "$out" = 3 ]
kill -9 "${PIDS[0]}"
sleep 1.5
canopy-broker --config "$D/k.yaml" --rank 0 --rundir "$D/k0" >/dev/null 2>>"$D/klog0" &
P0b=$!; T_CLEANUP+=("kill $P0b")
check "children rejoin a restarted rank 0" wait_until 10 sh -c '[ $(canopy overlay status | grep -c ": online$") -eq 7 ]'

# --- bad input
unset CANOPY_URI
printf 'hosts: [\n' > "$D/bad1.yaml"
expect_fail "malformed YAML config" "config: line" canopy-broker --config "$D/bad1.yaml" --rank 0
printf 'curve_cert: %s\nhosts:\n  - host: a\n    porrt: 5\n' "$D/good.cert" > "$D/bad2.yaml"
expect_fail "unknown key in config" "unknown key 'porrt'" canopy-broker --config "$D/bad2.yaml" --rank 0
printf 'curve_cert: %s\nhosts:\n  - host: "n[0-3"\n' "$D/good.cert" > "$D/bad3.yaml"
expect_fail "bad hostlist in config" "hosts\[0\]" canopy-broker --config "$D/bad3.yaml" --rank 0
expect_fail "unknown rank" "rank 9 is not in the config" canopy-broker --config "$D/k.yaml" --rank 9
expect_fail "host not in config" "not in the config" canopy-broker --config "$D/k.yaml"
expect_fail "missing config" "nope.yaml: No such file" canopy-broker --config "$D/nope.yaml" --rank 0
sed "s#$D/good.cert#$D/missing.cert#" "$D/k.yaml" > "$D/bad4.yaml"
expect_fail "missing certificate" "certificate .*missing.cert: No such file" canopy-broker --config "$D/bad4.yaml" --rank 0 --rundir "$D/x"
cp "$D/good.cert" "$D/open.cert"; chmod 644 "$D/open.cert"
expect_fail "world-readable certificate" "world-readable" canopy-broker --config "$D/k.yaml" --cert "$D/open.cert" --rank 0 --rundir "$D/x"
echo garbage > "$D/junk.cert"; chmod 600 "$D/junk.cert"
expect_fail "garbage certificate" "not a valid CURVE certificate" canopy-broker --config "$D/k.yaml" --cert "$D/junk.cert" --rank 0 --rundir "$D/x"
sed "s#ipc://$D/k-%h#ipc://$D/nobody-%h#" "$D/k.yaml" > "$D/bad5.yaml"
expect_fail "unreachable parent" "cannot reach parent rank 0" canopy-broker --config "$D/bad5.yaml" --rank 1 --rundir "$D/y" --join-timeout 2
expect_fail "no CANOPY_URI" "CANOPY_URI is not set" canopy overlay status
CANOPY_URI=ipc://$D/none expect_fail "dead CANOPY_URI" "cannot connect to broker" canopy exec true
expect_fail "bad topology" "unknown topology" canopy start --size 4 --topo tree:3 true
expect_fail "bad size" "invalid --size" canopy start --size 0 true
finish
