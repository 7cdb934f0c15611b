#!/bin/bash
# The kubernetes burst provider against a loopback API server
# (kube_apiserver.py) with the real kubectl (doc/bursting.md): `canopy burst
# render` piped to `kubectl create --dry-run=client -o yaml`; then a 2-host
# instance whose pool `cloud` is on that server: a burstable -N4 job makes
# the provider apply the Secret and the StatefulSet (GET 404, POST, with the
# lead's endpoint, 2 replicas, the certificate in the Secret), the nodes
# never join, the resume timeout marks them down and the job waits again
# with the reason (and bursts again: the objects applied again); after the
# job is canceled, `burst stop` sends the DELETEs.  Skips when kubectl is not installed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kubelib.bash" || exit 1
command -v kubectl >/dev/null || { echo "SKIP: needs kubectl"; echo "0 passed, 0 failed, 1 skipped"; exit 0; }
D=$T_TMP
kube_burst_setup "{name: cloud, size: 3, cores: 2, provider: kubernetes, settings: {kubeconfig: $D/kubeconfig, namespace: burst, image: \"canopy:test\"}, resume_timeout: 2, max_tries: 30}"
export CANOPY_FAKE_RESOURCES="cores=2"
instance_start
check "the instance comes up" wait_until 20 sh -c 'canopy resource list | awk "\$1 == \"free\" {exit !(\$2 == 2)}"'
cloud=$(canopy burst list | awk '$1 == "cloud" {print $2}')
# rec VERB KIND: the recorded requests (the fixture's record) as "VERB KIND NAME CODE" lines
rec () { jq -r --arg v "$1" --arg k "$2" 'select(.verb == $v and .kind == $k) | "\(.verb) \(.kind) \(.name) \(.code)"' rec.jsonl; }
export -f rec

# 1. what render prints, checked by kubectl against the server's discovery
canopy burst render cloud > render.yaml
kubectl --kubeconfig kubeconfig create --dry-run=client -o yaml -f - < render.yaml > dry.yaml 2> dry.err
check "kubectl create --dry-run=client -o yaml takes the rendered objects" test $? -eq 0
[ -s dry.err ] && cat dry.err
check "... and gives back the Secret and the StatefulSet $cloud" python3 - dry.yaml "$cloud" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
assert [(d["kind"], d["metadata"]["name"], d["metadata"]["namespace"]) for d in docs] == \
    [("Secret", sys.argv[2], "burst"), ("StatefulSet", sys.argv[2], "burst")], docs
assert docs[1]["spec"]["replicas"] == 3
PY
check "... a client dry run: nothing was sent to the server" test ! -s rec.jsonl
check "... after discovery of v1 and apps/v1" bash -c "grep -q '^GET /api/v1?' api.log && grep -q '^GET /apis/apps/v1?' api.log"

# 2. a burst: the provider applies the objects
j=$(canopy submit -N4 --setattr burstable true)
check "a burstable -N4 job waits for burst" wait_until 10 sh -c "canopy jobs | grep '^ *$j ' | grep -q 'waiting for burst (pool cloud: 2 nodes starting)'"
check "kubectl apply created the Secret and the StatefulSet (POST, 201)" wait_until 15 bash -c \
    "[ \"\$(rec POST Secret | head -1)\" = 'POST Secret $cloud 201' ] && [ \"\$(rec POST StatefulSet | head -1)\" = 'POST StatefulSet $cloud 201' ]"
check "... after a GET that found nothing (404)" bash -c \
    "grep -qx 'GET /api/v1/namespaces/burst/secrets/$cloud 404' api.log && grep -qx 'GET /apis/apps/v1/namespaces/burst/statefulsets/$cloud 404' api.log"
