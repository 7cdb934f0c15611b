#!/bin/sh
# Install everything canopy needs to build, test and benchmark on Debian 12.
set -e
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config git ca-certificates \
  libzmq3-dev libczmq-dev libjansson-dev libyaml-dev libssl-dev \
  libsqlite3-dev libhwloc-dev libxml2-dev libcurl4-openssl-dev libmicrohttpd-dev \
  libarchive-dev skopeo docker-registry busybox-static \
  clang libclang-rt-14-dev \
  iproute2 procps psmisc python3 python3-yaml util-linux e2fsprogs jq openssl curl \
  containerd runc umoci >/dev/null
