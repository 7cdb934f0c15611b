/* cstore.h - a broker's local content store: archives (name -> manifest) and
 * the SHA-256-addressed chunks they are made of, under STATEDIR/content/.
 *
 * A chunk lives either in a blob file owned by the store (COPY) or in place in
 * the source file it was cut from (REFERENCE: path + offset + length).  Every
 * read re-hashes the bytes, so a changed source is reported, never served
 * (except a read whose caller hashes them itself, CSTORE_READ_CALLER_HASHES).
 * Index: SQLite (STATEDIR/content/index.sqlite).  Layout: doc/archive.md.
 *
 * One cstore_t is not thread-safe; cstore_archive_create uses its own worker
 * threads internally.  Several handles (threads/processes) may open the same
 * statedir (SQLite WAL, busy timeout).
 *
 * Errors: functions returning int/ssize_t return >= 0 on success and a
 * negative errno on failure (-EBADMSG: bytes do not match their hash), with a
 * one-line message in err. */
#ifndef CANOPY_CSTORE_H
#define CANOPY_CSTORE_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "manifest.h"

typedef struct cstore cstore_t;

/* cstore_archive_create flags */
#define CSTORE_COPY       0x0   /* copy chunks into blob files (default) */
#define CSTORE_REFERENCE  0x1   /* reference source files in place, no copy */
#define CSTORE_REPLACE    0x2   /* replace an existing archive of that name */
#define CSTORE_VERIFIED   0x4   /* adopt: every chunk was verified on arrival and the
                                 * files were written by this process (see below) */

/* Open (creating if needed) STATEDIR/content.  NULL + err. */
cstore_t *cstore_new (const char *statedir, char *err, size_t errlen);
void cstore_destroy (cstore_t **p);

/* Worker threads for hashing (default: number of online CPUs, max 16). */
void cstore_set_threads (cstore_t *self, int n);

/* Cut paths[0..n) (files, directories recursively, symlinks not followed;
 * relative to dir, or absolute: stored without the leading '/'; dir NULL =
 * cwd) into chunks of chunk_size (0 = MANIFEST_CHUNK_DEFAULT) and record the
 * archive `name`.  Parent directories of a path are recorded as directory
 * entries.  Special files (fifos, sockets, devices) are skipped, counted and
 * named in cstore_warning afterwards.  Memory is
 * bounded: threads x chunk_size of buffers plus the manifest.
 * Returns the manifest, owned by the store and valid until the archive is
 * removed/replaced or the store destroyed; NULL + err. */
const manifest_t *cstore_archive_create (cstore_t *self, const char *name, const char *dir,
                                         const char *const paths[], size_t n, int flags,
                                         uint32_t chunk_size, char *err, size_t errlen);

/* After cstore_archive_create: "skipped N special files (devices, sockets,
 * FIFOs): a/fifo, ..." or NULL if none were skipped.  Owned by the store. */
const char *cstore_warning (const cstore_t *self);

/* Record an archive whose chunks are already in place on disk: the files of
 * manifest m extracted under destdir (e.g. after extract_done on a receiving
 * broker), so this broker can serve it too.  Chunks are referenced, not
 * copied; nothing is hashed now.  Every read verifies, except with
 * CSTORE_VERIFIED (flags; the caller verified every chunk before writing
 * it): each file's identity (inode, size, mtime, ctime) is remembered in
 * this handle, and a read from a file whose identity is unchanged is not
 * hashed again (a changed one is).  0 or -errno. */
int cstore_archive_adopt (cstore_t *self, const manifest_t *m, const char *destdir,
                          int flags, char *err, size_t errlen);

/* Let this handle use m as the manifest of archive m->name (a reference,
 * not a copy): e.g. the one another handle of the same statedir loaded, so
 * a worker thread does not decode a second copy. */
void cstore_archive_share (cstore_t *self, const manifest_t *m);

