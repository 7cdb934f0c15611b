#!/bin/bash
# image_mirror.sh - a broker's image store served read-only over the
# registry API: curl and skopeo read manifests (by tag and digest) and blobs
# from rank 1's mirror; what it lacks is a 404 that the broker logs and
# counts; canopy image mirror --containerd writes hosts.toml (backup kept,
# restored by --remove); and, as root with containerd, ctr images pull
# through the mirror falls through for an image the node lacks and, with
# the registry stopped, pulls the node's image from the mirror and runs it.
. "$(dirname "$0")/lib.sh" || exit 1
. "$(dirname "$0")/imagelib.bash" || exit 1
D=${T_TMP:?}
if ! img_need_tools; then echo "ok - # SKIP not installed:$IMG_MISSING"; exit 0; fi
export TMPDIR=$D
P=$(img_free_port); MP=$(img_free_port)
R=127.0.0.1:$P
check "the registry answers /v2/" img_registry "$D/reg" "$R"
REGPID=$IMG_REG_PID
check "images built offline" img_layout "$D/layout"
img_push "oci:$D/layout:v1" "docker://$R/test/app:v1"
img_push "oci:$D/layout:v2" "docker://$R/test/app:v2"
DIG1=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R/test/app:v1")
CTRD=0
if [ "$(id -u)" -eq 0 ] && command -v containerd >/dev/null && command -v ctr >/dev/null && command -v runc >/dev/null; then
    CTRD=1
    C=$D/ctrd
    mkdir -p "$C"
    printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\n[grpc]\n  address = "%s/containerd.sock"\n[plugins."io.containerd.grpc.v1.cri"]\n  disable_cgroup = true\n' \
        "$C" "$C" "$C" > "$C/config.toml"
    containerd --config "$C/config.toml" >"$C/log" 2>&1 &
    T_CLEANUP+=("kill $!; sleep 1")
    check "containerd answers" wait_until 30 ctr -a "$C/containerd.sock" version
else
    echo "# containerd part skipped: needs root, containerd, ctr and runc"
fi
CERTS=$D/certs.d
mkdir -p "$CERTS/$R"
printf 'server = "http://%s"\n# the user'"'"'s own file\n' "$R" > "$CERTS/$R/hosts.toml"
cp "$CERTS/$R/hosts.toml" "$D/users-hosts.toml"

export R D MP DIG1 CTRD CERTS REGPID
export C=${C:-}
cat > "$D/job.sh" <<'EOS'
set -u
O=$D/out; mkdir -p $O
M=http://127.0.0.1:$MP
canopy image pull --plain-http $R/test/app:v1 > $O/pull.txt 2>&1 || echo "pull failed" >> $O/fail
canopy image distribute $R/test/app:v1 -r 1 > $O/dist.txt 2>&1 || echo "distribute failed: $(cat $O/dist.txt)" >> $O/fail
canopy image mirror --containerd --config-path $CERTS --plain-http --listen 127.0.0.1:$MP -r 1 $R > $O/mirror.txt 2>&1 \
    || echo "mirror failed: $(cat $O/mirror.txt)" >> $O/fail
