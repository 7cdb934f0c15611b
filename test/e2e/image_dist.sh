#!/bin/bash
# image_dist.sh - canopy image distribute end to end on loopback: an image
# pulled from a real registry (docker-registry, image built offline with
# umoci + busybox) into rank 0's store is distributed to 8 brokers; skopeo
# reads the same manifest digest from every target's store; a second image
# sharing 2 layers sends only its 3 new blobs; a third run sends nothing;
# and bad input (unknown image, containerd not reachable) fails in one line.
. "$(dirname "$0")/lib.sh" || exit 1
. "$(dirname "$0")/imagelib.bash" || exit 1
D=${T_TMP:?}
if ! img_need_tools; then echo "ok - # SKIP not installed:$IMG_MISSING"; exit 0; fi
export TMPDIR=$D
P=$(img_free_port)
R=127.0.0.1:$P
check "the registry answers /v2/" img_registry "$D/reg" "$R"
check "images built offline" img_layout "$D/layout"
img_push "oci:$D/layout:v1" "docker://$R/test/app:v1"
img_push "oci:$D/layout:v2" "docker://$R/test/app:v2"
umoci tag --image "$D/layout:v1" v3 >/dev/null
img_add_layer "$D/layout" v3 'head -c 200000 /dev/urandom > $b/rootfs/random-v3'
img_push "oci:$D/layout:v3" "docker://$R/test/app:v3"
V3L=$(skopeo inspect --tls-verify=false --raw "docker://$R/test/app:v3" | jq -r '.layers[-1].digest' | cut -c8-)
DIG1=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R/test/app:v1")
DIG2=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R/test/app:v2")
check "both images are in the registry" test -n "$DIG1" -a -n "$DIG2"
img_blobs "$R/test/app:v1" > "$D/blobs1"
img_blobs "$R/test/app:v2" > "$D/blobs2"
# v2's blobs that v1 does not have: manifest, config, the new layer
NEW2=$(grep -v -F -f <(cut -d' ' -f1 "$D/blobs1") "$D/blobs2")
NEW2_N=$(echo "$NEW2" | wc -l)
NEW2_B=$(echo "$NEW2" | awk '{s += $2} END {print s}')
ALL1_B=$(awk '{s += $2} END {print s}' "$D/blobs1")

export R D V3L
cat > "$D/job.sh" <<'EOS'
set -u
O=$D/out; mkdir -p $O
canopy image pull --plain-http $R/test/app:v1 > $O/pull1.txt 2>&1 || echo "pull v1 failed" >> $O/fail
canopy image distribute $R/test/app:v1 -r 1-8 --json > $O/d1.json 2> $O/d1.err || echo "distribute v1 failed: $(cat $O/d1.err)" >> $O/fail
for r in 1 2 3 4 5 6 7 8; do
    skopeo inspect --format '{{.Digest}}' "oci:$RUNDIR/$r/state/images:$R/test/app:v1" >> $O/skopeo1.txt 2>> $O/skopeo.err
done
canopy image pull --plain-http $R/test/app:v2 > $O/pull2.txt 2>&1 || echo "pull v2 failed" >> $O/fail
canopy image distribute $R/test/app:v2 --json > $O/d2.json 2> $O/d2.err || echo "distribute v2 failed: $(cat $O/d2.err)" >> $O/fail
cat $RUNDIR/broker-*.log > $O/logs-d2.txt
for r in 1 2 3 4 5 6 7 8; do
    skopeo inspect --format '{{.Digest}}' "oci:$RUNDIR/$r/state/images:$R/test/app:v2" >> $O/skopeo2.txt 2>> $O/skopeo.err
    ls -a $RUNDIR/$r/state/images > $O/top-$r.txt
