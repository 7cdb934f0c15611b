#!/bin/bash
# The broker's default run directory must be private: a directory planted
# there by another user, a symlink or a mode-0777 directory is refused with
# one clear line (and nothing is chmod'ed or written through it); a good one
# is created 0700.  The local socket serves the instance owner and root only
# (SO_PEERCRED).  Needs root (it plants directories owned by another uid and
# runs clients as nobody); runs in a private mount namespace with its own
# /run so the real /run/canopy is never touched.
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null || ! command -v unshare >/dev/null; then
    echo "ok - # SKIP needs root, setpriv and unshare"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
fi
if [ "${SEC_RUNDIR_NS:-}" != 1 ]; then
    exec unshare -m env SEC_RUNDIR_NS=1 bash "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
D=$T_TMP
mount --make-rprivate / 2>/dev/null
mkdir -p "$D/run" && chmod 755 "$D/run"
mount --bind "$D/run" /run || { fail "cannot bind a private /run"; finish; exit; }
T_CLEANUP=("umount -l /run" "${T_CLEANUP[@]+"${T_CLEANUP[@]}"}")
chmod 711 "$D"
NOBODY=65534

canopy keygen "$D/cert"
cat > "$D/c.yaml" <<EOC
curve_cert: $D/cert
hosts:
  - host: a
    bind: ipc://$D/tbon-0
    connect: ipc://$D/tbon-0
EOC
# broker DESC PATTERN: the broker (default rundir) must exit non-zero with one line matching PATTERN
refused () { expect_fail "$1" "$2" canopy-broker --config "$D/c.yaml" --rank 0; }

# --- /run/canopy/r0 is a symlink to a directory of ours: refused, target untouched
mkdir -p /run/canopy && chmod 700 /run/canopy
mkdir "$D/target" && chmod 755 "$D/target"
ln -s "$D/target" /run/canopy/r0
refused "a symlink at the run directory is refused" "/run/canopy/r0: refusing it: it is a symbolic link"
check "the symlink's target is not chmod'ed" test "$(stat -c %a "$D/target")" = 755
check "nothing is written through the symlink" test -z "$(ls -A "$D/target")"
rm /run/canopy/r0

# --- a directory another user made first, with a planted job database
mkdir -m 700 /run/canopy/r0 && mkdir /run/canopy/r0/state && touch /run/canopy/r0/state/jobs.db
chown -R $NOBODY:$NOBODY /run/canopy/r0
refused "a run directory owned by another user is refused" "owned by uid $NOBODY"
check "its owner is not changed" test "$(stat -c %u /run/canopy/r0)" = $NOBODY
rm -rf /run/canopy/r0

# --- mode 0777
mkdir /run/canopy/r0 && chmod 777 /run/canopy/r0
refused "a mode-0777 run directory is refused" "mode 0777, must be 0700"
check "its mode is not changed" test "$(stat -c %a /run/canopy/r0)" = 777
rm -rf /run/canopy/r0

# --- /run/canopy itself a symlink, or open to others
rmdir /run/canopy
ln -s "$D/target" /run/canopy
refused "a symlink at /run/canopy is refused" "/run/canopy: refusing it: it is a symbolic link"
check "its target is not chmod'ed" test "$(stat -c %a "$D/target")" = 755
rm /run/canopy
mkdir /run/canopy && chmod 1777 /run/canopy
refused "a world-writable /run/canopy is refused" "/run/canopy: refusing it: mode 1777"
rmdir /run/canopy

# --- an explicit state directory is checked the same way
mkdir -m 700 "$D/r9"
ln -s "$D/target" "$D/r9/state"
expect_fail "a symlinked state directory is refused" "state directory: .*symbolic link" \
    canopy-broker --config "$D/c.yaml" --rank 0 --rundir "$D/r9"
rm -rf "$D/r9"