cp $CERTS/$R/hosts.toml $O/hosts.toml
cp $CERTS/$R/hosts.toml.canopy-backup $O/backup.toml 2>/dev/null
curl -s -o /dev/null -w '%{http_code}\n' $M/v2/ > $O/v2.code
curl -sI "$M/v2/test/app/manifests/v1?ns=$R" -H 'Accept: application/vnd.oci.image.manifest.v1+json' > $O/head.txt
curl -s "$M/v2/test/app/manifests/$DIG1" -o $O/bydigest.json -w '%{http_code}\n' > $O/bydigest.code
CFG=$(jq -r .config.digest $O/bydigest.json)
curl -s "$M/v2/test/app/blobs/$CFG" -o $O/config.json -w '%{http_code}\n' > $O/blob.code
curl -s "$M/v2/test/app/manifests/v2?ns=$R" -o /dev/null -w '%{http_code}\n' > $O/miss.code
curl -s "$M/v2/test/app/blobs/sha256:$(printf '%064d' 0)" -o /dev/null -w '%{http_code}\n' > $O/missblob.code
curl -s -X DELETE "$M/v2/test/app/manifests/v1" -o /dev/null -w '%{http_code}\n' > $O/delete.code
curl -s "$M/v2/../../etc/passwd/blobs/x" -o /dev/null -w '%{http_code}\n' > $O/climb.code
skopeo inspect --tls-verify=false --format "{{.Digest}} {{.RepoTags}}" docker://127.0.0.1:$MP/test/app:v1 > $O/skopeo.txt 2>&1
skopeo copy -q --src-tls-verify=false docker://127.0.0.1:$MP/test/app:v1 oci:$O/copy:v1 > /dev/null 2>&1 || echo "skopeo copy from the mirror failed" >> $O/fail
if [ "$CTRD" = 1 ]; then
    CTR="ctr -a $C/containerd.sock -n canopy-test"
    $CTR images pull --hosts-dir $CERTS $R/test/app:v2 > $O/ctr-v2.txt 2>&1 || echo "ctr pull of v2 (through the fallthrough) failed: $(tail -2 $O/ctr-v2.txt)" >> $O/fail
    kill $REGPID; sleep 0.5
    curl -s -o /dev/null "http://$R/v2/" && echo "registry still up" >> $O/fail
    $CTR images pull --hosts-dir $CERTS $R/test/app:v1 > $O/ctr-v1.txt 2>&1 || echo "ctr pull of v1 through the mirror failed: $(tail -2 $O/ctr-v1.txt)" >> $O/fail
    timeout 120 $CTR run --rm $R/test/app:v1 t-mirror > $O/run.txt 2>&1
    $CTR images ls > $O/ctr-ls.txt
fi
canopy image list --mirror-stats -r 1 --json > $O/stats.json
canopy image list --mirror-stats -r 1 > $O/stats.txt
canopy image mirror --containerd --config-path $CERTS --remove -r 1 $R > $O/remove.txt 2>&1 || echo "mirror --remove failed" >> $O/fail
cp $CERTS/$R/hosts.toml $O/restored.toml
canopy image list --mirror-stats -r 0 > /dev/null 2> $O/nomirror.err; echo $? > $O/nomirror.rc
canopy image mirror --containerd --config-path $CERTS -r 1 'bad/name' > /dev/null 2> $O/badreg.err; echo $? > $O/badreg.rc
exit 0
EOS
RUNDIR=$D/inst
export RUNDIR
canopy start --size 2 --keep --rundir "$RUNDIR" bash "$D/job.sh"
check "instance ran the job" [ $? -eq 0 ]
O=$D/out
check "no step failed" [ ! -s "$O/fail" ]
[ -s "$O/fail" ] && cat "$O/fail"
check "mirror wrote hosts.toml for $R" grep -q "rank 1: wrote $CERTS/$R/hosts.toml for the mirror at http://127.0.0.1:$MP" "$O/mirror.txt"
check "hosts.toml names the registry as server and the mirror as a pull/resolve host" \
    sh -c "grep -q '^server = \"http://$R\"' '$O/hosts.toml' && grep -q '^\[host.\"http://127.0.0.1:$MP\"\]' '$O/hosts.toml' && grep -q 'capabilities = \[\"pull\", \"resolve\"\]' '$O/hosts.toml'"
check "the user's hosts.toml was kept as the backup" cmp -s "$O/backup.toml" "$D/users-hosts.toml"
check "GET /v2/ is 200" [ "$(cat "$O/v2.code")" = 200 ]
check "HEAD manifests/v1?ns=REGISTRY: 200 with the digest, media type and length" \
    sh -c "grep -q '^HTTP/1.1 200' '$O/head.txt' && grep -qi '^Docker-Content-Digest: $DIG1' '$O/head.txt' && grep -qi '^Content-Type: application/vnd.oci.image.manifest.v1+json' '$O/head.txt' && grep -qi '^Content-Length: [1-9]' '$O/head.txt'"
check "GET manifest by digest: 200 and the bytes hash to it" \
    sh -c "[ \$(cat '$O/bydigest.code') = 200 ] && [ sha256:\$(sha256sum < '$O/bydigest.json' | cut -c1-64) = '$DIG1' ]"
