#!/bin/bash
# image_dist.sh - container image distribution on an emulated cluster: N
# network namespaces joined through a bridge, each host's egress shaped with
# tc tbf to RATE, one broker per host, a docker-registry in the source's
# namespace (host 0).  For an image of LAYERS layers of random bytes (SIZE in
# all) and then a second image sharing all but one layer, side by side in
# one run:
#   canopy:   rank 0 pulls the image from the registry, then
#             `canopy image distribute` sends it to every other host;
#   registry: every other host pulls it from the registry at once
#             (`canopy image pull` on each, all started together).
# Both start from the same state (the targets hold image 1 when image 2 is
# measured, as they would after the first rollout).  Prints times, the
# ratio, and efficiency = (bytes a target needs / link rate) / time.
#
# Usage (root): bench/image_dist.sh [--hosts 16] [--rate 1gbit] [--size 1G] [--layers 8]
#                                   [--prefix cnimg] [--keep-logs DIR]
# Takes the locks /tmp/canopy-netns.lock and /tmp/canopy-bench.lock itself.
# Env CANOPY_BIN: where canopy and canopy-broker are (default build/bin).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
CANOPY_BIN=${CANOPY_BIN:-$SRC/build/bin}
export PATH="$CANOPY_BIN:$PATH"
N=16
RATE=1gbit
SIZE=1G
LAYERS=8
PREFIX=cnimg
KEEP=""
while [ $# -gt 0 ]; do
    case $1 in
    --hosts) N=$2; shift ;;
    --rate) RATE=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --layers) LAYERS=$2; shift ;;
    --prefix) PREFIX=$2; shift ;;
    --keep-logs) KEEP=$2; shift ;;
    --locked) LOCKED=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "image_dist.sh: unknown argument '$1' (try --help)" >&2; exit 1 ;;
    esac
    shift
done
if [ -z "${LOCKED:-}" ]; then   # take both locks, then run again inside them
    exec flock /tmp/canopy-netns.lock flock /tmp/canopy-bench.lock "$0" --locked --hosts "$N" --rate "$RATE" \
        --size "$SIZE" --layers "$LAYERS" --prefix "$PREFIX" ${KEEP:+--keep-logs "$KEEP"}
fi
for t in tc ip docker-registry skopeo python3 jq curl; do
    command -v $t >/dev/null || { echo "image_dist.sh: needs $t" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "image_dist.sh: needs root (network namespaces)" >&2; exit 1; }
[ -x "$CANOPY_BIN/canopy-broker" ] || { echo "image_dist.sh: no canopy-broker in $CANOPY_BIN" >&2; exit 1; }
case $N$LAYERS in *[!0-9]*) echo "image_dist.sh: --hosts and --layers are numbers" >&2; exit 1 ;; esac
[ "$N" -ge 2 ] && [ "$N" -le 64 ] && [ "$LAYERS" -ge 2 ] && [ "$LAYERS" -le 64 ] || {
    echo "image_dist.sh: --hosts 2-64, --layers 2-64" >&2; exit 1; }
RATE_BPS=$(echo "$RATE" | awk '{
    v = $1 + 0; u = tolower($1); sub(/^[0-9.]+/, "", u)
    m = (u == "kbit") ? 1e3 : (u == "mbit") ? 1e6 : (u == "gbit") ? 1e9 : (u == "bit" || u == "") ? 1 : -1
    if (m < 0 || v <= 0) exit 1; printf "%.0f", v * m }') || { echo "image_dist.sh: --rate like 1gbit" >&2; exit 1; }
BYTES=$(echo "$SIZE" | awk '{ v = $1 + 0; u = toupper(substr($1, length($1)))
    m = (u == "K") ? 1024 : (u == "M") ? 1048576 : (u == "G") ? 1073741824 : 1; printf "%.0f", v * m }')

