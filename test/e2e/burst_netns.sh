#!/bin/bash
# Bursting with the local provider in network namespaces (doc/bursting.md),
# as root: a 2-host instance runs in a network namespace of the test's own
# (both brokers bind wildcards, connect at 10.79.0.1), with a 2-node pool.
# A burstable -N4 job bursts; each pool broker runs in a namespace of its
# own (its /proc/PID/ns/net differs from the lead's), joined by a veth with
# an address from the pool's subnet; the job prints four hosts and runs its
# pool tasks in those namespaces; after rank 0 is killed and restarted
# they join again, and `burst stop` removes the namespaces and veths (from
# the handles in the job store).  A pool with `netns: false` keeps its brokers in the lead's
# namespace.  Skips when not root.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
need_netns || exit 0
command -v nsenter >/dev/null || { echo "SKIP: needs nsenter"; echo "0 passed, 0 failed, 1 skipped"; exit 0; }
D=$T_TMP
exec 9>/tmp/canopy-netns.lock
t0=$SECONDS
flock 9
echo "# waited $((SECONDS - t0)) s for /tmp/canopy-netns.lock"
H=cnbh$$
ip netns add $H
T_CLEANUP+=("ip netns del $H")
ip -n $H link add a0 type veth peer name a1
ip -n $H addr add 10.79.0.1/24 dev a0
ip -n $H link set a0 up
ip -n $H link set a1 up
ip -n $H link set lo up

canopy keygen "$D/curve.cert"
cat > "$D/c.yaml" <<EOC
curve_cert: $D/curve.cert
topology: kary:2
size: 2
heartbeat: 0.2
timeout: 1
default_port: 8070
default_bind: tcp://%h:%p
default_connect: tcp://%h:%p
hosts:
  - {host: lead, bind: "tcp://*:8061", connect: "tcp://10.79.0.1:8061"}
  - {host: h1, bind: "tcp://*:8062", connect: "tcp://10.79.0.1:8062"}
burst:
  - {name: np, size: 2, cores: 2, provider: local, settings: {subnet: 10.213.8.0/29}, idle_time: 60, resume_timeout: 20}
  - {name: flat, size: 1, cores: 2, provider: local, settings: {netns: false}, idle_time: 60, resume_timeout: 20}
  - {name: bad, size: 1, cores: 2, gpus: 1, provider: local, settings: {cert: /nonexistent/curve.cert}, resume_timeout: 20, max_tries: 1}
EOC
export CANOPY_FAKE_RESOURCES="cores=2"
# the instance's brokers: in namespace $H (nsenter: the network namespace only, so the
# namespaces the lead makes are seen by this shell)
start_ns () {
    local n=$1
    mkdir -p -m 0700 "$D/run-$n"
    nsenter --net=/run/netns/$H canopy-broker --config "$D/c.yaml" --host "$n" --rundir "$D/run-$n" \
        >/dev/null 2>>"$D/log-$n" &
    PID[$n]=$!
    T_CLEANUP+=("kill ${PID[$n]}")
}
start_ns lead
start_ns h1
export CANOPY_URI=ipc://$D/run-lead/local
check "the instance comes up in namespace $H" wait_until 20 sh -c 'canopy resource list | awk "\$1 == \"free\" {exit !(\$2 == 2)}"'
np=$(canopy burst list | awk '$1 == "np" {print $2}')
flat=$(canopy burst list | awk '$1 == "flat" {print $2}')
bad=$(canopy burst list | awk '$1 == "bad" {print $2}')
pool_pids () { pgrep -f -- "[-]-host $1-[0-9]* --rundir $D/"; }
export -f pool_pids
export D
T_CLEANUP+=("kill \$(pool_pids $np) \$(pool_pids $flat)")
T_CLEANUP+=("for n in \$(ip netns list | awk '{print \$1}' | grep -E '^($np|$flat|$bad)-'); do ip netns del \$n; done")

out=$(timeout 60 canopy run -N4 --setattr burstable hostname)
check "run -N4 --setattr burstable hostname prints four hosts (got: $(echo $out))" \
    [ "$(grep -c . <<<"$out")" -eq 4 ]
id=$(canopy job last)
nl=$(canopy job info "$id" R | jq -r '.execution.nodelist | join(" ")')
check "its R holds the two pool nodes ($nl)" grep -qF "$np-[0-1]" <<<"$nl"
pids=$(pool_pids "$np")
check "two pool brokers run" [ "$(wc -w <<<"$pids")" -eq 2 ]
lead_ns=$(readlink /proc/${PID[lead]}/ns/net)
check "the lead runs in the test's namespace" [ "$lead_ns" = "$(nsenter --net=/run/netns/$H readlink /proc/self/ns/net)" ]
seen=""
for p in $pids; do
    ns=$(readlink /proc/$p/ns/net)
    check "pool broker $p runs in a network namespace of its own ($ns, the lead's $lead_ns)" \
        bash -c "[ '$ns' != '$lead_ns' ] && [ '$ns' != '$(readlink /proc/self/ns/net)' ] && ! grep -qxF '$ns' <<<'$seen'"
    seen="$seen
