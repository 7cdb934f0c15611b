#!/bin/bash
# Bursting with the command provider and its faults (doc/bursting.md), on a
# 2-host instance with five pools: `cmd` (resume/suspend scripts that start
# and stop brokers; the job shows `waiting for burst` while they start; rank
# 0 killed and restarted during the burst: nothing started twice, the job
# runs; idle release runs the suspend script; a pool node killed under a
# running job fails it and shows down), `never` (nodes never join: down
# after the resume timeout, the job waits again, then fails after its
# tries), `fails` (the resume program fails: the job fails at once),
# `badcert` (local brokers with another certificate: refused and logged,
# the job fails after the timeout) and `cloud` (kubernetes: the rendered
# Secret and StatefulSet checked field by field; test/e2e/burst_kube.sh
# applies them with kubectl).
. "$(dirname "$0")/lib.sh"
D=$T_TMP
canopy keygen "$D/good.cert"
canopy keygen "$D/other.cert"
cat > "$D/resume.sh" <<EOS
#!/bin/sh
echo "resume \$1 ranks=\$CANOPY_BURST_RANKS cluster=\$CANOPY_BURST_CLUSTER lead=\$CANOPY_BURST_LEAD" >> $D/calls
sleep \$(cat $D/delay 2>/dev/null || echo 0)
for h in \$CANOPY_BURST_HOSTNAMES; do
    mkdir -p -m 0700 $D/run-\$h
    canopy-broker --config "\$CANOPY_BURST_CONFIG" --cert "\$CANOPY_BURST_CERT" --host \$h --rundir $D/run-\$h >>$D/log-\$h 2>&1 &
    echo \$! > $D/pid-\$h
done
EOS
cat > "$D/suspend.sh" <<EOS
#!/bin/sh
echo "suspend \$1" >> $D/calls
for h in \$CANOPY_BURST_HOSTNAMES; do kill \$(cat $D/pid-\$h); done
EOS
chmod +x "$D/resume.sh" "$D/suspend.sh"
instance_config "$D/good.cert" 2 lead h1
cat >> "$CONFIG" <<EOC
burst:
  - {name: cmd, size: 2, cores: 2, provider: command, settings: {resume: $D/resume.sh, suspend: $D/suspend.sh}, idle_time: 2, resume_timeout: 30}
  - {name: never, size: 2, cores: 4, provider: command, settings: {resume: /bin/true, suspend: /bin/true}, resume_timeout: 2, max_tries: 2}
  - {name: fails, size: 1, cores: 8, provider: command, settings: {resume: /bin/false, suspend: /bin/true}, max_tries: 1}
  - {name: badcert, size: 1, cores: 16, provider: local, settings: {cert: $D/other.cert}, resume_timeout: 4, max_tries: 1}
  - {name: cloud, size: 3, cores: 32, gpus: 1, provider: kubernetes, settings: {kubeconfig: $D/kubeconfig, namespace: burst, image: "canopy:test"}}
EOC
export CANOPY_FAKE_RESOURCES="cores=2"
instance_start
check "the instance comes up" wait_until 20 sh -c 'canopy resource list | awk "\$1 == \"free\" {exit !(\$2 == 2)}"'
cmd=$(canopy burst list | awk '$1 == "cmd" {print $2}')
check "burst list shows the five pools" [ "$(canopy burst list | tail -n +2 | wc -l)" -eq 5 ]
info () { canopy jobs -a -n | awk -v id="$1" '$1 == id {for (i = 8; i <= NF; i++) printf "%s ", $i}'; }

# -- command provider; rank 0 restarted while the nodes start
echo 3 > "$D/delay"
a=$(canopy submit -N4 --setattr burstable sh -c 'echo $CANOPY_RANK')
check "a burstable -N4 job waits for burst" wait_until 10 sh -c "canopy jobs | grep '^ *$a ' | grep -q 'waiting for burst (pool cmd: 2 nodes starting)'"
check "resource list: 2 nodes starting" sh -c "canopy resource list | awk '\$1 == \"starting\" {exit !(\$2 == 2)}'"
check "the resume program got the hostlist, ranks, cluster and lead" \
    grep -q "resume $cmd-\[0-1\] ranks=2-3 cluster=$cmd lead=ipc://$D/g-lead" "$D/calls"
kill -9 "${PID[lead]}"
wait "${PID[lead]}" 2>/dev/null
start_host lead
check "after the restart the job runs on the nodes started before it" \
    [ "$(timeout 60 canopy job attach "$a" | sort | tr '\n' ' ')" = "0 1 2 3 " ]
