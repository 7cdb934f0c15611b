#!/bin/bash
# deploy_kubernetes.sh - `kubectl kustomize deploy/kubernetes` renders, and
# the rendered objects carry what running canopy on every node needs
# (doc/kubernetes.md): namespace, RBAC for the lead only, the certificate as
# a Secret, the config, the lead's Service and Deployment, the DaemonSet with
# hostNetwork, system-node-critical, every taint tolerated, RollingUpdate
# maxUnavailable 1, NODE_NAME/NODE_IP, hostPaths, probes, requests; and the
# broker accepts the config and command line the manifests give it.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v kubectl >/dev/null || ! python3 -c 'import yaml' 2>/dev/null; then
    echo "SKIP: needs kubectl and python3-yaml"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
D=$T_TMP
cp -r "$SRC/deploy/kubernetes" "$D/k"
expect_fail "without the certificate file kustomize says what is missing" "curve.cert" kubectl kustomize "$D/k"
canopy keygen "$D/k/curve.cert"
check "kubectl kustomize renders" sh -c "kubectl kustomize '$D/k' >'$D/all.yaml'"
python3 - "$D/all.yaml" "$D" <<'PY' >"$D/checks.out"
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
def ok(cond, what):
    print(("ok" if cond else "not ok") + " - " + what)
ns = lambda d: d["metadata"].get("namespace")
ok(("Namespace", "canopy") in by, "a namespace canopy")
ok(all(ns(d) == "canopy" for d in docs if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding")),
   "every namespaced object is in it")
cr = by.get(("ClusterRole", "canopy-nodes"), {})
rules = cr.get("rules", [])
ok(len(rules) == 1 and rules[0]["resources"] == ["nodes"] and sorted(rules[0]["verbs"]) == ["get", "list", "watch"],
   "the ClusterRole allows nodes get/list/watch and nothing else")
crb = by.get(("ClusterRoleBinding", "canopy-nodes"), {})
ok([s["name"] for s in crb.get("subjects", [])] == ["canopy-lead"], "bound to the lead's service account only")
sec = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].startswith("canopy-cert")]
ok(len(sec) == 1 and "curve.cert" in sec[0].get("data", {}), "the instance certificate as a Secret")
cm = by.get(("ConfigMap", "canopy-config"), {})
open(sys.argv[2] + "/config.yaml", "w").write(cm.get("data", {}).get("config.yaml", ""))
ok("config.yaml" in cm.get("data", {}), "the config in a ConfigMap")
svc = by.get(("Service", "canopy-lead"), {})
ok(svc.get("spec", {}).get("selector") == {"app.kubernetes.io/component": "lead"}, "a Service for the lead")
ds = by.get(("DaemonSet", "canopy-broker"), {})
spec = ds.get("spec", {})
pod = spec.get("template", {}).get("spec", {})
ok(pod.get("hostNetwork") is True and pod.get("dnsPolicy") == "ClusterFirstWithHostNet", "DaemonSet: hostNetwork, cluster DNS")
ok(pod.get("priorityClassName") == "system-node-critical", "DaemonSet: system-node-critical")
ok({"operator": "Exists"} in pod.get("tolerations", []), "DaemonSet: every taint tolerated")
us = spec.get("updateStrategy", {})
ok(us.get("type") == "RollingUpdate" and us.get("rollingUpdate", {}).get("maxUnavailable") == 1, "DaemonSet: RollingUpdate, maxUnavailable 1")
ok(pod.get("automountServiceAccountToken") is False, "DaemonSet: no API token for worker brokers")
c = pod.get("containers", [{}])[0]
env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in c.get("env", [])}
ok(env.get("NODE_NAME") == "spec.nodeName" and env.get("NODE_IP") == "status.hostIP", "NODE_NAME and NODE_IP from the downward API")
ok(all(k in c for k in ("startupProbe", "readinessProbe", "livenessProbe")), "startup, readiness and liveness probes")
ok(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz" and c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/livez",
   "probes on /readyz and /livez")
ok("cpu" in c.get("resources", {}).get("requests", {}) and "memory" in c.get("resources", {}).get("requests", {}), "resource requests")
hp = {v["name"]: v.get("hostPath", {}).get("path") for v in pod.get("volumes", [])}
ok(hp.get("run") == "/run/canopy" and hp.get("state") == "/var/lib/canopy", "hostPaths for the local socket and the state")
ok(c.get("image") == "canopy:0.1.0", "the image from the kustomization")
lead = by.get(("Deployment", "canopy-lead"), {})
lpod = lead.get("spec", {}).get("template", {}).get("spec", {})
ok(lpod.get("serviceAccountName") == "canopy-lead" and lpod.get("nodeSelector") == {"canopy.io/lead": "true"},
   "the lead: its service account, on the node labelled canopy.io/lead=true")
ok(lead.get("spec", {}).get("strategy", {}).get("type") == "Recreate", "the lead: never two at once")
aff = pod.get("affinity", {}).get("nodeAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", {})
ok("canopy.io/lead" in json.dumps(aff), "brokers keep off the lead's node")
open(sys.argv[2] + "/ds.args", "w").write("\n".join(c.get("args", [])))
open(sys.argv[2] + "/lead.args", "w").write("\n".join(lpod.get("containers", [{}])[0].get("args", [])))
PY
cat "$D/checks.out"
T_PASS=$((T_PASS + $(grep -c '^ok' "$D/checks.out")))
T_FAIL=$((T_FAIL + $(grep -c '^not ok' "$D/checks.out")))
# the broker takes the config and the arguments the manifests give it
sed -i "s#/etc/canopy/cert/curve.cert#$D/k/curve.cert#" "$D/config.yaml"
chmod 600 "$D/k/curve.cert"
check "the broker reads the ConfigMap's config" canopy topo --config "$D/config.yaml"
args=$(sed -e 's#/etc/canopy/config.yaml#'"$D"'/config.yaml#' -e 's#/run/canopy/broker#'"$D"'/run#' -e 's#/var/lib/canopy/broker#'"$D"'/state#' \
       -e 's#\$(NODE_NAME)#node-a#' -e 's#\$(NODE_IP)#127.0.0.1#' -e 's#--health=8051#--help#' "$D/ds.args" | tr '\n' ' ')
check "canopy-broker accepts the DaemonSet's arguments (with --help for --health)" sh -c "canopy-broker $args >/dev/null"
finish
