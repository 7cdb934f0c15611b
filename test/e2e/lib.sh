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
