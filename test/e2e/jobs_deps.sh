#!/bin/bash
# Dependencies (after, afterok chains, afterok skipped on failure, afterany,
# afternotok, several at once) and scheduling order (FCFS, backfill of jobs
# that fit now) on 3 local brokers with 2 fake cores each.
. "$(dirname "$0")/lib.sh"
export CANOPY_FAKE_RESOURCES="cores=2,host=node%r"
cat > "$T_TMP/inner.sh" <<'INNER'
. "$CANOPY_SRCDIR/test/e2e/lib.sh"
cd "$T_TMP"
result () { canopy jobs -a -n | awk -v id="$1" '$1 == id {print $8}'; }
started () { canopy job info "$1" eventlog | awk '$2 == "start" {print $1}'; }
inactive () { canopy job info "$1" eventlog | awk '$2 == "clean" {print $1}'; }

# afterok chain: each job appends to a file after the previous one ended well
log=$T_TMP/chain
a=$(canopy submit sh -c "sleep 0.3; echo a >> $log")
b=$(canopy submit --dependency afterok:$a sh -c "echo b >> $log")
c=$(canopy submit --dependency afterok:$b sh -c "echo c >> $log")
check "afterok chain: the dependent shows D with its dependency" sh -c "canopy jobs | grep '^ *$c' | grep -q ' D .*depends:afterok:$b'"
canopy job attach "$c"
check "afterok chain ran in order a b c" [ "$(tr '\n' ' ' < "$log")" = "a b c " ]
check "afterok: b started after a ended" awk -v x="$(inactive $a)" -v y="$(started $b)" 'BEGIN {exit !(y >= x)}'
check "dependency-add and dependency-remove are logged" \
    [ "$(canopy job info "$b" eventlog | awk '{print $2}' | grep -c '^dependency-')" -eq 2 ]

# afterok skipped on failure, and the skip propagates down the chain
f=$(canopy submit sh -c 'sleep 0.2; exit 3')
g=$(canopy submit --dependency afterok:$f echo never)
h=$(canopy submit --dependency afterok:$g echo never-either)
n=$(canopy submit --dependency afternotok:$f echo notok-ran)
y=$(canopy submit --dependency afterany:$f echo any-ran)
out=$(canopy job attach "$g" 2>&1); rc=$?
check "afterok on a failed job: never runs, exits 1" [ $rc -eq 1 ]
check "afterok on a failed job: clear exception" grep -q "exception: dependency: dependency afterok:$f can never be met: job $f FAILED" <<<"$out"
check "afterok on a failed job: no output" [ "$(grep -c '^never' <<<"$out")" -eq 0 ]
canopy job attach "$h" >/dev/null 2>&1
check "the skip propagates (h FAILED, never ran)" [ "$(result $h)" = FAILED ]
check "afternotok on a failed job runs" [ "$(canopy job attach "$n")" = notok-ran ]
check "afterany on a failed job runs" [ "$(canopy job attach "$y")" = any-ran ]
ok=$(canopy submit true)
canopy job attach "$ok"
nn=$(canopy submit --dependency afternotok:$ok echo never)
canopy job attach "$nn" >/dev/null 2>&1
check "afternotok on a completed job never runs" [ "$(result $nn)" = FAILED ]

# after: starts once the other job started, while it still runs
long=$(canopy submit sh -c 'sleep 2')
aft=$(canopy submit --dependency after:$long echo after-ran)
check "after: runs while the job it follows still runs" [ "$(canopy job attach "$aft")" = after-ran ]
check "after: the followed job is still running" sh -c "canopy jobs | grep '^ *$long' | grep -q ' R '"
canceled=$(canopy submit --dependency after:$long true)
canopy cancel "$long"
blocker=$(canopy submit sleep 5)
x=$(canopy submit -N 3 -c 2 true)
never=$(canopy submit --dependency after:$x true)
canopy cancel "$x"
canopy cancel "$blocker"
canopy job attach "$never" > /dev/null 2>&1
check "after: a job canceled before it started fails the dependent" sh -c "canopy jobs -a | grep '^ *$never' | grep -q 'ended without starting'"

# several dependencies: all must be met
p=$(canopy submit sleep 0.3)
q=$(canopy submit sleep 0.6)
both=$(canopy submit --dependency afterok:$p --dependency afterok:$q true)
canopy job attach "$both"
check "two dependencies: starts after both ended" awk -v x="$(inactive $q)" -v y="$(started $both)" 'BEGIN {exit !(y >= x)}'

# FCFS: a whole-instance job waits for the running job (time limit 5 s, so
# the head has a reservation); later small jobs that fit now are backfilled
# only when they cannot delay it (they end before the reservation)
r1=$(canopy submit -n 2 -t 5s --requires rank:0 sleep 1.5)
head=$(canopy submit -N 3 -c 2 -t 10s true)
small=$(canopy submit -n 1 -t 1s --requires rank:1 echo small)
unbounded=$(canopy submit -n 1 --requires rank:2 echo unbounded)
canopy job attach "$small" >/dev/null
check "backfill: a short job that fits now starts before the blocked head" \
    awk -v x="$(started $small)" -v h="$(canopy job info $head eventlog | awk '$2 == "alloc" {print $1}')" 'BEGIN {exit !(h == "" || x < h)}'
canopy job attach "$unbounded" >/dev/null
canopy job attach "$head"
check "FCFS: a job without a time limit does not jump the head" \
    awk -v x="$(started $unbounded)" -v h="$(started $head)" 'BEGIN {exit !(x > h)}'
check "the head started after the running job ended" awk -v x="$(inactive $r1)" -v h="$(started $head)" 'BEGIN {exit !(h >= x)}'
finish
INNER
CANOPY_SRCDIR=${CANOPY_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)} T_TMP=$T_TMP \
    canopy start --size 3 bash "$T_TMP/inner.sh"
