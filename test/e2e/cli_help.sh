#!/bin/bash
# Every command and subcommand answers --help (and -h) with its usage on
# stdout and exit 0, with no broker running and no CANOPY_URI; --version
# prints "canopy X.Y.Z" for both programs, from the one version in CMake.
. "$(dirname "$0")/lib.sh"
unset CANOPY_URI
cmds=$(canopy --help | awk '/^Commands:/ {on = 1; next} on && NF {print $1}')
check "canopy --help lists the commands" test "$(echo "$cmds" | wc -w)" -ge 14
declare -A subs=(
    [overlay]="status"
    [archive]="create distribute extract list remove purge"
    [job]="attach last info submit cancel"
    [resource]="list R"
)
helpok () {   # helpok ARGS...: exit 0, Usage on stdout, nothing on stderr
    local out errf=$T_TMP/err rc
    out=$(timeout 20 "$@" 2>"$errf"); rc=$?
    if [ $rc -eq 0 ] && grep -q "Usage" <<<"$out" && [ ! -s "$errf" ]; then
        pass "$*"
    else
        fail "$* (rc=$rc, stdout: $(head -1 <<<"$out"), stderr: $(head -1 "$errf"))"
    fi
}
for c in $cmds; do
    helpok canopy "$c" --help
    helpok canopy "$c" -h
    for s in ${subs[$c]:-}; do
        helpok canopy "$c" "$s" --help
    done
done
helpok canopy --help
helpok canopy-broker --help
want="canopy $(sed -n 's/^project(canopy VERSION \([0-9.]*\).*/\1/p' "${CANOPY_SRCDIR:-$(dirname "$0")/../..}/CMakeLists.txt")"
check "canopy --version prints '$want'" test "$(canopy --version)" = "$want"
check "canopy-broker --version prints '$want'" test "$(canopy-broker --version)" = "$want"
# --help after a command to run belongs to that command, not to canopy
out=$(canopy start --size 1 canopy exec -r 0 sh -c 'echo "$@"' x --help 2>&1)
check "canopy exec CMD --help passes --help to CMD" test "$out" = "0: --help" -o "$out" = "--help"
finish