check "... started once, not twice" [ "$(grep -c '^resume' "$D/calls")" -eq 1 ]
check "... the restarted lead waited for them" grep -q "burst: pool cmd: 2 nodes asked for before the restart" "$D/log-lead"
check "idle nodes are released by the suspend program" wait_until 15 grep -q "^suspend $cmd-" "$D/calls"
echo 0 > "$D/delay"

# -- a pool node killed under a running job
b=$(canopy submit -N4 --setattr burstable sleep 60)
check "the next burst job runs" wait_until 20 sh -c "canopy jobs | grep '^ *$b ' | grep -q ' R '"
kill -9 "$(cat "$D/pid-$cmd-0")"
check "killing a pool node fails its job (node-failure)" wait_until 15 sh -c "canopy jobs -a | grep '^ *$b ' | grep -q 'node-failure'"
check "... and the node shows down" wait_until 10 sh -c "canopy resource list | awk '\$1 == \"down\"' | grep -q '$cmd-0'"
kill "$(cat "$D/pid-$cmd-1")" 2>/dev/null

# -- nodes that never join, a failing resume program, another certificate
c=$(canopy submit -N2 -c 4 --setattr burstable true)
d=$(canopy submit -N1 -c 8 --setattr burstable true)
e=$(canopy submit -N1 -c 16 --setattr burstable true)
check "nodes that never join: the job waits for them" wait_until 5 sh -c "canopy jobs | grep '^ *$c ' | grep -q 'waiting for burst (pool never: 2 nodes starting)'"
check "... they go down after the resume timeout and the job waits again" \
    wait_until 15 grep -q "waits again (try 1 of 2 failed: did not join within the resume timeout (2s))" "$D/log-lead"
check "... and fails after its 2 tries, with the reason" wait_until 20 sh -c \
    "canopy jobs -a | grep '^ *$c ' | grep -q 'burst: pool never: did not join within the resume timeout (2s) (2 of 2 tries)'"
check "... its nodes show down" sh -c "canopy resource list | awk '\$1 == \"down\" {exit !(\$2 >= 2)}'"
check "a failing resume program fails its job at once" wait_until 10 sh -c \
    "canopy jobs -a | grep '^ *$d ' | grep -q 'the command provider failed: the resume program exited with status 1'"
check "a pool broker with another certificate is refused" wait_until 15 sh -c \
    "canopy jobs -a | grep '^ *$e ' | grep -q 'burst: pool badcert: did not join'"
check "... and the lead logged the refused key" grep -q 'refused connection.*CURVE key' "$D/log-lead"
check "... and its broker was stopped" wait_until 10 sh -c "! pgrep -f -- \"[-]-host badcert-.* --rundir $T_TMP/\" >/dev/null"

# -- kubernetes: the rendered objects
canopy burst render cloud > "$D/objs.yaml"
cloud=$(canopy burst list | awk '$1 == "cloud" {print $2}')
check "render: a Secret and a StatefulSet named $cloud, 3 pods in namespace burst" python3 - "$D/objs.yaml" "$cloud" <<'PY'
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1]))); name = sys.argv[2]
assert [d["kind"] for d in docs] == ["Secret", "StatefulSet"], docs
sec, sts = docs
assert sec["metadata"]["name"] == name and sec["metadata"]["namespace"] == "burst"
assert "PRIVATE" not in str(sec) and "secret-key" not in str(sec), "render must not print the certificate"
assert "lead" in sec["stringData"]["canopy.yaml"], "the Secret carries the instance config"
spec = sts["spec"]; pod = spec["template"]["spec"]; c = pod["containers"][0]
assert sts["metadata"]["name"] == name and spec["replicas"] == 3 and spec["serviceName"] == name
assert spec["selector"]["matchLabels"] == {"canopy.io/cluster": name}
assert spec["template"]["metadata"]["labels"]["canopy.io/cluster"] == name
assert c["image"] == "canopy:test" and c["command"][0] == "canopy-broker"
cmd = c["command"]; assert cmd[cmd.index("--host") + 1] == "$(POD_NAME)", cmd
assert {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]} == {"POD_NAME": "metadata.name", "POD_IP": "status.podIP"}
assert c["resources"]["requests"]["cpu"] == "32" and c["resources"]["limits"]["nvidia.com/gpu"] == 1
v = pod["volumes"][0]; assert v["secret"]["secretName"] == name and v["secret"]["defaultMode"] == 0o400
assert c["volumeMounts"][0]["mountPath"] == "/etc/canopy"
assert sts["metadata"]["annotations"]["canopy.io/lead"].startswith("ipc://"), sts["metadata"]
assert sts["metadata"]["annotations"]["canopy.io/pool-ranks"] == "8-10", sts["metadata"]
PY
expect_fail "render of an unknown pool" "no burst pool 'x'" canopy burst render x
check "no sanitizer report in the logs" sh -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' $D/log-*"
finish