D=$(mktemp -d /tmp/$PREFIX-XXXXXX)
T_CLEANUP=()
PIDS=()
cleanup () {
    local p f
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do wait "$p" 2>/dev/null; done
    [ -n "$KEEP" ] && mkdir -p "$KEEP" && cp "$D"/log* "$KEEP"/ 2>/dev/null
    for f in "${T_CLEANUP[@]+"${T_CLEANUP[@]}"}"; do eval "$f" >/dev/null 2>&1 || true; done
    rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
. "$SRC/test/e2e/netns.sh"
now () { date +%s.%N; }

echo "== $N hosts (namespaces ${PREFIX}0..$((N - 1))), egress tbf $RATE each; image 1: $SIZE in $LAYERS layers;" \
     "image 2 shares $((LAYERS - 1)) of them"
netns_create $PREFIX "$N" "$RATE"

# ---- the images: layers of random bytes (gzip level 1) of random bytes, OCI layout by hand
python3 - "$D/layout" "$BYTES" "$LAYERS" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
L, total, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(L + "/blobs/sha256")
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(L + "/blobs/sha256/" + d, "wb").write(data)
    return "sha256:" + d, len(data)
def layer(name, size):
    # gzip level 1 (random bytes do not shrink): skopeo pushes a compressed
    # layer as it is, where it would spend minutes compressing a tar
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
        i = tarfile.TarInfo(name); i.size = size; i.mtime = 0
        t.addfile(i, io.BytesIO(os.urandom(size)))
    tar = b.getvalue()
    diff = "sha256:" + hashlib.sha256(tar).hexdigest()
    d, s = put(gzip.compress(tar, compresslevel=1, mtime=0))
    return d, s, diff
per = total // n
base = [layer("layer%d" % k, per) for k in range(n)]
ents = []
for tag, layers in (("v1", base), ("v2", base[:-1] + [layer("layer-v2", per)])):
    cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/layer0"]},
           "rootfs": {"type": "layers", "diff_ids": [x for _, _, x in layers]}}
    cd, cs = put(json.dumps(cfg).encode())
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s} for d, s, _ in layers]}
    md, ms = put(json.dumps(man).encode())
    ents.append({"mediaType": man["mediaType"], "digest": md, "size": ms,
                 "annotations": {"org.opencontainers.image.ref.name": tag}})
json.dump({"schemaVersion": 2, "manifests": ents}, open(L + "/index.json", "w"))
open(L + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
[ $? -eq 0 ] || { echo "image_dist.sh: cannot build the images" >&2; exit 1; }

# ---- the registry, in the source's namespace
REG=10.77.0.1:5000
mkdir -p "$D/reg"
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s/reg/data}}\nhttp: {addr: %s}\n' \
    "$D" "$REG" > "$D/reg/config.yml"
ip netns exec ${PREFIX}0 docker-registry serve "$D/reg/config.yml" > "$D/log-registry" 2>&1 &
PIDS+=($!)
end=$((SECONDS + 30))
until ip netns exec ${PREFIX}0 curl -sf -o /dev/null "http://$REG/v2/"; do
    [ $SECONDS -lt $end ] || { echo "image_dist.sh: the registry did not start" >&2; exit 1; }
    sleep 0.3
done
for tag in v1 v2; do
    ip netns exec ${PREFIX}0 skopeo copy -q "oci:$D/layout:$tag" "docker://$REG/bench/img:$tag" --dest-tls-verify=false \
        || { echo "image_dist.sh: push of $tag failed" >&2; exit 1; }
done
rm -rf "$D/layout"

# ---- brokers
canopy keygen "$D/curve.cert" >/dev/null
{
    echo "curve_cert: $D/curve.cert"
    echo "topology: kary:2"
    echo "hosts:"
    for i in $(seq 0 $((N - 1))); do
        printf '  - host: node%d\n    bind: tcp://10.77.0.%d:8060\n    connect: tcp://10.77.0.%d:8060\n' "$i" $((i + 1)) $((i + 1))
    done
} > "$D/canopy.yaml"
for i in $(seq 0 $((N - 1))); do
    ip netns exec $PREFIX$i canopy-broker --config "$D/canopy.yaml" --rank "$i" --rundir "$D/run$i" >>"$D/log$i" 2>&1 &
    PIDS+=($!)
done
export CANOPY_URI=ipc://$D/run0/local
end=$((SECONDS + 60))
until [ "$(canopy overlay status 2>/dev/null | grep -c ': online$')" -eq "$N" ]; do
    [ $SECONDS -lt $end ] || { echo "image_dist.sh: the brokers did not come online" >&2; exit 1; }
    sleep 0.3
done
TARGETS="1-$((N - 1))"

# need BYTES: what one target lacks of image TAG (sum of blob sizes not in the other image's)
blob_sizes () { ip netns exec ${PREFIX}0 skopeo inspect --tls-verify=false --raw "docker://$REG/bench/img:$1" > "$D/m-$1.json";
    { echo "m $(wc -c < "$D/m-$1.json")"; jq -r '.config.size, .layers[].size' "$D/m-$1.json" | sed 's/^/b /'; } ; }
