/* cstore.c - the broker's content store: archives and their SHA-256
 * addressed chunks, as blob files (copy) or references into the source
 * files (in place).  This file: opening the store and the archive verbs
 * (create, adopt, get, remove, purge), built from the parts in
 * cstore_walk.c (walking the paths), cstore_pool.c (the hashing pool),
 * cstore_index.c (the SQLite index) and cstore_read.c (verified reads).
 * Layout: doc/archive.md. */
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
#include <dirent.h>
#include <limits.h>

int cs_mkdir_ok (const char *path)
{
    return mkdir (path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}


cstore_t *cstore_new (const char *statedir, char *err, size_t errlen)
{
    cstore_t *self = xcalloc (1, sizeof *self);
    self->ref_fd = -1;
    long ncpu = sysconf (_SC_NPROCESSORS_ONLN);
    self->nthreads = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu;
    if (!statedir || !statedir[0]) {
        seterr (err, errlen, "content store: no state directory");
        goto fail;
    }
    self->dir = xasprintf ("%s/content", statedir);
    self->blobdir = xasprintf ("%s/content/blobs", statedir);
    self->tmpdir = xasprintf ("%s/content/tmp", statedir);
    if (cs_mkdir_ok (statedir) < 0 || cs_mkdir_ok (self->dir) < 0 || cs_mkdir_ok (self->blobdir) < 0
        || cs_mkdir_ok (self->tmpdir) < 0) {
        seterr (err, errlen, "content store: %s: %s", self->dir, strerror (errno));
        goto fail;
    }
    if (cs_index_open (self, err, errlen) < 0)
        goto fail;
    return self;
fail:
    cstore_destroy (&self);
    return NULL;
}

void cs_cache_drop (cstore_t *self, const char *name)
{
    for (struct mcache **pp = &self->cache; *pp; pp = &(*pp)->next) {
        if (!strcmp ((*pp)->name, name)) {
            struct mcache *c = *pp;
            *pp = c->next;
            manifest_destroy (&c->m);
            free (c->name);
            free (c);
            return;
        }
    }
}

void cstore_destroy (cstore_t **p)
{
    if (!p || !*p)
        return;
    cstore_t *self = *p;
    while (self->cache)
        cs_cache_drop (self, self->cache->name);
    cs_trust_drop (self, NULL);
    cs_ref_close (self);
    sqlite3_finalize (self->hashed_q);
    if (self->db)
        sqlite3_close (self->db);
    free (self->dir);
    free (self->blobdir);
    free (self->tmpdir);
    free (self->warning);
    free (self);
    *p = NULL;
}

void cstore_set_threads (cstore_t *self, int n)
{
    self->nthreads = n < 1 ? 1 : n > 16 ? 16 : n;
}

const char *cstore_warning (const cstore_t *self)
{
    return self->warning;
}

const char *cstore_dir (const cstore_t *self)
{
    return self->dir;
}

char *cs_blob_path (const cstore_t *self, const uint8_t hash[SHA256_LEN], uint32_t len)
{
    char hex[SHA256_HEXLEN + 1];
    sha256_hex (hash, hex);
    return xasprintf ("%s/%.2s/%s-%" PRIu32, self->blobdir, hex, hex, len);
}

void cstore_archive_share (cstore_t *self, const manifest_t *m)
{
    cs_cache_drop (self, m->name);
    struct mcache *c = xcalloc (1, sizeof *c);
    c->name = xstrdup (m->name);
    c->m = manifest_ref (m);
    c->next = self->cache;
    self->cache = c;
}

const manifest_t *cstore_archive_get (cstore_t *self, const char *name, char *err, size_t errlen)
{
    if (!name || !manifest_name_valid (name)) {
        seterr (err, errlen, "archive %s: invalid name", name ? name : "(null)");
        return NULL;
    }
    for (struct mcache *c = self->cache; c; c = c->next)
        if (!strcmp (c->name, name))
            return c->m;
    manifest_t *m = cs_load_manifest (self, name, err, errlen);
    if (!m)
        return NULL;
    struct mcache *c = xcalloc (1, sizeof *c);
    if (!c || !(c->name = xstrdup (name))) {
        free (c);
        manifest_destroy (&m);
        seterr (err, errlen, "out of memory");
        return NULL;
    }
    c->m = m;
    c->next = self->cache;
    self->cache = c;
    return m;
}


/* How long a referenced file's ctime must lie before the check after its
 * hashing for its identity to stand for its bytes: file times come from a
 * coarse clock (a tick, up to 10 ms), so a write in the same tick as the
 * last change before the check could leave ctime as it was; one after the
 * margin cannot.  File systems with whole-second times get 2 s. */
#define HASHED_MARGIN_NS     20000000LL
#define HASHED_MARGIN_COARSE 2000000000LL

/* Record the files this create hashed (cs_hashed_put; doc/archive.md,
 * "Hashed files"): the blobs it wrote (in the private store, just written
 * from the bytes it hashed), and, by reference, each file whose identity
 * after the hashing is the one the walk saw before it (no write between:
 * every write changes ctime) and whose ctime lies the margin before the
 * walk began (so no write after it could keep that ctime).  One
 * transaction; a failure only loses the shortcut. */
static void hashed_record (cstore_t *self, const char *name, const char *wbase, const struct walk *w,
                           const struct job *jobs, uint64_t njobs, bool copy, int64_t start_ns)
{
    /* blobs: just written, so first let the margin pass (20 ms), then take
     * their identity: a later write cannot keep its ctime (blobs on a file
     * system with whole-second times are not recorded) */
    bool stored = false;
    for (uint64_t j = 0; copy && j < njobs && !stored; j++)
        stored = jobs[j].stored;
    if (stored) {
        struct timespec d = {.tv_sec = 0, .tv_nsec = HASHED_MARGIN_NS};
        nanosleep (&d, NULL);
    }
    if (cs_sql_exec (self, "BEGIN IMMEDIATE", NULL, 0) < 0)
        return;
    struct stat sb;
    for (uint64_t j = 0; copy && j < njobs; j++) {
        if (!jobs[j].stored)
            continue;
        char *bp = cs_blob_path (self, jobs[j].hash, jobs[j].len);
        if (bp && lstat (bp, &sb) == 0 && S_ISREG (sb.st_mode) && (uint64_t)sb.st_size == jobs[j].len
            && sb.st_ctim.tv_nsec)
            cs_hashed_put (self, "", bp, &sb);
        free (bp);
    }
    char *abs = copy ? NULL : xmalloc (ITEM_ABS_MAX);
    for (size_t i = 0; !copy && i < w->n; i++) {
        const struct item *it = &w->items[i];
        if (it->type != MANIFEST_FILE || !it->size)
            continue;
        item_abs (wbase, it, abs, ITEM_ABS_MAX);
        if (lstat (abs, &sb) < 0 || !S_ISREG (sb.st_mode) || sb.st_dev != it->dev || sb.st_ino != it->ino
            || (uint64_t)sb.st_size != it->size || ts_ns (&sb.st_mtim) != it->mtime_ns
            || ts_ns (&sb.st_ctim) != it->ctime_ns)
            continue;
        int64_t margin = sb.st_ctim.tv_nsec ? HASHED_MARGIN_NS : HASHED_MARGIN_COARSE;
        if (start_ns - it->ctime_ns < margin)
            continue;
        cs_hashed_put (self, name, abs, &sb);
    }
    free (abs);
    if (cs_sql_exec (self, "COMMIT", NULL, 0) < 0)
        cs_sql_exec (self, "ROLLBACK", NULL, 0);
}

const manifest_t *cstore_archive_create (cstore_t *self, const char *name, const char *dir,
                                         const char *const paths[], size_t n, int flags,
                                         uint32_t chunk_size, char *err, size_t errlen)
{
    char e[512];
    manifest_t *m = manifest_new (name ? name : "", chunk_size, e, sizeof e);
    struct walk w = {.err = err, .errlen = errlen};
    struct job *jobs = NULL;
    struct refloc *locs = NULL;
    size_t nlocs = 0;
    uint32_t *idx = NULL;
    char *base = NULL;
    const manifest_t *result = NULL;
    bool copy = !(flags & CSTORE_REFERENCE);
    uint64_t njobs_total = 0;

    if (!m) {
        seterr (err, errlen, "archive create: %s", e);
        return NULL;
    }
    if (!(flags & CSTORE_REPLACE) && cs_archive_exists (self, name)) {
        seterr (err, errlen, "archive %s: already exists", name);
        goto out;
    }
    if (n == 0) {
        seterr (err, errlen, "archive create: no paths given");
        goto out;
    }
    struct timespec t0;
    clock_gettime (CLOCK_REALTIME, &t0);
    int64_t start_ns = ts_ns (&t0);
    if (!(base = realpath (dir ? dir : ".", NULL))) {
        seterr (err, errlen, "%s: %s", dir ? dir : ".", strerror (errno));
        goto out;
    }
    if (!strcmp (base, "/"))
        base[0] = '\0';   /* so base + "/" + rel stays clean */
    for (size_t i = 0; i < n; i++)
        if (!paths[i] || cs_walk_top (&w, base[0] ? base : "", paths[i]) < 0)
            goto out;
    free (self->warning);
    self->warning = NULL;
    if (w.nspecial)
        self->warning = xasprintf ("skipped %zu special file%s (devices, sockets, FIFOs): %s%s",
                                   w.nspecial, w.nspecial > 1 ? "s" : "", w.special,
                                   w.nspecial > 4 ? ", ..." : "");
    /* chunk jobs */
    uint64_t njobs = 0;
    for (size_t i = 0; i < w.n; i++) {
        if (w.items[i].type == MANIFEST_FILE) {
            w.items[i].first_job = njobs;
            njobs += (w.items[i].size + m->chunk_size - 1) / m->chunk_size;
        }
    }
    if (njobs > MANIFEST_CHUNKS_MAX * 4ull) {
        seterr (err, errlen, "archive create: too many chunks (%" PRIu64 "): use a larger chunk size", njobs);
        goto out;
    }
    if (njobs && !(jobs = xcalloc (njobs, sizeof *jobs))) {
        seterr (err, errlen, "out of memory");
        goto out;
    }
    njobs_total = njobs;
    for (size_t i = 0; i < w.n; i++) {
        if (w.items[i].type != MANIFEST_FILE)
            continue;
        uint64_t k = w.items[i].first_job;
        for (uint64_t off = 0; off < w.items[i].size; off += m->chunk_size, k++) {
            jobs[k].item = i;
            jobs[k].off = off;
            uint64_t rest = w.items[i].size - off;
            jobs[k].len = rest < m->chunk_size ? rest : m->chunk_size;
        }
    }
    const char *wbase = base[0] ? base : "";
    if (njobs && cs_pool_run (self, wbase, w.items, jobs, njobs, m->chunk_size, copy, err, errlen) < 0)
        goto out;
    /* the manifest, in walk order (parents first) */
    uint64_t maxn = 0;
    for (size_t i = 0; i < w.n; i++)
        if (w.items[i].type == MANIFEST_FILE) {
            uint64_t c = (w.items[i].size + m->chunk_size - 1) / m->chunk_size;
            maxn = c > maxn ? c : maxn;
        }
    if (!(idx = xmalloc ((maxn ? maxn : 1) * sizeof *idx))
        || (!copy && !(locs = xcalloc (njobs ? njobs : 1, sizeof *locs)))) {
        seterr (err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < w.n; i++) {
        struct item *it = &w.items[i];
        int rc;
        if (it->type == MANIFEST_DIR)
            rc = manifest_add_dir (m, it->rel, it->mode, it->mtime_ns, e, sizeof e);
        else if (it->type == MANIFEST_SYMLINK)
            rc = manifest_add_symlink (m, it->rel, it->target, it->mtime_ns, e, sizeof e);
        else if (it->type == MANIFEST_HARDLINK)
            rc = manifest_add_hardlink (m, it->rel, it->target, e, sizeof e);
        else {
            uint32_t c = (it->size + m->chunk_size - 1) / m->chunk_size;
            rc = 0;
            for (uint32_t k = 0; k < c && rc == 0; k++) {
                struct job *j = &jobs[it->first_job + k];
                int64_t x = manifest_chunk_add (m, j->hash, j->len);
                if (x < 0) {
                    snprintf (e, sizeof e, "chunk table full");
                    rc = -1;
                    break;
                }
                idx[k] = x;
                if (locs)
                    locs[nlocs++] = (struct refloc){x, it->absroot ? "" : wbase, it->rel, j->off};
            }
            if (rc == 0)
                rc = manifest_add_file (m, it->rel, it->mode, it->mtime_ns, it->size, idx, c, e,
                                        sizeof e);
        }
        if (rc < 0) {
            char abuf[ITEM_ABS_MAX];
            seterr (err, errlen, "%s: %s", item_abs (wbase, it, abuf, sizeof abuf), e);
            goto out;
        }
    }
    if (copy)
        cs_walk_free (&w);   /* the manifest has it all now: less memory while recording */
    if (cs_record (self, m, copy ? "copy" : "reference", locs, nlocs, flags, err, errlen) < 0)
        goto out;
    hashed_record (self, name, wbase, &w, jobs, njobs_total, copy, start_ns);
    cs_gc_blobs (self, NULL, 0);   /* blobs only the replaced archive used */
    struct mcache *c = xcalloc (1, sizeof *c);
    if (!c || !(c->name = xstrdup (name))) {
        free (c);
        seterr (err, errlen, "out of memory");
        goto out;
    }
    c->m = m;
    m = NULL;
    c->next = self->cache;
    self->cache = c;
    result = c->m;
out:
    if (!result && copy && jobs)
        cs_unstore (self, jobs, njobs_total);
    manifest_destroy (&m);
    cs_walk_free (&w);
    free (jobs);
    free (locs);
    free (idx);
    free (base);
    return result;
}

int cstore_archive_adopt (cstore_t *self, const manifest_t *m, const char *destdir, int flags,
                          char *err, size_t errlen)
{
    char e[256];
    if (manifest_validate (m, e, sizeof e) < 0) {
        seterr (err, errlen, "archive adopt: %s", e);
        return -EINVAL;
    }
    char *base = realpath (destdir, NULL);
    if (!base) {
        int en = errno;
        seterr (err, errlen, "%s: %s", destdir, strerror (en));
        return -en;
    }
    size_t npos = 0;
    for (size_t i = 0; i < m->nentries; i++)
        npos += m->entries[i].nchunks;
    /* every place a chunk is, as base + the entry's path (no string a file) */
    struct refloc *locs = xcalloc (npos ? npos : 1, sizeof *locs);
    size_t nlocs = 0;
    for (size_t i = 0; i < m->nentries; i++) {
        const manifest_entry_t *en = &m->entries[i];
        if (en->type != MANIFEST_FILE || !en->nchunks)
            continue;
        for (uint32_t k = 0; k < en->nchunks; k++)
            locs[nlocs++] = (struct refloc){en->chunks[k], base, en->path, (uint64_t)k * m->chunk_size};
    }
    int rc = cs_record (self, m, "reference", locs, nlocs, flags, err, errlen);
    free (locs);
    if (rc == 0 && (flags & CSTORE_VERIFIED)) {
        char *path = xmalloc (2 * PATH_MAX + 2);
        for (size_t i = 0; i < m->nentries; i++)
            if (m->entries[i].type == MANIFEST_FILE && m->entries[i].nchunks) {
                snprintf (path, 2 * PATH_MAX + 2, "%s/%s", base, m->entries[i].path);
                cs_trust_add (self, m->name, path);
            }
        free (path);
        cs_trust_done (self, m->name);
    }
    if (rc == 0)
        cs_gc_blobs (self, NULL, 0);
    free (base);
    return rc;
}

int cstore_archive_remove (cstore_t *self, const char *name, char *err, size_t errlen)
{
    if (!name || !manifest_name_valid (name)) {
        seterr (err, errlen, "archive %s: invalid name", name ? name : "(null)");
        return -EINVAL;
    }
    if (cs_sql_exec (self, "BEGIN IMMEDIATE", err, errlen) < 0)
        return -EIO;
    if (!cs_archive_exists (self, name)) {
        cs_sql_exec (self, "ROLLBACK", NULL, 0);
        seterr (err, errlen, "archive %s: not found", name);
        return -ENOENT;
    }
    if (cs_delete_rows (self, name, err, errlen) < 0 || cs_sql_exec (self, "COMMIT", err, errlen) < 0) {
        cs_sql_exec (self, "ROLLBACK", NULL, 0);
        return -EIO;
    }
    cs_cache_drop (self, name);
    cs_trust_drop (self, name);
    cs_ref_close (self);
    int rc = cs_gc_blobs (self, err, errlen);
    return rc < 0 ? rc : 0;
}

/* --- purge ----------------------------------------------------------- */

int cstore_purge (cstore_t *self, char *err, size_t errlen)
{
    int count = cs_gc_blobs (self, err, errlen);
    if (count < 0)
        return count;
    /* stale temporaries */
    DIR *d = opendir (self->tmpdir);
    struct dirent *e;
    while (d && (e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = xasprintf ("%s/%s", self->tmpdir, e->d_name);
        if (p)
            unlink (p);
        free (p);
    }
    if (d)
        closedir (d);
    /* blob files no row names (e.g. a create that crashed before commit) */
    sqlite3_stmt *st = cs_sql_prep (self, "SELECT 1 FROM blobs WHERE hash=? AND len=?", err, errlen);
    if (!st)
        return -EIO;
    DIR *top = opendir (self->blobdir);
    while (top && (e = readdir (top))) {
        if (e->d_name[0] == '.')
            continue;
        char *sub = xasprintf ("%s/%s", self->blobdir, e->d_name);
        DIR *sd = sub ? opendir (sub) : NULL;
        struct dirent *f;
        while (sd && (f = readdir (sd))) {
            if (f->d_name[0] == '.')
                continue;
            char hex[SHA256_HEXLEN + 1];
            snprintf (hex, sizeof hex, "%.64s", f->d_name);
            const char *dash = strchr (f->d_name, '-');
            sqlite3_reset (st);
            sqlite3_bind_text (st, 1, hex, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64 (st, 2, dash ? strtoll (dash + 1, NULL, 10) : -1);
            if (sqlite3_step (st) != SQLITE_ROW) {
                char *p = xasprintf ("%s/%s", sub, f->d_name);
                if (p && unlink (p) == 0)
                    count++;
                free (p);
            }
        }
        if (sd)
            closedir (sd);
        free (sub);
    }
    if (top)
        closedir (top);
    sqlite3_finalize (st);
    return count;
}
