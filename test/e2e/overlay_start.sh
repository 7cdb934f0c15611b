#!/bin/bash
# canopy start across sizes and topologies: all online, exec everywhere,
# exit codes, rank selection, ping hop counts, and no broker left behind.
. "$(dirname "$0")/lib.sh"

for spec in "1 kary:2" "8 kary:2" "8 binomial" "16 kary:1" "12 flat" "13 kary:3" "32 kary:2"; do
    set -- $spec
    n=$1 topo=$2
    out=$(canopy start --size "$n" --topo "$topo" sh -c 'canopy overlay status; canopy exec -l -r all sh -c "echo hello-\$CANOPY_RANK"' 2>&1)
    rc=$?
    online=$(echo "$out" | grep -c ': online$')
    hellos=$(echo "$out" | grep -cE '^[0-9]+: hello-[0-9]+$')
    check "size $n $topo: start rc=0" [ $rc -eq 0 ]
    check "size $n $topo: $n brokers online in overlay status" [ "$online" -eq "$n" ]
    check "size $n $topo: exec ran on all $n ranks with matching rank labels" [ "$hellos" -eq "$n" ] 
    bad=$(echo "$out" | grep -E '^[0-9]+: hello-' | awk -F'[: -]+' '$1 != $3' | wc -l)
    check "size $n $topo: each rank's output labelled with its own rank" [ "$bad" -eq 0 ]
done

# the drawing matches the topology exactly (compare with canopy topo)
canopy topo kary:2 --size 8 > "$T_TMP/want"
canopy start --size 8 --topo kary:2 canopy overlay status | sed -E 's/ [^ ]+: online$//' > "$T_TMP/got"
check "overlay status draws the kary:2 tree" diff -u "$T_TMP/want" "$T_TMP/got"

# a custom topology from a config file
printf 'curve_cert: /x\ntopology: custom\nhosts:\n  - host: a\n  - host: b\n    parent: a\n  - host: c\n    parent: a\n  - host: d\n    parent: 2\n' > "$T_TMP/custom.yaml"
out=$(canopy topo --config "$T_TMP/custom.yaml")
check "topo --config draws a custom tree" [ "$out" = "$(printf '0\n├─ 1\n└─ 2\n   └─ 3')" ]
out=$(canopy topo --config "$T_TMP/custom.yaml" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["parents"])')
check "topo --config --json gives the parents" [ "$out" = "[None, 0, 0, 2]" ]

# exit code of CMD is returned; exec returns the highest exit code
canopy start --size 2 sh -c 'exit 7'
check "start returns CMD's exit code" [ $? -eq 7 ]
canopy start --size 4 canopy exec -r all sh -c 'exit $CANOPY_RANK'
check "exec returns the highest exit code" [ $? -eq 3 ]

# rank selection and exclusion
out=$(canopy start --size 8 canopy exec -r 1-3,6 -x 2 sh -c 'echo $CANOPY_RANK' | sort -n | tr '\n' ' ')
check "exec -r 1-3,6 -x 2 runs on 1 3 6 (got: $out)" [ "$out" = "1 3 6 " ]
expect_fail "exec on unknown rank" "rank 9 is not in this instance" canopy start --size 4 canopy exec -r 9 true
expect_fail "exec with bad idset" "invalid idset" canopy start --size 4 canopy exec -r 1-x true

# stdout and stderr are kept apart
canopy start --size 2 canopy exec -r all sh -c 'echo out; echo err >&2' >"$T_TMP/o" 2>"$T_TMP/e"
check "stdout relayed" [ "$(grep -c '^out$' "$T_TMP/o")" -eq 2 ]
check "stderr relayed" [ "$(grep -c '^err$' "$T_TMP/e")" -eq 2 ]

# ping reports the hop count of the route
out=$(canopy start --size 8 --topo kary:1 canopy ping --count 2 7)
check "ping to rank 7 on a chain crosses 7 hops" grep -q 'hops=7,' <<<"$out"
out=$(canopy start --size 8 --topo kary:2 canopy ping --pad 1M 7)
check "ping with 1M pad on kary:2 crosses 3 hops" grep -q 'hops=3,' <<<"$out"

# Ctrl-C (SIGINT) reaches the remote processes
canopy start --size 4 sh -c 'canopy exec -r all sleep 60 & pid=$!; sleep 1; kill -INT $pid; wait $pid; echo "rc=$?"' >"$T_TMP/int" 2>&1 &
spid=$!
wait_until 20 sh -c "! kill -0 $spid"
check "exec forwards SIGINT and exits promptly" grep -q 'rc=130' "$T_TMP/int"

# no broker outlives canopy start, even when it is killed with SIGKILL
export TMPDIR=$T_TMP
canopy start --size 4 sleep 60 &
spid=$!
wait_until 10 sh -c "pgrep -f '[c]anopy-broker --config $T_TMP' >/dev/null"
kill -9 $spid
wait $spid 2>/dev/null
check "brokers exit when canopy start is killed" wait_until 10 sh -c "! pgrep -f '[c]anopy-broker --config $T_TMP'"
canopy start --size 4 false
check "no broker left after a failing command" wait_until 10 sh -c "! pgrep -f '[c]anopy-broker --config $T_TMP'"
finish
