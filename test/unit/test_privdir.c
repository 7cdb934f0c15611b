/* test_privdir.c - privdir_ensure creates a private directory or refuses one
 * that another user could control (symlink, wrong mode, wrong owner), and
 * never changes what it refuses. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "privdir.h"

static char base[256];

static char *at (const char *name)
{
    static char buf[4][512];
    static int k;
    char *b = buf[k++ % 4];
    snprintf (b, 512, "%s/%s", base, name);
    return b;
}

static unsigned mode_of (const char *p)
{
    struct stat st;
    return stat (p, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0xffff;
}

int main (void)
{
    char err[512];
    snprintf (base, sizeof base, "%s/test_privdir-XXXXXX", getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp");
    if (!mkdtemp (base)) {
        perror ("mkdtemp");
        return 1;
    }

    /* good case: created 0700 whatever the umask */
    mode_t old = umask (0777);   /* privdir_ensure must not depend on it */
    int rc = privdir_ensure (at ("new"), err, sizeof err);
    umask (old);
    ok (rc == 0, "a new directory is created (%s)", rc ? err : "");
    ok (mode_of (at ("new")) == 0700, "with mode 0700 (is %04o)", mode_of (at ("new")));
    ok (privdir_ensure (at ("new"), err, sizeof err) == 0, "an existing private directory is accepted");

    /* wrong mode: refused, mode left alone */
    mkdir (at ("open"), 0700);
    chmod (at ("open"), 0777);
    rc = privdir_ensure (at ("open"), err, sizeof err);
    ok (rc < 0 && strstr (err, "mode 0777"), "a mode-0777 directory is refused (%s)", err);
    ok (mode_of (at ("open")) == 0777, "and its mode is not changed (%04o)", mode_of (at ("open")));
    mkdir (at ("g"), 0750);
    chmod (at ("g"), 0750);
    ok (privdir_ensure (at ("g"), err, sizeof err) < 0, "a mode-0750 directory is refused");

    /* symlink to a directory: refused, target untouched */
    mkdir (at ("target"), 0755);
    chmod (at ("target"), 0755);
    symlink (at ("target"), at ("link"));
    rc = privdir_ensure (at ("link"), err, sizeof err);
    ok (rc < 0 && strstr (err, "symbolic link"), "a symlink is refused (%s)", err);
    ok (mode_of (at ("target")) == 0755, "and its target's mode is not changed (%04o)",
        mode_of (at ("target")));
    char slashed[600];
    snprintf (slashed, sizeof slashed, "%s/", at ("link"));
    rc = privdir_ensure (slashed, err, sizeof err);
    ok (rc < 0 && strstr (err, "symbolic link"), "a symlink named with a trailing slash is refused (%s)", err);
    ok (mode_of (at ("target")) == 0755, "and its target is still not changed");
    /* a dangling symlink is refused too, and nothing is created at its target */
    symlink (at ("nowhere"), at ("dangling"));
    rc = privdir_ensure (at ("dangling"), err, sizeof err);
    ok (rc < 0, "a dangling symlink is refused (%s)", err);
    ok (access (at ("nowhere"), F_OK) < 0, "and nothing is made where it points");

    /* a file */
    FILE *f = fopen (at ("file"), "w");
    if (f)
        fclose (f);
    rc = privdir_ensure (at ("file"), err, sizeof err);
    ok (rc < 0 && strstr (err, "not a directory"), "a regular file is refused (%s)", err);

    /* a parent others may write to (not sticky): refused */
    mkdir (at ("pub"), 0777);
    chmod (at ("pub"), 0777);
    rc = privdir_ensure (at ("pub/sub"), err, sizeof err);
    ok (rc < 0 && strstr (err, "could be changed by other users"), "a directory in a world-writable parent is refused (%s)", err);
    ok (access (at ("pub/sub"), F_OK) < 0, "and is not created");
    /* a sticky world-writable parent (like /tmp) is fine */
    chmod (at ("pub"), 01777);
    rc = privdir_ensure (at ("pub/sub"), err, sizeof err);
    ok (rc == 0, "a directory in a sticky parent is accepted (%s)", rc ? err : "");

    /* wrong owner: only root can make one */
    if (geteuid () == 0) {
        mkdir (at ("theirs"), 0700);
        chmod (at ("theirs"), 0700);
        rc = chown (at ("theirs"), 65534, 65534);
        int rc2 = privdir_ensure (at ("theirs"), err, sizeof err);
        ok (rc == 0 && rc2 < 0 && strstr (err, "owned by uid 65534"),
            "a directory owned by another user is refused (%s)", err);
        struct stat st;
        ok (stat (at ("theirs"), &st) == 0 && st.st_uid == 65534, "and its owner is not changed");
        /* a private-looking directory inside another user's directory: they could swap it */
        chmod (at ("theirs"), 0755);
        rc = privdir_ensure (at ("theirs/mine"), err, sizeof err);
        ok (rc < 0 && strstr (err, "could be changed by other users (owner uid 65534"),
            "a directory inside another user's directory is refused (%s)", err);
    }
    else
        printf ("# skipped: wrong-owner case needs root\n");

    /* default run directory: $XDG_RUNTIME_DIR/canopy/rN for users, /run/canopy for root */
    char buf[4200];
    if (geteuid () != 0) {
        setenv ("XDG_RUNTIME_DIR", at ("new"), 1);
        rc = privdir_default_rundir (3, buf, sizeof buf, err, sizeof err);
        ok (rc == 0 && !strcmp (buf, at ("new/canopy/r3")), "default rundir under XDG_RUNTIME_DIR (%s)",
            rc ? err : buf);
        setenv ("XDG_RUNTIME_DIR", at ("open"), 1);
        rc = privdir_default_rundir (3, buf, sizeof buf, err, sizeof err);
        ok (rc < 0, "an XDG_RUNTIME_DIR others can use is refused (%s)", err);
    }
    else
        printf ("# skipped: default rundir of a user (running as root)\n");

    char cmd[600];
    snprintf (cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", base, base);
    if (system (cmd) != 0)
        printf ("# could not remove %s\n", base);
    return done ();
}
