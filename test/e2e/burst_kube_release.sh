#!/bin/bash
# A kubernetes pool (a StatefulSet, which scales from its highest index down)
# releases an idle node only when no node above it is busy
# (doc/bursting.md): against the loopback API server with the real kubectl,
# two "pods" started by hand as the StatefulSet's pods would run
# (canopy-broker --host <cluster>-<i>) join as ranks 2 and 3; with a job on
# rank 3 only, rank 2 stays up past the idle time (releasing it would leave
# its pod running); once rank 3 is idle too both go, and the objects are
# deleted.  Skips when kubectl is not installed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kubelib.bash" || exit 1
command -v kubectl >/dev/null || { echo "SKIP: needs kubectl"; echo "0 passed, 0 failed, 1 skipped"; exit 0; }
D=$T_TMP
kube_burst_setup "{name: cloud, size: 3, cores: 2, provider: kubernetes, settings: {kubeconfig: $D/kubeconfig, namespace: burst}, resume_timeout: 30, idle_time: 2}"
export CANOPY_FAKE_RESOURCES="cores=2"
instance_start
check "the instance comes up" wait_until 20 sh -c 'canopy resource list | awk "\$1 == \"free\" {exit !(\$2 == 2)}"'
cloud=$(canopy burst list | awk '$1 == "cloud" {print $2}')
row () { canopy resource list | awk -v s="$1" '$1 == s {print $2}'; }
sts_replicas () { kubectl --kubeconfig kubeconfig -n burst get statefulset "$cloud" -o jsonpath='{.spec.replicas}' 2>/dev/null; }

j1=$(canopy submit -N4 --setattr burstable true)
export -f sts_replicas; export cloud
check "a burstable -N4 job makes kubectl apply a StatefulSet of 2" wait_until 15 bash -c "[ \"\$(sts_replicas)\" = 2 ]"
# the two pods, as the StatefulSet would run them
for i in 0 1; do start_host "$cloud-$i"; done
check "both join and the job runs" wait_until 30 sh -c "canopy jobs -a | grep -E '^ *$j1 ' | grep -q CD"
j2=$(canopy submit -N1 --requires rank:3 --setattr burstable sleep 6)
check "a job on rank 3 ($cloud-1) alone starts" wait_until 10 sh -c "canopy jobs | grep -E '^ *$j2 ' | grep -q ' R '"
sleep 3.5   # past the idle time of rank 2
check "rank 2 ($cloud-0), idle but below the busy rank 3, is kept up (pool: 1 node in burst, not 2; got $(row burst))" \
    [ "$(row burst)" = 1 ]
check "... not released in the log" sh -c "! grep -q 'burst: pool cloud: released' '$D/log-lead'"
check "... and the StatefulSet still wants 2" [ "$(sts_replicas)" = 2 ]
check "once rank 3 is idle too, both are released together" wait_until 20 \
    grep -q "burst: pool cloud: released $cloud-\[0-1\] (idle for 2s)" "$D/log-lead"
check "... the pool's 3 nodes are in state burst again" wait_until 10 sh -c '[ "$(canopy resource list | awk "\$1 == \"burst\" {print \$2}")" = 3 ]'
check "... and the objects are deleted from the server" wait_until 15 bash -c \
    "! kubectl --kubeconfig kubeconfig -n burst get statefulset $cloud >/dev/null 2>&1"
check "no sanitizer report in the logs" sh -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' $D/log-*"
finish
