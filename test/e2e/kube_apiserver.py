#!/usr/bin/env python3
"""kube_apiserver.py - a loopback HTTPS stand-in for the Kubernetes API server,
for canopy's discovery tests (test/e2e/kube_discovery.sh) and the kubernetes
burst provider's (test/e2e/burst_kube.sh).

It speaks the real v1 shapes for the requests kubectl and canopy make about
nodes: discovery (/version, /api, /apis, /api/v1), GET /api/v1/nodes (a
NodeList, paged with limit/continue, labelSelector on equality terms), and
watch (?watch=1: one JSON event a line: ADDED, MODIFIED, DELETED, BOOKMARK,
and an ERROR Status with code 410 for a resourceVersion that is too old).
Bearer tokens: --token is allowed; --forbidden-token gets a 403 Status as
an API server without the RBAC would give; anything else gets 401.

The watch script: a watch from the list's own resourceVersion answers 410
once (the client must list again); the next list returns resourceVersion
RV+100, and a watch from there streams --events (a JSON file: a list of
{"type", "object"}) and then holds the stream open until timeoutSeconds.
Objects (for kubectl create/apply/delete): the discovery for v1 (secrets,
services, pods), apps/v1 (statefulsets) and batch/v1 (jobs); namespaced
GET/POST/PUT/PATCH/DELETE on them, kept in memory as a real server would
answer (metadata.uid, resourceVersion, creationTimestamp, generation;
a Secret's stringData folded into base64 data; 404 NotFound and 409
AlreadyExists Status objects with details); PATCH takes JSON merge,
strategic merge (as merge: lists replaced) and server-side apply bodies.
Every request that changes an object is appended to --record as one JSON
line: {"verb", "path", "kind", "namespace", "name", "code", "body"}.
Serves until killed; a test starts it and kills it. Loopback only.
"""
import argparse
import copy
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ap = argparse.ArgumentParser()
ap.add_argument("--cert", required=True)
ap.add_argument("--key", required=True)
ap.add_argument("--nodes")
ap.add_argument("--record")
ap.add_argument("--events")
ap.add_argument("--events-after", help="hold the scripted events until this file exists")
ap.add_argument("--token", default="good-token")
ap.add_argument("--forbidden-token", default="no-rbac-token")
ap.add_argument("--port-file", required=True)
ap.add_argument("--log")
args = ap.parse_args()

NODES = json.load(open(args.nodes)) if args.nodes else {"kind": "NodeList", "apiVersion": "v1",
                                                         "metadata": {"resourceVersion": "1"}, "items": []}
EVENTS = json.load(open(args.events)) if args.events else []
BASE_RV = int(NODES.get("metadata", {}).get("resourceVersion", "1"))
state = {"gone_sent": False, "lists": 0}
lock = threading.Lock()
logf = open(args.log, "a") if args.log else None


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def select(items, selector):
    if not selector:
        return items
    out = []
    for it in items:
        labels = it["metadata"].get("labels", {})
        okay = True
        for term in selector.split(","):
            if "!=" in term:
                k, v = term.split("!=", 1)
                okay &= labels.get(k) != v
            elif "=" in term:
                k, v = term.split("=", 1)
                okay &= labels.get(k.rstrip("=")) == v
            elif term.startswith("!"):
                okay &= term[1:] not in labels
            else:
                okay &= term in labels
        if okay:
            out.append(it)
    return out


