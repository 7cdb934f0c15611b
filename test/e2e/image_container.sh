#!/bin/bash
# image_container.sh - the canopy image (deploy/image/build.sh, umoci, no
# Docker engine) imports into a containerd this test starts, with its state
# under a temp dir, and runs: canopy-broker --version, then a 2-broker
# instance inside the container that runs a command on both ranks.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" -ne 0 ] || ! command -v containerd >/dev/null || ! command -v ctr >/dev/null \
   || ! command -v runc >/dev/null || ! command -v umoci >/dev/null; then
    echo "SKIP: needs root, containerd, ctr, runc and umoci"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
cd "$T_TMP"
check "the image builds from the build tree" "$SRC/deploy/image/build.sh" --bin "$CANOPY_BIN" --tag test --archive canopy.tar layout
check "the layout names its tag" grep -q '"org.opencontainers.image.ref.name":"test"' layout/index.json
expect_fail "an existing layout is not overwritten" "layout exists" "$SRC/deploy/image/build.sh" --bin "$CANOPY_BIN" layout

D=$T_TMP/ctrd
mkdir -p "$D"
cat >"$D/config.toml" <<EOC
version = 2
root = "$D/root"
state = "$D/state"
[grpc]
  address = "$D/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  disable_cgroup = true
EOC
containerd --config "$D/config.toml" >"$D/log" 2>&1 &
T_CLEANUP+=("kill $!; sleep 1")
CTR="ctr -a $D/containerd.sock -n canopy-test"
check "containerd answers" wait_until 20 $CTR version
check "ctr images import" $CTR images import --base-name docker.io/library/canopy canopy.tar
check "the image is listed under its tag" bash -c "$CTR images ls -q | grep -qx docker.io/library/canopy:test"
out=$(timeout 120 $CTR run --rm docker.io/library/canopy:test t-version /usr/local/bin/canopy-broker --version 2>&1)
want=$("$CANOPY_BIN/canopy-broker" --version 2>&1)
check "canopy-broker --version runs in the container (got: $out)" test -n "$out" -a "$out" = "$want"
out=$(timeout 120 $CTR run --rm docker.io/library/canopy:test t-start /usr/local/bin/canopy start --size 2 --topo kary:1 \
      /usr/local/bin/canopy exec -r all /usr/local/bin/canopy-broker --version 2>&1)
check "a 2-broker instance runs inside the container (got: $(echo $out))" test "$(echo "$out" | grep -c "^$want\$")" = 2
finish