# --- the good case: created private, served to root, refused to nobody
canopy-broker --config "$D/c.yaml" --rank 0 >/dev/null 2>"$D/log0" &
P0=$!; T_CLEANUP+=("kill $P0")
export CANOPY_URI=ipc:///run/canopy/r0/local
wait_until 10 canopy ping -c 1 0
check "a broker with no planted directory starts" canopy ping -c 1 0
check "/run/canopy is created 0700" test "$(stat -c %a /run/canopy)" = 700
check "/run/canopy/r0 is created 0700" test "$(stat -c %a /run/canopy/r0)" = 700
check "the run directory holds a lock with the broker's pid" test "$(cat /run/canopy/r0/lock)" = "$P0"
# let nobody reach the socket (for this test only), then it must still be refused
chmod 711 /run/canopy /run/canopy/r0 && chmod 666 /run/canopy/r0/local
out=$(timeout 20 setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups env CANOPY_URI=$CANOPY_URI \
      "$CANOPY_BIN/canopy" ping -c 1 0 2>&1); rc=$?
echo "nobody: rc=$rc $out"
check "a client of another uid is refused" test $rc -ne 0 -a $rc -ne 124
check "and told why" grep -q "refused the connection" <<<"$out"
check "the broker logs the refused uid" grep -q "refused local client pid [0-9]*: uid $NOBODY is not the instance owner" "$D/log0"
check "root still gets answers" canopy ping -c 1 0
kill $P0; wait $P0 2>/dev/null

# --- a user broker: $XDG_RUNTIME_DIR/canopy/rN, refused when XDG_RUNTIME_DIR is not private
mkdir -m 700 "$D/nb" && cp "$D/cert" "$D/nb/cert" && chown -R $NOBODY:$NOBODY "$D/nb"
cat > "$D/nb/c.yaml" <<EOC
curve_cert: $D/nb/cert
hosts:
  - host: a
    bind: ipc://$D/nb/tbon-0
    connect: ipc://$D/nb/tbon-0
EOC
chown $NOBODY "$D/nb/c.yaml"
asnobody () { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"; }
mkdir -m 700 "$D/nb/xdg" && chown $NOBODY "$D/nb/xdg"
ln -s "$D/target" "$D/nb/xdg/canopy"
expect_fail "a user broker refuses a symlink at \$XDG_RUNTIME_DIR/canopy" "xdg/canopy: refusing it: it is a symbolic link" \
    setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups env XDG_RUNTIME_DIR="$D/nb/xdg" "$CANOPY_BIN/canopy-broker" --config "$D/nb/c.yaml" --rank 0
rm "$D/nb/xdg/canopy"
chmod 777 "$D/nb/xdg"
expect_fail "a user broker refuses an XDG_RUNTIME_DIR others can write" "is not a private directory" \
    setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups env XDG_RUNTIME_DIR="$D/nb/xdg" "$CANOPY_BIN/canopy-broker" --config "$D/nb/c.yaml" --rank 0
chmod 700 "$D/nb/xdg"
# setpriv itself in the background (not the shell function, whose subshell's
# pid $! would be, leaving the broker running after `kill $PN`)
setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups env XDG_RUNTIME_DIR="$D/nb/xdg" \
    "$CANOPY_BIN/canopy-broker" --config "$D/nb/c.yaml" --rank 0 >/dev/null 2>"$D/lognb" &
PN=$!; T_CLEANUP+=("kill $PN")
check "a user broker starts in \$XDG_RUNTIME_DIR/canopy/r0" wait_until 10 test -S "$D/nb/xdg/canopy/r0/local"
check "which is 0700" test "$(stat -c %a "$D/nb/xdg/canopy/r0")" = 700
out=$(CANOPY_URI=ipc://$D/nb/xdg/canopy/r0/local timeout 20 canopy ping -c 1 0 2>&1)
check "root may use a user's broker" grep -q "rank 0" <<<"$out"
out=$(asnobody env CANOPY_URI=ipc://$D/nb/xdg/canopy/r0/local timeout 20 "$CANOPY_BIN/canopy" ping -c 1 0 2>&1)
check "and so may its owner" grep -q "rank 0" <<<"$out"
kill $PN; wait $PN 2>/dev/null
finish
