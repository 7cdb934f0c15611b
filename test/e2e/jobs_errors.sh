#!/bin/bash
# Bad input to the job commands: unknown option values, impossible
# requests, bad or unknown ids, malformed jobspecs.  Each must fail with one
# clear line and a non-zero exit, and leave the instance working.
. "$(dirname "$0")/lib.sh"
export CANOPY_FAKE_RESOURCES="cores=2,host=node%r"
cat > "$T_TMP/inner.sh" <<'INNER'
. "$CANOPY_SRCDIR/test/e2e/lib.sh"
cd "$T_TMP"
unknown=f2ERmjCiRLp2
# options
expect_fail "-N abc" "invalid -N/--nodes 'abc'" canopy submit -N abc true
expect_fail "-n 0" "invalid -n/--ntasks '0'" canopy submit -n 0 true
expect_fail "-c -1" "invalid -c/--cores-per-task '-1'" canopy submit -c -1 true
expect_fail "-g x" "invalid -g/--gpus-per-task 'x'" canopy submit -g x true
expect_fail "unknown option" "unknown option '--bogus'" canopy submit --bogus true
expect_fail "option without value" "needs a value" canopy submit -N
expect_fail "no command" "no command given" canopy submit -N 1
expect_fail "--requires gpu:1" "invalid --requires 'gpu:1'" canopy submit --requires gpu:1 true
expect_fail "--requires rank:x" "invalid --requires" canopy submit --requires rank:x true
expect_fail "--dependency bad scheme" "dependency" canopy submit --dependency before:$unknown true
expect_fail "--dependency bad id" "invalid job id 'fxyz0'" canopy submit --dependency afterok:fxyz0 true
expect_fail "--dependency unknown job" "dependency afterok:$unknown: no such job" canopy submit --dependency afterok:$unknown true
expect_fail "-t abc" "time" canopy submit -t abc true
expect_fail "--setattr system.duration=-1" "duration" canopy submit --setattr system.duration=-1 true
expect_fail "--exclusive without -N" "exclusive" canopy submit --exclusive true
expect_fail "-n 2 -N 3" "" canopy submit -N 3 -n 2 true
expect_fail "--cc empty/bad" "invalid --cc" canopy submit --cc x true
# impossible requests
expect_fail "more nodes than the instance" "unsatisfiable request: 5 nodes .* only 3 nodes" canopy submit -N 5 true
expect_fail "more cores per task than a node" "unsatisfiable request" canopy submit -c 3 true
expect_fail "more tasks than cores" "unsatisfiable request: 7 slots .* holds at most 6" canopy submit -n 7 true
expect_fail "gpus on a gpu-less instance" "unsatisfiable request" canopy submit -g 1 true
expect_fail "rank outside the instance" "unsatisfiable request: no node satisfies" canopy submit --requires rank:9 true
expect_fail "unknown host" "unsatisfiable request: no node satisfies" canopy submit --requires host:nosuch true
expect_fail "-N2 on one allowed rank" "unsatisfiable request: 2 nodes" canopy submit -N 2 --requires rank:1 true
expect_fail "run of an impossible job" "unsatisfiable request" canopy run -N 9 true
# ids
expect_fail "attach: bad id" "invalid job id 'fxyz0'" canopy job attach fxyz0
expect_fail "attach: unknown id" "job $unknown: no such job" canopy job attach $unknown
expect_fail "attach: decimal unknown id" "no such job" canopy job attach 12345
expect_fail "info: bad id" "invalid job id" canopy job info -5
expect_fail "info: unknown id" "no such job" canopy job info $unknown
expect_fail "info: bad key" "unknown key 'foo'" canopy job info $unknown foo
expect_fail "cancel: bad id" "invalid job id" canopy cancel 'f 1'
expect_fail "cancel: unknown id" "job $unknown: no such job" canopy cancel $unknown
id=$(canopy submit true)
canopy job attach "$id"
expect_fail "cancel: inactive job" "job $id is inactive" canopy cancel "$id"
expect_fail "cancel: no id" "no job id given" canopy cancel
# other commands
expect_fail "jobs: unknown option" "unknown option" canopy jobs --bogus
expect_fail "burst list without pools" "this instance has no burst pools" canopy burst list
expect_fail "burstable without pools: refused as any job too large" "9 nodes .* the instance has only" canopy submit -N9 --setattr burstable true
expect_fail "job: unknown subcommand" "unknown subcommand 'frob'" canopy job frob
expect_fail "resource: unknown subcommand" "unknown subcommand 'frob'" canopy resource frob
expect_fail "resource list: unknown option" "unknown option" canopy resource list --bogus
# malformed jobspecs through canopy job submit
printf 'version: 1\nresources: [\n' > bad1.yaml
expect_fail "jobspec: not YAML" "bad1.yaml" canopy job submit bad1.yaml
canopy submit --dry-run -n 2 hostname > good.yaml
check "a dry-run jobspec submits as it is" sh -c "id=\$(canopy job submit good.yaml) && canopy job attach \$id | grep -q ."
sed 's/^version: 1/version: 2/' good.yaml > v2.yaml
expect_fail "jobspec: version 2" "version must be 1" canopy job submit v2.yaml
sed '/^tasks:/,/^attributes:/{/^attributes:/!d}' good.yaml > notasks.yaml
expect_fail "jobspec: no tasks" "tasks must be a list" canopy job submit notasks.yaml
sed 's/type: slot/type: socket/' good.yaml > socket.yaml
expect_fail "jobspec: unknown resource type" "unsupported jobspec" canopy job submit socket.yaml
sed 's/count: 2/count: many/' good.yaml > count.yaml
expect_fail "jobspec: count not a number" "count must be an integer" canopy job submit count.yaml
sed 's/^    per_slot: 1/    per_slot: 0/' good.yaml > ps.yaml
expect_fail "jobspec: per_slot 0" "per_slot or total" canopy job submit ps.yaml
echo '[1, 2]' > list.json
expect_fail "jobspec: a list" "must be a mapping" canopy job submit list.json
expect_fail "jobspec: missing file" "nosuch.yaml" canopy job submit nosuch.yaml
check "the instance still runs jobs" [ "$(canopy run echo fine)" = fine ]
check "no job was created by the refused submits" [ "$(canopy jobs -a -n | wc -l)" -eq 3 ]
finish
INNER
CANOPY_SRCDIR=${CANOPY_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)} T_TMP=$T_TMP \
    canopy start --size 3 bash "$T_TMP/inner.sh"