SIZE1=$(blob_sizes v1 | awk '{s += $2} END {print s}')
blob_sizes v2 > /dev/null
NEW2=$(jq -r --slurpfile a "$D/m-v1.json" '[.layers[] | select(.digest as $d | ($a[0].layers | map(.digest) | index($d)) | not) | .size] | add' "$D/m-v2.json")
NEW2=$((NEW2 + $(wc -c < "$D/m-v2.json") + $(jq -r .config.size "$D/m-v2.json")))

declare -A RES
run_canopy () {  # TAG
    local tag=$1 t0 t1 t2 out
    t0=$(now)
    canopy image pull --plain-http "$REG/bench/img:$tag" > "$D/pull-$tag.txt" 2>&1 || { echo "  source pull $tag FAILED: $(cat "$D/pull-$tag.txt")"; return 1; }
    t1=$(now)
    canopy image distribute "$REG/bench/img:$tag" -r "$TARGETS" --json --no-progress > "$D/dist-$tag.json" 2> "$D/dist-$tag.err"
    local rc=$?
    t2=$(now)
    [ $rc -eq 0 ] || echo "  distribute $tag: some ranks FAILED: $(head -c 300 "$D/dist-$tag.err") $(jq -c '[.ranks[] | select(.ok | not) | .error][:2]' "$D/dist-$tag.json" 2>/dev/null)"
    RES[c_src_$tag]=$(echo "$t1 - $t0" | bc -l)
    RES[c_dist_$tag]=$(echo "$t2 - $t1" | bc -l)
    RES[c_ok_$tag]=$(jq -r .ok "$D/dist-$tag.json" 2>/dev/null || echo 0)
    RES[c_sent_$tag]=$(jq -r .bytes_sent "$D/dist-$tag.json" 2>/dev/null || echo 0)
    RES[c_sched_$tag]=$(jq -r .schedule "$D/dist-$tag.json" 2>/dev/null || echo ?)
}
run_registry () {  # TAG: every target pulls at once
    local tag=$1 t0 t1 r ok=0 pids=()
    t0=$(now)
    for r in $(seq 1 $((N - 1))); do
        canopy image pull --plain-http -r "$r" "$REG/bench/img:$tag" > "$D/rpull-$tag-$r.txt" 2>&1 &
        pids+=($!)
    done
    for r in "${pids[@]}"; do wait "$r" && ok=$((ok + 1)); done
    t1=$(now)
    RES[r_$tag]=$(echo "$t1 - $t0" | bc -l)
    RES[r_ok_$tag]=$ok
}
remove_targets () {  # TAG: drop it from every target's store (blobs of other images stay)
    local r
    for r in $(seq 1 $((N - 1))); do canopy image remove -r "$r" "$REG/bench/img:$1" > /dev/null 2>&1; done
    canopy image remove "$REG/bench/img:$1" > /dev/null 2>&1
}

echo "-- image 1 ($SIZE1 bytes): canopy (source pull + distribute), then every target pulling from the registry"
run_canopy v1
remove_targets v1
run_registry v1
echo "-- image 2 (shares $((LAYERS - 1)) layers; a target lacks $NEW2 bytes): the same, every target holding image 1"
run_canopy v2
remove_targets v2
run_registry v2

eff () { echo "$1 $2" | awk -v r="$RATE_BPS" '{ printf "%.3f", ($1 * 8 / r) / $2 }'; }
printf '\n%-8s %12s %10s %10s %10s %10s %8s %8s %8s  %s\n' image need_bytes src_pull_s distrib_s canopy_s registry_s ratio eff_can eff_reg note
for tag in v1 v2; do
    need=$([ $tag = v1 ] && echo "$SIZE1" || echo "$NEW2")
    ct=$(echo "${RES[c_src_$tag]} + ${RES[c_dist_$tag]}" | bc -l)
    printf '%-8s %12s %10.2f %10.2f %10.2f %10.2f %8.2f %8s %8s  %s\n' "$tag" "$need" "${RES[c_src_$tag]}" \
        "${RES[c_dist_$tag]}" "$ct" "${RES[r_$tag]}" "$(echo "${RES[r_$tag]} / $ct" | bc -l)" "$(eff "$need" "$ct")" \
        "$(eff "$need" "${RES[r_$tag]}")" \
        "canopy ok ${RES[c_ok_$tag]}/$((N - 1)) (${RES[c_sched_$tag]}, sent ${RES[c_sent_$tag]} B); registry ok ${RES[r_ok_$tag]}/$((N - 1))"
done
echo "(ratio = registry time / canopy time; eff = (need_bytes / $RATE) / time: 1.0 is one copy at link rate)"
