/* cstore_read.c - reading a chunk from the content store, always verified
 * against its SHA-256: from its blob, else from any place it is referenced
 * (a changed source is bypassed or reported, never served); a read that
 * finds an archive's chunk changed or gone marks the archive damaged.  Files
 * known good skip the hash while their identity is unchanged: those a
 * distribution verified and wrote itself (adopt with CSTORE_VERIFIED, in
 * memory) and those a create hashed (the index's `hashed` table,
 * doc/archive.md "Hashed files").  A caller that hashes the bytes itself
 * (CSTORE_READ_CALLER_HASHES: the data plane's sealer) gets them unchecked,
 * told whether they are known good, and comes back for a verified read if
 * they are wrong. */
#define _GNU_SOURCE
#include "cstore_int.h"
#include "errquote.h"
#include "xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Forget the trusted files of archive name (NULL: all). */
void cs_trust_drop (cstore_t *self, const char *name)
{
    for (struct trustset **pp = &self->trust; *pp;) {
        struct trustset *t = *pp;
        if (name && strcmp (t->archive, name)) {
            pp = &t->next;
            continue;
        }
        *pp = t->next;
        free (t->archive);
        free (t->v);
        free (t);
    }
}

static int tid_cmp (const void *a, const void *b)
{
    const struct tid *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* exact size, sorted for bsearch */
static void trust_sort (struct trustset *t)
{
    t->v = xreallocarray (t->v, t->n ? t->n : 1, sizeof *t->v);
    t->cap = t->n ? t->n : 1;
    qsort (t->v, t->n, sizeof *t->v, tid_cmp);
    t->sorted = true;
}

void cs_trust_done (cstore_t *self, const char *archive)
{
    for (struct trustset *t = self->trust; t; t = t->next)
        if (!strcmp (t->archive, archive) && !t->sorted)
            trust_sort (t);
}

/* archive's set (created if missing) */
static struct trustset *trust_set (cstore_t *self, const char *archive)
{
    for (struct trustset *t = self->trust; t; t = t->next)
        if (!strcmp (t->archive, archive))
            return t;
    struct trustset *t = xcalloc (1, sizeof *t);
    t->archive = xstrdup (archive);
    t->next = self->trust;
    self->trust = t;
    return t;
}

void cs_trust_add (cstore_t *self, const char *archive, const char *path)
{
    struct stat sb;
    if (stat (path, &sb) < 0 || !S_ISREG (sb.st_mode))
        return;
    struct trustset *t = trust_set (self, archive);
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->v = xreallocarray (t->v, t->cap, sizeof *t->v);
    }
    t->v[t->n++] = (struct tid){
        .dev = sb.st_dev, .ino = sb.st_ino, .size = sb.st_size, .mtime_ns = ts_ns (&sb.st_mtim),
        .ctime_ns = ts_ns (&sb.st_ctim),
    };
    t->sorted = false;
}

/* May a read of archive's reference source, a file of identity sb, skip
 * the hash?  Only if it is a file this process wrote and verified for
 * archive, unchanged since (the same inode, size, mtime and ctime: any
 * write or truncate changes ctime); which path reached it does not matter. */
static bool trust_ok (cstore_t *self, const char *archive, const struct stat *sb)
{
    if (!self->trust || !archive)
        return false;
    struct trustset *t;
    for (t = self->trust; t && strcmp (t->archive, archive); t = t->next)
        ;
    if (!t || !t->n)
        return false;
    if (!t->sorted)
        trust_sort (t);
    struct tid key = {.dev = sb->st_dev, .ino = sb->st_ino};
    const struct tid *id = bsearch (&key, t->v, t->n, sizeof *t->v, tid_cmp);
    return id && id->size == sb->st_size && id->mtime_ns == ts_ns (&sb->st_mtim)
           && id->ctime_ns == ts_ns (&sb->st_ctim);
}

void cs_ref_close (cstore_t *self)
{
    if (self->ref_fd >= 0)
        close (self->ref_fd);
    self->ref_fd = -1;
    free (self->ref_path);
    self->ref_path = NULL;
}


static ssize_t pread_all (int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread (fd, (char *)buf + got, len - got, off + got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += n;
    }
    return got;
}

/* Read len bytes at off of path and check them (unless !check: then only
 * their length, and those of a known-good file).  len (*verified set if
 * they are known good or were hashed here), -EBADMSG, -errno. */
static ssize_t read_verify (cstore_t *self, const char *path, uint64_t off, bool cache, bool check,
                            const char *archive, const uint8_t hash[SHA256_LEN], uint32_t len,
                            void *buf, bool *verified, char *err, size_t errlen)
{
    int fd;
    if (cache && self->ref_path && !strcmp (self->ref_path, path))
        fd = self->ref_fd;
    else {
        fd = open (path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            seterr (err, errlen, "%s: %s", path, strerror (e));
            return -e;
        }
        if (cache) {
            cs_ref_close (self);
            self->ref_path = xstrdup (path);
            self->ref_fd = fd;
        }
    }
    ssize_t n = pread_all (fd, buf, len, off);
    int e = errno;
    /* known good: a file this process verified and wrote, or one a create
     * hashed, unchanged since (archive "" for blobs) */
    struct stat sb;
    bool known = n == (ssize_t)len && fstat (fd, &sb) == 0
                 && (trust_ok (self, archive, &sb) || cs_hashed_ok (self, archive ? archive : "", path, &sb));
    if (!cache)
        close (fd);
    if (n < 0) {
        seterr (err, errlen, "%s: %s", path, strerror (e));
        return -e;
    }
    if (known)
        *verified = true;
    if (known || (!check && n == (ssize_t)len))
        return len;
    uint8_t h[SHA256_LEN];
    if ((size_t)n == len)
        sha256_hash (buf, len, h);
    if ((size_t)n != len || memcmp (h, hash, SHA256_LEN) != 0) {
        seterr (err, errlen, "%s: content changed since the archive was created (offset %" PRIu64 ")",
                path, off);
        return -EBADMSG;
    }
    *verified = true;
    return len;
}

