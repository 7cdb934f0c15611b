/* cstore_index.c - the content store's SQLite index
 * (STATEDIR/content/index.sqlite, doc/archive.md): the schema, recording and
 * deleting an archive's rows in one transaction, the blob rows no archive
 * uses, the listing and the damage marks. */
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
#include <time.h>
#include <limits.h>

int cs_sql_exec (cstore_t *self, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec (self->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        seterr (err, errlen, "content store: %s", msg ? msg : sqlite3_errmsg (self->db));
        sqlite3_free (msg);
        return -1;
    }
    return 0;
}

sqlite3_stmt *cs_sql_prep (cstore_t *self, const char *sql, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2 (self->db, sql, -1, &st, NULL) != SQLITE_OK) {
        seterr (err, errlen, "content store: %s", sqlite3_errmsg (self->db));
        return NULL;
    }
    return st;
}

static const char *schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS archives(name TEXT PRIMARY KEY, manifest TEXT NOT NULL,"
    " digest TEXT NOT NULL, mode TEXT NOT NULL, created INTEGER NOT NULL, size INTEGER NOT NULL,"
    " nentries INTEGER NOT NULL, nchunks INTEGER NOT NULL, chunk_size INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS achunks(archive TEXT NOT NULL, hash TEXT NOT NULL,"
    " len INTEGER NOT NULL, PRIMARY KEY(archive, hash, len));"
    "CREATE INDEX IF NOT EXISTS achunks_hash ON achunks(hash, len);"
    "CREATE TABLE IF NOT EXISTS blobs(hash TEXT NOT NULL, len INTEGER NOT NULL,"
    " PRIMARY KEY(hash, len));"
    "CREATE TABLE IF NOT EXISTS refs(archive TEXT NOT NULL, hash TEXT NOT NULL,"
    " len INTEGER NOT NULL, path TEXT NOT NULL, offset INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS refs_hash ON refs(hash, len);"
    "CREATE INDEX IF NOT EXISTS refs_archive ON refs(archive);"
    /* archives found damaged when read (a chunk that no longer matches its
     * hash, or is gone): shown by list, cleared when the archive is recorded
     * again (re-create, re-adopt) or removed */
    "CREATE TABLE IF NOT EXISTS damaged(archive TEXT PRIMARY KEY, reason TEXT NOT NULL,"
    " at INTEGER NOT NULL);"
    /* the pages of each manifest (archives.manifest holds its head; rows
     * written by older brokers hold the whole manifest and no pages) */
    "CREATE TABLE IF NOT EXISTS mpages(archive TEXT NOT NULL, idx INTEGER NOT NULL,"
    " data TEXT NOT NULL, PRIMARY KEY(archive, idx));"
    /* files whose bytes a create hashed, by their identity then
     * (cs_hashed_put; archive '' = the blobs) */
    "CREATE TABLE IF NOT EXISTS hashed(archive TEXT NOT NULL, path TEXT NOT NULL,"
    " dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, PRIMARY KEY(archive, path));";


int cs_index_open (cstore_t *self, char *err, size_t errlen)
{
    char *dbpath = xasprintf ("%s/index.sqlite", self->dir);
    int rc = sqlite3_open_v2 (dbpath, &self->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        seterr (err, errlen, "content store: %s: %s", dbpath,
                self->db ? sqlite3_errmsg (self->db) : "out of memory");
        free (dbpath);
        return -1;
    }
    free (dbpath);
    sqlite3_busy_timeout (self->db, 10000);
    return cs_sql_exec (self, schema, err, errlen);
}

/* Assemble name's manifest from its head and pages (one page in memory at
 * a time).  NULL + err. */
static manifest_t *load_pages (cstore_t *self, const char *name, const char *head, size_t hl,
                               char *err, size_t errlen)
{
    char e[512];
    manifest_asm_t *a = manifest_asm_new (head, hl, e, sizeof e);
    sqlite3_stmt *st = a ? cs_sql_prep (self, "SELECT data FROM mpages WHERE archive=? ORDER BY idx", err,
                                        errlen)
                         : NULL;
    manifest_t *m = NULL;
    if (!a)
        seterr (err, errlen, "archive %s: stored manifest invalid: %s", name, e);
    if (!st)
        goto out;
    sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step (st)) == SQLITE_ROW)
        if (manifest_asm_page (a, (const char *)sqlite3_column_text (st, 0), sqlite3_column_bytes (st, 0), e,
                               sizeof e) < 0) {
            seterr (err, errlen, "archive %s: stored manifest invalid: %s", name, e);
            goto out;
        }
    if (rc != SQLITE_DONE)
        seterr (err, errlen, "content store: %s", sqlite3_errmsg (self->db));
    else if (!(m = manifest_asm_finish (a, e, sizeof e)))
        seterr (err, errlen, "archive %s: stored manifest invalid: %s", name, e);
