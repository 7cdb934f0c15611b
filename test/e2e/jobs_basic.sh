#!/bin/bash
# canopy jobs end to end on a local instance of 4 brokers with fake
# resources (4 cores, 2 gpus each, hosts node0..node3): resource list,
# every submit option, task environment, output capture, attach, jobs,
# job info/last, cancel of pending and running jobs, time limits, and the
# working-directory fallback.
. "$(dirname "$0")/lib.sh"
export CANOPY_FAKE_RESOURCES="cores=4,gpus=2,host=node%r"
cat > "$T_TMP/inner.sh" <<'INNER'
. "$CANOPY_SRCDIR/test/e2e/lib.sh"
cd "$T_TMP"

# -- resources
out=$(canopy resource list)
check "resource list: header" grep -qE '^ +STATE NNODES NCORES NGPUS NODELIST$' <<<"$out"
check "resource list: 4 nodes, 16 cores, 8 gpus free on node[0-3] (got: $(grep free <<<"$out"))" \
    grep -qE '^ +free +4 +16 +8 node\[0-3\]$' <<<"$out"
check "resource list: nothing allocated or down" \
    [ "$(grep -cE '^ +(allocated|down) +0 +0 +0 *$' <<<"$out")" -eq 2 ]
check "resource list --json has ranks" sh -c "canopy resource list --json | grep -q '\"ranks\": \"0-3\"'"

# -- run: output, exit code, environment
out=$(canopy run -n 3 sh -c 'echo "task $CANOPY_TASK_RANK of $CANOPY_JOB_SIZE"' | sort)
check "run -n3: three tasks with ranks and size" [ "$out" = "$(printf 'task 0 of 3\ntask 1 of 3\ntask 2 of 3')" ]
canopy run sh -c 'exit 7'
check "run returns the job's exit code" [ $? -eq 7 ]
canopy run sh -c 'kill -TERM $$'
check "run returns 128+signal for a signaled task" [ $? -eq 143 ]
out=$(canopy run -N 2 sh -c 'echo "$CANOPY_RANK $CANOPY_JOB_NNODES $CANOPY_JOB_NODELIST"' | sort)
check "run -N2: one task on each of two brokers, nodelist (got: $out)" \
    [ "$out" = "$(printf '0 2 node[0-1]\n1 2 node[0-1]')" ]
id=$(canopy submit sh -c 'echo "$CANOPY_JOB_ID"')
out=$(canopy job attach "$id")
check "CANOPY_JOB_ID is the job id" [ "$out" = "$id" ]
canopy run sh -c 'echo out; echo err >&2' >"$T_TMP/o" 2>"$T_TMP/e"
check "stdout and stderr kept apart" sh -c "[ \"\$(cat $T_TMP/o)\" = out ] && [ \"\$(cat $T_TMP/e)\" = err ]"

