/* cstore_int.h - what the parts of the content store share (not an API):
 * the handle, the walk's items, the hashing jobs, and the calls between
 * cstore.c (the archive verbs), cstore_walk.c (walking the paths),
 * cstore_pool.c (the hashing pool), cstore_index.c (the SQLite index) and
 * cstore_read.c (verified reads). */
#ifndef CANOPY_CSTORE_INT_H
#define CANOPY_CSTORE_INT_H
#include "cstore.h"
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <limits.h>
#include <stdio.h>

struct mcache {
    char *name;
    manifest_t *m;
    struct mcache *next;
};

struct cstore {
    char *dir, *blobdir, *tmpdir;
    sqlite3 *db;
    int nthreads;
    struct mcache *cache;
    char *ref_path;      /* one open reference source, for sequential reads */
    int ref_fd;
    atomic_uint tmpseq;
    struct trustset *trust;   /* see trust_ok (cstore_read.c) */
    sqlite3_stmt *hashed_q;   /* see cs_hashed_ok (cstore_index.c) */
    char *warning;            /* of the last create: special files skipped */
};

/* Files whose chunks were all verified on arrival and written by this
 * process (cstore_archive_adopt with CSTORE_VERIFIED), per archive, by
 * identity: a read from such a file whose identity is unchanged (same
 * inode, size, mtime and ctime) skips the re-hash; anything else is
 * verified as usual.  In memory only (40 bytes a file, a sorted array):
 * after a restart
 * every read verifies again. */
struct tid {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns, ctime_ns;
};
struct trustset {
    char *archive;
    struct tid *v;        /* sorted by (dev, ino) once `sorted` */
    size_t n, cap;
    bool sorted;
    struct trustset *next;
};


#define seterr errfmt /* one-line errors: src/lib/errquote.h */

static inline int64_t ts_ns (const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* ---- cstore.c ---- */
int cs_mkdir_ok (const char *path);
/* STATEDIR/content/blobs/ab/abcdef...-LEN (malloc'd) */
char *cs_blob_path (const cstore_t *self, const uint8_t hash[SHA256_LEN], uint32_t len);
/* forget the cached manifest of name */
void cs_cache_drop (cstore_t *self, const char *name);

/* ---- cstore_walk.c: the paths of a create ---- */
struct item {
    char *rel;             /* path in the archive */
    bool absroot;          /* given as an absolute path: on disk at /rel, else base/rel */
    manifest_type_t type;
    uint32_t mode;
    int64_t mtime_ns;
    uint64_t size;
    dev_t dev;             /* files: identity at the walk (see cs_hashed_put) */
    ino_t ino;
    int64_t ctime_ns;
    char *target;
    uint64_t first_job;    /* files: index of the first chunk job */
};

/* A file with several names: the item that named it first. */
struct inode {
    dev_t dev;
    ino_t ino;
    size_t item;           /* + 1; 0 = empty slot */
};

struct walk {
    struct item *items;
    size_t n, cap;
    uint32_t *seen;        /* open-addressing set of item indexes + 1, by rel */
    size_t seencap;
    size_t nspecial;       /* devices, sockets, FIFOs skipped */
    struct inode *inodes;  /* open addressing: files with st_nlink > 1, by (dev, ino) */
    size_t ninodes, inodecap;
    char special[512];     /* the first few of them */
    bool absroot;          /* the path being walked was given as absolute */
    char *err;
    size_t errlen;
};

/* Where item it is on disk (base: the walk's base, as given to cs_walk_top). */
static inline const char *item_abs (const char *base, const struct item *it, char *buf, size_t len)
{
    snprintf (buf, len, "%s/%s", it->absroot ? "" : base, it->rel);
    return buf;
}
#define ITEM_ABS_MAX (2 * PATH_MAX + 2)

/* Add a user-given path (relative to base, or absolute): its parents as
 * directories, then itself (directories recursively).  0 or -1 + w->err. */
int cs_walk_top (struct walk *w, const char *base, const char *path);
void cs_walk_free (struct walk *w);

/* ---- cstore_pool.c: hashing (and copying) chunks with threads ---- */
struct job {
    uint32_t item;
    uint32_t len;
    uint64_t off;
    uint8_t hash[SHA256_LEN];
    bool stored;           /* this create wrote the blob */
};

/* Hash (and with copy, store as blobs) every job.  0 or -errno + err. */
int cs_pool_run (cstore_t *self, const char *base, struct item *items, struct job *jobs, uint64_t njobs,
                 uint32_t chunk_size, bool copy, char *err, size_t errlen);

/* ---- cstore_index.c: the SQLite index ---- */
int cs_index_open (cstore_t *self, char *err, size_t errlen);
int cs_sql_exec (cstore_t *self, const char *sql, char *err, size_t errlen);
sqlite3_stmt *cs_sql_prep (cstore_t *self, const char *sql, char *err, size_t errlen);
manifest_t *cs_load_manifest (cstore_t *self, const char *name, char *err, size_t errlen);
bool cs_archive_exists (cstore_t *self, const char *name);
bool cs_archive_is_copy (cstore_t *self, const char *name);
/* Delete the blobs (rows and files) that no archive uses any more. */
int cs_gc_blobs (cstore_t *self, char *err, size_t errlen);
/* Delete one archive's rows (inside a transaction). */
int cs_delete_rows (cstore_t *self, const char *name, char *err, size_t errlen);
/* Where a chunk can be read in place (reference mode). */
struct refloc {
    uint32_t chunk;
    const char *dir;   /* the path is dir/rel, or rel if dir is NULL */
    const char *rel;
    uint64_t off;
};

/* Record manifest m with its chunks as blobs (locs NULL) or at the nlocs
 * places locs[] (every place a chunk occurs, so a changed file can be
 * bypassed).  One transaction. */
int cs_record (cstore_t *self, const manifest_t *m, const char *mode, const struct refloc *locs,
               size_t nlocs, int flags, char *err, size_t errlen);
/* Files hashed by a create, by identity (table `hashed`; doc/archive.md,
 * "Hashed files"): a file whose inode, size, mtime and ctime are those it
 * had when its bytes were hashed has not been written since, so a read of
 * it may skip the re-hash.  archive "" is the blobs' (content-addressed,
 * so their name is their hash).  cs_hashed_put records sb for path (no
 * transaction of its own); cs_hashed_ok: is the file at path, of
 * identity sb (its fstat), such a file? */
void cs_hashed_put (cstore_t *self, const char *archive, const char *path, const struct stat *sb);
bool cs_hashed_ok (cstore_t *self, const char *archive, const char *path, const struct stat *sb);
void cs_hashed_drop (cstore_t *self, const char *archive, const char *path);
/* A failed create removes the blobs it wrote that no archive records. */
void cs_unstore (cstore_t *self, const struct job *jobs, uint64_t njobs);

/* ---- cstore_read.c: verified reads, trusted files ---- */
/* Forget the trusted files of archive name (NULL: all). */
void cs_trust_drop (cstore_t *self, const char *name);
void cs_trust_add (cstore_t *self, const char *archive, const char *path);
/* the adopt that added archive's files is over: sort (and fit) its set */
void cs_trust_done (cstore_t *self, const char *archive);
/* close the one open reference source */
void cs_ref_close (cstore_t *self);

#endif
