# imagelib.bash - helpers for the image tests and benchmarks (sourced after
# lib.sh, not run): a real registry (Debian's docker-registry) on loopback
# and images built offline with umoci and a static busybox.
img_need_tools () {  # sets IMG_BB, and IMG_MISSING to what is missing; non-zero if anything is
    local t miss=""
    for t in docker-registry skopeo umoci python3 jq curl; do command -v $t >/dev/null || miss="$miss $t"; done
    IMG_BB=$(command -v busybox || true)
    [ -n "$IMG_BB" ] && file -L "$IMG_BB" 2>/dev/null | grep -q static || IMG_BB=/bin/busybox
    [ -x "$IMG_BB" ] || miss="$miss busybox"
    IMG_MISSING=$miss
    [ -z "$miss" ]
}
img_free_port () { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# img_registry DIR ADDR:PORT: start a registry storing under DIR; its pid in IMG_REG_PID
img_registry () {
    local dir=$1 addr=$2
    mkdir -p "$dir"
    {
        echo "version: 0.1"
        echo "log: {level: info, accesslog: {disabled: false}}"
        echo "storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}"
        echo "http: {addr: $addr}"
    } > "$dir/config.yml"
    docker-registry serve "$dir/config.yml" > "$dir/log" 2>&1 &
    IMG_REG_PID=$!
    T_CLEANUP+=("kill $IMG_REG_PID")
    wait_until 30 curl -sf -o /dev/null "http://$addr/v2/"
}
# img_layout DIR: an OCI layout with tag v1 (busybox + a file: 2 layers, runs
# "echo hello-v1"), v2 = v1 + a 300 kB random layer (shares v1's 2 layers)
img_layout () {
    local L=$1 b
    ( cd "$(dirname "$L")" && umoci init --layout "$(basename "$L")" && umoci new --image "$(basename "$L"):v1" ) >/dev/null || return 1
    img_add_layer "$L" v1 'mkdir -p $b/rootfs/bin && cp $IMG_BB $b/rootfs/bin/busybox && ln -s busybox $b/rootfs/bin/sh' || return 1
    img_add_layer "$L" v1 'echo hello-v1 > $b/rootfs/hello' || return 1
    umoci config --image "$L:v1" --config.cmd /bin/busybox --config.cmd cat --config.cmd /hello >/dev/null || return 1
    umoci tag --image "$L:v1" v2 >/dev/null
    img_add_layer "$L" v2 'head -c 300000 /dev/urandom > $b/rootfs/random-v2'
}
# img_add_layer LAYOUT TAG CMD: unpack, eval CMD (with $b the bundle), repack
img_add_layer () {
    local L=$1 tag=$2 b
    b=$(dirname "$L")/bundle-$RANDOM
    umoci unpack --rootless --image "$L:$tag" "$b" >/dev/null 2>&1 || umoci unpack --image "$L:$tag" "$b" >/dev/null 2>&1 || return 1
    eval "$3" || return 1
    umoci repack --image "$L:$tag" "$b" >/dev/null && rm -rf "$b"
}
img_push () { skopeo copy -q "$@" --dest-tls-verify=false >/dev/null; }
# img_blobs REGISTRY/REPO:TAG: "DIGEST SIZE" of the manifest, config and each layer, one a line
img_blobs () {
    local f
    f=$(mktemp)
    skopeo inspect --tls-verify=false --raw "docker://$1" > "$f" || { rm -f "$f"; return 1; }
    echo "sha256:$(sha256sum < "$f" | cut -c1-64) $(wc -c < "$f")"
    jq -r '.config | "\(.digest) \(.size)"' "$f"
    jq -r '.layers[] | "\(.digest) \(.size)"' "$f"
    rm -f "$f"
}
# img_err_is NAME PATTERN: the bad-input step NAME (its exit code in
# $O/bad-NAME.rc, stderr in $O/bad-NAME.err) failed, not by timeout, with one
# line matching PATTERN
img_err_is () {
    local rc; rc=$(cat "$O/bad-$1.rc")
    echo "# $1: $(head -c 300 "$O/bad-$1.err")"
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qE -- "$2" "$O/bad-$1.err" && [ "$(wc -l < "$O/bad-$1.err")" -eq 1 ]; then
        pass "bad input $1: one line, non-zero exit"
    else
        fail "bad input $1 (rc=$rc): $(head -3 "$O/bad-$1.err")"
    fi
}
