#!/bin/bash
# kube_lead.sh - canopy-broker --kubernetes as the lead of a growing
# instance, against the loopback API server: it lists and watches the nodes;
# unlisted hosts join; a node DELETED in the API frees its host's rank and
# fails the job running there with the reason; a new host then takes a
# never-held rank and the deleted one, back, its old rank; with the API
# server gone the joined brokers keep working while the lead retries; a
# cluster larger than the instance is reported with the limit.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kubelib.bash" || exit 1
SERVER=$(dirname "$0")/kube_apiserver.py
D=$T_TMP
cd "$D"
kube_certs
mkdir -p sa && printf 'good-token' >sa/token && cp ca.crt sa/ca.crt
# nodes lead, h1..h3 (and h1..h6 for the too-large cluster), from the kind fixture's worker
python3 - "$(dirname "$0")/../data/kube/nodes-kind.json" <<'PY'
import copy, json, sys
base = json.load(open(sys.argv[1]))
w = base["items"][1]
def mk(names):
    items = []
    for i, n in enumerate(names):
        x = copy.deepcopy(w)
        x["metadata"]["name"] = n
        x["metadata"]["labels"]["kubernetes.io/hostname"] = n
        x["status"]["addresses"] = [{"type": "InternalIP", "address": "10.1.0.%d" % (i + 1)}, {"type": "Hostname", "address": n}]
        items.append(x)
    return {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "500"}, "items": items}
json.dump(mk(["lead", "h1", "h2", "h3"]), open("nodes.json", "w"))
json.dump(mk(["lead"] + ["h%d" % i for i in range(1, 7)]), open("big.json", "w"))
json.dump([{"type": "DELETED", "object": mk(["h2"])["items"][0]}], open("events.json", "w"))
PY
python3 "$SERVER" --cert srv.crt --key srv.key --nodes nodes.json --events events.json --events-after "$D/go" \
    --port-file port.api --log log.api &
API=$!; T_CLEANUP+=("kill $API")
wait_until 10 test -s port.api
canopy keygen "$D/c.cert"
instance_config "$D/c.cert" 5 lead
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$(cat port.api) CANOPY_KUBE_SA_DIR=$D/sa
export CANOPY_FAKE_RESOURCES="cores=2"
instance_start --kubernetes
check "the lead watches the nodes" wait_until 10 grep -q "kube: watching nodes at https://127.0.0.1:$KUBERNETES_SERVICE_PORT" "$D/log-lead"
check "the lead lists them" wait_until 10 grep -q "kube: 4 nodes listed, 4 eligible, instance size 5" "$D/log-lead"
check "and watches from the list (relisting after 410)" wait_until 10 grep -q "watch=1.*resourceVersion=600" log.api
for r in 1 2 3; do   # one at a time, so that h<r> gets rank r
    start_host h$r
    check "h$r joins as rank $r" wait_until 15 sh -c "canopy overlay status | grep -q '$r h$r: online'"
done
check "rank 2's resources are up" wait_until 15 sh -c 'canopy resource list | grep -q "free"'
id=$(canopy submit -N2 --requires rank:1,2 sleep 120)
check "a job spanning ranks 1 and 2 runs ($id)" wait_until 15 sh -c "canopy jobs | grep -q '$id.* R '"
touch "$D/go"   # the API server now says: node h2 DELETED
check "the lead frees h2's rank" wait_until 20 grep -q "kube: node h2 was removed from the cluster: rank 2 is free again" "$D/log-lead"
check "the job spanning the removed node fails, naming the reason" \
    wait_until 15 sh -c "canopy job info $id eventlog | grep -q 'node h2 was removed from the cluster'"
check "h2's broker is told to stop" wait_until 10 grep -q "shutting down: node h2 was removed from the cluster" "$D/log-h2"
start_host h4
check "a new host takes the never-held rank 4, not h2's" wait_until 15 sh -c 'canopy overlay status | grep -q "4 h4: online"'
start_host h2
check "h2, back, takes its old rank 2" wait_until 15 sh -c 'canopy overlay status | grep -q "2 h2: online"'
# the API server goes away: joined brokers keep working, the lead retries
kill $API
check "the lead says it lost the API and retries" wait_until 15 grep -q "kube: .*brokers already joined keep working; retrying" "$D/log-lead"
out=$(canopy exec -r 1-4 sh -c 'echo $CANOPY_RANK' | sort | tr '\n' ' ')
check "exec still reaches every joined rank (got: $out)" [ "$out" = "1 2 3 4 " ]
# a cluster larger than the instance
python3 "$SERVER" --cert srv.crt --key srv.key --nodes big.json --port-file port.big --log log.big &
T_CLEANUP+=("kill $!")
wait_until 10 test -s port.big
cat > "$D/b.yaml" <<EOC
curve_cert: $D/c.cert
size: 5
default_bind: ipc://$D/b-%h
default_connect: ipc://$D/b-%h
hosts:
  - host: lead
EOC
mkdir -p -m 0700 "$D/run-b"
KUBERNETES_SERVICE_PORT=$(cat port.big) canopy-broker --config "$D/b.yaml" --host lead --rundir "$D/run-b" --kubernetes \
    >/dev/null 2>"$D/log-b" &
T_CLEANUP+=("kill $!")
check "a cluster with more nodes than ranks is reported with the limit" \
    wait_until 10 grep -q "the cluster has 7 eligible nodes but the instance has 5 ranks: 2 will not get a rank" "$D/log-b"
sed "s#b-%h#x-%h#g" "$D/b.yaml" >"$D/x.yaml"
mkdir -p -m 0700 "$D/run-x"
expect_fail "--kubernetes outside a pod: one clear line" "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set" \
    env -u KUBERNETES_SERVICE_HOST canopy-broker --config "$D/x.yaml" --host lead --rundir "$D/run-x" --statedir "$D/st-x" --kubernetes
[ $T_FAIL -eq 0 ] || { echo "--- lead log"; tail -30 "$D/log-lead"; echo "--- api log"; tail -20 log.api; }
finish