done
canopy image distribute $R/test/app:v1 > $O/d3.txt 2>&1 || echo "distribute v1 again failed" >> $O/fail
canopy image list -r 5 > $O/list5.txt
canopy archive list --json > $O/archives0.json
canopy archive list --json -r 4 > $O/archives4.json
# --leaves (kary:2 of 9: ranks 4-8) with the two-tree schedule, after the leaves dropped v2
for r in 4 5 6 7 8; do canopy image remove -r $r $R/test/app:v2 > /dev/null || echo "remove v2 on $r failed" >> $O/fail; done
canopy image distribute $R/test/app:v2 --leaves --schedule twotree --json > $O/d5.json 2> $O/d5.err || echo "distribute --leaves failed: $(cat $O/d5.err)" >> $O/fail
for r in 4 5 6 7 8; do
    skopeo inspect --format '{{.Digest}}' "oci:$RUNDIR/$r/state/images:$R/test/app:v2" >> $O/skopeo5.txt 2>> $O/skopeo.err
done
# bad input
bad () { local name=$1; shift; timeout 120 "$@" > $O/bad-$name.out 2> $O/bad-$name.err; echo $? > $O/bad-$name.rc; }
bad nosuch canopy image distribute $R/test/app:nosuch -r 1-2
bad badref canopy image distribute 'Bad//Ref'
bad noctr canopy image distribute $R/test/app:v1 -r 1-2 --containerd --address $D/no-such.sock
bad onlysrc canopy image distribute $R/test/app:v1 -r 0
bad nsalone canopy image distribute $R/test/app:v1 --namespace x
# a target that cannot take a blob (a directory where v3's new layer goes):
# it fails, the other target gets v3, and its store has nothing half-written
S8=$RUNDIR/8/state/images
mkdir $S8/blobs/sha256/$V3L
cp $S8/index.json $O/index8.before; ls -a $S8 $S8/blobs/sha256 > $O/ls8.before
canopy image pull --plain-http $R/test/app:v3 > /dev/null 2>&1 || echo "pull v3 failed" >> $O/fail
canopy image distribute $R/test/app:v3 -r 7-8 > $O/d4.txt 2> $O/d4.err; echo $? > $O/d4.rc
cp $S8/index.json $O/index8.after; ls -a $S8 $S8/blobs/sha256 > $O/ls8.after
skopeo inspect --format '{{.Digest}}' "oci:$RUNDIR/7/state/images:$R/test/app:v3" > $O/skopeo7.txt 2>&1
# a damaged blob in the source's store (same size, other bytes) is caught before anything is sent
L2=$RUNDIR/0/state/images/blobs/sha256/$V3L
python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[len(b) // 2] ^= 0xff; open(p, "wb").write(b)' $L2
bad damaged canopy image distribute $R/test/app:v3 -r 6
exit 0
EOS
RUNDIR=$D/inst
export RUNDIR
canopy start --size 9 --keep --rundir "$RUNDIR" bash "$D/job.sh"
check "instance ran the job" [ $? -eq 0 ]
O=$D/out
check "no step of the good path failed" [ ! -s "$O/fail" ]
[ -s "$O/fail" ] && cat "$O/fail"
check "distribute v1: ok on 8 of 8 ranks" [ "$(jq -r '[.ok, .failed] | @csv' "$O/d1.json")" = "8,0" ]
check "every target's store gives v1's manifest digest to skopeo" \
    [ "$(sort -u "$O/skopeo1.txt")" = "$DIG1" -a "$(wc -l < "$O/skopeo1.txt")" -eq 8 ]
check "v1: all 4 blobs ($ALL1_B bytes) sent" [ "$(jq -r '[.blobs_sent, .bytes_sent] | @csv' "$O/d1.json")" = "4,$ALL1_B" ]
check "distribute v2 (all ranks but the source): ok on 8 of 8" [ "$(jq -r '[.ok, .failed] | @csv' "$O/d2.json")" = "8,0" ]
check "every target's store gives v2's manifest digest" \
    [ "$(sort -u "$O/skopeo2.txt")" = "$DIG2" -a "$(wc -l < "$O/skopeo2.txt")" -eq 8 ]
echo "# v2 sent: $(jq -c '{blobs_sent, bytes_sent, blobs, size}' "$O/d2.json"); new blobs: $NEW2_N ($NEW2_B bytes)"
check "v2 shares 2 layers: only its $NEW2_N new blobs ($NEW2_B bytes) were sent" \
    [ "$(jq -r '[.blobs_sent, .bytes_sent] | @csv' "$O/d2.json")" = "$NEW2_N,$NEW2_B" ]
N2=$(grep -cE "archive image-${DIG2:7:12}-[0-9a-f]{8}: complete in [0-9.]+ s \($NEW2_B bytes;" "$O/logs-d2.txt")
check "the archive service of each of the 8 targets fetched just $NEW2_B bytes for v2 (saw $N2)" [ "$N2" -eq 8 ]
check "each target lacked exactly those $NEW2_N blobs" [ "$(jq '[.ranks[].missing] | unique | @csv' -r "$O/d2.json")" = "$NEW2_N" ]
check "v1 again: nothing sent, every rank had every blob" \
    sh -c "grep -q '0 of 4 blobs sent' '$O/d3.txt' && [ \$(grep -c 'had every blob' '$O/d3.txt') -eq 8 ]"
check "rank 5 lists v1 and v2" sh -c "grep -q '^$R/test/app:v1 ' '$O/list5.txt' && grep -q '^$R/test/app:v2 ' '$O/list5.txt'"
check "no transfer archive left on the source or a target" \
    [ "$(jq '[.[] | select(.name | startswith("image-"))] | length' "$O/archives0.json" "$O/archives4.json" | sort -u)" = 0 ]
check "no extraction state left in a target's store" sh -c "! grep -q canopy-extract $O/top-*.txt"
img_err_is nosuch "no image $R/test/app:nosuch in the store"
img_err_is badref "invalid"
img_err_is onlysrc "no target rank other than the source"
img_err_is nsalone "go with --containerd"
rc=$(cat "$O/bad-noctr.rc")
check "--containerd with no containerd fails (rc=$rc) naming the socket on each rank" \
    sh -c "[ $rc -ne 0 ] && [ \$(grep -c 'FAILED.*containerd is not reachable at $D/no-such.sock' '$O/bad-noctr.out') -eq 2 ]"
check "--leaves --schedule twotree: ranks 4-8, 3 blobs each, two-tree, all ok" \
    [ "$(jq -r '[(.ranks | keys | join(" ")), .targets_sent, .blobs_sent, .schedule, .ok] | @csv' "$O/d5.json")" = '"4 5 6 7 8",5,3,"twotree",5' ]
check "and every leaf's store gives v2's digest again" [ "$(sort -u "$O/skopeo5.txt")" = "$DIG2" -a "$(wc -l < "$O/skopeo5.txt")" -eq 5 ]
rc=$(cat "$O/d4.rc")
echo "# d4: $(cat "$O/d4.txt" "$O/d4.err" | tr '\n' '|' | head -c 600)"
check "a target that cannot store a blob fails (rc=$rc), naming the path; the other one succeeds" \
    sh -c "[ $rc -ne 0 ] && grep -qE '^8 +FAILED .*$V3L' '$O/d4.txt' && grep -qE '^7 +ok ' '$O/d4.txt'"
check "rank 7 has v3" [ -n "$(grep sha256 "$O/skopeo7.txt")" ]
check "rank 8's index.json is unchanged by its failure" cmp -s "$O/index8.before" "$O/index8.after"
check "rank 8's store has no file or temp file more than before" cmp -s "$O/ls8.before" "$O/ls8.after"
img_err_is damaged "rank 0: blob sha256:$V3L in the store is damaged \(its bytes hash to sha256:[0-9a-f]{64}\)"
check "no sanitizer report in the broker logs" sh -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' '$RUNDIR'/broker-*.log"
finish
