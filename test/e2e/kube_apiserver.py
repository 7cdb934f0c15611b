#!/usr/bin/env python3
"""kube_apiserver.py - a loopback HTTPS stand-in for the Kubernetes API server,
for canopy's discovery tests (test/e2e/kube_discovery.sh).

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
ap.add_argument("--nodes", required=True)
ap.add_argument("--events")
ap.add_argument("--events-after", help="hold the scripted events until this file exists")
ap.add_argument("--token", default="good-token")
ap.add_argument("--forbidden-token", default="no-rbac-token")
ap.add_argument("--port-file", required=True)
ap.add_argument("--log")
args = ap.parse_args()

NODES = json.load(open(args.nodes))
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


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        if logf:
            logf.write("%s %s\n" % (self.command, self.path))
            logf.flush()

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
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
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        if u.path == "/api/v1":
            return self.send_json(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node",
                 "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                 "shortNames": ["no"]},
                {"name": "nodes/status", "singularName": "", "namespaced": False, "kind": "Node",
                 "verbs": ["get", "patch", "update"]}]})
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
