#!/bin/bash
# broker_health.sh - canopy-broker --health PORT: /livez while the loop runs,
# /readyz while the broker is joined to the tree, 503 with the reason when its
# parent is gone, 404 elsewhere; a port in use is one clear line.
. "$(dirname "$0")/lib.sh"
D=$T_TMP
free_port () { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P0=$(free_port); P1=$(free_port)
canopy keygen "$D/c.cert"
cat > "$D/h.yaml" <<EOC
curve_cert: $D/c.cert
heartbeat: 0.2
timeout: 1
default_bind: ipc://$D/h-%h
default_connect: ipc://$D/h-%h
hosts:
  - host: "n[0-1]"
EOC
canopy-broker --config "$D/h.yaml" --rank 0 --rundir "$D/r0" --health 127.0.0.1:$P0 >/dev/null 2>"$D/log0" &
B0=$!; T_CLEANUP+=("kill $B0")
canopy-broker --config "$D/h.yaml" --rank 1 --rundir "$D/r1" --health 127.0.0.1:$P1 >/dev/null 2>"$D/log1" &
B1=$!; T_CLEANUP+=("kill $B1")
code () { curl -s -o "$D/body" -w '%{http_code}' "http://127.0.0.1:$1$2"; }
check "rank 0 /livez answers 200" wait_until 10 sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$P0/livez) = 200 ]"
check "rank 1 /readyz is 200 once it is joined" wait_until 10 sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$P1/readyz) = 200 ]"
check "an unknown path is 404" [ "$(code $P0 /metrics)" = 404 ]
check "POST is refused" [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:$P0/livez)" = 405 ]
kill -9 $B0
check "rank 1 /readyz turns 503 when its parent is gone" wait_until 10 sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$P1/readyz) = 503 ]"
code $P1 /readyz >/dev/null
check "... saying why" grep -q "not ready: the link to the tree" "$D/body"
check "while /livez stays 200" [ "$(code $P1 /livez)" = 200 ]
kill -STOP $B1
check "a stopped broker fails /livez (no 200 within the probe's 2 s)" sh -c "[ \$(curl -s -m 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:$P1/livez) != 200 ]"
kill -CONT $B1
mkdir -m 0700 "$D/r2"
expect_fail "a health port in use is one clear line" "health: cannot listen on 127.0.0.1:$P1" \
    canopy-broker --config "$D/h.yaml" --rank 0 --rundir "$D/r2" --statedir "$D/s2" --health 127.0.0.1:$P1
expect_fail "a bad health address is one clear line" "health: 'x:y' is not PORT" \
    canopy-broker --config "$D/h.yaml" --rank 0 --rundir "$D/r2" --statedir "$D/s2" --health x:y
finish
