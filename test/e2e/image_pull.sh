#!/bin/bash
# Container images end to end on loopback: a real registry (Debian's
# docker-registry) with images built offline (umoci + busybox-static) and
# pushed with skopeo; canopy image pull into a broker's store checked with
# skopeo (same manifest digest), shared layers not fetched again, an index
# resolved to a platform, oci-archive and docker-archive import, list and
# remove; and bad input: unknown tag, wrong digest, auth failure, truncated
# blob, unknown media type (one-line errors, nothing half-written).
. "$(dirname "$0")/lib.sh" || exit 1
. "$(dirname "$0")/imagelib.bash" || exit 1
D=${T_TMP:?lib.sh did not set T_TMP}
for t in docker-registry skopeo umoci python3 jq; do
    command -v $t >/dev/null || { echo "ok - # SKIP $t not installed"; exit 0; }
done
BB=$(command -v busybox || true)
[ -n "$BB" ] && file -L "$BB" 2>/dev/null | grep -q static || BB=/bin/busybox
[ -x "$BB" ] || { echo "ok - # SKIP no busybox"; exit 0; }
export TMPDIR=$D

# ---- registries: anonymous, and one with htpasswd (bcrypt) auth
start_registry () {  # NAME PORT [AUTHFILE]
    local n=$1 port=$2 auth=${3:-}
    mkdir -p "$D/$n"
    {
        echo "version: 0.1"
        echo "log: {level: info, accesslog: {disabled: false}}"
        echo "storage: {filesystem: {rootdirectory: $D/$n/data}, delete: {enabled: true}}"
        echo "http: {addr: 127.0.0.1:$port}"
        [ -n "$auth" ] && echo "auth: {htpasswd: {realm: canopy-test, path: $auth}}"
    } > "$D/$n/config.yml"
    docker-registry serve "$D/$n/config.yml" > "$D/$n/log" 2>&1 &
    T_CLEANUP+=("kill $!")
    wait_until 20 curl -sf -o /dev/null "http://127.0.0.1:$port/v2/" -u alice:s3cret || wait_until 5 sh -c "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/v2/ | grep -q 401"
}
P1=$(img_free_port); P2=$(img_free_port)
python3 -W ignore -c 'import crypt; print("alice:" + crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH)))' > "$D/htpasswd"
start_registry reg1 "$P1"
start_registry reg2 "$P2" "$D/htpasswd"
check "registries answer /v2/" curl -sf -o /dev/null "http://127.0.0.1:$P1/v2/"

# ---- images built offline: v1 (2 layers), v2 = v1 + 1 layer, an arm64 variant, a 2-platform index
L=$D/layout
( cd "$D" && umoci init --layout layout && umoci new --image layout:v1 ) >/dev/null
add_layer () {  # TAG FILE CONTENT-CMD
    local tag=$1 b=$D/bundle-$RANDOM
    umoci unpack --image "$L:$tag" "$b" >/dev/null 2>&1 || return 1
    eval "$2" || return 1
    umoci repack --image "$L:$tag" "$b" >/dev/null && rm -rf "$b"
}
add_layer v1 'mkdir -p $b/rootfs/bin && cp $BB $b/rootfs/bin/busybox'
add_layer v1 'echo hello-v1 > $b/rootfs/hello'
umoci config --image "$L:v1" --config.cmd /bin/busybox --config.cmd echo >/dev/null
umoci tag --image "$L:v1" v2 >/dev/null
add_layer v2 'head -c 300000 /dev/urandom > $b/rootfs/random-v2'
umoci tag --image "$L:v1" arm >/dev/null
umoci config --image "$L:arm" --architecture arm64 --config.label variant=arm >/dev/null
# the index: v1 as linux/amd64, arm as linux/arm64
python3 - "$L" <<'PY'
import json, hashlib, sys, os
L = sys.argv[1]
idx = json.load(open(L + "/index.json"))
by = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in idx["manifests"]}
ents = []
for tag, arch in (("v1", "amd64"), ("arm", "arm64")):
    m = dict(by[tag]); m.pop("annotations")
    m["platform"] = {"os": "linux", "architecture": arch}
    ents.append(m)
