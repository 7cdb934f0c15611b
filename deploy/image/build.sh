#!/bin/bash
# build.sh - the canopy container image, built without a Docker engine: a
# minimal root file system (the canopy binaries, the shared libraries they
# load and the dynamic loader, nothing else) packed by umoci into an OCI
# image layout, and optionally an OCI archive of it (what `ctr images
# import` and `skopeo copy oci-archive:` read).
#
# Usage: deploy/image/build.sh [--bin DIR] [--tag TAG] [--archive FILE] LAYOUT
#   --bin DIR      where canopy and canopy-broker are (default build/bin)
#   --tag TAG      the image's tag in the layout (default: the canopy version, else latest)
#   --archive F    also write the layout as an OCI archive (tar) F
# Needs umoci (Debian package umoci); runs as any user (umoci --rootless).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BIN=$SRC/build/bin
TAG=
ARCHIVE=
while [ $# -gt 0 ]; do
    case $1 in
    --bin) BIN=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --archive) ARCHIVE=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build.sh: unknown option $1" >&2; exit 1 ;;
    *) break ;;
    esac
done
[ $# -eq 1 ] || { echo "Usage: deploy/image/build.sh [--bin DIR] [--tag TAG] [--archive FILE] LAYOUT" >&2; exit 1; }
LAYOUT=$1
command -v umoci >/dev/null || { echo "build.sh: umoci is not installed (apt-get install umoci)" >&2; exit 1; }
for b in canopy canopy-broker; do
    [ -x "$BIN/$b" ] || { echo "build.sh: $BIN/$b not found (build first)" >&2; exit 1; }
done
if [ -z "$TAG" ]; then
    TAG=$("$BIN/canopy" --version 2>/dev/null | awk '{print $2}') || true
    [ -n "$TAG" ] || TAG=latest
fi
[ ! -e "$LAYOUT" ] || { echo "build.sh: $LAYOUT exists" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/canopy-image-XXXXXX")
trap 'rm -rf "$work"' EXIT
umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:$TAG"
umoci unpack --rootless --image "$LAYOUT:$TAG" "$work/bundle" >/dev/null
root=$work/bundle/rootfs
mkdir -p "$root/usr/local/bin" "$root/etc" "$root/tmp" "$root/run" "$root/var/lib/canopy"
chmod 1777 "$root/tmp"
install -m 0755 "$BIN/canopy" "$BIN/canopy-broker" "$root/usr/local/bin/"
# every shared library the binaries load (ldd resolves the full closure),
# at the path the loader looks for it, and the loader itself
ldd "$BIN/canopy" "$BIN/canopy-broker" | awk '/=> \//{print $3} /^\t\//{print $1}' | sort -u |
while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
# hwloc reads topology from /sys and /proc, mounted by the runtime;
# name lookups need these two files
printf 'root:x:0:0:root:/root:/usr/local/bin/canopy\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
umoci repack --image "$LAYOUT:$TAG" "$work/bundle" >/dev/null
umoci config --image "$LAYOUT:$TAG" \
    --config.entrypoint /usr/local/bin/canopy-broker \
    --config.workingdir / \
    --config.env PATH=/usr/local/bin:/usr/bin:/bin \
    --config.label org.opencontainers.image.title=canopy \
    --config.label "org.opencontainers.image.version=$TAG" \
    --author canopy --architecture "$(dpkg --print-architecture 2>/dev/null || echo amd64)" --os linux
umoci gc --layout "$LAYOUT"
if [ -n "$ARCHIVE" ]; then
    tar -C "$LAYOUT" -cf "$ARCHIVE" oci-layout index.json blobs
fi
echo "built $LAYOUT:$TAG${ARCHIVE:+ and $ARCHIVE}"