$ns"
done
names=$(ip netns list | awk '{print $1}' | grep -E "^$np-[01]-[0-9a-f]{8}$" | sort)
check "two namespaces named <cluster>-<index>-<hash> ($(echo $names))" [ "$(grep -c . <<<"$names")" -eq 2 ]
check "pool node 1 has the second /30 of the subnet" sh -c "ip -n $(sed -n 2p <<<"$names") -4 -o addr show dev veth0 | grep -q 'inet 10.213.8.6/30'"
check "... and the lead's side of its veth 10.213.8.5" sh -c "ip -n $H -4 -o addr show | grep -q 'cb[0-9a-f]* .*inet 10.213.8.5/30'"
out=$(timeout 60 canopy run -N4 --setattr burstable sh -c 'echo $CANOPY_RANK $(readlink /proc/self/ns/net)' | sort)
check "the job's pool tasks run in the pool nodes' namespaces" \
    bash -c "[ \$(awk '\$1 >= 2 {print \$2}' <<<'$out' | sort -u | grep -vxF '$lead_ns' | wc -l) -eq 2 ]"
check "the burst reused the nodes up (started once)" [ "$(grep -c "burst: pool np (cluster $np): starting" "$D/log-lead")" -eq 1 ]
check "the job store's handle records the namespace and veth" sh -c \
    "sqlite3 $D/run-lead/state/jobs.db \"select value from kv where key='burst/np'\" | jq -e '[.nodes[].handle | select(.netns and .veth and .address)] | length == 2' >/dev/null"

# a pool that opts out keeps its broker in the lead's namespace (on a loopback address)
out=$(timeout 60 canopy run -N5 --setattr burstable hostname)
check "a -N5 job bursts onto the netns: false pool too ($(echo $out))" [ "$(grep -c . <<<"$out")" -eq 5 ]
check "... which joined on a loopback address of its own" grep -q "host $flat-0 joins as rank 4 (tcp://127.100.0.5:8070)" "$D/log-lead"
p=$(pool_pids "$flat")
check "... its broker runs in the lead's namespace" sh -c "[ -n '$p' ] && [ \"\$(readlink /proc/$p/ns/net)\" = '$lead_ns' ]"
check "... and no namespace was made for it" sh -c "! ip netns list | grep -q '^$flat-'"

# rank 0 killed and restarted: the handles in the job store still say what to remove
kill -9 "${PID[lead]}"
wait "${PID[lead]}" 2>/dev/null
start_ns lead
check "after a restart of rank 0 the pool nodes join again" wait_until 20 sh -c \
    "canopy burst list | awk '\$1 == \"np\" {exit !(\$7 == 2)}'"
check "... from the same namespaces" [ "$(ip netns list | awk '{print $1}' | grep -E "^$np-" | sort)" = "$names" ]
check "burst stop releases the pool" sh -c "canopy burst stop np | grep -q 'released 2 node(s) of $np'"
check "... its namespaces are gone" wait_until 10 sh -c "! ip netns list | grep -q '^$np-'"
check "... and its veths" sh -c "! ip -n $H -o link show | grep -q ' cb[0-9a-f]*@'"
check "... and its brokers stopped" wait_until 10 bash -c "! pool_pids $np >/dev/null"
check "... logged" grep -q "burst: pool np: released $np-\[0-1\] (stopped by hand)" "$D/log-lead"
canopy burst stop flat >/dev/null

# a failure path: the pool broker exits in its namespace (its certificate is missing)
j=$(canopy submit -N1 -g 1 --setattr burstable true)
check "a pool broker that exits fails its job" wait_until 20 sh -c \
    "canopy jobs -a | grep '^ *$j ' | grep -q 'burst: pool bad: the local provider failed: its broker exited with status 1'"
check "... its namespace was made" grep -q "burst: pool bad (cluster $bad): starting 1 node" "$D/log-lead"
check "... and is removed" wait_until 10 sh -c "! ip netns list | grep -q '^$bad-'"
check "... and its veth" sh -c "! ip -n $H -o link show | grep -q ' cb[0-9a-f]*@'"
check "no sanitizer report in the logs" sh -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' $D/log-* $D/run-lead/state/burst/*/log"
finish