body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": ents}).encode()
d = hashlib.sha256(body).hexdigest()
open(L + "/blobs/sha256/" + d, "wb").write(body)
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + d,
                         "size": len(body), "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(idx, open(L + "/index.json", "w"))
PY
R1=127.0.0.1:$P1; R2=127.0.0.1:$P2
img_push "oci:$L:v1" "docker://$R1/test/app:v1"
img_push "oci:$L:v2" "docker://$R1/test/app:v2"
img_push --all "oci:$L:multi" "docker://$R1/test/multi:v1"
img_push "oci:$L:v1" "docker://$R1/test/corrupt:v1"
img_push "oci:$L:v1" "docker://$R1/test/trunc:v1"
img_push --dest-creds alice:s3cret "oci:$L:v1" "docker://$R2/test/app:v1"
check "images pushed to the registries" sh -c "skopeo inspect --tls-verify=false 'docker://$R1/test/app:v2' --raw >/dev/null"
DIG1=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R1/test/app:v1")
DIG2=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R1/test/app:v2")
ARMDIG=$(skopeo inspect --tls-verify=false --raw "docker://$R1/test/multi:v1" | jq -r '.manifests[] | select(.platform.architecture=="arm64") | .digest')
AMDDIG=$(skopeo inspect --tls-verify=false --raw "docker://$R1/test/multi:v1" | jq -r '.manifests[] | select(.platform.architecture=="amd64") | .digest')

# corrupt one layer of test/corrupt (same size, other bytes) and truncate one of
# test/trunc, in the registry's storage: a layer of their own (v1 shares its
# layers with app, so give each its own copy first via a distinct 3rd layer)
umoci tag --image "$L:v1" c >/dev/null; add_layer c 'head -c 100000 /dev/urandom > $b/rootfs/c'
umoci tag --image "$L:v1" t >/dev/null; add_layer t 'head -c 100000 /dev/urandom > $b/rootfs/t'
img_push "oci:$L:c" "docker://$R1/test/corrupt:v1"
img_push "oci:$L:t" "docker://$R1/test/trunc:v1"
lastlayer () { skopeo inspect --tls-verify=false --raw "docker://$R1/test/$1:v1" | jq -r '.layers[-1].digest' | sed 's/sha256://'; }
CL=$(lastlayer corrupt); TL=$(lastlayer trunc)
BLOBS=$D/reg1/data/docker/registry/v2/blobs/sha256
python3 - "$BLOBS/${CL:0:2}/$CL/data" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0xff; open(p, "wb").write(b)
PY
truncate -s 5000 "$BLOBS/${TL:0:2}/$TL/data"