def age(ts):
    t = time.mktime(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    s = max(0, int(time.time() - t))
    return "%dd" % (s // 86400) if s >= 172800 else "%dh" % (s // 3600) if s >= 7200 else "%dm" % (s // 60)


def table(items, meta):
    """A meta.k8s.io/v1 Table of nodes, with the columns the node printer has."""
    cols = [("Name", "string", "name", 0), ("Status", "string", "", 0), ("Roles", "string", "", 0),
            ("Age", "string", "", 0), ("Version", "string", "", 0), ("Internal-IP", "string", "", 1),
            ("External-IP", "string", "", 1), ("OS-Image", "string", "", 1),
            ("Kernel-Version", "string", "", 1), ("Container-Runtime", "string", "", 1)]
    rows = []
    for it in items:
        m, st, sp = it["metadata"], it.get("status", {}), it.get("spec", {})
        ready = [c["status"] for c in st.get("conditions", []) if c["type"] == "Ready"]
        status = "Ready" if ready == ["True"] else "NotReady"
        if sp.get("unschedulable"):
            status += ",SchedulingDisabled"
        roles = sorted(k.split("/", 1)[1] for k in m.get("labels", {})
                       if k.startswith("node-role.kubernetes.io/")) or ["<none>"]
        addr = {a["type"]: a["address"] for a in reversed(st.get("addresses", []))}
        ni = st.get("nodeInfo", {})
        rows.append({"cells": [m["name"], status, ",".join(roles), age(m["creationTimestamp"]),
                               ni.get("kubeletVersion", ""), addr.get("InternalIP", "<none>"),
                               addr.get("ExternalIP", "<none>"), ni.get("osImage", ""),
                               ni.get("kernelVersion", ""), ni.get("containerRuntimeVersion", "")],
                     "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                "metadata": copy.deepcopy(m)}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": [{"name": n, "type": t, "format": f, "description": n, "priority": p}
                                  for n, t, f, p in cols],
            "rows": rows}

# -- objects: what kubectl create/apply/delete talk to --------------------
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
RESOURCES = {   # (group, version) -> [(plural, kind, singular, shortNames)]
    ("", "v1"): [("secrets", "Secret", "secret", []), ("services", "Service", "service", ["svc"]),
                 ("pods", "Pod", "pod", ["po"])],
    ("apps", "v1"): [("statefulsets", "StatefulSet", "statefulset", ["sts"])],
    ("batch", "v1"): [("jobs", "Job", "job", [])],
}
OBJECTS = {}   # (group, plural, namespace, name) -> object
counter = {"rv": 5000, "uid": 0}
recf = open(args.record, "a") if args.record else None


def resource_list(group, version):
    gv = "%s/%s" % (group, version) if group else version
    res = [{"name": pl, "singularName": sg, "namespaced": True, "kind": k, "verbs": VERBS,
            **({"shortNames": sn} if sn else {})} for pl, k, sg, sn in RESOURCES[(group, version)]]
    if not group:
        res += [{"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node",
                 "verbs": VERBS, "shortNames": ["no"]},
                {"name": "nodes/status", "singularName": "", "namespaced": False, "kind": "Node",
                 "verbs": ["get", "patch", "update"]}]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}


def group_list():
    groups = []
    for (g, v) in RESOURCES:
        if g:
            gv = {"groupVersion": "%s/%s" % (g, v), "version": v}
            groups.append({"name": g, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def openapi_index():
    """/openapi/v3: where each group-version's document is"""
    paths = {}
    for (g, v) in RESOURCES:
        key = "apis/%s/%s" % (g, v) if g else "api/%s" % v
        paths[key] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (key, "0" * 16 + g + v)}
    return {"paths": paths}


def openapi_doc(g, v):
    """a group-version's OpenAPI v3 document, as far as kubectl reads it: the
    PATCH operation of each kind takes the fieldValidation query parameter
    (so kubectl leaves validation to the server)"""
    prefix = "/apis/%s/%s" % (g, v) if g else "/api/%s" % v
    paths = {}
    for pl, k, _, _ in RESOURCES[(g, v)]:
        gvk = {"group": g, "version": v, "kind": k}
        params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
        op = {"operationId": "patchNamespaced" + k, "x-kubernetes-action": "patch",
              "x-kubernetes-group-version-kind": gvk, "parameters": params,
              "responses": {"200": {"description": "OK"}}}
        paths["%s/namespaces/{namespace}/%s/{name}" % (prefix, pl)] = {
            "patch": op, "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                                        {"name": "namespace", "in": "path", "required": True,
                                         "schema": {"type": "string"}}]}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.31.0"}, "paths": paths,
            "components": {"schemas": {}}}


