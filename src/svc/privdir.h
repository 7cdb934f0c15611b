/* privdir.h - make sure a directory is private to this user before trusting it.
 *
 * A broker keeps its local socket, lock, job database and content store in
 * its run and state directories.  If another user could create, replace or
 * write those, they could plant a jobs.db that root then runs, or make root
 * follow a symlink.  privdir_ensure() creates the directory with mode 0700
 * or, if it exists, checks it (lstat: a real directory, not a symlink, owned
 * by the effective uid, mode exactly 0700, in a parent that others cannot
 * rename entries of) and refuses it otherwise.  It never changes the mode of
 * an existing directory and never follows a symlink.
 */
#ifndef CANOPY_PRIVDIR_H
#define CANOPY_PRIVDIR_H
#include <stddef.h>

/* Create path (mode 0700) or check the existing one.  Only the last
 * component is created.  0, or -1 with a one-line reason in err. */
int privdir_ensure (const char *path, char *err, size_t errlen);

/* The default run directory for a broker of `rank` (doc/config.md): root
 * uses /run/canopy/rRANK, others $XDG_RUNTIME_DIR/canopy/rRANK (or, when
 * XDG_RUNTIME_DIR is unset, /tmp/canopy-UID/rRANK).  The directories above
 * the last one are created and checked with privdir_ensure; the last one is
 * not created.  0 with the path in buf, or -1 with err filled. */
int privdir_default_rundir (unsigned rank, char *buf, size_t len, char *err, size_t errlen);

#endif
