#!/bin/bash
# Job placement comes from canopy's matcher: on a local instance of 4
# brokers (fake resources: 4 cores, 2 gpus, host node%r each) a series of
# jobs of different shapes is started and held; the same jobspecs (from
# `canopy submit --dry-run`) are then matched in the same order by
# `canopy match` on the instance's R (`canopy resource R`).  Every job must
# have exactly the ranks, cores and gpus the matcher gives.  Also: a job
# whose constraint no node satisfies is refused at submit, and a job that
# does not fit now waits, then starts where the matcher puts it.
. "$(dirname "$0")/lib.sh"
export CANOPY_FAKE_RESOURCES="cores=4,gpus=2,host=node%r"
cat > "$T_TMP/inner.sh" <<'INNER'
. "$CANOPY_SRCDIR/test/e2e/lib.sh"
cd "$T_TMP"

# per-rank "rank core=IDS gpu=IDS" lines, sorted, from an R_lite array
# (sched groups ranks into idsets; canopy match writes one entry per rank)
norm () {
    jq -r '.[] | . as $e | ($e.rank | tostring | split(",")[] |
        if test("-") then (split("-") | map(tonumber)) as [$a, $b] | range($a; $b + 1) else tonumber end) |
        "\(.) core=\($e.children.core // "") gpu=\($e.children.gpu // "")"' | sort -n
}

canopy resource R > R.json
check "resource R: 4 ranks of 4 cores and 2 gpus" \
    sh -c "jq -e '.execution.R_lite == [{\"rank\":\"0-3\",\"children\":{\"core\":\"0-3\",\"gpu\":\"0-1\"}}]' R.json >/dev/null"

shapes=(
    "-N2 -n4"
    "-n3"
    "--requires rank:3 -n1 -c2"
    "-n1 -g1"
    "--requires host:node3 -n1"
    "-N1 --exclusive"
    "-n1 -c1 -g1"
)
ids=()
k=0
: > cmds
for s in "${shapes[@]}"; do
    k=$((k + 1))
    canopy submit --dry-run $s sleep 300 > "js$k.yaml"
    id=$(canopy submit $s sleep 300)
    ids+=("$id")
    wait_until 10 canopy job info "$id" R
    canopy job info "$id" R | jq -c '.execution.R_lite' | norm > "got$k"
    echo "match allocate js$k.yaml" >> cmds
done
echo quit >> cmds
canopy match -L R.json -f rv1exec -P lonode -F rlite < cmds > matched 2> match.err
n=$(grep -c '^\[' matched)
check "canopy match places all ${#shapes[@]} jobs (placed $n; $(head -c 200 match.err))" [ "$n" -eq "${#shapes[@]}" ]
# each placement line is followed by an INFO block naming its job number
awk '/^\[/ { last = $0 } /^INFO: JOBID=/ { split($2, a, "="); print last > ("raw" a[2]) }' matched
for k in $(seq 1 ${#shapes[@]}); do norm < "raw$k" > "want$k" 2>/dev/null; done
for k in $(seq 1 ${#shapes[@]}); do
    check "job $k (${shapes[$k-1]}) placed as the matcher places it: $(tr '\n' ';' < "got$k") vs $(tr '\n' ';' < "want$k")" \
        cmp -s "got$k" "want$k"
done
check "the held jobs use all 16 cores" sh -c "canopy resource list --json | jq -e '.allocated.ncores == 16' >/dev/null"

# a job that does not fit now waits, and starts where the matcher says once
# the exclusive job (6) ends
canopy submit --dry-run -N1 -n1 -c4 sleep 300 > jsw.yaml
wid=$(canopy submit -N1 -n1 -c4 sleep 300)
sleep 0.5
check "a whole-node job waits while no node is free" sh -c "! canopy job info $wid R 2>/dev/null"
canopy cancel "${ids[5]}"
check "... and starts when the exclusive job is canceled" wait_until 10 canopy job info "$wid" R
canopy job info "$wid" R | jq -c '.execution.R_lite' | norm > gotw
{ for k in 1 2 3 4 5 6 7; do echo "match allocate js$k.yaml"; done; echo "cancel 6"; echo "match allocate jsw.yaml"; echo quit; } \
    | canopy match -L R.json -f rv1exec -P lonode -F rlite 2>/dev/null | grep '^\[' | tail -1 | norm > wantw
check "the waiting job got the matcher's placement: $(tr '\n' ';' < gotw) vs $(tr '\n' ';' < wantw)" \
    sh -c "[ -s wantw ] && cmp -s gotw wantw"

# constraints: refused at submit when no node can ever satisfy them
expect_fail "a host no node has is refused at submit" "unsatisfiable" canopy submit --requires host:nosuch true
expect_fail "-N3 within ranks 0-1 is refused at submit" "unsatisfiable" canopy submit -N3 --requires rank:0-1 true
for id in "${ids[@]}" "$wid"; do canopy cancel "$id" 2>/dev/null; done
finish
INNER
CANOPY_SRCDIR=${CANOPY_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)} T_TMP=$T_TMP \
    canopy start --size 4 --topo kary:2 bash "$T_TMP/inner.sh"
