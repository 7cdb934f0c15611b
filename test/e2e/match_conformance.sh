#!/bin/bash
# match_conformance.sh - run Fluxion's resource-query golden cases through
# `canopy match` and compare with the golden output.
#
# Cases come from $CANOPY_SHARED/conformance/fluxion/cases.json (read at run
# time, never copied).  Lines with traversal statistics are masked.  Prints
# every failing case id, then "N passed, M failed" and the pass rate; exits
# non-zero only if fewer than FLOOR cases pass: the 95% target of issue 4 is
# not met yet, so the floor guards against regressions (raise it as the count
# grows; the rate printed below is the honest figure).  Needs jq.
#   MATCH_CASES=regex   run only cases whose id matches
#   MATCH_VERBOSE=1     show a diff for each failure
FLOOR=374   # cases that passed when this floor was last raised
set -u
BIN=${CANOPY_BIN:-$(dirname "$0")/../../build/bin}
SHARED=${CANOPY_SHARED:-$(dirname "$0")/../../../shared}
CANOPY=${CANOPY_MATCH_CMD:-"$BIN/canopy match"}
DIR="$SHARED/conformance/fluxion"
# cases run from a scratch directory: make relative paths absolute
[ -d "$BIN" ] && BIN=$(cd "$BIN" && pwd) && CANOPY=${CANOPY_MATCH_CMD:-"$BIN/canopy match"}
[ -d "$DIR" ] && DIR=$(cd "$DIR" && pwd)
if [ ! -f "$DIR/cases.json" ]; then
    echo "SKIP: no $DIR/cases.json"
    exit 0
fi
if ! command -v jq >/dev/null; then
    echo "SKIP: jq is needed"
    exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Cases that differ from Fluxion on purpose (see doc/match.md).
declare -A ON_PURPOSE=()

mask () {
    grep -v -E 'PREORDER COUNT|POSTORDER COUNT|ELAPSE=' "$1" || true
}

n=$(jq length "$DIR/cases.json")
pass=0
fail=0
purpose=0
failed_ids=()
for ((i = 0; i < n; i++)); do
    jq -r --argjson i "$i" --arg s $'\x1f' '.[$i] | [.id, .graph, .load_format, .subsystems,
        .policy, .match_format, .traverser, .prune_filters, .expected, .compare,
        .extra_opts] | join($s)' "$DIR/cases.json" >"$WORK/meta" || exit 1
    IFS=$'\x1f' read -r id graph lfmt subs policy mfmt trav prune expected compare extra <"$WORK/meta"
    if [ -n "${MATCH_CASES:-}" ] && ! [[ $id =~ $MATCH_CASES ]]; then
        continue
    fi
    jq -r ".[$i].commands[]" "$DIR/cases.json" | sed "s|@TEST_SRCDIR@|$DIR/t|g" >"$WORK/cmds"
    args=(-L "$DIR/$graph" -f "$lfmt" -S "$subs" -P "$policy" -F "$mfmt" -T "$trav"
          -t "$WORK/out")
    if [ -n "$prune" ] && [ "$prune" != "(empty)" ]; then
        args+=(-p "$prune")
    fi
    if [ -n "$extra" ]; then
        # shellcheck disable=SC2206
        extra_args=($extra)
        args+=("${extra_args[@]%<}")
    fi
    rm -f "$WORK/out"
    (cd "$WORK" && timeout 120 $CANOPY "${args[@]}" <"$WORK/cmds" >"$WORK/stdout" 2>"$WORK/stderr")
    touch "$WORK/out"
    case "$compare" in
        stderr) cp "$WORK/stderr" "$WORK/got" ;;
        test-output+stderr) cat "$WORK/out" "$WORK/stderr" >"$WORK/got" ;;
        *) cp "$WORK/out" "$WORK/got" ;;
    esac
    if [ ! -f "$DIR/$expected" ] || [ -z "$expected" ]; then
        echo "FAIL: $id (no golden file \"$expected\")"
        fail=$((fail + 1))
        continue
    fi
    mask "$WORK/got" >"$WORK/got.m"
    mask "$DIR/$expected" >"$WORK/exp.m"
    if cmp -s "$WORK/got.m" "$WORK/exp.m"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        failed_ids+=("$id")
        if [ -n "${ON_PURPOSE[$id]:-}" ]; then
            purpose=$((purpose + 1))
            echo "differs on purpose: $id (${ON_PURPOSE[$id]})"
        else
            echo "FAIL: $id"
        fi
        if [ -n "${MATCH_VERBOSE:-}" ]; then
            diff "$WORK/exp.m" "$WORK/got.m" | head -20
        fi
    fi
done
total=$((pass + fail))
echo "$pass passed, $fail failed ($purpose of the failures differ on purpose)"
if [ "$total" -eq 0 ]; then
    echo "no cases run"
    exit 1
fi
rate=$((pass * 1000 / total))
echo "pass rate: $((rate / 10)).$((rate % 10))% (target 95%)"
[ "$pass" -ge "$FLOOR" ]