def parse_object_path(path):
    """/api/v1/namespaces/NS/RES[/NAME] or /apis/G/V/namespaces/NS/RES[/NAME]:
    (group, version, plural, kind, ns, name) or None"""
    parts = path.strip("/").split("/")
    if parts[:1] == ["api"] and len(parts) >= 2:
        g, v, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        g, v, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if (g, v) not in RESOURCES or len(rest) not in (3, 4) or rest[0] != "namespaces":
        return None
    kinds = {pl: k for pl, k, _, _ in RESOURCES[(g, v)]}
    if rest[2] not in kinds:
        return None
    return g, v, rest[2], kinds[rest[2]], rest[1], rest[3] if len(rest) == 4 else None


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def merge(dst, patch):
    """JSON merge patch (RFC 7386); strategic merge patches are taken the same way"""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(dst) if isinstance(dst, dict) else {}
    for k, v in patch.items():
        if k.startswith("$"):   # strategic merge directives ($patch, $retainKeys...)
            continue
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(out.get(k), v)
    return out


def stored(obj, old, g, v, kind, ns):
    """what the server keeps: defaults a real API server sets"""
    import base64
    obj = copy.deepcopy(obj)
    obj["apiVersion"], obj["kind"] = "%s/%s" % (g, v) if g else v, kind
    m = obj.setdefault("metadata", {})
    m["namespace"] = ns
    counter["rv"] += 1
    m["resourceVersion"] = str(counter["rv"])
    if old:
        m["uid"], m["creationTimestamp"] = old["metadata"]["uid"], old["metadata"]["creationTimestamp"]
        m["generation"] = old["metadata"].get("generation", 1) + (obj.get("spec") != old.get("spec"))
    else:
        counter["uid"] += 1
        m["uid"] = "00000000-0000-4000-8000-%012d" % counter["uid"]
        m["creationTimestamp"] = now()
        m["generation"] = 1
    if kind == "Secret":
        data = obj.setdefault("data", {})
        for k, val in obj.pop("stringData", {}).items():
            data[k] = base64.b64encode(val.encode()).decode()
        obj.setdefault("type", "Opaque")
    if kind in ("StatefulSet", "Job"):
        obj.setdefault("status", {"replicas": 0} if kind == "StatefulSet" else {})
    return obj


def record(verb, path, kind, ns, name, code, body):
    if recf:
        with lock:
            recf.write(json.dumps({"verb": verb, "path": path, "kind": kind, "namespace": ns, "name": name,
                                   "code": code, "body": body}) + "\n")
            recf.flush()


def not_found(full, name):
    """full: plural[.group], as a real server names it in the message"""
    st = status(404, "NotFound", '%s "%s" not found' % (full, name))
    plural, _, group = full.partition(".")
    st["details"] = {"name": name, "kind": plural, **({"group": group} if group else {})}
    return st



