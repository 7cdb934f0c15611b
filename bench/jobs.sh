#!/bin/bash
# Job benchmarks on an 8-broker local instance (kary:2, 4 fake cores each):
#  1. throughput: 1000 short jobs (`true`) submitted with one `canopy submit
#     --cc 1-1000` and run to completion; jobs per second from the first
#     submit to the last job inactive, and the submit rate alone;
#  2. submit latency: one `canopy submit true` process per job (connect,
#     build the jobspec, round trip to rank 0 with its SQLite commit), and
#     the same from one client (--cc), per job.
# Figures are printed, never asserted.  NJOBS overrides 1000.
set -eu
BIN=${CANOPY_BIN:-$(cd "$(dirname "$0")/../build/bin" && pwd)}
export PATH="$BIN:$PATH"
export CANOPY_FAKE_RESOURCES="cores=4,host=node%r"
N=${NJOBS:-1000}
canopy start --size 8 --topo kary:2 bash -c '
N='"$N"'
now () { date +%s.%N; }
t0=$(now)
canopy submit --cc 1-$N true > /dev/null
t1=$(now)
while [ "$(canopy jobs -n | wc -l)" -gt 0 ]; do sleep 0.05; done
t2=$(now)
done_ok=$(canopy jobs -a -n | grep -c " COMPLETED$" || true)
echo "== throughput: $N x true, 8 brokers (32 cores)"
awk -v a=$t0 -v b=$t1 -v c=$t2 -v n=$N -v ok=$done_ok "BEGIN {
  printf \"submitted in %.2f s (%.0f submits/s); all inactive after %.2f s: %.1f jobs/s; %d COMPLETED\n\",
         b-a, n/(b-a), c-a, n/(c-a), ok }"
echo "== submit latency"
M=100
t0=$(now)
for i in $(seq $M); do canopy submit true > /dev/null; done
t1=$(now)
t2=$(now)
canopy submit --cc 1-$M true > /dev/null
t3=$(now)
awk -v a=$t0 -v b=$t1 -v c=$t2 -v d=$t3 -v m=$M "BEGIN {
  printf \"canopy submit process, end to end: %.2f ms per job (%d runs)\n\", (b-a)*1000/m, m
  printf \"one client, sequential submits (--cc): %.2f ms per job\n\", (d-c)*1000/m }"
while [ "$(canopy jobs -n | wc -l)" -gt 0 ]; do sleep 0.05; done
'
