#!/bin/bash
# image_ctr.sh - canopy image distribute --containerd into a containerd this
# test starts (root, state and socket under a temp dir): the image, pulled
# from a real registry into rank 0, reaches ranks 1-2, and ranks 0-2 import it into containerd;
# ctr run of it prints what the image's command prints.
. "$(dirname "$0")/lib.sh" || exit 1
. "$(dirname "$0")/imagelib.bash" || exit 1
D=${T_TMP:?}
if [ "$(id -u)" -ne 0 ] || ! command -v containerd >/dev/null || ! command -v ctr >/dev/null \
   || ! command -v runc >/dev/null; then
    echo "ok - # SKIP needs root, containerd, ctr and runc"
    exit 0
fi
if ! img_need_tools; then echo "ok - # SKIP not installed:$IMG_MISSING"; exit 0; fi
export TMPDIR=$D
P=$(img_free_port)
R=127.0.0.1:$P
check "the registry answers /v2/" img_registry "$D/reg" "$R"
check "image built offline" img_layout "$D/layout"
img_push "oci:$D/layout:v1" "docker://$R/test/app:v1"
DIG1=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$R/test/app:v1")

C=$D/ctrd
mkdir -p "$C"
cat >"$C/config.toml" <<EOC
version = 2
root = "$C/root"
state = "$C/state"
[grpc]
  address = "$C/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  disable_cgroup = true
EOC
containerd --config "$C/config.toml" >"$C/log" 2>&1 &
CPID=$!
T_CLEANUP+=("kill $CPID; sleep 1")
CTR="ctr -a $C/containerd.sock -n canopy-test"
check "containerd answers" wait_until 30 $CTR version

export R C D
cat > "$D/job.sh" <<'EOS'
set -u
O=$D/out; mkdir -p $O
canopy image pull --plain-http $R/test/app:v1 > $O/pull.txt 2>&1 || echo "pull failed: $(cat $O/pull.txt)" >> $O/fail
canopy image distribute $R/test/app:v1 -r 0-2 --containerd --address $C/containerd.sock --namespace canopy-test \
    > $O/dist.txt 2>&1 || echo "distribute --containerd failed: $(cat $O/dist.txt)" >> $O/fail
exit 0
EOS
RUNDIR=$D/inst
export RUNDIR
canopy start --size 3 --keep --rundir "$RUNDIR" bash "$D/job.sh"
check "instance ran the job" [ $? -eq 0 ]
O=$D/out
check "no step failed" [ ! -s "$O/fail" ]
[ -s "$O/fail" ] && cat "$O/fail"
check "distribute says ranks 0-2 (the source too) imported into containerd" \
    sh -c "grep -q 'to 3 of 3 ranks.*imported into containerd' '$O/dist.txt'"
check "containerd lists the image under its registry name with the registry's digest" \
    sh -c "$CTR images ls | grep -q '^$R/test/app:v1 .*$DIG1'"
check "the broker logs say they imported it" [ "$(grep -c 'adopted from a distribution and imported into containerd' "$RUNDIR"/broker-*.log | awk -F: '{s+=$2} END {print s}')" -eq 3 ]
out=$(timeout 120 $CTR run --rm "$R/test/app:v1" t-hello 2>&1)
check "ctr run of the image prints hello-v1 (got: $out)" test "$out" = hello-v1
check "no sanitizer report in the broker logs" sh -c "! grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' '$RUNDIR'/broker-*.log"
finish
