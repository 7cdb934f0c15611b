#!/bin/bash
# A peer with a foreign CURVE key keeps reconnecting (several times a
# second); the broker it knocks on logs the refusal at once, then at most one
# line per endpoint per 20 s with the count of refusals in between (over ipc
# and tcp; over ipc it waits for the second line and its count).
. "$(dirname "$0")/lib.sh"
D=$T_TMP
canopy keygen "$D/good.cert"
canopy keygen "$D/other.cert"
PORT=$((20000 + RANDOM % 20000))
for kind in ipc tcp; do
    if [ $kind = ipc ]; then b0=ipc://$D/tbon-0; b1=ipc://$D/tbon-1; else b0=tcp://127.0.0.1:$PORT; b1=tcp://127.0.0.1:$((PORT + 1)); fi
    cat > "$D/$kind.yaml" <<EOC
curve_cert: $D/good.cert
heartbeat: 0.2
timeout: 1
hosts:
  - host: a
    bind: $b0
    connect: $b0
  - host: b
    bind: $b1
    connect: $b1
EOC
    canopy-broker --config "$D/$kind.yaml" --rank 0 --rundir "$D/$kind-r0" >/dev/null 2>"$D/$kind-log0" &
    P0=$!; T_CLEANUP+=("kill $P0")
    canopy-broker --config "$D/$kind.yaml" --rank 1 --rundir "$D/$kind-r1" --cert "$D/other.cert" >/dev/null 2>"$D/$kind-log1" &
    P1=$!; T_CLEANUP+=("kill $P1")
    wait_until 10 grep -q "refused connection" "$D/$kind-log0"
    sleep 6
    n=$(grep -c "refused connection" "$D/$kind-log0")
    echo "$kind: $n refusal lines in about 6 s"; grep "refused connection" "$D/$kind-log0" | head -3
    check "$kind: the foreign key's refusal is logged" test "$n" -ge 1
    check "$kind: and once only in 6 s of retries (one line per endpoint per 20 s)" test "$n" -eq 1
    if [ $kind = ipc ]; then
        wait_until 30 sh -c "[ \$(grep -c 'refused connection' '$D/$kind-log0') -ge 2 ]"
        sleep 1
        grep "refused connection" "$D/$kind-log0"
        check "ipc: the next line, 20 s later, counts the refusals in between" \
            grep -qE "refused connection .*\(([2-9]|[1-9][0-9]+) more refused like it in the last 2[0-9] s\)" "$D/$kind-log0"
        check "ipc: two lines in about 21 s" test "$(grep -c 'refused connection' "$D/$kind-log0")" -eq 2
    fi
    kill $P1; wait $P1 2>/dev/null
    kill $P0; wait $P0 2>/dev/null
done
finish