out:
    sqlite3_finalize (st);
    manifest_asm_destroy (&a);
    return m;
}

manifest_t *cs_load_manifest (cstore_t *self, const char *name, char *err, size_t errlen)
{
    sqlite3_stmt *st = cs_sql_prep (self, "SELECT manifest FROM archives WHERE name=?", err, errlen);
    if (!st)
        return NULL;
    sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
    manifest_t *m = NULL;
    int rc = sqlite3_step (st);
    if (rc == SQLITE_ROW) {
        const char *txt = (const char *)sqlite3_column_text (st, 0);
        size_t tl = sqlite3_column_bytes (st, 0);
        char e[256];
        if (manifest_is_head (txt, tl))
            m = load_pages (self, name, txt, tl, err, errlen);
        else if (!(m = manifest_decode (txt, tl, e, sizeof e)))   /* an older broker's row */
            seterr (err, errlen, "archive %s: stored manifest invalid: %s", name, e);
    } else if (rc == SQLITE_DONE) {
        seterr (err, errlen, "archive %s: not found", name);
        errno = ENOENT;
    } else
        seterr (err, errlen, "content store: %s", sqlite3_errmsg (self->db));
    sqlite3_finalize (st);
    return m;
}

char *cstore_archive_head (cstore_t *self, const char *name, size_t *lenp, char *err, size_t errlen)
{
    sqlite3_stmt *st = cs_sql_prep (self, "SELECT manifest FROM archives WHERE name=?", err, errlen);
    if (!st)
        return NULL;
    sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
    char *head = NULL;
    int rc = sqlite3_step (st);
    if (rc == SQLITE_ROW && manifest_is_head ((const char *)sqlite3_column_text (st, 0),
                                              sqlite3_column_bytes (st, 0))) {
        *lenp = sqlite3_column_bytes (st, 0);
        head = xstrndup ((const char *)sqlite3_column_text (st, 0), *lenp);
    }
    sqlite3_finalize (st);
    if (head || rc == SQLITE_ROW) {
        if (!head) {   /* an older broker's row: cut the manifest now */
            const manifest_t *m = cstore_archive_get (self, name, err, errlen);
            head = m ? manifest_head_encode (m, lenp) : NULL;
        }
        return head;
    }
    seterr (err, errlen, rc == SQLITE_DONE ? "archive %s: not found" : "archive %s: content store error", name);
    return NULL;
}

char *cstore_manifest_page (cstore_t *self, const char *name, size_t page, size_t *lenp, char *err,
                            size_t errlen)
{
    sqlite3_stmt *st = cs_sql_prep (self, "SELECT data FROM mpages WHERE archive=? AND idx=?", err, errlen);
    if (!st)
        return NULL;
    sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, page);
    char *text = NULL;
    if (sqlite3_step (st) == SQLITE_ROW) {
        *lenp = sqlite3_column_bytes (st, 0);
        text = xstrndup ((const char *)sqlite3_column_text (st, 0), *lenp);
    }
    sqlite3_finalize (st);
    if (text)
        return text;
    const manifest_t *m = cstore_archive_get (self, name, err, errlen);
    if (!m)
        return NULL;
    if (page >= manifest_npages (m)) {
        seterr (err, errlen, "archive %s: no manifest page %zu (has %zu)", name, page, manifest_npages (m));
        return NULL;
    }
    return manifest_page_encode (m, page, lenp);   /* an older broker's row */
}