class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        """one line a request as it arrives ("GET /path"), one as it is
        answered ("GET /path 404")"""
        if logf:
            code = " %s" % a[1] if fmt.startswith('"%s"') and len(a) > 1 else ""
            logf.write("%s %s%s\n" % (self.command, self.path, code))
            logf.flush()

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        if auth != "Bearer " + args.token:
            self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return False
        return True

    def body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        raw = self.rfile.read(n) if n else b""
        ctype = self.headers.get("Content-Type", "")
        if "yaml" in ctype:
            import yaml
            return yaml.safe_load(raw.decode() or "{}")
        return json.loads(raw.decode() or "{}")

    def objects(self, verb):
        """GET/POST/PUT/PATCH/DELETE on namespaced objects; False if not such a path"""
        u = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        p = parse_object_path(u.path)
        if not p:
            return False
        self.log_message("")
        if not self.authorized():
            return True
        g, v, plural, kind, ns, name = p
        full = plural + ("." + g if g else "")
        dry = q.get("dryRun") == "All"
        try:
            body = self.body() if verb in ("POST", "PUT", "PATCH", "DELETE") else None   # DELETE: DeleteOptions
        except Exception as e:
            self.send_json(400, status(400, "BadRequest", "cannot read the body: %s" % e))
            return True
        key = (g, plural, ns, name)
        with lock:
            old = OBJECTS.get(key) if name else None
        if verb == "GET":
            if not name:
                with lock:
                    items = [o for (gg, pl, nn, _), o in OBJECTS.items() if (gg, pl, nn) == (g, plural, ns)]
                self.send_json(200, {"kind": kind + "List", "apiVersion": "%s/%s" % (g, v) if g else v,
                                     "metadata": {"resourceVersion": str(counter["rv"])}, "items": items})
            elif old:
                self.send_json(200, old)
            else:
                self.send_json(404, not_found(full, name))
            return True
        if verb == "POST":
            name = (body.get("metadata") or {}).get("name")
            if not name:
                self.send_json(422, status(422, "Invalid", "%s is invalid: metadata.name: Required value" % kind))
                return True
            key = (g, plural, ns, name)
            with lock:
                exists = key in OBJECTS
                if not exists:
                    obj = stored(body, None, g, v, kind, ns)
                    if not dry:
                        OBJECTS[key] = obj
            if exists:
                st = status(409, "AlreadyExists", '%s "%s" already exists' % (full, name))
                st["details"] = {"name": name, "kind": plural, **({"group": g} if g else {})}
                code, out = 409, st
            else:
                code, out = 201, obj
            record("POST", u.path, kind, ns, name, code, body)
            self.send_json(code, out)
            return True
        if verb in ("PUT", "PATCH"):
            ctype = self.headers.get("Content-Type", "")
            apply = "apply-patch" in ctype
            if not old and not apply:
                record(verb, u.path, kind, ns, name, 404, body)
                self.send_json(404, not_found(full, name))
                return True
            new = body if verb == "PUT" or apply else merge(old, body)
            with lock:
                obj = stored(new, old, g, v, kind, ns)
                if not dry:
                    OBJECTS[key] = obj
            code = 201 if apply and not old else 200
            record(verb, u.path, kind, ns, name, code, body)
            self.send_json(code, obj)
            return True
        if verb == "DELETE":
            with lock:
                gone = OBJECTS.pop(key, None) if not dry else old
            if not gone:
                record("DELETE", u.path, kind, ns, name, 404, body)
                self.send_json(404, not_found(full, name))
                return True
            record("DELETE", u.path, kind, ns, name, 200, body)
            if kind == "Secret" or kind == "Service":
                self.send_json(200, gone)
            else:   # with a finalizer-free foreground-less delete, a Status
                self.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                     "details": {"name": name, "group": g, "kind": plural,
                                                 "uid": gone["metadata"]["uid"]}})
            return True
        return False

    def do_POST(self):
        if not self.objects("POST"):
            self.send_json(405, status(405, "MethodNotAllowed", "the server does not allow this method"))

    def do_PUT(self):
        if not self.objects("PUT"):
            self.send_json(405, status(405, "MethodNotAllowed", "the server does not allow this method"))

    def do_PATCH(self):
        if not self.objects("PATCH"):
            self.send_json(405, status(405, "MethodNotAllowed", "the server does not allow this method"))

    def do_DELETE(self):
        if not self.objects("DELETE"):
            self.send_json(405, status(405, "MethodNotAllowed", "the server does not allow this method"))

    def do_GET(self):
        if self.objects("GET"):
            return
        self.log_message("")
        auth = self.headers.get("Authorization", "")
        if auth == "Bearer " + args.forbidden_token:
            return self.send_json(403, status(
                403, "Forbidden", 'nodes is forbidden: User "system:serviceaccount:canopy:canopy" '
                'cannot list resource "nodes" in API group "" at the cluster scope'))
        if auth != "Bearer " + args.token:
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        u = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query).items()}
        if u.path == "/version":
            return self.send_json(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0",
                                        "gitCommit": "9edcffcde5595e8a5b1a35f88c421764e575afce",
                                        "gitTreeState": "clean", "buildDate": "2024-08-13T07:28:49Z",
                                        "goVersion": "go1.22.5", "compiler": "gc",
                                        "platform": "linux/amd64"})
        if u.path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [
                                            {"clientCIDR": "0.0.0.0/0",
                                             "serverAddress": "127.0.0.1:%d" % self.server.server_port}]})
        if u.path == "/apis":
            return self.send_json(200, group_list())
        if u.path == "/openapi/v3":
            return self.send_json(200, openapi_index())
        if u.path.startswith("/openapi/v3/"):
            parts = u.path.split("/")[3:]
            gv = ("", parts[1]) if parts[:1] == ["api"] and len(parts) == 2 else \
                (parts[1], parts[2]) if parts[:1] == ["apis"] and len(parts) == 3 else None
            if gv in RESOURCES:
                return self.send_json(200, openapi_doc(*gv))
        if u.path == "/api/v1":
            return self.send_json(200, resource_list("", "v1"))
        if u.path.startswith("/apis/") and tuple(u.path.split("/")[2:4]) in RESOURCES and u.path.count("/") == 3:
            return self.send_json(200, resource_list(*u.path.split("/")[2:4]))
        if u.path.startswith("/api/v1/nodes/"):
            name = u.path.rsplit("/", 1)[1]
            for it in NODES["items"]:
                if it["metadata"]["name"] == name:
                    return self.send_json(200, dict(it, kind="Node", apiVersion="v1"))
            return self.send_json(404, status(404, "NotFound", 'nodes "%s" not found' % name))
        if u.path != "/api/v1/nodes":
            return self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
        if NODES.get("kind") != "NodeList":   # a broken server: answer the file as it is
            return self.send_json(200, NODES)
        if q.get("watch") in ("1", "true"):
            return self.watch(q)
        with lock:
            rv = BASE_RV + (100 if state["gone_sent"] else 0)
            state["lists"] += 1
        items = select(NODES["items"], q.get("labelSelector"))
        limit = int(q.get("limit", "0") or 0)
        start = int(q.get("continue", "0") or 0)
        meta = {"resourceVersion": str(rv)}
        page = items[start:]
        if limit and len(page) > limit:
            page = page[:limit]
            meta["continue"] = str(start + limit)
            meta["remainingItemCount"] = len(items) - start - limit
        if "as=Table" in self.headers.get("Accept", ""):   # what kubectl get asks for
            return self.send_json(200, table(page, meta))
        return self.send_json(200, {"kind": "NodeList", "apiVersion": "v1", "metadata": meta,
                                    "items": copy.deepcopy(page)})

    def watch(self, q):
        rv = int(q.get("resourceVersion", "0") or 0)
        timeout = min(int(q.get("timeoutSeconds", "30") or 30), 60)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(obj):
            data = (json.dumps(obj) + "\n").encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            with lock:
                too_old = rv <= BASE_RV and not state["gone_sent"]
                if too_old:
                    state["gone_sent"] = True
            if too_old:
                send({"type": "ERROR", "object": status(
                    410, "Expired", "too old resource version: %d (%d)" % (rv, BASE_RV + 50))})
            else:
                n = BASE_RV + 100
                end = time.time() + timeout
                while args.events_after and not os.path.exists(args.events_after) and time.time() < end:
                    time.sleep(0.1)
                if args.events_after and not os.path.exists(args.events_after):
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                for ev in EVENTS:
                    n += 1
                    if n <= rv:   # seen already by this client
                        continue
                    obj = copy.deepcopy(ev["object"])
                    obj.setdefault("metadata", {})["resourceVersion"] = str(n)
                    if ev["type"] != "BOOKMARK":
                        obj["kind"], obj["apiVersion"] = "Node", "v1"
                    send({"type": ev["type"], "object": obj})
                    time.sleep(0.05)
                end = time.time() + timeout
                while time.time() < end:
                    time.sleep(0.1)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(args.cert, args.key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_port))
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
