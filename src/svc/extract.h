/* extract.h - the extract sink: rebuild an archive's tree under a directory
 * from its chunks, which may arrive in any order, once or more.
 *
 * extract_new creates the directories, empty files and symlinks at once;
 * file contents are written under temporary names inside
 * DESTDIR/.canopy-extract.NAME/ and renamed into place (with mode and mtime)
 * the moment a file has all its chunks, so no partial file is ever visible.
 * Every chunk is verified against its SHA-256 before it touches the disk.
 * A state file in that directory remembers which chunks arrived; a later
 * extract_new of the same manifest on the same destdir resumes (chunks
 * recorded there are re-verified, the rest reported missing).
 * extract_done sets directory modes/mtimes and removes the state directory.
 *
 * Hard links (manifest version 2) are made as links once their file is in
 * place.  setuid/setgid bits are always dropped (counted:
 * extract_setid_dropped); ownership is not restored.  Not
 * thread-safe.  Errors: int/ssize_t results are >= 0 on success, negative
 * errno on failure with a one-line message in err.  After a failure other
 * than EXTRACT_ECORRUPT, call extract_abort (or extract_destroy to keep the
 * partial state for a later resume). */
#ifndef CANOPY_EXTRACT_H
#define CANOPY_EXTRACT_H
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "manifest.h"

struct cstore;

#define EXTRACT_ECORRUPT  (-EBADMSG)   /* chunk bytes do not match its hash: fetch again */

/* extract_new flags */
#define EXTRACT_FSYNC      0x1   /* fsync each file before renaming it into place */
#define EXTRACT_NO_RESUME  0x2   /* discard any previous partial state */
#define EXTRACT_KEEP_SAME  0x4   /* a fresh extraction keeps a file or symlink already at
                                  * its path when it is identical (type, size, mode, mtime,
                                  * and every chunk verified by hash, or the link text):
                                  * nothing to fetch for it, and abort leaves it alone */

typedef struct extract extract_t;

/* Prepare destdir (created if missing; its parent must exist) for manifest m
 * (validated, and referenced with manifest_ref: not copied, not changed).  NULL + err (nothing left behind). */
extract_t *extract_new (const manifest_t *m, const char *destdir, int flags,
                        char *err, size_t errlen);
/* Close; keeps the partial state on disk so extract_new can resume. */
void extract_destroy (extract_t **p);
/* Remove everything this extraction wrote (temporary files, state, files
 * and directories it created), then destroy. */
void extract_abort (extract_t **p);

const manifest_t *extract_manifest (const extract_t *self);

/* Deliver chunk idx.  Verifies length and SHA-256 (EXTRACT_ECORRUPT if they
 * do not match; nothing written), writes it at every offset of every file
 * that uses it, completes the files it finishes.  A chunk already present is
 * accepted and ignored.  0 or -errno (-ENOSPC, -EACCES, -EINVAL, ...). */
int extract_put (extract_t *self, uint32_t idx, const void *data, size_t len,
                 char *err, size_t errlen);

/* The same for a chunk whose SHA-256 the caller has just checked against this
 * manifest (the sealed data plane verifies while it decrypts): length
 * checked, no second hash. */
int extract_put_verified (extract_t *self, uint32_t idx, const void *data, size_t len,
                          char *err, size_t errlen);

bool extract_have (const extract_t *self, uint32_t idx);
/* m->nchunks bytes, 1 where the chunk is present. */
const uint8_t *extract_bitmap (const extract_t *self);
size_t extract_missing (const extract_t *self);
/* First missing chunk index >= from, or -1 if none. */
int64_t extract_next_missing (const extract_t *self, uint32_t from);

/* Read a present chunk back from disk into buf, so a relay can forward it
 * without keeping it in memory.  Read from a temporary file (written by this
 * extraction after the chunk was verified, in the private state directory)
 * it is not hashed again; read from a file already renamed into place it is
 * re-verified.  Returns its length, -ENOENT if not present, EXTRACT_ECORRUPT
 * if the bytes on disk changed or are short. */
ssize_t extract_read (extract_t *self, uint32_t idx, void *buf, size_t buflen,
                      char *err, size_t errlen);

/* All chunks present: set directory modes and mtimes, remove the state
 * directory.  -EAGAIN if chunks are missing. */
int extract_done (extract_t *self, char *err, size_t errlen);

/* One extraction per directory on a host: lock destdir (flock on the
 * directory itself, so every path to it, and every process, shares the one
 * lock).  wait: block until free.  Returns the lock fd (close it to unlock),
 * -EWOULDBLOCK if another holds it and !wait, or -errno + err. */
int extract_lock (const char *destdir, bool wait, char *err, size_t errlen);
/* How many entries EXTRACT_KEEP_SAME found already in place. */
size_t extract_kept (const extract_t *self);
/* How many files had setuid/setgid in the archive, dropped (doc/archive.md). */
size_t extract_setid_dropped (const extract_t *self);

/* Local convenience (`canopy archive extract` on the broker holding it):
 * extract archive `name` of cs into destdir (holding extract_lock on it; with
 * EXTRACT_KEEP_SAME identical files already there are kept).  On failure
 * nothing partial is left behind and every file that was there before is as
 * it was.  0 or -errno. */
int extract_archive (struct cstore *cs, const char *name, const char *destdir, int flags,
                     char *err, size_t errlen);

#endif
