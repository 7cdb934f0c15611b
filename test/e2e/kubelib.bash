# kubelib.bash - helpers for the tests against the loopback Kubernetes API
# server (kube_apiserver.py), sourced after lib.sh, not run.
# kube_certs: in the current directory a CA (ca.key, ca.crt) and a server
# certificate it signed for 127.0.0.1 and localhost (srv.key, srv.crt)
kube_certs () {
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-kube-ca -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout srv.key -out srv.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
    openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out srv.crt 2>/dev/null
}
KUBE_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)   # absolute: tests cd away
# kube_server [ARGS...]: kube_apiserver.py on the certificates of kube_certs
# (in the current directory) with ARGS, its port in ./port and its request
# log in ./api.log, stopped at cleanup; the test fails if it does not start
kube_server () {
    python3 "$KUBE_LIB_DIR/kube_apiserver.py" --cert srv.crt --key srv.key --port-file port \
        --log api.log "$@" &
    T_CLEANUP+=("kill $!")
    wait_until 10 test -s port || { fail "the API server did not start"; finish; exit 1; }
}
# kube_kubeconfig FILE PORT: a kubeconfig for https://127.0.0.1:PORT, trusting
# $T_TMP/ca.crt, with the token good-token
kube_kubeconfig () {
    cat >"$1" <<EOF2
apiVersion: v1
kind: Config
clusters:
- name: t
  cluster: {server: "https://127.0.0.1:$2", certificate-authority: "$T_TMP/ca.crt"}
users:
- name: t
  user: {token: good-token}
contexts:
- name: t
  context: {cluster: t, user: t}
current-context: t
EOF2
}
# kube_burst_setup POOL: in $T_TMP (the current directory after) the API
# server with a record of its requests (kube_server --record rec.jsonl), a
# kubeconfig for it (./kubeconfig), an instance certificate (./curve.cert)
# and the config of a 2-host instance (lead, h1; instance_config) with the
# one burst pool POOL (a YAML flow mapping)
kube_burst_setup () {
    cd "$T_TMP" || exit 1
    kube_certs
    kube_server --record rec.jsonl
    kube_kubeconfig kubeconfig "$(cat port)"
    canopy keygen "$T_TMP/curve.cert"
    instance_config "$T_TMP/curve.cert" 2 lead h1
    printf 'burst:\n  - %s\n' "$1" >> "$CONFIG"
}
