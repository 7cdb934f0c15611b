#!/bin/bash
# Multi-host overlay: 4 hosts in network namespaces, each with its own
# hostname (UTS namespace) and address, joined by veth pairs to a bridge.
# One broker per host finds its rank from its hostname in a generated
# config; then overlay status, exec across hosts, a middle broker killed
# (its subtree shows lost) and restarted (all online again).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
need_netns || exit 0
D=$T_TMP
N=4
netns_create cnpo $N        # hosts cnpo0..cnpo3 at 10.77.0.1..4

canopy keygen "$D/curve.cert"
cat > "$D/canopy.yaml" <<EOC
curve_cert: $D/curve.cert
topology: kary:2
heartbeat: 0.2
timeout: 1
default_port: 8050
default_bind: tcp://%h:%p
default_connect: tcp://%h:%p
hosts:
EOC
for i in $(seq 0 $((N - 1))); do
    printf '  - host: node%d\n    bind: tcp://10.77.0.%d:8050\n    connect: tcp://10.77.0.%d:8050\n' $i $((i + 1)) $((i + 1)) >> "$D/canopy.yaml"
done

start_host () {  # start_host I: broker on host I, rank found from its hostname
    local i=$1
    ip netns exec cnpo$i unshare --uts sh -c "hostname node$i; exec canopy-broker --config $D/canopy.yaml --rundir $D/run$i" \
        >>"$D/log$i" 2>&1 &
    eval "PID$i=\$!"
}
for i in $(seq 0 $((N - 1))); do start_host $i; done
T_CLEANUP+=("pkill -f '[c]anopy-broker --config $D/canopy.yaml'")
export CANOPY_URI=ipc://$D/run0/local
check "4 brokers on 4 hosts online" wait_until 15 sh -c '[ $(canopy overlay status | grep -c ": online$") -eq 4 ]'
canopy overlay status
out=$(canopy exec -r all -l hostname | sort)
check "exec across hosts runs in each host's namespace" [ "$out" = "$(printf '0: node0\n1: node1\n2: node2\n3: node3')" ]
out=$(canopy exec -r 3 sh -c "ip -4 -o addr show | grep -o '10.77.0.[0-9]*'")
check "rank 3 runs on the host with 10.77.0.4" [ "$out" = "10.77.0.4" ]
out=$(canopy ping --count 3 3)
check "ping rank 3 crosses two hosts (hops=2)" grep -q 'hops=2,' <<<"$out"

# kill the middle broker (rank 1, parent of 3)
pkill -9 -f "[c]anopy-broker --config $D/canopy.yaml --rundir $D/run1"
check "rank 1 noticed lost" wait_until 5 sh -c 'canopy overlay status | grep -q "1 node1: lost"'
status=$(canopy overlay status); echo "$status"
check "its subtree (rank 3) shows lost" grep -q '3 node3: lost' <<<"$status"
check "rank 2 stays online" grep -q '2 node2: online' <<<"$status"
start_host 1
check "after restart all 4 online again" wait_until 15 sh -c '[ $(canopy overlay status | grep -c ": online$") -eq 4 ]'
out=$(canopy exec -r 3 hostname)
check "exec reaches rank 3 through the restarted broker" [ "$out" = node3 ]

# a link cut (veth down) is noticed, and healed
ip netns exec cnpo2 ip link set veth0 down
check "cut link: rank 2 lost" wait_until 5 sh -c 'canopy overlay status | grep -q "2 node2: lost"'
ip netns exec cnpo2 ip link set veth0 up
check "healed link: rank 2 online" wait_until 15 sh -c 'canopy overlay status | grep -q "2 node2: online"'
finish
