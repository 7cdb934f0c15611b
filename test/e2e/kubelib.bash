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
