#!/bin/bash
# kube_discovery.sh - node discovery against a loopback HTTPS API server
# (kube_apiserver.py) speaking the v1 shapes, with node objects like a kind
# cluster's and a cloud cluster's: kubectl first (so the fixtures are what a
# real client accepts), then `canopy kube config` and `canopy kube watch`,
# then bad settings and bad answers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/kubelib.bash" || exit 1
DATA=$(cd "$(dirname "$0")/../data/kube" && pwd)
SERVER=$(dirname "$0")/kube_apiserver.py
cd "$T_TMP"

# a CA, a server certificate for 127.0.0.1, and an unrelated CA
kube_certs
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca -keyout other.key -out other.crt 2>/dev/null

# start_server NAME NODES [EVENTS]: sets PORT_<NAME>
start_server () {
    local name=$1 nodes=$2 events=${3:-}
    python3 "$SERVER" --cert srv.crt --key srv.key --nodes "$nodes" ${events:+--events "$events"} \
        --port-file "port.$name" --log "log.$name" &
    T_CLEANUP+=("kill $!")
    wait_until 10 test -s "port.$name" || { fail "API server $name did not start"; finish; exit 1; }
    eval "PORT_$name=$(cat port.$name)"
}
start_server kind "$DATA/nodes-kind.json" "$DATA/events-kind.json"
start_server cloud "$DATA/nodes-cloud.json"
start_server watch "$DATA/nodes-kind.json" "$DATA/events-kind.json"

mkdir -p sa && printf 'good-token\n' >sa/token && cp ca.crt sa/ca.crt
export CANOPY_KUBE_SA_DIR=$T_TMP/sa KUBERNETES_SERVICE_HOST=127.0.0.1

# 1. kubectl accepts the server and its node objects
if command -v kubectl >/dev/null; then
    kube_kubeconfig kubeconfig "$PORT_kind"
    out=$(kubectl --kubeconfig kubeconfig get nodes 2>&1)
    check "kubectl get nodes lists the kind fixture" \
        bash -c "echo \"\$1\" | grep -qE '^kind-control-plane +Ready +control-plane' && echo \"\$1\" | grep -qE '^kind-worker3 +Ready'" _ "$out"
    [ $T_FAIL -eq 0 ] || echo "$out"
    sed -i "s/$PORT_kind/$PORT_cloud/" kubeconfig
    out=$(kubectl --kubeconfig kubeconfig get nodes 2>&1)
    check "kubectl get nodes shows the cloud fixture's NotReady and cordoned nodes" \
        bash -c "echo \"\$1\" | grep -qE 'b2mx +NotReady' && echo \"\$1\" | grep -cE ' Ready ' | grep -qx 3" _ "$out"
    out=$(kubectl --kubeconfig kubeconfig get node gke-prod-default-pool-5c2f9a1e-0k3d -o jsonpath='{.status.addresses[0].address}' 2>&1)
    check "kubectl reads a node's InternalIP" test "$out" = 10.128.0.21
else
    echo "SKIP: kubectl not installed: fixtures not checked with kubectl"
fi

# 2. canopy kube config on the kind-like cluster
export KUBERNETES_SERVICE_PORT=$PORT_kind
canopy kube config >kind.yaml 2>kind.err
check "kube config exits 0" test $? -eq 0
hosts=$(grep -E '^  - host:' kind.yaml | awk '{print $3}' | tr '\n' ' ')
check "the labelled lead is rank 0, the other workers follow by name (got: $hosts)" \
    test "$hosts" = "kind-worker3 kind-worker kind-worker2 "
check "connect endpoints use the InternalIP" grep -q 'connect: "tcp://172.18.0.4:8050"' kind.yaml
check "the control-plane node is skipped with the reason" grep -q '^# skipped kind-control-plane: control-plane node' kind.yaml
sed -i 's#^curve_cert: .*#curve_cert: '"$T_TMP"'/none.cert#' kind.yaml
check "canopy reads the rendered config back (topo --config)" canopy topo --config kind.yaml
hosts=$(canopy kube config --include-control-plane --lead kind-worker --port 9000 --topo binomial | grep -E '^  - host:' | awk '{print $3}' | tr '\n' ' ')
check "--include-control-plane --lead kind-worker (got: $hosts)" \
    test "$hosts" = "kind-worker kind-control-plane kind-worker2 kind-worker3 "
check "--port and --topo reach the config" bash -c "canopy kube config --port 9000 --topo binomial | grep -q '^topology: binomial' && canopy kube config --port 9000 | grep -q 'tcp://172.18.0.3:9000'"
hosts=$(canopy kube config --selector 'canopy.io/lead=true' | grep -E '^  - host:' | awk '{print $3}' | tr '\n' ' ')
check "--selector is sent to the API (got: $hosts)" test "$hosts" = "kind-worker3 "
check "the selector went out URL-encoded" grep -q 'labelSelector=canopy.io%2Flead%3Dtrue' log.kind
expect_fail "more eligible nodes than --size ranks names the limit" "3 eligible nodes but the instance has 2 ranks" canopy kube config --size 2
expect_fail "an unknown lead is named" "lead node nosuch is not in the node list" canopy kube config --lead nosuch
expect_fail "a control-plane lead needs --include-control-plane" "lead node kind-control-plane cannot be used: control-plane" canopy kube config --lead kind-control-plane

