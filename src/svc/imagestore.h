/* imagestore.h - a broker's node-local image store: one OCI image layout
 * (oci-layout, index.json with full references in ref.name annotations,
 * blobs/sha256/HEX) where nothing half-written is ever visible
 * (doc/images.md).  Thread-safe: every mutation holds a flock. */
#ifndef CANOPY_IMAGESTORE_H
#define CANOPY_IMAGESTORE_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct imagestore imagestore_t;
typedef struct imagestore_writer imagestore_writer_t;

/* Open (creating) the layout at dir; removes temp files a crash left. */
imagestore_t *imagestore_open (const char *dir, char *err, size_t errlen);
void imagestore_close (imagestore_t **p);
const char *imagestore_dir (const imagestore_t *st);

/* 1 if blob digest is stored (with this size, unless size < 0). */
int imagestore_has_blob (imagestore_t *st, const char *digest, int64_t size);

/* Write a blob: to a temp file, hashed on the fly.  digest is the expected
 * one (NULL: named by what is written); at most max bytes are accepted. */
imagestore_writer_t *imagestore_blob_begin (imagestore_t *st, const char *digest, int64_t max, char *err,
                                            size_t errlen);
/* -1 with err if the blob grows past max. */
int imagestore_blob_write (imagestore_writer_t *w, const void *data, size_t len, char *err, size_t errlen);
int64_t imagestore_blob_written (const imagestore_writer_t *w);
/* Check size (if want_size >= 0) and digest, fsync, rename into place.
 * Always frees w; on any failure the temp file is removed and -1 returned
 * (err names the blob).  digest_out (may be NULL) gets "sha256:HEX". */
int imagestore_blob_commit (imagestore_writer_t *w, int64_t want_size, char digest_out[80], char *err,
                            size_t errlen);
void imagestore_blob_abort (imagestore_writer_t *w);
/* A whole blob from memory (digest NULL: computed; out gets it). */
int imagestore_blob_put (imagestore_t *st, const char *digest, const void *data, size_t len, char digest_out[80],
                         char *err, size_t errlen);
/* Read a blob of at most max bytes (malloc'd, NUL-terminated). */
char *imagestore_blob_read (imagestore_t *st, const char *digest, size_t max, size_t *len, char *err, size_t errlen);
/* Path of a blob (for streaming readers).  Returns buf. */
char *imagestore_blob_path (const imagestore_t *st, const char *digest, char *buf, size_t len);

/* Every blob's mtime (seconds since the epoch; 1980-01-01): the same file
 * has the same size, mode (0644) and mtime in every store, so a
 * distribution's extraction keeps a blob a target already holds. */
#define IMAGESTORE_BLOB_MTIME 315532800

/* The index's entries, [{ref, digest, mediaType, size}] (a cheap read of
 * index.json; nothing else). */
json_t *imagestore_entries (imagestore_t *st, char *err, size_t errlen);

/* Re-hash a stored blob: 0, or -1 with err if absent, of another size or
 * damaged. */
int imagestore_blob_verify (imagestore_t *st, const char *digest, int64_t size, char *err, size_t errlen);

/* The blobs of image ref, [{digest, size, mediaType}] (manifest first, then
 * config and distinct layers), the manifest's descriptor filled.  NULL with
 * err and *errnum (ENOENT: no such image, EPROTO: an index, EIO). */
json_t *imagestore_image_blobs (imagestore_t *st, const char *ref, char media_type[128], char digest[80],
                                int64_t *size, int *errnum, char *err, size_t errlen);

/* Point ref at a manifest (replacing an entry of the same ref). */
int imagestore_ref_set (imagestore_t *st, const char *ref, const char *media_type, const char *digest, int64_t size,
                        char *err, size_t errlen);
/* 1 and the descriptor filled if ref exists, 0 if not, -1 on error. */
int imagestore_ref_get (imagestore_t *st, const char *ref, char media_type[128], char digest[80], int64_t *size,
                        char *err, size_t errlen);
/* [{ref, digest, mediaType, size, layers}] (size: manifest+config+layers). */
json_t *imagestore_list (imagestore_t *st, char *err, size_t errlen);
/* Drop ref: 0, -ENOENT if absent (err says so), -1 on error. */
int imagestore_ref_remove (imagestore_t *st, const char *ref, char *err, size_t errlen);
/* Remove blobs no reference reaches.  0 (and *removed), 1 if deferred
 * because a pull or import holds the store busy, -1 on error. */
int imagestore_gc (imagestore_t *st, int *removed, char *err, size_t errlen);

/* A pull or import in progress (shared lock: the collector waits its turn).
 * Returns a token for busy_end, or -1. */
int imagestore_busy_begin (imagestore_t *st);
void imagestore_busy_end (int token);

#endif