static ssize_t read_hash (cstore_t *self, const uint8_t hash[SHA256_LEN], uint32_t len, void *buf,
                          size_t buflen, bool check, bool *verified, char *err, size_t errlen)
{
    if (buflen < len) {
        seterr (err, errlen, "chunk read: buffer of %zu bytes too small for %" PRIu32, buflen, len);
        return -EINVAL;
    }
    char *bp = cs_blob_path (self, hash, len);
    if (!bp)
        return -ENOMEM;
    ssize_t rc = -ENOENT;
    if (access (bp, F_OK) == 0) {
        rc = read_verify (self, bp, 0, false, check, NULL, hash, len, buf, verified, err, errlen);
        if (rc == -EBADMSG) {
            /* corrupt: drop it so the next create rewrites it; the caller
             * (cstore_chunk_read) marks the archive damaged */
            seterr (err, errlen, "blob %s does not match its SHA-256 (deleted)", bp);
            unlink (bp);
            cs_hashed_drop (self, "", bp);
        }
    }
    free (bp);
    if (rc >= 0)
        return rc;
    char hex[SHA256_HEXLEN + 1];
    sha256_hex (hash, hex);
    sqlite3_stmt *st = cs_sql_prep (self, "SELECT path, offset, archive FROM refs WHERE hash=? AND len=?",
                                 err, errlen);
    if (!st)
        return -EIO;
    sqlite3_bind_text (st, 1, hex, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, len);
    while (sqlite3_step (st) == SQLITE_ROW) {
        rc = read_verify (self, (const char *)sqlite3_column_text (st, 0),
                          sqlite3_column_int64 (st, 1), true, check,
                          (const char *)sqlite3_column_text (st, 2), hash, len, buf, verified, err, errlen);
        if (rc >= 0)
            break;
    }
    sqlite3_finalize (st);
    if (rc == -ENOENT)
        seterr (err, errlen, "chunk %.16s...: not in the content store", hex);
    return rc;
}

ssize_t cstore_chunk_read_hash (cstore_t *self, const uint8_t hash[SHA256_LEN], uint32_t len,
                                void *buf, size_t buflen, char *err, size_t errlen)
{
    bool v = false;
    return read_hash (self, hash, len, buf, buflen, true, &v, err, errlen);
}

ssize_t cstore_chunk_read (cstore_t *self, const char *archive, uint32_t idx, void *buf,
                           size_t buflen, char *err, size_t errlen)
{
    return cstore_chunk_read_flags (self, archive, idx, buf, buflen, 0, NULL, err, errlen);
}

ssize_t cstore_chunk_read_flags (cstore_t *self, const char *archive, uint32_t idx, void *buf,
                                 size_t buflen, int flags, bool *verified, char *err, size_t errlen)
{
    bool v = false;
    if (!verified)
        verified = &v;
    *verified = false;
    const manifest_t *m = cstore_archive_get (self, archive, err, errlen);
    if (!m)
        return -ENOENT;
    if (idx >= m->nchunks) {
        seterr (err, errlen, "archive %s: no chunk %" PRIu32 " (has %zu)", archive, idx, m->nchunks);
        return -ENOENT;
    }
    char e[400];
    ssize_t rc = read_hash (self, m->chunks[idx].hash, m->chunks[idx].len, buf, buflen,
                            !(flags & CSTORE_READ_CALLER_HASHES), verified, e, sizeof e);
    if (rc >= 0 || rc == -EINVAL || rc == -ENOMEM) {
        if (rc < 0)
            seterr (err, errlen, "%s", e);
        return rc;
    }
    /* bytes that no longer match, or gone: the archive is damaged here.
     * Except a referenced file that is gone without a trace of damage: a
     * stale adopted copy (its extraction deleted), "not here", so the caller
     * answers EAGAIN and a downstream retries rather than switching away
     * (doc/benchmarks.md, "Stale content-store entry") */
    char prevd[512];
    if (rc != -EBADMSG && !cstore_damage (self, archive, prevd, sizeof prevd)
        && !cs_archive_is_copy (self, archive)) {
        seterr (err, errlen, "%s", e);
        return rc;
    }
    const char *fpath = "?";
    uint64_t foff = 0;
    for (size_t i = 0; i < m->nentries && !strcmp (fpath, "?"); i++)
        for (uint32_t k = 0; k < m->entries[i].nchunks; k++)
            if (m->entries[i].chunks[k] == idx) {
                fpath = m->entries[i].path;
                foff = (uint64_t)k * m->chunk_size;
                break;
            }
    char prev[512], head[MANIFEST_NAME_MAX + 64];
    int hl = snprintf (head, sizeof head, "archive %s is damaged: chunk %" PRIu32 " ", archive, idx);
    if (cstore_damage (self, archive, prev, sizeof prev) && !strncmp (prev, head, hl)) {
        seterr (err, errlen, "%s", prev);   /* as first found (e.g. before the blob went) */
        return -EBADMSG;
    }
    seterr (err, errlen, "archive %s is damaged: chunk %" PRIu32 " (file %s, offset %" PRIu64 "): %s",
            archive, idx, fpath, foff, e);
    cstore_mark_damaged (self, archive, err);
    return -EBADMSG;
}

