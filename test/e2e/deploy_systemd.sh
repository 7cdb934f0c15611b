#!/bin/bash
# deploy_systemd.sh - deploy/systemd/canopy-broker.service passes
# `systemd-analyze verify`, and its ExecStart command line (with the paths
# moved into a temp dir) starts a broker that comes online.
. "$(dirname "$0")/lib.sh"
UNIT=$(cd "$(dirname "$0")/../.." && pwd)/deploy/systemd/canopy-broker.service
cd "$T_TMP"
if command -v systemd-analyze >/dev/null; then
    sed "s#/usr/local/bin/canopy-broker#$CANOPY_BIN/canopy-broker#" "$UNIT" >canopy-broker.service
    out=$(systemd-analyze verify ./canopy-broker.service 2>&1)
    check "systemd-analyze verify accepts the unit${out:+ ($out)}" test -z "$out"
    printf '[Service]\nExecStart=relative/path\nRestart=sometimes\n' >broken.service
    check "systemd-analyze verify rejects a broken unit (the check can fail)" \
        bash -c "! systemd-analyze verify ./broken.service >/dev/null 2>&1 || systemd-analyze verify ./broken.service 2>&1 | grep -q ."
else
    echo "SKIP: systemd-analyze not installed"
fi
check "the unit asks systemd for private run and state directories" \
    bash -c "grep -qx 'RuntimeDirectoryMode=0700' '$UNIT' && grep -qx 'StateDirectoryMode=0700' '$UNIT'"
canopy keygen curve.cert
cat >config.yaml <<EOC
curve_cert: $T_TMP/curve.cert
hosts:
  - host: $(hostname)
    bind: ipc://$T_TMP/tbon
    connect: ipc://$T_TMP/tbon
EOC
mkdir -m 0700 run state
cmd=$(sed -n 's/^ExecStart=//p' "$UNIT" | sed -e "s#/usr/local/bin/canopy-broker#$CANOPY_BIN/canopy-broker#" \
      -e "s#/etc/canopy/config.yaml#$T_TMP/config.yaml#" -e "s#/run/canopy#$T_TMP/run#" -e "s#/var/lib/canopy#$T_TMP/state#")
$cmd >broker.log 2>&1 &
T_CLEANUP+=("kill $!")
export CANOPY_URI=ipc://$T_TMP/run/local
check "the unit's command line starts a broker that answers" wait_until 20 canopy overlay status
check "its state lives in the state directory" wait_until 10 bash -c "ls '$T_TMP/state' | grep -q ."
finish