# 3. the cloud-like cluster: NotReady, unreachable and autoscaler-marked nodes are skipped
export KUBERNETES_SERVICE_PORT=$PORT_cloud
canopy kube config >cloud.yaml
hosts=$(grep -cE '^  - host:' cloud.yaml)
check "cloud: the two Ready nodes get ranks" test "$hosts" = 2
check "cloud: InternalIP, never ExternalIP" bash -c "grep -q 'tcp://10.128.0.21:8050' cloud.yaml && ! grep -q 203.0.113 cloud.yaml"
check "cloud: the unreachable node is skipped as not Ready" grep -q '^# skipped gke-prod-default-pool-5c2f9a1e-b2mx: not Ready' cloud.yaml
check "cloud: the autoscaler's node is skipped as leaving" grep -q '^# skipped gke-prod-default-pool-5c2f9a1e-h9zt: cordoned or being removed' cloud.yaml

# 4. watch: 410 Gone, relist, then ADDED / MODIFIED / BOOKMARK / DELETED
export KUBERNETES_SERVICE_PORT=$PORT_watch
timeout 30 canopy kube watch --count 5 --timeout 20 >watch.out 2>watch.err
check "kube watch ends after its 5 events" test $? -eq 0
check "watch: relists after 410 Gone" bash -c "grep -q '^# 410 Gone: relisting' watch.out && [ \$(grep -c '^# listed 4 nodes' watch.out) = 2 ]"
check "watch: the second list is at the new resourceVersion" grep -q '^# listed 4 nodes at resourceVersion 1100' watch.out
check "watch: ADDED node" grep -qx '+ kind-worker4 172.18.0.6 ready' watch.out
check "watch: MODIFIED to not ready (and the heartbeat-only change is not shown)" \
    bash -c "grep -qx '~ kind-worker2 172.18.0.3 not-ready' watch.out && [ \$(grep -c '^~' watch.out) = 1 ]"
check "watch: BOOKMARK" grep -q '^# bookmark 1104' watch.out
check "watch: DELETED node" grep -qx -- '- kind-worker 172.18.0.4 ready' watch.out
check "watch: asked for bookmarks from the list's resourceVersion" \
    grep -q 'watch=1&allowWatchBookmarks=true&timeoutSeconds=[0-9]*&resourceVersion=1100' log.watch

# 5. bad settings and answers: one clear line, non-zero exit
export KUBERNETES_SERVICE_PORT=$PORT_kind
printf 'other-token' >sa/token
expect_fail "a wrong token: 401" "HTTP 401.*token valid" canopy kube config
printf 'no-rbac-token' >sa/token
expect_fail "missing RBAC: 403 with the API's message" "HTTP 403: nodes is forbidden.*ClusterRole" canopy kube config
: >sa/token
expect_fail "an empty token" "token is empty" canopy kube config
rm sa/token
expect_fail "no token" "kube: token .*/sa/token: No such file" canopy kube config
printf 'good-token' >sa/token
cp other.crt sa/ca.crt
expect_fail "a CA that did not sign the server's certificate" "SSL certificate|certificate verify|self.signed|unable to get local issuer" canopy kube config
rm sa/ca.crt
expect_fail "no CA" "kube: CA .*ca.crt: No such file" canopy kube config
cp ca.crt sa/ca.crt
expect_fail "no in-cluster environment" "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set" \
    env -u KUBERNETES_SERVICE_HOST canopy kube config
free_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect_fail "an API server that is not there" "listing nodes at https://127.0.0.1:$free_port: .*(refused|connect)" \
    env KUBERNETES_SERVICE_PORT=$free_port canopy kube config
# hostile answers: a node name that would inject YAML, a Status in place of a list
python3 - "$DATA/nodes-kind.json" >evil.json <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["items"][1]["metadata"]["name"] = 'x"\ncurve_cert: /etc/shadow'
print(json.dumps(d))
EOF
start_server evil "$T_TMP/evil.json"
expect_fail "a node name that is not a DNS name is refused" "node name 'x\"\?curve_cert: /etc/shadow' is not a DNS subdomain name" \
    env KUBERNETES_SERVICE_PORT=$PORT_evil canopy kube config
echo '{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcdserver: request timed out","code":500}' >status.json
start_server status "$T_TMP/status.json"
expect_fail "a Status in place of a NodeList" "etcdserver: request timed out" \
    env KUBERNETES_SERVICE_PORT=$PORT_status canopy kube config
finish
