# lib.sh - helpers for canopy's end-to-end tests (sourced, not run).
set -u
CANOPY_BIN=${CANOPY_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../build/bin" && pwd)}
CANOPY_SHARED=${CANOPY_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../shared" 2>/dev/null && pwd)}
export PATH="$CANOPY_BIN:$PATH"
T_PASS=0
T_FAIL=0
T_NAME=$(basename "$0" .sh)
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/canopy-test-XXXXXX")
T_CLEANUP=()

cleanup () {
    local f
    for f in "${T_CLEANUP[@]+"${T_CLEANUP[@]}"}"; do eval "$f" >/dev/null 2>&1 || true; done
    # T_KEEP=1 keeps the temp dir (logs, configs) of a failed run for a look
    if [ -n "${T_KEEP:-}" ] && [ "$T_FAIL" -gt 0 ]; then
        echo "# kept $T_TMP" >&2
    else
        rm -rf "$T_TMP"
    fi
}
trap cleanup EXIT

pass () { T_PASS=$((T_PASS + 1)); echo "ok - $*"; }
fail () { T_FAIL=$((T_FAIL + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: passes if the command exits 0
check () { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }
# expect_fail DESCRIPTION PATTERN COMMAND...: must exit non-zero, print one line matching PATTERN on stderr
expect_fail () {
    local d=$1 pat=$2; shift 2
    local out rc
    out=$(timeout 30 "$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && echo "$out" | grep -qE -- "$pat" && [ "$(echo "$out" | wc -l)" -le 2 ]; then
        pass "$d"
    else
        fail "$d (rc=$rc, stderr: $(echo "$out" | head -3))"
    fi
}
finish () {
    echo "$T_PASS passed, $T_FAIL failed"
    [ "$T_FAIL" -eq 0 ]
}
# wait_until SECS COMMAND...: poll until the command succeeds
wait_until () {
    local secs=$1; shift
    local end=$((SECONDS + secs))
    while [ $SECONDS -lt $end ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}
# start_host NAME [args...]: a broker for host NAME from the config $CONFIG
# (run directory $T_TMP/run-NAME, log $T_TMP/log-NAME); its pid in PID[NAME]
declare -A PID
start_host () {
    local n=$1; shift
    mkdir -p -m 0700 "$T_TMP/run-$n"
    canopy-broker --config "$CONFIG" --host "$n" --rundir "$T_TMP/run-$n" "$@" >/dev/null 2>>"$T_TMP/log-$n" &
    PID[$n]=$!
    T_CLEANUP+=("kill ${PID[$n]}")
}
# instance_config CERT SIZE HOST...: the config of a quick test instance in
# $T_TMP/g.yaml (CONFIG is set to it): kary:2, heartbeat 0.2 s, timeout 1 s,
# ipc endpoints $T_TMP/g-%h, the HOSTs listed (the caller appends more, e.g.
# a burst: section); instance_start starts them
instance_config () {
    local cert=$1 size=$2 h
    shift 2
    INSTANCE_HOSTS=("$@")
    CONFIG=$T_TMP/g.yaml
    {
        echo "curve_cert: $cert"
        echo "topology: kary:2"
        echo "size: $size"
        echo "heartbeat: 0.2"
        echo "timeout: 1"
        echo "default_bind: ipc://$T_TMP/g-%h"
        echo "default_connect: ipc://$T_TMP/g-%h"
        echo "hosts:"
        for h in "$@"; do echo "  - host: $h"; done
    } > "$CONFIG"
}
# instance_start [args...]: start_host each host of instance_config (with
# args), and talk to the first (CANOPY_URI)
instance_start () {
    local h
    for h in "${INSTANCE_HOSTS[@]}"; do start_host "$h" "$@"; done
    export CANOPY_URI=ipc://$T_TMP/run-${INSTANCE_HOSTS[0]}/local
}
# abc_config FILE CERT [BIND1]: three brokers a, b, c (kary:2, heartbeat
# 0.2 s, timeout 1 s) at ipc://$T_TMP/tbon-RANK; BIND1: where rank 1 binds
# instead (it is still connected to at tbon-1)
abc_config () {
    local r bind names=(a b c)
    {
        echo "curve_cert: $2"
        echo "topology: kary:2"
        echo "heartbeat: 0.2"
        echo "timeout: 1"
        echo "hosts:"
        for r in 0 1 2; do
            bind=ipc://$T_TMP/tbon-$r
            [ $r = 1 ] && bind=${3:-$bind}
            echo "  - host: ${names[$r]}"
            echo "    bind: $bind"
            echo "    connect: ipc://$T_TMP/tbon-$r"
        done
    } > "$1"
}
