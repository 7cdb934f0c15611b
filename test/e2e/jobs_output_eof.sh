#!/bin/bash
# A task's output pipe that shows its last data and its EOF in the same poll
# must still end the job.  The task stops its broker (SIGSTOP), writes to
# stdout and closes it, then lets the broker go on: the broker's first poll
# of that pipe sees data and hangup together.  Before proc.c made its pollers
# tolerant, czmq's zloop read the data and then dropped the pipe's poller
# before EOF: the exit was never reported and the job stayed in R for ever
# (seen once under load in jobs_errors as a hung `canopy run echo fine`).
. "$(dirname "$0")/lib.sh"
export CANOPY_FAKE_RESOURCES="cores=2,host=node%r"
cat > "$T_TMP/inner.sh" <<'INNER'
. "$CANOPY_SRCDIR/test/e2e/lib.sh"
cd "$T_TMP"
# stderr closed early (its EOF handled on its own), then stdout written and
# closed while the broker is stopped; the task lives on so that its exit is
# not seen in the same poll.
script='exec 2>&-; sleep 0.3; kill -STOP $PPID; echo fine; exec >&-; kill -CONT $PPID; sleep 0.5'
for rank in 0 1; do
    out=$(timeout 20 canopy run --requires rank:$rank sh -c "$script"); rc=$?
    check "rank $rank: job ends (rc=$rc) with its output (got '$out')" [ $rc -eq 0 ] && [ "$out" = fine ]
done
# the same with stderr
script='exec >&-; sleep 0.3; kill -STOP $PPID; echo oops >&2; exec 2>&-; kill -CONT $PPID; sleep 0.5'
out=$(timeout 20 canopy run sh -c "$script" 2>&1); rc=$?
check "stderr: job ends (rc=$rc) with its output (got '$out')" [ $rc -eq 0 ] && [ "$out" = oops ]
check "no job left active" [ "$(canopy jobs -n | wc -l)" -eq 0 ]
check "the instance still runs jobs" [ "$(timeout 20 canopy run echo fine)" = fine ]
finish
INNER
CANOPY_SRCDIR=${CANOPY_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)} T_TMP=$T_TMP \
    canopy start --size 2 bash "$T_TMP/inner.sh"