bool cs_archive_exists (cstore_t *self, const char *name)
{
    sqlite3_stmt *st = cs_sql_prep (self, "SELECT 1 FROM archives WHERE name=?", NULL, 0);
    if (!st)
        return false;
    sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
    bool found = sqlite3_step (st) == SQLITE_ROW;
    sqlite3_finalize (st);
    return found;
}

/* Delete the blobs (rows and files) that no archive uses any more. */
int cs_gc_blobs (cstore_t *self, char *err, size_t errlen)
{
    sqlite3_stmt *st = cs_sql_prep (self,
        "SELECT hash, len FROM blobs b WHERE NOT EXISTS"
        " (SELECT 1 FROM achunks a WHERE a.hash=b.hash AND a.len=b.len)", err, errlen);
    if (!st)
        return -EIO;
    int count = 0;
    while (sqlite3_step (st) == SQLITE_ROW) {
        uint8_t h[SHA256_LEN];
        if (sha256_parse_hex ((const char *)sqlite3_column_text (st, 0), h) < 0)
            continue;
        char *path = cs_blob_path (self, h, sqlite3_column_int64 (st, 1));
        if (path && (unlink (path) == 0 || errno == ENOENT))
            count++;
        if (path)
            cs_hashed_drop (self, "", path);
        free (path);
    }
    sqlite3_finalize (st);
    if (cs_sql_exec (self, "DELETE FROM blobs WHERE NOT EXISTS (SELECT 1 FROM achunks a"
                        " WHERE a.hash=blobs.hash AND a.len=blobs.len)", err, errlen) < 0)
        return -EIO;
    return count;
}

void cs_hashed_put (cstore_t *self, const char *archive, const char *path, const struct stat *sb)
{
    sqlite3_stmt *st = cs_sql_prep (self, "INSERT OR REPLACE INTO hashed(archive, path, dev, ino, size,"
                                          " mtime_ns, ctime_ns) VALUES(?,?,?,?,?,?,?)", NULL, 0);
    if (!st)
        return;   /* only a lost shortcut: reads hash as before */
    sqlite3_bind_text (st, 1, archive, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 3, (sqlite3_int64)sb->st_dev);
    sqlite3_bind_int64 (st, 4, (sqlite3_int64)sb->st_ino);
    sqlite3_bind_int64 (st, 5, sb->st_size);
    sqlite3_bind_int64 (st, 6, ts_ns (&sb->st_mtim));
    sqlite3_bind_int64 (st, 7, ts_ns (&sb->st_ctim));
    sqlite3_step (st);
    sqlite3_finalize (st);
}

void cs_hashed_drop (cstore_t *self, const char *archive, const char *path)
{
    sqlite3_stmt *st = cs_sql_prep (self, "DELETE FROM hashed WHERE archive=? AND path=?", NULL, 0);
    if (!st)
        return;
    sqlite3_bind_text (st, 1, archive, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, path, -1, SQLITE_STATIC);
    sqlite3_step (st);
    sqlite3_finalize (st);
}

bool cs_hashed_ok (cstore_t *self, const char *archive, const char *path, const struct stat *sb)
{
    if (!self->hashed_q
        && !(self->hashed_q = cs_sql_prep (self, "SELECT dev, ino, size, mtime_ns, ctime_ns FROM hashed"
                                                 " WHERE archive=? AND path=?", NULL, 0)))
        return false;
    sqlite3_stmt *st = self->hashed_q;
    sqlite3_reset (st);
    sqlite3_bind_text (st, 1, archive, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, path, -1, SQLITE_STATIC);
    bool ok = sqlite3_step (st) == SQLITE_ROW
              && sqlite3_column_int64 (st, 0) == (sqlite3_int64)sb->st_dev
              && sqlite3_column_int64 (st, 1) == (sqlite3_int64)sb->st_ino
              && sqlite3_column_int64 (st, 2) == sb->st_size
              && sqlite3_column_int64 (st, 3) == ts_ns (&sb->st_mtim)
              && sqlite3_column_int64 (st, 4) == ts_ns (&sb->st_ctim);
    sqlite3_reset (st);
    sqlite3_clear_bindings (st);
    return ok;
}