# -- resource options
out=$(canopy run -N 2 -n 4 sh -c 'echo $CANOPY_RANK' | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')
check "-N2 -n4: two tasks per node (got: $out)" [ "$out" = "2 2 " ]
out=$(canopy run -n 2 -c 4 sh -c 'echo $CANOPY_RANK' | sort | tr '\n' ' ')
check "-n2 -c4: whole-node tasks land on two brokers (got: $out)" [ "$out" = "0 1 " ]
out=$(canopy run -g 2 sh -c 'echo $CUDA_VISIBLE_DEVICES')
check "-g2: CUDA_VISIBLE_DEVICES=0-1 (got: $out)" [ "$out" = "0-1" ]
out=$(canopy run -g 0 sh -c 'echo "[${CUDA_VISIBLE_DEVICES-unset}]"')
check "no gpus: CUDA_VISIBLE_DEVICES unset" [ "$out" = "[unset]" ]
out=$(canopy run --requires rank:3 -n 2 sh -c 'echo $CANOPY_RANK' | sort -u)
check "--requires rank:3 runs on rank 3 only" [ "$out" = "3" ]
out=$(canopy run --requires host:node[1-2] -N 2 sh -c 'echo $CANOPY_RANK' | sort | tr '\n' ' ')
check "--requires host:node[1-2] -N2 runs on ranks 1 and 2 (got: $out)" [ "$out" = "1 2 " ]
out=$(canopy run --requires rank:1-3 --requires host:node[0-1] sh -c 'echo $CANOPY_RANK')
check "two --requires are and-ed (rank 1)" [ "$out" = "1" ]
long=$(canopy submit --requires rank:2 -n 3 sleep 30)
excl=$(canopy submit -N 1 --exclusive --requires rank:2-3 sh -c 'echo $CANOPY_RANK')
out=$(canopy job attach "$excl")
check "--exclusive skips the node a job is using (ran on $out)" [ "$out" = "3" ]
R=$(canopy job info "$excl" R)
check "--exclusive gets all cores and gpus of the node" grep -q '"core": "0-3"' <<<"$R"
check "... and the gpus" grep -q '"gpu": "0-1"' <<<"$R"
out=$(canopy resource list)
check "resource list: node2 partly allocated (got: $(grep allocated <<<"$out"))" grep -qE '^ +allocated +1 +3 +0 node2$' <<<"$out"
check "resource list: node2 also counts as free (got: $(grep free <<<"$out"))" grep -qE '^ +free +4 +13 +8 node\[0-3\]$' <<<"$out"
canopy cancel "$long"
canopy job attach "$long" >/dev/null 2>&1
check "cancel of a running job: attach exits 143 (SIGTERM)" [ $? -eq 143 ]
check "cancelled running job is CANCELED" sh -c "canopy jobs -a | grep '^ *$long' | grep -q 'CANCELED cancel: canceled by user'"
check "a canceled job shows ST CA, as flux jobs" sh -c "canopy jobs -a | grep '^ *$long' | grep -qE ' CA +3 '"

# -- attributes, cwd, env, name, time limit
mkdir -p "$T_TMP/work"
out=$(canopy run --cwd "$T_TMP/work" pwd)
check "--cwd sets the working directory" [ "$out" = "$T_TMP/work" ]
out=$(cd "$T_TMP/work" && canopy run pwd)
check "the submit directory is the default cwd" [ "$out" = "$T_TMP/work" ]
canopy run --cwd "$T_TMP/missing" pwd >"$T_TMP/o" 2>"$T_TMP/e"
check "missing cwd falls back to /tmp" [ "$(cat "$T_TMP/o")" = "${TMPDIR:-/tmp}" ]
check "missing cwd: a warning on stderr" grep -q "warning: working directory $T_TMP/missing: No such file or directory; using" "$T_TMP/e"
out=$(FOO=bar BAZ=1 canopy run --env-remove 'BA*' sh -c 'echo "$FOO/${BAZ-none}"')
check "environment propagates; --env-remove drops (got: $out)" [ "$out" = "bar/none" ]
out=$(canopy run --env=X=42 --env=-PATH sh -c 'echo "$X"' 2>&1 || true)
check "--env=X=42 sets, --env=-PATH removes (command still runs via sh)" [ "$out" = "42" ] 
id=$(canopy submit --job-name myjob true)
canopy job attach "$id"
check "--job-name shows in canopy jobs" sh -c "canopy jobs -a | grep '^ *$id' | grep -q ' myjob '"
check "a completed job shows ST CD" sh -c "canopy jobs -a | grep '^ *$id' | grep -qE ' myjob +CD +1 .* COMPLETED'"
bad=$(canopy submit sh -c 'exit 3')
canopy job attach "$bad" >/dev/null 2>&1
check "a failed job shows ST F" sh -c "canopy jobs -a | grep '^ *$bad' | grep -qE ' F +1 .* FAILED'"
check "--json: st, state and result" sh -c "canopy jobs -a --json | python3 -c 'import json,sys; j=[x for x in json.load(sys.stdin) if x[\"id\"]==\"$bad\"][0]; assert (j[\"st\"], j[\"state\"], j[\"result\"]) == (\"F\", \"INACTIVE\", \"FAILED\"), j'"
id=$(canopy submit --setattr user.color=blue --setattr foo=17 true)
spec=$(canopy job info "$id" jobspec)
check "--setattr user.color=blue" grep -qE '^    color: blue$' <<<"$spec"
check "--setattr foo=17 goes under system as a number" grep -qE '^    foo: 17$' <<<"$spec"
canopy run -t 1s sleep 10 2>"$T_TMP/e"
rc=$?
check "-t 1s: job killed, non-zero exit (rc=$rc)" [ $rc -ne 0 ]
check "-t 1s: result TIMEOUT" sh -c "canopy jobs -a -n | head -1 | grep -q TIMEOUT"
check "a timed-out job shows ST TO" sh -c "canopy jobs -a -n | head -1 | grep -qE ' TO +1 .* TIMEOUT'"
check "-t: attach reports the timeout exception" grep -q "exception: timeout" "$T_TMP/e"

# -- dry run
out=$(canopy submit --dry-run -N2 -n4 --requires rank:1,3 hostname)
check "--dry-run prints the RFC 25 jobspec" grep -q '^version: 1' <<<"$out"
check "--dry-run: the rank constraint" grep -q '    - "1,3"' <<<"$out"

# -- pending cancel, jobs, info, last
big=$(canopy submit -N 4 -c 4 sleep 5)
blocked=$(canopy submit -N 4 -c 4 true)
sleep 0.3
check "canopy jobs shows the pending job as S" sh -c "canopy jobs | grep '^ *$blocked' | grep -qE ' S +4 +- +[0-9.]+s queue position 1'"
canopy cancel "$blocked"
canopy job attach "$blocked" 2>"$T_TMP/e"
check "cancel of a pending job: attach exits 1" [ $? -eq 1 ]
check "cancel of a pending job: CANCELED without running" sh -c "canopy jobs -a | grep '^ *$blocked' | grep -qE ' CA +4 +- .* CANCELED'"
canopy cancel "$big"
last=$(canopy job last)
check "job last is the newest job" [ "$last" = "$blocked" ]
info=$(canopy job info "$big")
check "job info: jobspec, R and eventlog sections" [ "$(grep -cE '^--- (jobspec|R|eventlog)$' <<<"$info")" -eq 3 ]
check "job info: event log in order" sh -c "canopy job info $big eventlog | awk '{print \$2}' | tr '\n' ' ' | grep -q '^submit depend alloc start exception'"
check "jobs --json is a JSON list" sh -c "canopy jobs -a --json | python3 -c 'import json,sys; assert isinstance(json.load(sys.stdin), list)'"
check "jobs -a header" sh -c "canopy jobs -a | head -1 | grep -qE '^ +JOBID USER +NAME +ST NTASKS NNODES +TIME INFO$'"
out=$(canopy run sh -c 'seq 1 20000')
check "large output captured in order (20000 lines)" [ "$(echo "$out" | wc -l)" -eq 20000 ]
id=$(canopy job last)
check "attach after the fact replays the output" [ "$(canopy job attach "$id" | tail -1)" = 20000 ]
finish
INNER
CANOPY_SRCDIR=${CANOPY_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)} T_TMP=$T_TMP \
    canopy start --size 4 --topo kary:2 bash "$T_TMP/inner.sh"