/* The manifest (owned by the store, as above), or NULL + err (-ENOENT). */
const manifest_t *cstore_archive_get (cstore_t *self, const char *name, char *err, size_t errlen);

/* The archive's manifest head (doc/archive.md, "Manifest pages"; malloc'd,
 * *lenp its length), or NULL + err. */
char *cstore_archive_head (cstore_t *self, const char *name, size_t *lenp, char *err, size_t errlen);
/* Page `page` of its manifest (malloc'd), or NULL + err.  Straight from the
 * index: the manifest is not decoded for it. */
char *cstore_manifest_page (cstore_t *self, const char *name, size_t page, size_t *lenp, char *err,
                            size_t errlen);

/* [{"name":..,"size":..,"entries":..,"chunks":..,"chunk_size":..,
 *   "mode":"copy"|"reference","created":<unix seconds>,
 *   "state":"ok"|"damaged", "damage"?:reason}, ...] sorted by name. */
json_t *cstore_archive_list (cstore_t *self, char *err, size_t errlen);

/* Forget an archive and delete the blobs no other archive uses.  0 or -errno. */
int cstore_archive_remove (cstore_t *self, const char *name, char *err, size_t errlen);

/* Read chunk idx of archive into buf (buflen >= its length), verifying its
 * SHA-256.  Returns the length, or -ENOENT (no such archive/chunk, or a
 * referenced file gone: a stale adopted copy) / -EBADMSG (bytes changed, a
 * blob corrupt or gone: the archive is marked damaged) / -EINVAL. */
ssize_t cstore_chunk_read (cstore_t *self, const char *archive, uint32_t idx, void *buf,
                           size_t buflen, char *err, size_t errlen);
/* A read that finds a chunk changed or gone (-EBADMSG) marks the archive
 * damaged (persisted in the index; err names the chunk, its file and offset). */

/* cstore_chunk_read_flags flags */
#define CSTORE_READ_CALLER_HASHES 0x1   /* the caller hashes the bytes itself (the
                                         * data plane's sealer): no check here */
/* cstore_chunk_read, but with CSTORE_READ_CALLER_HASHES the bytes are not
 * hashed here: read from the blob or the first readable reference of the
 * right length; a missing chunk or file is reported (and marks damage) as
 * by cstore_chunk_read, a changed one is not seen.  A caller whose hash
 * does not match must call cstore_chunk_read for the chunk: that read finds
 * the damage, marks the archive and names chunk, file and offset exactly as
 * an ordinary read (or, if the bytes are right after all, returns them). */
ssize_t cstore_chunk_read_flags (cstore_t *self, const char *archive, uint32_t idx, void *buf,
                                 size_t buflen, int flags, bool *verified, char *err, size_t errlen);
/* *verified (may be NULL) says the bytes returned are known good: hashed
 * by this read, or read from a file known unchanged since its bytes were
 * hashed (a create's files and blobs, doc/archive.md "Hashed files"; a
 * distribution's own verified files).  Ordinary reads skip the hash of such
 * a file too. */
/* Mark archive damaged for reason (persisted; cleared when it is recorded
 * again by create/adopt, or removed).  0 or -EIO. */
int cstore_mark_damaged (cstore_t *self, const char *archive, const char *reason);
/* The damage reason of archive (copied into buf), or NULL if not damaged. */
const char *cstore_damage (cstore_t *self, const char *archive, char *buf, size_t len);
/* The same, addressed by hash+length (any archive holding it). */
ssize_t cstore_chunk_read_hash (cstore_t *self, const uint8_t hash[SHA256_LEN], uint32_t len,
                                void *buf, size_t buflen, char *err, size_t errlen);

/* Delete blobs no archive uses and stale temporary files.  Returns the number
 * of blobs deleted, or -errno. */
int cstore_purge (cstore_t *self, char *err, size_t errlen);

/* STATEDIR/content */
const char *cstore_dir (const cstore_t *self);

#endif