/* Delete one archive's rows (inside a transaction). */
int cs_delete_rows (cstore_t *self, const char *name, char *err, size_t errlen)
{
    const char *sqls[] = {
        "DELETE FROM achunks WHERE archive=?", "DELETE FROM refs WHERE archive=?",
        "DELETE FROM archives WHERE name=?", "DELETE FROM damaged WHERE archive=?",
        "DELETE FROM mpages WHERE archive=?", "DELETE FROM hashed WHERE archive=?",
    };
    for (size_t i = 0; i < sizeof sqls / sizeof sqls[0]; i++) {
        sqlite3_stmt *st = cs_sql_prep (self, sqls[i], err, errlen);
        if (!st)
            return -1;
        sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
        int rc = sqlite3_step (st);
        sqlite3_finalize (st);
        if (rc != SQLITE_DONE) {
            seterr (err, errlen, "content store: %s", sqlite3_errmsg (self->db));
            return -1;
        }
    }
    return 0;
}

struct pgw {
    sqlite3_stmt *st;
    const char *name;
};

static int page_insert (void *arg, size_t page, char *text, size_t len)
{
    struct pgw *w = arg;
    sqlite3_reset (w->st);
    sqlite3_bind_text (w->st, 1, w->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (w->st, 2, page);
    sqlite3_bind_text (w->st, 3, text, len, free);
    return sqlite3_step (w->st) == SQLITE_DONE ? 0 : -1;
}

/* Record manifest m with its chunks as blobs (locs NULL) or at the nlocs
 * places locs[] (every place a chunk occurs, so a changed file can be
 * bypassed).  One transaction. */
int cs_record (cstore_t *self, const manifest_t *m, const char *mode,
                   const struct refloc *locs, size_t nlocs, int flags, char *err, size_t errlen)
{
    /* the head in the archives row, the pages in mpages, one at a time: the
     * manifest is never one piece of text (doc/archive.md, "Manifest pages") */
    size_t len = 0;
    char *text = NULL;
    uint8_t dg[SHA256_LEN];
    char dhex[SHA256_HEXLEN + 1];
    if (cs_sql_exec (self, "BEGIN IMMEDIATE", err, errlen) < 0) {
        free (text);
        return -EIO;
    }
    int rc = -EIO;
    sqlite3_stmt *ins = NULL, *ach = NULL, *blob = NULL, *ref = NULL, *pg = NULL;
    char *path = NULL;
    if (cs_archive_exists (self, m->name)) {
        if (!(flags & CSTORE_REPLACE)) {
            seterr (err, errlen, "archive %s: already exists", m->name);
            rc = -EEXIST;
            goto done;
        }
        if (cs_delete_rows (self, m->name, err, errlen) < 0)
            goto done;
    }
    ins = cs_sql_prep (self, "INSERT INTO archives(name, manifest, digest, mode, created, size,"
                          " nentries, nchunks, chunk_size) VALUES(?,?,?,?,?,?,?,?,?)", err, errlen);
    ach = cs_sql_prep (self, "INSERT OR IGNORE INTO achunks(archive, hash, len) VALUES(?,?,?)", err, errlen);
    blob = cs_sql_prep (self, "INSERT OR IGNORE INTO blobs(hash, len) VALUES(?,?)", err, errlen);
    ref = cs_sql_prep (self, "INSERT INTO refs(archive, hash, len, path, offset) VALUES(?,?,?,?,?)",
                    err, errlen);
    pg = cs_sql_prep (self, "INSERT INTO mpages(archive, idx, data) VALUES(?,?,?)", err, errlen);
    if (!ins || !ach || !blob || !ref || !pg)
        goto done;
    /* the pages first (each encoded once, hashed for the head), then the
     * archives row with the head */
    struct pgw pw = {.st = pg, .name = m->name};
    if (!(text = manifest_pages_write (m, page_insert, &pw, dg, &len)))
        goto sqlerr;
    sha256_hex (dg, dhex);
    sqlite3_bind_text (ins, 1, m->name, -1, SQLITE_STATIC);
    sqlite3_bind_text (ins, 2, text, len, SQLITE_STATIC);
    sqlite3_bind_text (ins, 3, dhex, -1, SQLITE_STATIC);
    sqlite3_bind_text (ins, 4, mode, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (ins, 5, time (NULL));
    sqlite3_bind_int64 (ins, 6, m->total_size);
    sqlite3_bind_int64 (ins, 7, m->nentries);
    sqlite3_bind_int64 (ins, 8, m->nchunks);
    sqlite3_bind_int64 (ins, 9, m->chunk_size);
    if (sqlite3_step (ins) != SQLITE_DONE)
        goto sqlerr;
    {
        sqlite3_stmt *dm = cs_sql_prep (self, "DELETE FROM damaged WHERE archive=?", err, errlen);
        if (!dm)
            goto done;
        sqlite3_bind_text (dm, 1, m->name, -1, SQLITE_STATIC);
        int drc = sqlite3_step (dm);
        sqlite3_finalize (dm);
        if (drc != SQLITE_DONE)
            goto sqlerr;
    }
    for (size_t i = 0; i < m->nchunks; i++) {
        char hex[SHA256_HEXLEN + 1];
        sha256_hex (m->chunks[i].hash, hex);
        sqlite3_reset (ach);
        sqlite3_bind_text (ach, 1, m->name, -1, SQLITE_STATIC);
        sqlite3_bind_text (ach, 2, hex, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64 (ach, 3, m->chunks[i].len);
        if (sqlite3_step (ach) != SQLITE_DONE)
            goto sqlerr;
        if (!locs) {
            sqlite3_reset (blob);
            sqlite3_bind_text (blob, 1, hex, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64 (blob, 2, m->chunks[i].len);
            if (sqlite3_step (blob) != SQLITE_DONE)
                goto sqlerr;
        }
    }
    path = xmalloc (2 * PATH_MAX + 2);
    for (size_t i = 0; locs && i < nlocs; i++) {
        char hex[SHA256_HEXLEN + 1];
        sha256_hex (m->chunks[locs[i].chunk].hash, hex);
        sqlite3_reset (ref);
        sqlite3_bind_text (ref, 1, m->name, -1, SQLITE_STATIC);
        sqlite3_bind_text (ref, 2, hex, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64 (ref, 3, m->chunks[locs[i].chunk].len);
        if (locs[i].dir)
            snprintf (path, 2 * PATH_MAX + 2, "%s/%s", locs[i].dir, locs[i].rel);
        else
            snprintf (path, 2 * PATH_MAX + 2, "%s", locs[i].rel);
        sqlite3_bind_text (ref, 4, path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64 (ref, 5, locs[i].off);
        if (sqlite3_step (ref) != SQLITE_DONE)
            goto sqlerr;
    }
    rc = 0;
    goto done;
sqlerr:
    seterr (err, errlen, "content store: %s", sqlite3_errmsg (self->db));
done:
    sqlite3_finalize (ins);
    sqlite3_finalize (ach);
    sqlite3_finalize (blob);
    sqlite3_finalize (ref);
    sqlite3_finalize (pg);
    free (path);
    if (rc == 0 && cs_sql_exec (self, "COMMIT", err, errlen) < 0)
        rc = -EIO;
    if (rc < 0)
        cs_sql_exec (self, "ROLLBACK", NULL, 0);
    free (text);
    cs_cache_drop (self, m->name);
    cs_trust_drop (self, m->name);
    cs_ref_close (self);
    return rc;
}


void cs_unstore (cstore_t *self, const struct job *jobs, uint64_t njobs)
{
    sqlite3_stmt *st = cs_sql_prep (self, "SELECT 1 FROM blobs WHERE hash=? AND len=?", NULL, 0);
    for (uint64_t j = 0; st && j < njobs; j++) {
        if (!jobs[j].stored)
            continue;
        char hex[SHA256_HEXLEN + 1];
        sha256_hex (jobs[j].hash, hex);
        sqlite3_reset (st);
        sqlite3_bind_text (st, 1, hex, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64 (st, 2, jobs[j].len);
        if (sqlite3_step (st) != SQLITE_ROW) {
            char *p = cs_blob_path (self, jobs[j].hash, jobs[j].len);
            if (p)
                unlink (p);
            free (p);
        }
    }
    sqlite3_finalize (st);
}

json_t *cstore_archive_list (cstore_t *self, char *err, size_t errlen)
{
    sqlite3_stmt *st = cs_sql_prep (self, "SELECT name, size, nentries, nchunks, chunk_size, mode,"
                                       " created, d.reason FROM archives a LEFT JOIN damaged d"
                                       " ON d.archive=a.name ORDER BY name", err, errlen);
    if (!st)
        return NULL;
    json_t *a = json_array ();
    while (a && sqlite3_step (st) == SQLITE_ROW) {
        const char *reason = (const char *)sqlite3_column_text (st, 7);
        json_t *o = json_pack ("{s:s s:I s:I s:I s:I s:s s:I s:s}",
            "name", (const char *)sqlite3_column_text (st, 0),
            "size", (json_int_t)sqlite3_column_int64 (st, 1),
            "entries", (json_int_t)sqlite3_column_int64 (st, 2),
            "chunks", (json_int_t)sqlite3_column_int64 (st, 3),
            "chunk_size", (json_int_t)sqlite3_column_int64 (st, 4),
            "mode", (const char *)sqlite3_column_text (st, 5),
            "created", (json_int_t)sqlite3_column_int64 (st, 6),
            "state", reason ? "damaged" : "ok");
        if (o && reason)
            json_object_set_new (o, "damage", json_string (reason));
        json_array_append_new (a, o);
    }
    sqlite3_finalize (st);
    return a;
}


bool cs_archive_is_copy (cstore_t *self, const char *name)
{
    sqlite3_stmt *st = cs_sql_prep (self, "SELECT mode FROM archives WHERE name=?", NULL, 0);
    bool copy = false;
    if (!st)
        return false;
    sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step (st) == SQLITE_ROW)
        copy = !strcmp ((const char *)sqlite3_column_text (st, 0), "copy");
    sqlite3_finalize (st);
    return copy;
}


int cstore_mark_damaged (cstore_t *self, const char *archive, const char *reason)
{
    sqlite3_stmt *st = cs_sql_prep (self, "INSERT OR REPLACE INTO damaged(archive, reason, at)"
                                       " SELECT name, ?, ? FROM archives WHERE name=?", NULL, 0);
    if (!st)
        return -EIO;
    sqlite3_bind_text (st, 1, reason, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, time (NULL));
    sqlite3_bind_text (st, 3, archive, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st);
    sqlite3_finalize (st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

const char *cstore_damage (cstore_t *self, const char *archive, char *buf, size_t len)
{
    sqlite3_stmt *st = cs_sql_prep (self, "SELECT reason FROM damaged WHERE archive=?", NULL, 0);
    const char *r = NULL;
    if (!st)
        return NULL;
    sqlite3_bind_text (st, 1, archive, -1, SQLITE_STATIC);
    if (sqlite3_step (st) == SQLITE_ROW) {
        snprintf (buf, len, "%s", (const char *)sqlite3_column_text (st, 0));
        r = buf;
    }
    sqlite3_finalize (st);
    return r;
}

