# netns.sh - make test hosts: network namespaces joined through a bridge
# (sourced).  Traffic stays inside these namespaces.
need_netns () {
    if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! command -v unshare >/dev/null; then
        echo "SKIP: needs root, ip and unshare for network namespaces"
        echo "0 passed, 0 failed, 1 skipped"
        return 1
    fi
    return 0
}
# netns_create PREFIX N [RATE]: hosts PREFIX0..N-1 with 10.77.0.(i+1)/24, a
# bridge in namespace PREFIXbr; optional tbf egress rate (e.g. 200mbit) per host.
netns_create () {
    local p=$1 n=$2 rate=${3:-}
    netns_destroy "$p" "$n"
    ip netns add ${p}br
    ip -n ${p}br link add br0 type bridge
    ip -n ${p}br link set br0 up
    ip -n ${p}br link set lo up
    local i
    for i in $(seq 0 $((n - 1))); do
        ip netns add $p$i
        ip link add veth0 netns $p$i type veth peer name h$i netns ${p}br
        ip -n ${p}br link set h$i master br0
        ip -n ${p}br link set h$i up
        ip -n $p$i addr add 10.77.0.$((i + 1))/24 dev veth0
        ip -n $p$i link set veth0 up
        ip -n $p$i link set lo up
        if [ -n "$rate" ]; then
            ip netns exec $p$i tc qdisc add dev veth0 root tbf rate $rate burst 256kb latency 50ms
        fi
    done
    T_CLEANUP+=("netns_destroy $p $n")
}
netns_destroy () {
    local p=$1 n=$2 i
    for i in $(seq 0 $((n - 1))); do ip netns del $p$i 2>/dev/null; done
    ip netns del ${p}br 2>/dev/null
    return 0
}
