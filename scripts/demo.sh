#!/bin/bash
# Install, build and run the main job: a local 8-broker kary:2 instance that
# shows its tree, runs a command on every rank and distributes an archive
# (its time next to 7 parallel cp of the file).
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target canopy canopy-broker >/dev/null
exec ./build/bin/canopy start --size 8 --topo kary:2 --verbose ./scripts/demo-job.sh