check "GET the config blob: 200 and its bytes hash to its digest" \
    sh -c "[ \$(cat '$O/blob.code') = 200 ] && [ sha256:\$(sha256sum < '$O/config.json' | cut -c1-64) = \$(jq -r .config.digest '$O/bydigest.json') ]"
check "a tag the node lacks is 404" [ "$(cat "$O/miss.code")" = 404 ]
check "a blob the node lacks is 404" [ "$(cat "$O/missblob.code")" = 404 ]
check "DELETE is refused (405): the mirror is read-only" [ "$(cat "$O/delete.code")" = 405 ]
check "a path with .. is 404" [ "$(cat "$O/climb.code")" = 404 ]
check "skopeo inspect through the mirror gives v1's digest and the node's tags (tags/list)" [ "$(cat "$O/skopeo.txt")" = "$DIG1 [v1]" ]
check "skopeo copies v1 out of the mirror" [ -f "$O/copy/index.json" ]
check "the broker logged the fallthrough of test/app:v2" \
    grep -q "image mirror: cannot serve GET /v2/test/app/manifests/v2 (ns $R): not in this node's store; the client falls through to the registry" "$RUNDIR/broker-1.log"
FT=$(jq .fallthrough "$O/stats.json")
if [ "$CTRD" = 1 ]; then
    check "ctr pulled v2 through the fallthrough (the registry had it)" grep -q "^$R/test/app:v2 " "$O/ctr-ls.txt"
    check "ctr pulled v1 through the mirror with the registry stopped" grep -q "^$R/test/app:v1 .*$DIG1" "$O/ctr-ls.txt"
    check "ctr run of it prints hello-v1 (got: $(head -c 200 "$O/run.txt"))" [ "$(cat "$O/run.txt")" = hello-v1 ]
    check "containerd's fallthrough for v2 was counted and logged (HEAD by containerd)" \
        grep -q "image mirror: cannot serve HEAD /v2/test/app/manifests/v2 (ns $R)" "$RUNDIR/broker-1.log"
    FTW=5
else
    FTW=4
fi
check "the counter shows $FTW or more fallthroughs (saw $FT) and served manifests and blobs" \
    sh -c "[ $FT -ge $FTW ] && [ \$(jq .manifests '$O/stats.json') -ge 2 ] && [ \$(jq .blobs '$O/stats.json') -ge 1 ]"
check "mirror-stats prints one line with the counters" grep -q "^mirror http://127.0.0.1:$MP: .* fell through to the registry" "$O/stats.txt"
check "--remove restored the user's hosts.toml" cmp -s "$O/restored.toml" "$D/users-hosts.toml"
check "and left no backup behind" [ ! -e "$CERTS/$R/hosts.toml.canopy-backup" ]
check "mirror-stats on a broker without a mirror: one-line error" \
    sh -c "[ \$(cat '$O/nomirror.rc') -ne 0 ] && grep -q 'serves no mirror' '$O/nomirror.err' && [ \$(wc -l < '$O/nomirror.err') -eq 1 ]"
check "a bad registry name: one-line error" \
    sh -c "[ \$(cat '$O/badreg.rc') -ne 0 ] && grep -q 'invalid registry name' '$O/badreg.err' && [ \$(wc -l < '$O/badreg.err') -eq 1 ]"
# CANOPY_IMAGE_MIRROR starts the mirror with the broker (port 0: any free one)
cat > "$D/job2.sh" <<'EOS'
canopy image list --mirror-stats --json > $D/out/env-stats.json && curl -sf "$(jq -r .url $D/out/env-stats.json)/v2/" > $D/out/env-v2.txt
EOS
CANOPY_IMAGE_MIRROR=127.0.0.1:0 canopy start --size 1 --rundir "$D/inst2" bash "$D/job2.sh"
check "CANOPY_IMAGE_MIRROR=127.0.0.1:0 starts the mirror with the broker on a free port" \
    sh -c "jq -r .url '$O/env-stats.json' | grep -qE '^http://127.0.0.1:[1-9][0-9]*$' && [ \"\$(cat '$O/env-v2.txt')\" = '{}' ]"
check "no sanitizer report in the broker logs" sh -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' '$RUNDIR'/broker-*.log"
finish