# ---- a fake registry for what docker-registry will not do: Bearer auth, blobs
# redirected to another path (as to object storage), a wrong
# Docker-Content-Digest, an unknown media type.  It serves layout $L.
cat > "$D/fake.py" <<'PY'
import http.server, json, sys, os
port, L, logf = int(sys.argv[1]), sys.argv[2], open(sys.argv[3], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send(self, code, body=b"", hdrs=()):
        self.send_response(code)
        for k, v in hdrs: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        logf.write(self.path + "\n")
        if self.path.startswith("/token"):
            ok = "%3Apull" in self.path and "service=fake" in self.path
            return self.send(200 if ok else 400, json.dumps({"token": "tok123"}).encode())
        if self.path.startswith("/storage/"):   # no auth: a presigned URL
            return self.send(200, open(L + "/blobs/sha256/" + os.path.basename(self.path), "rb").read())
        if self.headers.get("Authorization") != "Bearer tok123":
            return self.send(401, b"{}", [("WWW-Authenticate", 'Bearer realm="http://127.0.0.1:%d/token",service="fake"' % port)])
        if self.path == "/v2/":
            return self.send(200, b"{}")
        if self.path.startswith("/v2/test/weird/manifests/"):
            return self.send(200, b'{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json"}',
                             [("Content-Type", "application/vnd.example.thing+json")])
        if self.path.startswith("/v2/test/app/manifests/"):
            tag = self.path.rsplit("/", 1)[1]
            for m in json.load(open(L + "/index.json"))["manifests"]:
                if m["annotations"]["org.opencontainers.image.ref.name"] == ("v1" if tag == "baddcd" else tag):
                    body = open(L + "/blobs/sha256/" + m["digest"][7:], "rb").read()
                    dcd = "sha256:" + "0" * 64 if tag == "baddcd" else m["digest"]
                    return self.send(200, body, [("Content-Type", m["mediaType"]), ("Docker-Content-Digest", dcd)])
        if self.path.startswith("/v2/test/app/blobs/sha256:"):
            return self.send(307, b"", [("Location", "/storage/" + self.path.rsplit(":", 1)[1])])
        self.send(404, b"{}")
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
P3=$(img_free_port)
python3 "$D/fake.py" "$P3" "$L" "$D/fake.log" & T_CLEANUP+=("kill $!")
wait_until 10 curl -s -o /dev/null "http://127.0.0.1:$P3/v2/"

# ---- archives to import
skopeo copy -q "oci:$L:v2" "oci-archive:$D/v2.oci.tar:v2" >/dev/null
skopeo copy -q "oci:$L:v1" "docker-archive:$D/v1.docker.tar:example.com/dock/app:d1" >/dev/null
head -c 10000 "$D/v2.oci.tar" > "$D/cut.tar"
# an oci-archive with a member that climbs out, and one whose blob is not what its name says
python3 - "$D" <<'PY'
import tarfile, io, sys
D = sys.argv[1]
def tar(path, members):
    with tarfile.open(path, "w") as t:
        for name, data in members:
            i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
tar(D + "/climb.tar", [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("../evil", b"x")])
tar(D + "/liar.tar", [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("blobs/sha256/" + "ab" * 32, b"not that")])
PY

export R1 R2 P3 D DIG1 DIG2 ARMDIG AMDDIG
cat > "$D/job.sh" <<'EOS'
set -u
S=$RUNDIR/0/state/images
O=$D/out; mkdir -p $O
canopy image pull --plain-http -r 1 127.0.0.1:$P3/test/app:v1 > $O/bearer.txt 2>&1 || echo "bearer pull failed" >> $O/fail
gets () { grep -c 'GET /v2/test/app/blobs/' $D/reg1/log; }
gets > $O/gets0
canopy image pull --plain-http $R1/test/app:v1 > $O/pull1.txt 2>&1 || echo "pull1 failed" >> $O/fail
gets > $O/gets1
canopy image pull --plain-http $R1/test/app:v2 --json > $O/pull2.json 2>$O/pull2.err || echo "pull2 failed" >> $O/fail
gets > $O/gets2
canopy image pull --plain-http --platform linux/arm64 $R1/test/multi:v1 --json > $O/multi.json 2>&1 || echo "multi failed" >> $O/fail
canopy image pull --plain-http $R1/test/multi:v1 --json -r 1 > $O/multi1.json 2>&1 || echo "multi1 failed" >> $O/fail
canopy image pull --plain-http --user alice:s3cret $R2/test/app:v1 > $O/auth.txt 2>&1 || echo "auth pull failed" >> $O/fail
printf '{"auths":{"%s":{"auth":"%s"}}}' "$R2" "$(printf alice:s3cret | base64)" > $O/authfile.json
canopy image pull --plain-http --authfile $O/authfile.json $R2/test/app:v1 > $O/authfile.txt 2>&1 || echo "authfile pull failed" >> $O/fail
canopy image import $D/v2.oci.tar --name example.com/imp/app > $O/imp1.txt 2>&1 || echo "import oci failed" >> $O/fail
canopy image import $D/v1.docker.tar > $O/imp2.txt 2>&1 || echo "import docker failed" >> $O/fail
canopy image import $D/layout --name example.com/dir/app:v2 > $O/imp3.txt 2>&1 && echo "dir import of 5 entries with a tag should fail" >> $O/fail
canopy image list > $O/list.txt; canopy image list --json > $O/list.json
cp $S/index.json $O/index.before
ls -a $S/blobs/sha256 | sort > $O/blobs.before
# skopeo reads the store as an OCI layout
for ref in $R1/test/app:v1 $R1/test/app:v2 $R1/test/multi:v1 example.com/imp/app:v2 example.com/dock/app:d1; do
    skopeo inspect --format '{{.Digest}}' "oci:$S:$ref" >> $O/skopeo.txt 2>&1 || echo "skopeo inspect $ref failed" >> $O/fail
done
canopy image import $D/layout --name example.com/dir/app -r 1 > $O/imp4.txt 2>&1 || echo "dir import failed" >> $O/fail
skopeo copy -q "oci:$S:$R1/test/app:v2" "oci:$O/back:v2" >/dev/null 2>&1 || echo "skopeo copy out of the store failed" >> $O/fail
# bad input: every one fails with one line, nothing changes
bad () { local name=$1; shift; timeout 60 "$@" > /dev/null 2> $O/bad-$name.err; echo $? > $O/bad-$name.rc; }
bad tag canopy image pull --plain-http $R1/test/app:nosuch
bad corrupt canopy image pull --plain-http $R1/test/corrupt:v1
bad trunc canopy image pull --plain-http $R1/test/trunc:v1
bad noauth canopy image pull --plain-http $R2/test/app:v1
bad wrongpw canopy image pull --plain-http --user alice:wrong $R2/test/app:v1
bad dcd canopy image pull --plain-http 127.0.0.1:$P3/test/app:baddcd
bad weird canopy image pull --plain-http 127.0.0.1:$P3/test/weird:v1
bad tls canopy image pull $R1/test/app:v1
bad platform canopy image pull --plain-http --platform linux/s390x $R1/test/multi:v1
bad digest canopy image pull --plain-http "$R1/test/app@sha256:0000000000000000000000000000000000000000000000000000000000000000"
bad cut canopy image import $D/cut.tar --name example.com/cut/app
bad climb canopy image import $D/climb.tar --name example.com/climb/app
bad liar canopy image import $D/liar.tar --name example.com/liar/app
bad notar canopy image import $D/job.sh
bad bareref canopy image import $D/v2.oci.tar
bad badref canopy image pull 'Bad//Ref'
bad remove canopy image remove example.com/none:v1
cp $S/index.json $O/index.after
ls -a $S/blobs/sha256 | sort > $O/blobs.after
# remove: the shared layers stay while v2 needs them
canopy image remove $R1/test/app:v1 > $O/rm1.txt 2>&1 || echo "remove v1 failed" >> $O/fail
skopeo inspect "oci:$S:$R1/test/app:v2" > /dev/null 2>&1 || echo "v2 broken after removing v1" >> $O/fail
canopy image list > $O/list2.txt
exit 0
EOS
RUNDIR=$D/inst
export RUNDIR
canopy start --size 2 --keep --rundir "$RUNDIR" bash "$D/job.sh"
check "instance ran the job" [ $? -eq 0 ]
O=$D/out
check "no step of the good path failed" [ ! -s "$O/fail" ] || cat "$O/fail"
[ -s "$O/fail" ] && cat "$O/fail"
check "pull prints the manifest digest of the registry" grep -q "$DIG1" "$O/pull1.txt"
check "skopeo reads the same manifest digests from the store (v1, v2, arm64 of multi)" \
    [ "$(sed -n 1p "$O/skopeo.txt")" = "$DIG1" -a "$(sed -n 2p "$O/skopeo.txt")" = "$DIG2" -a "$(sed -n 3p "$O/skopeo.txt")" = "$ARMDIG" ]
check "v1 pull fetched config and 2 layers" grep -q "3 blobs fetched" "$O/pull1.txt"
check "v2 shares 2 layers: fetched only config and its new layer" \
    [ "$(jq '[.fetched, .present]' -c "$O/pull2.json")" = "[2,2]" ]
G1=$(( $(cat $O/gets1) - $(cat $O/gets0) )); G2=$(( $(cat $O/gets2) - $(cat $O/gets1) ))
check "the registry served 3 blob GETs for v1 (saw $G1)" [ "$G1" -eq 3 ]
check "and only 2 for v2, which shares 2 layers with v1 (saw $G2)" [ "$G2" -eq 2 ]
check "--platform linux/arm64 chose the arm64 manifest of the index" [ "$(jq -r .digest "$O/multi.json")" = "$ARMDIG" ]
check "the index digest is reported" [ "$(jq -r .index "$O/multi.json")" != null ]
check "default platform (this machine's) chose amd64 on rank 1" [ "$(jq -r .digest "$O/multi1.json")" = "$AMDDIG" ]
check "--user pulled from the htpasswd registry" grep -q "$DIG1" "$O/auth.txt"
check "--authfile pulled from the htpasswd registry" grep -q "$DIG1" "$O/authfile.txt"
check "oci-archive imported as example.com/imp/app:v2 with v2's digest" grep -q "imported example.com/imp/app:v2: $DIG2" "$O/imp1.txt"
check "docker-archive imported under its RepoTag, 2 layers" grep -q "imported example.com/dock/app:d1: sha256:.*2 layers" "$O/imp2.txt"
check "Bearer token pull (blobs redirected) gives v1's digest" grep -q "127.0.0.1:$P3/test/app:v1: $DIG1" "$O/bearer.txt"
check "all 3 blobs came from the fake registry through the redirect" [ "$(grep -c '^/storage/' "$D/fake.log")" -eq 3 ]
check "list shows 6 images with digest, size and layers" [ "$(jq '.images | length' "$O/list.json")" -eq 6 ]
check "list table has app:v2 with 3 layers" grep -qE "^$R1/test/app:v2 +sha256:[0-9a-f]{12} .* 3$" "$O/list.txt"
check "a layout directory imported: each tag under --name REPO, its index resolved to amd64" \
    sh -c "grep -q 'imported example.com/dir/app:multi: $AMDDIG' '$O/imp4.txt' && grep -q 'imported example.com/dir/app:v2: $DIG2' '$O/imp4.txt' && [ \$(wc -l < '$O/imp4.txt') -eq 6 ]"
check "skopeo copies an image out of the store" [ -f "$O/back/index.json" ]
img_err_is tag "test/app:nosuch: manifest not found"
img_err_is corrupt "digest mismatch"
img_err_is trunc "truncated"
img_err_is noauth "requires authentication"
img_err_is wrongpw "authentication failed for 127.0.0.1:$P2"
img_err_is dcd "wrong digest from the registry: Docker-Content-Digest sha256:0{64}"
img_err_is weird "unsupported manifest media type 'application/vnd.example.thing\+json'"
img_err_is tls "SSL|TLS|https"
img_err_is platform "no image for platform linux/s390x in the index \(it offers: linux/amd64, linux/arm64\)"
img_err_is digest "manifest not found"
img_err_is cut "cannot read|truncated"
img_err_is climb "member '../evil' climbs out of the archive"
img_err_is liar "member blobs/sha256/(ab){32}: blob sha256:(ab){32}: digest mismatch"
img_err_is notar "not a readable archive|neither"
img_err_is bareref "only by the tag 'v2': give --name REPO"
img_err_is badref "invalid"
img_err_is remove "no image example.com/none:v1"
check "index.json unchanged by the failures" cmp -s "$O/index.before" "$O/index.after"
check "no blob or temp file left by the failures" cmp -s "$O/blobs.before" "$O/blobs.after"
check "remove v1 kept the layers v2 shares" grep -q "removed $R1/test/app:v1" "$O/rm1.txt"
check "list no longer shows v1" sh -c "! grep -q '^$R1/test/app:v1 ' '$O/list2.txt' && grep -q '^$R1/test/app:v2 ' '$O/list2.txt'"
check "the broker logged the failed pulls" grep -q "image pull .*test/app:nosuch failed: .*manifest not found" "$RUNDIR/broker-0.log"
check "no sanitizer report in the broker logs" sh -c "[ -s '$RUNDIR/broker-1.log' ] && ! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' '$RUNDIR'/broker-*.log"
check "canopy image --help" sh -c "canopy image --help | grep -q 'canopy image pull'"
expect_fail "image without a broker" "CANOPY_URI|connect|socket|broker" env -u CANOPY_URI canopy image list
finish
