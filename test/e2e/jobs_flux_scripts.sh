#!/bin/bash
# The two distribution scripts of seed 000 (flux-distribute.sh and
# flat-distribute.sh), read from $CANOPY_SHARED at run time and run with
# canopy in place of flux on an 8-broker kary:2 instance: a rank-0 job, an
# archive, extraction jobs with --requires and --dependency=after, then exec.
# A typo of the seed is fixed on the fly (a stray ')' after the flat
# script's submit).  All brokers share this host's disk, so each extracts
# into its own directory (-C ${guts_dir}/node{rank}, as if each node had its
# own disk) and the final `exec ls` looks there.  Checks: the scripts
# succeed, every job COMPLETED on the ranks it required, dependencies in
# order, the file extracted on exactly the required ranks, cleaned up after.
. "$(dirname "$0")/lib.sh"
SEED=$CANOPY_SHARED/seeds/000_c2741311b26b1438.txt
if [ ! -r "$SEED" ]; then
    echo "# skipped: $SEED not readable"; exit 0
fi
if ! canopy --help | grep -q '^  archive '; then
    echo "# skipped: this canopy has no archive command"; exit 0
fi
export CANOPY_FAKE_RESOURCES="cores=2,host=node%r"
awk '/^```bash$/ {f = 1; n++; next} /^```$/ {f = 0} f {print > ("'"$T_TMP"'/block" n ".sh")}' "$SEED"
for b in "$T_TMP"/block*.sh; do
    name=$(sed -n '2s/^# \([a-z-]*\.sh\)$/\1/p' "$b")
    [ -n "$name" ] || continue
    sed -e 's/\bflux /canopy /g' -e '/submit --watch/s/\(-C \${guts_dir}\))$/\1/' \
        -e 's/-C \${guts_dir}/-C ${guts_dir}\/node{rank}/' \
        -e 's/exec -r all ls \${guts_dir}fake\*/exec -r all sh -c "ls ${guts_dir}\/node\\$CANOPY_RANK\/fake*"/' \
        "$b" > "$T_TMP/$name"
done
check "seed 000 holds flux-distribute.sh" [ -s "$T_TMP/flux-distribute.sh" ]
check "seed 000 holds flat-distribute.sh" [ -s "$T_TMP/flat-distribute.sh" ]
check "translated scripts call canopy, not flux" [ "$(cat "$T_TMP"/f*-distribute.sh | grep -v '^ *#' | grep -cw flux)" -eq 0 ]

cat > "$T_TMP/inner.sh" <<'INNER'
. "$CANOPY_SRCDIR/test/e2e/lib.sh"
script=$1
mkdir -p "$T_TMP/work" && cd "$T_TMP/work"
bash "$SCRIPTS/$script" > out 2> err
rc=$?
check "$script: exits 0 (rc=$rc; $(tail -1 err))" [ $rc -eq 0 ]
ranks_of () { canopy job info "$1" R | python3 -c 'import json,sys; print(",".join(e["rank"] for e in json.load(sys.stdin)["execution"]["R_lite"]))'; }
ids=$(canopy jobs -a -n | awk '{print $1}' | sort)   # oldest first
# the scripts do not wait for their last submitted job (after: starts it once
# the previous one started): wait for every job before looking
for id in $ids; do canopy job attach "$id" >/dev/null 2>&1; done
n=$(echo "$ids" | wc -l)
check "$script: every job COMPLETED" [ "$(canopy jobs -a -n | grep -c ' COMPLETED$')" -eq "$n" ]
set -- $ids
check "$script: the first job ran on rank 0 (got $(ranks_of $1))" [ "$(ranks_of $1)" = 0 ]
if [ "$script" = flux-distribute.sh ]; then
    check "$script: three jobs" [ "$n" -eq 3 ]
    check "$script: level 1 extracted on ranks 1,3 (got $(ranks_of $2))" [ "$(ranks_of $2)" = "1,3" ]
    check "$script: level 2 extracted on ranks 2,4 (got $(ranks_of $3))" [ "$(ranks_of $3)" = "2,4" ]
    check "$script: level 2 depends on level 1 (after)" sh -c "canopy job info $3 eventlog | grep -q 'dependency-add {\"description\":\"after:$2\"}'"
else
    check "$script: two jobs" [ "$n" -eq 2 ]
    check "$script: all extracted on ranks 1-4 (got $(ranks_of $2))" [ "$(ranks_of $2)" = "1-4" ]
fi
last=${@: -1}
check "$script: extraction waited for the rank-0 job (after:$1)" sh -c "canopy job info $last eventlog | grep -q 'dependency-remove'"
check "$script: every extraction job started after the rank-0 job started" \
    awk -v a="$(canopy job info $1 eventlog | awk '$2 == "start" {print $1}')" \
        -v b="$(canopy job info $last eventlog | awk '$2 == "start" {print $1}')" 'BEGIN {exit !(b > a)}'
got=$(ls -d node*/fake-container-guts-* | cut -d/ -f1 | tr '\n' ' ')
check "$script: the file was extracted on ranks 1-4 only (got $got)" [ "$got" = "node1 node2 node3 node4 " ]
if [ "$script" = flat-distribute.sh ]; then   # --watch made the script wait: its ls saw them
    got=$(grep -o '/node[0-9]*/fake-container-guts-' out | sort | tr -d '\n')
    check "$script: exec ls listed the file on ranks 1-4" \
        [ "$got" = "/node1/fake-container-guts-/node2/fake-container-guts-/node3/fake-container-guts-/node4/fake-container-guts-" ]
fi
check "$script: the fake assets were removed" sh -c "! ls fake-container-guts-* 2>/dev/null"
rm -rf node*
finish
INNER
for s in flux-distribute.sh flat-distribute.sh; do
    out=$(CANOPY_SRCDIR=${CANOPY_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)} SCRIPTS=$T_TMP \
          canopy start --size 8 --topo kary:2 bash "$T_TMP/inner.sh" "$s" 2>&1)
    echo "$out" | grep -E '^(ok|not ok) '
    T_PASS=$((T_PASS + $(echo "$out" | grep -c '^ok ')))
    T_FAIL=$((T_FAIL + $(echo "$out" | grep -c '^not ok ')))
    echo "$out" | grep -q ' passed, 0 failed$' || { T_FAIL=$((T_FAIL + 1)); echo "not ok - $s run: $(echo "$out" | tail -3)"; }
done
finish