check "the objects the server got: the certificate, the config, the lead, 2 replicas" python3 - rec.jsonl "$cloud" "$D" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
name, d = sys.argv[2], sys.argv[3]
sec = next(r["body"] for r in recs if r["verb"] == "POST" and r["kind"] == "Secret")
sts = next(r["body"] for r in recs if r["verb"] == "POST" and r["kind"] == "StatefulSet")
assert sec["apiVersion"] == "v1" and sec["metadata"]["name"] == name and sec["metadata"]["namespace"] == "burst"
assert sec["stringData"]["curve.cert"] == open(d + "/curve.cert").read(), "the Secret holds the instance certificate"
assert sec["stringData"]["canopy.yaml"] == open(d + "/g.yaml").read(), "and the instance config"
assert sts["apiVersion"] == "apps/v1" and sts["metadata"]["name"] == name
assert sts["metadata"]["annotations"]["canopy.io/lead"] == "ipc://%s/g-lead" % d, sts["metadata"]
assert sts["metadata"]["annotations"]["canopy.io/pool-ranks"] == "2-4"
spec = sts["spec"]; pod = spec["template"]["spec"]; c = pod["containers"][0]
assert spec["replicas"] == 2, spec["replicas"]
assert pod["volumes"][0]["secret"]["secretName"] == name
assert c["image"] == "canopy:test" and c["command"][c["command"].index("--host") + 1] == "$(POD_NAME)"
assert "kubectl.kubernetes.io/last-applied-configuration" in sts["metadata"]["annotations"], "kubectl apply, not create"
PY
check "kubectl get sees the StatefulSet on the server" bash -c \
    "kubectl --kubeconfig kubeconfig -n burst get statefulset $cloud -o jsonpath='{.spec.replicas}' | grep -qx 2"

# 3. the pods never join: down after the resume timeout, the job waits again, the objects go
check "the nodes go down after the resume timeout and the job waits again" wait_until 15 \
    grep -q "burst: job $j waits again (try 1 of 30 failed: did not join within the resume timeout (2s))" "$D/log-lead"
check "... with the reason in its state" wait_until 10 sh -c "canopy jobs | grep '^ *$j ' | grep -q 'waiting for burst (pool cloud'"
n0=$(grep -c . rec.jsonl)
check "the job bursts again: kubectl applies the objects again (POST or PATCH)" wait_until 15 bash -c "[ \$(grep -c . rec.jsonl) -gt $n0 ]"
check "... the StatefulSet on the server wants 2 pods" wait_until 10 bash -c \
    "kubectl --kubeconfig kubeconfig -n burst get statefulset $cloud -o jsonpath='{.spec.replicas}' | grep -qx 2"

# 4. the job canceled, burst stop: the last word is a DELETE of both
canopy cancel "$j"
check "burst stop releases the pool" sh -c "canopy burst stop cloud | grep -q 'released [0-9]* node(s) of $cloud'"
check "... and the objects are gone from the server" wait_until 15 bash -c \
    "! kubectl --kubeconfig kubeconfig -n burst get secret $cloud >/dev/null 2>&1 && ! kubectl --kubeconfig kubeconfig -n burst get statefulset $cloud >/dev/null 2>&1"
check "... the delete asked for background propagation" \
    bash -c "jq -e 'select(.verb == \"DELETE\") | .body.propagationPolicy == \"Background\"' rec.jsonl >/dev/null"
check "... the last change of each was a DELETE (200)" bash -c \
    "[ \"\$(jq -r 'select(.kind == \"Secret\" and .code < 400) | .verb' rec.jsonl | tail -1)\" = DELETE ] && [ \"\$(jq -r 'select(.kind == \"StatefulSet\" and .code < 400) | .verb' rec.jsonl | tail -1)\" = DELETE ]"
check "kubectl exited 0 every time" bash -c "! grep -qi 'error' $D/run-lead/state/burst/$cloud.kubectl.log"
check "the objects file is private (0600)" [ "$(stat -c %a "$D/run-lead/state/burst/$cloud.json")" = 600 ]
check "no sanitizer report in the logs" sh -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' $D/log-*"
finish
