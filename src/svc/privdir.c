/* privdir.c - create or verify a directory that only this user can use
 * (see privdir.h). */
#define _GNU_SOURCE
#include "privdir.h"
#include "xalloc.h"
#include "errquote.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory holding path must not let others swap our entry: owned by
 * us or root, and either not writable by group/others or sticky (like /tmp,
 * where only an entry's owner may rename or remove it). */
static int check_parent (const char *path, char *err, size_t errlen)
{
    char *p = xstrdup (path);
    char *slash = strrchr (p, '/');
    const char *parent = ".";
    if (slash == p)
        parent = "/";
    else if (slash) {
        *slash = '\0';
        parent = p;
    }
    struct stat st;
    uid_t me = geteuid ();
    /* a parent that is a symlink (like /var/run) is fine if we or root own
     * the link: nobody else can re-point it */
    if (lstat (parent, &st) == 0 && S_ISLNK (st.st_mode) && st.st_uid != me && st.st_uid != 0) {
        errfmt (err, errlen, "%s: refusing it: its parent %s is a symbolic link of uid %u", path,
                parent, (unsigned)st.st_uid);
        free (p);
        return -1;
    }
    if (stat (parent, &st) < 0) {
        int e = errno;
        free (p);
        return errfail (err, errlen, "%s: %s", path, strerror (e));
    }
    int ok = S_ISDIR (st.st_mode) && (st.st_uid == me || st.st_uid == 0)
             && (!(st.st_mode & (S_IWGRP | S_IWOTH)) || (st.st_mode & S_ISVTX));
    if (!ok) {
        errfmt (err, errlen,
                "%s: refusing it: its parent %s could be changed by other users (owner uid %u, "
                "mode %04o)",
                path, parent, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        free (p);
        return -1;
    }
    free (p);
    return 0;
}

static int ensure (const char *path, char *err, size_t errlen);

int privdir_ensure (const char *path, char *err, size_t errlen)
{
    if (!path || !path[0])
        return errfail (err, errlen, "empty directory name");
    /* "dir/" would make lstat follow a symlink "dir": drop trailing slashes */
    char *p = xstrdup (path);
    size_t n = strlen (p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    int rc = ensure (p, err, errlen);
    free (p);
    return rc;
}

static int ensure (const char *path, char *err, size_t errlen)
{
    if (check_parent (path, err, errlen) < 0)
        return -1;
    /* a umask of 077 leaves mkdir's 0700 exactly as asked; nothing is ever
     * chmod'ed afterwards (by path or otherwise): the checks below decide */
    mode_t old = umask (077);
    int rc = mkdir (path, 0700);
    int e = errno;
    umask (old);
    if (rc < 0 && e != EEXIST)
        return errfail (err, errlen, "%s: %s", path, strerror (e));
    struct stat st;
    if (lstat (path, &st) < 0)
        return errfail (err, errlen, "%s: %s", path, strerror (errno));
    if (S_ISLNK (st.st_mode))
        return errfail (err, errlen, "%s: refusing it: it is a symbolic link (remove it)", path);
    if (!S_ISDIR (st.st_mode))
        return errfail (err, errlen, "%s: refusing it: not a directory", path);
    if (st.st_uid != geteuid ())
        return errfail (err, errlen, "%s: refusing it: owned by uid %u, not by uid %u (remove it)",
                        path, (unsigned)st.st_uid, (unsigned)geteuid ());
    if ((st.st_mode & 07777) != 0700)
        return errfail (err, errlen, "%s: refusing it: mode %04o, must be 0700 (chmod 700 it)", path,
                        (unsigned)(st.st_mode & 07777));
    return 0;
}

int privdir_default_rundir (unsigned rank, char *buf, size_t len, char *err, size_t errlen)
{
    char base[4096];
    if (geteuid () == 0)
        snprintf (base, sizeof base, "/run/canopy");
    else {
        const char *xdg = getenv ("XDG_RUNTIME_DIR");
        if (xdg && xdg[0]) {
            if (xdg[0] != '/')
                return errfail (err, errlen, "XDG_RUNTIME_DIR '%s' is not an absolute path", xdg);
            /* the runtime dir itself must be ours and private (XDG spec) */
            struct stat st;
            if (lstat (xdg, &st) < 0)
                return errfail (err, errlen, "XDG_RUNTIME_DIR %s: %s", xdg, strerror (errno));
            if (!S_ISDIR (st.st_mode) || st.st_uid != geteuid () || (st.st_mode & 077))
                return errfail (err, errlen,
                                "XDG_RUNTIME_DIR %s is not a private directory of uid %u (use --rundir)",
                                xdg, (unsigned)geteuid ());
            if (snprintf (base, sizeof base, "%s/canopy", xdg) >= (int)sizeof base)
                return errfail (err, errlen, "XDG_RUNTIME_DIR is too long");
        }
        else
            snprintf (base, sizeof base, "/tmp/canopy-%u", (unsigned)geteuid ());
    }
    if (privdir_ensure (base, err, errlen) < 0)
        return -1;
    if (snprintf (buf, len, "%s/r%u", base, rank) >= (int)len)
        return errfail (err, errlen, "%s: run directory name too long", base);
    return 0;
}
