/* cstore.c - the broker's content store: archives and their SHA-256
 * addressed chunks, as blob files (copy) or references into the source files
 * (in place), indexed in SQLite.  Creating an archive walks the paths, then a
 * small pool of threads preads, hashes (and for copies writes) one chunk at a
 * time each, so memory stays at threads x chunk_size.  Layout: doc/archive.md. */
#define _GNU_SOURCE
#include "errquote.h"
#include "fnv.h"
#include "cstore.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

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
    struct trusted **trust;   /* TRUST_BUCKETS chains, or NULL: see trust_ok */
    char *warning;            /* of the last create: special files skipped */
};

/* Files whose chunks were all verified on arrival and written by this
 * process (cstore_archive_adopt with CSTORE_VERIFIED), with the identity
 * they had when recorded.  A read from such a file whose identity is
 * unchanged (same inode, size, mtime and ctime: any write or truncate
 * changes ctime) skips the re-hash; anything else is verified as usual.
 * In memory only: after a restart every read verifies again. */
struct trusted {
    char *archive, *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    struct trusted *next;
};
#define TRUST_BUCKETS 1024

#define seterr errfmt /* one-line errors: src/lib/errquote.h */

static char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
static char *xasprintf (const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start (ap, fmt);
    if (vasprintf (&s, fmt, ap) < 0)
        s = NULL;
    va_end (ap);
    return s;
}

static int mkdir_ok (const char *path)
{
    return mkdir (path, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

static int sql_exec (cstore_t *self, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec (self->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        seterr (err, errlen, "content store: %s", msg ? msg : sqlite3_errmsg (self->db));
        sqlite3_free (msg);
        return -1;
    }
    return 0;
}

static sqlite3_stmt *sql_prep (cstore_t *self, const char *sql, char *err, size_t errlen)
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
    " at INTEGER NOT NULL);";

cstore_t *cstore_new (const char *statedir, char *err, size_t errlen)
{
    cstore_t *self = calloc (1, sizeof *self);
    if (!self) {
        seterr (err, errlen, "out of memory");
        return NULL;
    }
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
    if (!self->dir || !self->blobdir || !self->tmpdir) {
        seterr (err, errlen, "out of memory");
        goto fail;
    }
    if (mkdir_ok (statedir) < 0 || mkdir_ok (self->dir) < 0 || mkdir_ok (self->blobdir) < 0
        || mkdir_ok (self->tmpdir) < 0) {
        seterr (err, errlen, "content store: %s: %s", self->dir, strerror (errno));
        goto fail;
    }
    char *dbpath = xasprintf ("%s/index.sqlite", self->dir);
    int rc = dbpath ? sqlite3_open_v2 (dbpath, &self->db,
                                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                           | SQLITE_OPEN_NOMUTEX, NULL)
                    : SQLITE_NOMEM;
    if (rc != SQLITE_OK) {
        seterr (err, errlen, "content store: %s: %s", dbpath ? dbpath : "index",
                self->db ? sqlite3_errmsg (self->db) : "out of memory");
        free (dbpath);
        goto fail;
    }
    free (dbpath);
    sqlite3_busy_timeout (self->db, 10000);
    if (sql_exec (self, schema, err, errlen) < 0)
        goto fail;
    return self;
fail:
    cstore_destroy (&self);
    return NULL;
}

static void cache_drop (cstore_t *self, const char *name)
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

static size_t trust_bucket (const char *path)
{
    return fnv1a_str (path) % TRUST_BUCKETS;
}

/* Forget the trusted files of archive name (NULL: all). */
static void trust_drop (cstore_t *self, const char *name)
{
    for (size_t b = 0; self->trust && b < TRUST_BUCKETS; b++)
        for (struct trusted **pp = &self->trust[b]; *pp;) {
            struct trusted *t = *pp;
            if (name && strcmp (t->archive, name)) {
                pp = &t->next;
                continue;
            }
            *pp = t->next;
            free (t->archive);
            free (t->path);
            free (t);
        }
}

static void trust_add (cstore_t *self, const char *archive, const char *path)
{
    struct stat sb;
    if (stat (path, &sb) < 0 || !S_ISREG (sb.st_mode))
        return;
    if (!self->trust && !(self->trust = calloc (TRUST_BUCKETS, sizeof *self->trust)))
        return;
    struct trusted *t = calloc (1, sizeof *t);
    if (!t || !(t->archive = strdup (archive)) || !(t->path = strdup (path))) {
        if (t)
            free (t->archive);
        free (t);
        return;
    }
    t->dev = sb.st_dev;
    t->ino = sb.st_ino;
    t->size = sb.st_size;
    t->mtime = sb.st_mtim;
    t->ctime = sb.st_ctim;
    size_t b = trust_bucket (path);
    t->next = self->trust[b];
    self->trust[b] = t;
}

static bool ts_eq (struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* May a read of archive's reference path through fd skip the hash? */
static bool trust_ok (cstore_t *self, const char *archive, const char *path, int fd)
{
    if (!self->trust || !archive)
        return false;
    for (struct trusted *t = self->trust[trust_bucket (path)]; t; t = t->next) {
        if (strcmp (t->path, path) || strcmp (t->archive, archive))
            continue;
        struct stat sb;
        return fstat (fd, &sb) == 0 && sb.st_dev == t->dev && sb.st_ino == t->ino
               && sb.st_size == t->size && ts_eq (sb.st_mtim, t->mtime)
               && ts_eq (sb.st_ctim, t->ctime);
    }
    return false;
}

static void ref_close (cstore_t *self)
{
    if (self->ref_fd >= 0)
        close (self->ref_fd);
    self->ref_fd = -1;
    free (self->ref_path);
    self->ref_path = NULL;
}

void cstore_destroy (cstore_t **p)
{
    if (!p || !*p)
        return;
    cstore_t *self = *p;
    while (self->cache)
        cache_drop (self, self->cache->name);
    trust_drop (self, NULL);
    free (self->trust);
    ref_close (self);
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

static char *blob_path (const cstore_t *self, const uint8_t hash[SHA256_LEN], uint32_t len)
{
    char hex[SHA256_HEXLEN + 1];
    sha256_hex (hash, hex);
    return xasprintf ("%s/%.2s/%s-%" PRIu32, self->blobdir, hex, hex, len);
}

/* --- walking the paths ----------------------------------------------- */

struct item {
    char *rel;             /* path in the archive */
    char *abs;             /* where it is on disk */
    manifest_type_t type;
    uint32_t mode;
    int64_t mtime_ns;
    uint64_t size;
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
    char *err;
    size_t errlen;
};

static int64_t ts_ns (const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

/* Add one item from its lstat; recurse into directories.  0, 1 (skipped), -1. */
static int walk_add (struct walk *w, const char *rel, const char *abs, bool recurse);

static int cmpstr (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

static bool seen_has (const struct walk *w, const char *rel)
{
    if (!w->seencap)
        return false;
    for (size_t s = fnv1a_str (rel) & (w->seencap - 1); w->seen[s]; s = (s + 1) & (w->seencap - 1))
        if (!strcmp (w->items[w->seen[s] - 1].rel, rel))
            return true;
    return false;
}

/* Record items[w->n] (already filled) in the set.  -1 on ENOMEM. */
static int seen_add (struct walk *w)
{
    if ((w->n + 1) * 2 > w->seencap) {
        size_t ncap = w->seencap ? w->seencap * 2 : 64;
        uint32_t *ns = calloc (ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < w->n; i++) {
            size_t s = fnv1a_str (w->items[i].rel) & (ncap - 1);
            while (ns[s])
                s = (s + 1) & (ncap - 1);
            ns[s] = i + 1;
        }
        free (w->seen);
        w->seen = ns;
        w->seencap = ncap;
    }
    size_t s = fnv1a_str (w->items[w->n].rel) & (w->seencap - 1);
    while (w->seen[s])
        s = (s + 1) & (w->seencap - 1);
    w->seen[s] = w->n + 1;
    return 0;
}

/* The item that first named inode (dev, ino), recording item if none did.
 * (size_t)-1 on ENOMEM. */
static size_t inode_find_add (struct walk *w, dev_t dev, ino_t ino, size_t item)
{
    if ((w->ninodes + 1) * 2 > w->inodecap) {
        size_t ncap = w->inodecap ? w->inodecap * 2 : 64;
        struct inode *ni = calloc (ncap, sizeof *ni);
        if (!ni)
            return (size_t)-1;
        for (size_t i = 0; i < w->inodecap; i++)
            if (w->inodes[i].item) {
                size_t s = (w->inodes[i].ino * 11400714819323198485ull + w->inodes[i].dev) & (ncap - 1);
                while (ni[s].item)
                    s = (s + 1) & (ncap - 1);
                ni[s] = w->inodes[i];
            }
        free (w->inodes);
        w->inodes = ni;
        w->inodecap = ncap;
    }
    size_t s = (ino * 11400714819323198485ull + dev) & (w->inodecap - 1);
    for (; w->inodes[s].item; s = (s + 1) & (w->inodecap - 1))
        if (w->inodes[s].dev == dev && w->inodes[s].ino == ino)
            return w->inodes[s].item - 1;
    w->inodes[s] = (struct inode){dev, ino, item + 1};
    w->ninodes++;
    return item;
}

static int walk_dir (struct walk *w, const char *rel, const char *abs)
{
    DIR *d = opendir (abs);
    if (!d) {
        seterr (w->err, w->errlen, "%s: %s", abs, strerror (errno));
        return -1;
    }
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    errno = 0;
    while ((e = readdir (d))) {
        if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, ".."))
            continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 32;
            char **nv = realloc (names, cap * sizeof *nv);
            if (!nv) {
                rc = -1;
                break;
            }
            names = nv;
        }
        if (!(names[nn] = strdup (e->d_name))) {
            rc = -1;
            break;
        }
        nn++;
        errno = 0;
    }
    int rderr = rc < 0 ? ENOMEM : errno;
    closedir (d);
    if (rderr) {
        seterr (w->err, w->errlen, "%s: %s", abs, strerror (rderr));
        rc = -1;
    }
    if (rc == 0)
        qsort (names, nn, sizeof *names, cmpstr);
    for (size_t i = 0; i < nn && rc >= 0; i++) {
        char *crel = rel[0] ? xasprintf ("%s/%s", rel, names[i]) : strdup (names[i]);
        char *cabs = xasprintf ("%s/%s", abs, names[i]);
        if (!crel || !cabs) {
            seterr (w->err, w->errlen, "out of memory");
            rc = -1;
        } else if (walk_add (w, crel, cabs, true) < 0)
            rc = -1;
        free (crel);
        free (cabs);
    }
    for (size_t i = 0; i < nn; i++)
        free (names[i]);
    free (names);
    return rc;
}

static int walk_add (struct walk *w, const char *rel, const char *abs, bool recurse)
{
    struct stat sb;
    if (lstat (abs, &sb) < 0) {
        seterr (w->err, w->errlen, "%s: %s", abs, strerror (errno));
        return -1;
    }
    bool dup = rel[0] && seen_has (w, rel);
    if (!dup && rel[0]) {
        if (!S_ISREG (sb.st_mode) && !S_ISDIR (sb.st_mode) && !S_ISLNK (sb.st_mode)) {
            /* fifos, sockets, devices are not archived: counted, named in
             * the create's warning (cstore_warning) */
            size_t l = strlen (w->special);
            if (++w->nspecial <= 4 && l + strlen (rel) + 3 < sizeof w->special)
                snprintf (w->special + l, sizeof w->special - l, "%s%s", l ? ", " : "", rel);
            return 1;
        }
        if (!manifest_path_valid (rel)) {
            seterr (w->err, w->errlen, "%s: cannot be stored in an archive (path too long or odd)", abs);
            return -1;
        }
        if (w->n == w->cap) {
            size_t ncap = w->cap ? w->cap * 2 : 64;
            struct item *ni = realloc (w->items, ncap * sizeof *ni);
            if (!ni) {
                seterr (w->err, w->errlen, "out of memory");
                return -1;
            }
            w->items = ni;
            w->cap = ncap;
        }
        struct item *it = &w->items[w->n];
        memset (it, 0, sizeof *it);
        it->rel = strdup (rel);
        it->abs = strdup (abs);
        it->mode = sb.st_mode & 07777;
        it->mtime_ns = ts_ns (&sb.st_mtim);
        if (it->mtime_ns < 0)
            it->mtime_ns = 0;
        if (S_ISDIR (sb.st_mode))
            it->type = MANIFEST_DIR;
        else if (S_ISLNK (sb.st_mode)) {
            it->type = MANIFEST_SYMLINK;
            size_t cap = sb.st_size > 0 ? (size_t)sb.st_size + 1 : PATH_MAX;
            it->target = malloc (cap);
            ssize_t n = it->target ? readlink (abs, it->target, cap - 1) : -1;
            if (n <= 0) {
                seterr (w->err, w->errlen, "%s: readlink: %s", abs, n == 0 ? "empty" : strerror (errno));
                free (it->rel);
                free (it->abs);
                free (it->target);
                return -1;
            }
            it->target[n] = '\0';
        } else {
            it->type = MANIFEST_FILE;
            it->size = sb.st_size;
            /* a further name of a file already in: a hard link to it */
            if (sb.st_nlink > 1) {
                size_t first = inode_find_add (w, sb.st_dev, sb.st_ino, w->n);
                if (first == (size_t)-1) {
                    seterr (w->err, w->errlen, "out of memory");
                    free (it->rel);
                    free (it->abs);
                    return -1;
                }
                if (first != w->n) {
                    it->type = MANIFEST_HARDLINK;
                    it->size = 0;
                    it->target = strdup (w->items[first].rel);
                }
            }
        }
        if (!it->rel || !it->abs || seen_add (w) < 0) {
            free (it->rel);
            free (it->abs);
            free (it->target);
            seterr (w->err, w->errlen, "out of memory");
            return -1;
        }
        w->n++;
    }
    else if (dup && !S_ISDIR (sb.st_mode))
        return 0;
    if (S_ISDIR (sb.st_mode) && recurse)
        return walk_dir (w, rel, abs);
    return 0;
}

/* Normalize a user path into rel (no "./", "//", trailing '/'); leading '/'
 * dropped.  "" means the base itself.  -1 on "..". */
static int normalize (const char *in, char **relp)
{
    size_t n = strlen (in);
    char *out = malloc (n + 1);
    if (!out)
        return -1;
    size_t o = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t len = e - p;
        if (len == 0)
            break;
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            free (out);
            return -1;
        }
        if (!(len == 1 && p[0] == '.')) {
            if (o)
                out[o++] = '/';
            memcpy (out + o, p, len);
            o += len;
        }
        p = e;
    }
    out[o] = '\0';
    *relp = out;
    return 0;
}

/* Add a user-given path: its parents (as directories), then itself. */
static int walk_top (struct walk *w, const char *base, const char *path)
{
    char *rel = NULL;
    if (normalize (path, &rel) < 0) {
        seterr (w->err, w->errlen, "%s: \"..\" not allowed in archive paths", path);
        return -1;
    }
    const char *root = path[0] == '/' ? "" : base;
    int rc = 0;
    /* implied parents */
    for (char *s = strchr (rel, '/'); s && rc >= 0; s = strchr (s + 1, '/')) {
        *s = '\0';
        char *abs = xasprintf ("%s/%s", root, rel);
        struct stat sb;
        if (!abs)
            rc = -1;
        else if (lstat (abs, &sb) < 0) {
            seterr (w->err, w->errlen, "%s: %s", abs, strerror (errno));
            rc = -1;
        } else if (!S_ISDIR (sb.st_mode)) {
            seterr (w->err, w->errlen, "%s: parent is not a directory (symlinks are not followed)", abs);
            rc = -1;
        } else
            rc = walk_add (w, rel, abs, false);
        free (abs);
        *s = '/';
    }
    if (rc >= 0) {
        char *abs = rel[0] ? xasprintf ("%s/%s", root, rel) : xasprintf ("%s", path[0] == '/' ? "/" : base);
        rc = abs ? walk_add (w, rel, abs, true) : -1;
        free (abs);
    }
    free (rel);
    return rc < 0 ? -1 : 0;
}

/* --- hashing --------------------------------------------------------- */

struct job {
    uint32_t item;
    uint32_t len;
    uint64_t off;
    uint8_t hash[SHA256_LEN];
    bool stored;           /* this create wrote the blob */
};

struct pool {
    cstore_t *self;
    struct item *items;
    struct job *jobs;
    uint64_t njobs;
    uint32_t chunk_size;
    bool copy;
    atomic_uint_fast64_t next;
    atomic_bool stop;
    pthread_mutex_t lock;
    char err[512];
    int errnum;
    uint8_t zero_hash[SHA256_LEN];   /* hash of chunk_size zeros */
};

static void pool_fail (struct pool *p, int errnum, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
static void pool_fail (struct pool *p, int errnum, const char *fmt, ...)
{
    pthread_mutex_lock (&p->lock);
    if (!p->errnum) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (p->err, sizeof p->err, fmt, ap);
        va_end (ap);
        p->errnum = errnum ? errnum : EIO;
    }
    pthread_mutex_unlock (&p->lock);
    atomic_store (&p->stop, true);
}

static int write_all (int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write (fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= n;
    }
    return 0;
}

/* Write a blob unless it exists: tmp file, then rename.  1 if written,
 * 0 if it was there, or -errno. */
static int blob_write (cstore_t *self, const uint8_t hash[SHA256_LEN], const void *data,
                       uint32_t len, char *err, size_t errlen)
{
    char *path = blob_path (self, hash, len);
    if (!path)
        return -ENOMEM;
    struct stat sb;
    if (stat (path, &sb) == 0 && sb.st_size == len) {
        free (path);
        return 0;   /* there already (a corrupt one is deleted when read) */
    }
    char *slash = strrchr (path, '/');
    *slash = '\0';
    mkdir_ok (path);
    *slash = '/';
    char *tmp = xasprintf ("%s/tmp.%d.%u", self->tmpdir, (int)getpid (),
                           atomic_fetch_add (&self->tmpseq, 1));
    int fd = tmp ? open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
    int e = 0;
    if (fd < 0 || write_all (fd, data, len) < 0 || close (fd) < 0) {
        e = errno ? errno : ENOMEM;
        if (fd >= 0)
            close (fd);   /* close after a failed close is harmless (EBADF) */
        seterr (err, errlen, "content store: %s: %s", tmp ? tmp : "tmp", strerror (e));
    } else if (rename (tmp, path) < 0) {
        e = errno;
        seterr (err, errlen, "content store: %s: %s", path, strerror (e));
    }
    if (e && tmp)
        unlink (tmp);
    free (tmp);
    free (path);
    return e ? -e : 1;
}

static void *pool_worker (void *arg)
{
    struct pool *p = arg;
    uint8_t *buf = malloc (p->chunk_size);
    int fd = -1;
    uint32_t cur = UINT32_MAX;
    if (!buf) {
        pool_fail (p, ENOMEM, "out of memory");
        return NULL;
    }
    while (!atomic_load (&p->stop)) {
        uint64_t j = atomic_fetch_add (&p->next, 1);
        if (j >= p->njobs)
            break;
        struct job *job = &p->jobs[j];
        struct item *it = &p->items[job->item];
        if (job->item != cur) {
            if (fd >= 0)
                close (fd);
            cur = job->item;
            fd = open (it->abs, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                pool_fail (p, errno, "%s: %s", it->abs, strerror (errno));
                break;
            }
            posix_fadvise (fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        }
        /* a chunk wholly inside a hole is zeros: do not read it */
        bool hole = false;
        off_t d = lseek (fd, job->off, SEEK_DATA);
        if ((d < 0 && errno == ENXIO) || (d >= 0 && (uint64_t)d >= job->off + job->len))
            hole = true;
        if (hole) {
            memset (buf, 0, job->len);
            if (job->len == p->chunk_size)
                memcpy (job->hash, p->zero_hash, SHA256_LEN);
            else
                sha256_hash (buf, job->len, job->hash);
        } else {
            size_t got = 0;
            while (got < job->len) {
                ssize_t n = pread (fd, buf + got, job->len - got, job->off + got);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    if (n == 0)
                        pool_fail (p, EAGAIN, "%s: file changed while reading (shorter)", it->abs);
                    else
                        pool_fail (p, errno, "%s: %s", it->abs, strerror (errno));
                    goto out;
                }
                got += n;
            }
            sha256_hash (buf, job->len, job->hash);
        }
        struct stat sb;
        if (fstat (fd, &sb) < 0 || (uint64_t)sb.st_size != it->size
            || ts_ns (&sb.st_mtim) != it->mtime_ns) {
            pool_fail (p, EAGAIN, "%s: file changed while reading", it->abs);
            break;
        }
        if (p->copy) {
            char e[512];
            int rc = blob_write (p->self, job->hash, buf, job->len, e, sizeof e);
            if (rc < 0) {
                pool_fail (p, -rc, "%s", e);
                break;
            }
            job->stored = rc == 1;
        }
    }
out:
    if (fd >= 0)
        close (fd);
    free (buf);
    return NULL;
}

/* Hash (and maybe store) every job with the pool.  0 or -errno + err. */
static int pool_run (cstore_t *self, struct item *items, struct job *jobs, uint64_t njobs,
                     uint32_t chunk_size, bool copy, char *err, size_t errlen)
{
    struct pool p = {
        .self = self, .items = items, .jobs = jobs, .njobs = njobs,
        .chunk_size = chunk_size, .copy = copy,
    };
    atomic_init (&p.next, 0);
    atomic_init (&p.stop, false);
    pthread_mutex_init (&p.lock, NULL);
    uint8_t *zeros = calloc (1, chunk_size);
    if (!zeros) {
        seterr (err, errlen, "out of memory");
        return -ENOMEM;
    }
    sha256_hash (zeros, chunk_size, p.zero_hash);
    free (zeros);
    int n = self->nthreads;
    if ((uint64_t)n > njobs)
        n = njobs ? (int)njobs : 1;
    pthread_t tid[16];
    int started = 0;
    for (int i = 1; i < n; i++) {
        if (pthread_create (&tid[started], NULL, pool_worker, &p) != 0)
            break;
        started++;
    }
    pool_worker (&p);   /* the calling thread works too */
    for (int i = 0; i < started; i++)
        pthread_join (tid[i], NULL);
    pthread_mutex_destroy (&p.lock);
    if (p.errnum) {
        seterr (err, errlen, "%s", p.err);
        return -p.errnum;
    }
    return 0;
}

/* --- archives -------------------------------------------------------- */

static manifest_t *load_manifest (cstore_t *self, const char *name, char *err, size_t errlen)
{
    sqlite3_stmt *st = sql_prep (self, "SELECT manifest FROM archives WHERE name=?", err, errlen);
    if (!st)
        return NULL;
    sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
    manifest_t *m = NULL;
    int rc = sqlite3_step (st);
    if (rc == SQLITE_ROW) {
        const char *txt = (const char *)sqlite3_column_text (st, 0);
        char e[256];
        m = manifest_decode (txt, sqlite3_column_bytes (st, 0), e, sizeof e);
        if (!m)
            seterr (err, errlen, "archive %s: stored manifest invalid: %s", name, e);
    } else if (rc == SQLITE_DONE) {
        seterr (err, errlen, "archive %s: not found", name);
        errno = ENOENT;
    } else
        seterr (err, errlen, "content store: %s", sqlite3_errmsg (self->db));
    sqlite3_finalize (st);
    return m;
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
    manifest_t *m = load_manifest (self, name, err, errlen);
    if (!m)
        return NULL;
    struct mcache *c = calloc (1, sizeof *c);
    if (!c || !(c->name = strdup (name))) {
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

static bool archive_exists (cstore_t *self, const char *name)
{
    sqlite3_stmt *st = sql_prep (self, "SELECT 1 FROM archives WHERE name=?", NULL, 0);
    if (!st)
        return false;
    sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
    bool found = sqlite3_step (st) == SQLITE_ROW;
    sqlite3_finalize (st);
    return found;
}

/* Delete the blobs (rows and files) that no archive uses any more. */
static int gc_blobs (cstore_t *self, char *err, size_t errlen)
{
    sqlite3_stmt *st = sql_prep (self,
        "SELECT hash, len FROM blobs b WHERE NOT EXISTS"
        " (SELECT 1 FROM achunks a WHERE a.hash=b.hash AND a.len=b.len)", err, errlen);
    if (!st)
        return -EIO;
    int count = 0;
    while (sqlite3_step (st) == SQLITE_ROW) {
        uint8_t h[SHA256_LEN];
        if (sha256_parse_hex ((const char *)sqlite3_column_text (st, 0), h) < 0)
            continue;
        char *path = blob_path (self, h, sqlite3_column_int64 (st, 1));
        if (path && (unlink (path) == 0 || errno == ENOENT))
            count++;
        free (path);
    }
    sqlite3_finalize (st);
    if (sql_exec (self, "DELETE FROM blobs WHERE NOT EXISTS (SELECT 1 FROM achunks a"
                        " WHERE a.hash=blobs.hash AND a.len=blobs.len)", err, errlen) < 0)
        return -EIO;
    return count;
}

/* Delete one archive's rows (inside a transaction). */
static int delete_rows (cstore_t *self, const char *name, char *err, size_t errlen)
{
    const char *sqls[] = {
        "DELETE FROM achunks WHERE archive=?", "DELETE FROM refs WHERE archive=?",
        "DELETE FROM archives WHERE name=?", "DELETE FROM damaged WHERE archive=?",
    };
    for (int i = 0; i < 4; i++) {
        sqlite3_stmt *st = sql_prep (self, sqls[i], err, errlen);
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

/* Where a chunk can be read in place (reference mode). */
struct refloc {
    uint32_t chunk;
    const char *path;
    uint64_t off;
};

/* Record manifest m with its chunks as blobs (locs NULL) or at the nlocs
 * places locs[] (every place a chunk occurs, so a changed file can be
 * bypassed).  One transaction. */
static int record (cstore_t *self, const manifest_t *m, const char *mode,
                   const struct refloc *locs, size_t nlocs, int flags, char *err, size_t errlen)
{
    size_t len;
    char *text = manifest_encode (m, &len);
    uint8_t dg[SHA256_LEN];
    char dhex[SHA256_HEXLEN + 1];
    if (!text) {
        seterr (err, errlen, "out of memory");
        return -ENOMEM;
    }
    sha256_hash (text, len, dg);
    sha256_hex (dg, dhex);
    if (sql_exec (self, "BEGIN IMMEDIATE", err, errlen) < 0) {
        free (text);
        return -EIO;
    }
    int rc = -EIO;
    sqlite3_stmt *ins = NULL, *ach = NULL, *blob = NULL, *ref = NULL;
    if (archive_exists (self, m->name)) {
        if (!(flags & CSTORE_REPLACE)) {
            seterr (err, errlen, "archive %s: already exists", m->name);
            rc = -EEXIST;
            goto done;
        }
        if (delete_rows (self, m->name, err, errlen) < 0)
            goto done;
    }
    ins = sql_prep (self, "INSERT INTO archives(name, manifest, digest, mode, created, size,"
                          " nentries, nchunks, chunk_size) VALUES(?,?,?,?,?,?,?,?,?)", err, errlen);
    ach = sql_prep (self, "INSERT OR IGNORE INTO achunks(archive, hash, len) VALUES(?,?,?)", err, errlen);
    blob = sql_prep (self, "INSERT OR IGNORE INTO blobs(hash, len) VALUES(?,?)", err, errlen);
    ref = sql_prep (self, "INSERT INTO refs(archive, hash, len, path, offset) VALUES(?,?,?,?,?)",
                    err, errlen);
    if (!ins || !ach || !blob || !ref)
        goto done;
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
        sqlite3_stmt *dm = sql_prep (self, "DELETE FROM damaged WHERE archive=?", err, errlen);
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
    for (size_t i = 0; locs && i < nlocs; i++) {
        char hex[SHA256_HEXLEN + 1];
        sha256_hex (m->chunks[locs[i].chunk].hash, hex);
        sqlite3_reset (ref);
        sqlite3_bind_text (ref, 1, m->name, -1, SQLITE_STATIC);
        sqlite3_bind_text (ref, 2, hex, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64 (ref, 3, m->chunks[locs[i].chunk].len);
        sqlite3_bind_text (ref, 4, locs[i].path, -1, SQLITE_STATIC);
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
    if (rc == 0 && sql_exec (self, "COMMIT", err, errlen) < 0)
        rc = -EIO;
    if (rc < 0)
        sql_exec (self, "ROLLBACK", NULL, 0);
    free (text);
    cache_drop (self, m->name);
    trust_drop (self, m->name);
    ref_close (self);
    return rc;
}

static void items_free (struct item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free (items[i].rel);
        free (items[i].abs);
        free (items[i].target);
    }
    free (items);
}

/* A failed create removes the blobs it wrote that no archive records. */
static void unstore (cstore_t *self, const struct job *jobs, uint64_t njobs)
{
    sqlite3_stmt *st = sql_prep (self, "SELECT 1 FROM blobs WHERE hash=? AND len=?", NULL, 0);
    for (uint64_t j = 0; st && j < njobs; j++) {
        if (!jobs[j].stored)
            continue;
        char hex[SHA256_HEXLEN + 1];
        sha256_hex (jobs[j].hash, hex);
        sqlite3_reset (st);
        sqlite3_bind_text (st, 1, hex, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64 (st, 2, jobs[j].len);
        if (sqlite3_step (st) != SQLITE_ROW) {
            char *p = blob_path (self, jobs[j].hash, jobs[j].len);
            if (p)
                unlink (p);
            free (p);
        }
    }
    sqlite3_finalize (st);
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
    if (!(flags & CSTORE_REPLACE) && archive_exists (self, name)) {
        seterr (err, errlen, "archive %s: already exists", name);
        goto out;
    }
    if (n == 0) {
        seterr (err, errlen, "archive create: no paths given");
        goto out;
    }
    if (!(base = realpath (dir ? dir : ".", NULL))) {
        seterr (err, errlen, "%s: %s", dir ? dir : ".", strerror (errno));
        goto out;
    }
    if (!strcmp (base, "/"))
        base[0] = '\0';   /* so base + "/" + rel stays clean */
    for (size_t i = 0; i < n; i++)
        if (!paths[i] || walk_top (&w, base[0] ? base : "", paths[i]) < 0)
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
    if (njobs && !(jobs = calloc (njobs, sizeof *jobs))) {
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
    if (njobs && pool_run (self, w.items, jobs, njobs, m->chunk_size, copy, err, errlen) < 0)
        goto out;
    /* the manifest, in walk order (parents first) */
    uint64_t maxn = 0;
    for (size_t i = 0; i < w.n; i++)
        if (w.items[i].type == MANIFEST_FILE) {
            uint64_t c = (w.items[i].size + m->chunk_size - 1) / m->chunk_size;
            maxn = c > maxn ? c : maxn;
        }
    if (!(idx = malloc ((maxn ? maxn : 1) * sizeof *idx))
        || (!copy && !(locs = calloc (njobs ? njobs : 1, sizeof *locs)))) {
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
                    locs[nlocs++] = (struct refloc){x, it->abs, j->off};
            }
            if (rc == 0)
                rc = manifest_add_file (m, it->rel, it->mode, it->mtime_ns, it->size, idx, c, e,
                                        sizeof e);
        }
        if (rc < 0) {
            seterr (err, errlen, "%s: %s", it->abs, e);
            goto out;
        }
    }
    if (record (self, m, copy ? "copy" : "reference", locs, nlocs, flags, err, errlen) < 0)
        goto out;
    gc_blobs (self, NULL, 0);   /* blobs only the replaced archive used */
    struct mcache *c = calloc (1, sizeof *c);
    if (!c || !(c->name = strdup (name))) {
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
        unstore (self, jobs, njobs_total);
    manifest_destroy (&m);
    items_free (w.items, w.n);
    free (w.seen);
    free (w.inodes);
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
    struct refloc *locs = calloc (npos ? npos : 1, sizeof *locs);
    char **paths = calloc (m->nentries ? m->nentries : 1, sizeof *paths);
    size_t nlocs = 0;
    int rc = -ENOMEM;
    if (!locs || !paths) {
        seterr (err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < m->nentries; i++) {
        const manifest_entry_t *en = &m->entries[i];
        if (en->type != MANIFEST_FILE || !en->nchunks)
            continue;
        if (!(paths[i] = xasprintf ("%s/%s", base, en->path))) {
            seterr (err, errlen, "out of memory");
            goto out;
        }
        for (uint32_t k = 0; k < en->nchunks; k++)
            locs[nlocs++] = (struct refloc){en->chunks[k], paths[i], (uint64_t)k * m->chunk_size};
    }
    rc = record (self, m, "reference", locs, nlocs, flags, err, errlen);
    if (rc == 0 && (flags & CSTORE_VERIFIED))
        for (size_t i = 0; i < m->nentries; i++)
            if (paths[i])
                trust_add (self, m->name, paths[i]);
    if (rc == 0)
        gc_blobs (self, NULL, 0);
out:
    for (size_t i = 0; paths && i < m->nentries; i++)
        free (paths[i]);
    free (paths);
    free (locs);
    free (base);
    return rc;
}

json_t *cstore_archive_list (cstore_t *self, char *err, size_t errlen)
{
    sqlite3_stmt *st = sql_prep (self, "SELECT name, size, nentries, nchunks, chunk_size, mode,"
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

int cstore_archive_remove (cstore_t *self, const char *name, char *err, size_t errlen)
{
    if (!name || !manifest_name_valid (name)) {
        seterr (err, errlen, "archive %s: invalid name", name ? name : "(null)");
        return -EINVAL;
    }
    if (sql_exec (self, "BEGIN IMMEDIATE", err, errlen) < 0)
        return -EIO;
    if (!archive_exists (self, name)) {
        sql_exec (self, "ROLLBACK", NULL, 0);
        seterr (err, errlen, "archive %s: not found", name);
        return -ENOENT;
    }
    if (delete_rows (self, name, err, errlen) < 0 || sql_exec (self, "COMMIT", err, errlen) < 0) {
        sql_exec (self, "ROLLBACK", NULL, 0);
        return -EIO;
    }
    cache_drop (self, name);
    trust_drop (self, name);
    ref_close (self);
    int rc = gc_blobs (self, err, errlen);
    return rc < 0 ? rc : 0;
}

/* --- reading chunks -------------------------------------------------- */

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

/* Read len bytes at off of path and check them.  len, -EBADMSG, -errno. */
static ssize_t read_verify (cstore_t *self, const char *path, uint64_t off, bool cache,
                            const char *archive, const uint8_t hash[SHA256_LEN], uint32_t len,
                            void *buf, char *err, size_t errlen)
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
            ref_close (self);
            self->ref_path = strdup (path);
            self->ref_fd = fd;
        }
    }
    ssize_t n = pread_all (fd, buf, len, off);
    int e = errno;
    bool trusted = n == (ssize_t)len && trust_ok (self, archive, path, fd);
    if (!cache)
        close (fd);
    if (n < 0) {
        seterr (err, errlen, "%s: %s", path, strerror (e));
        return -e;
    }
    if (trusted)
        return len;
    uint8_t h[SHA256_LEN];
    if ((size_t)n == len)
        sha256_hash (buf, len, h);
    if ((size_t)n != len || memcmp (h, hash, SHA256_LEN) != 0) {
        seterr (err, errlen, "%s: content changed since the archive was created (offset %" PRIu64 ")",
                path, off);
        return -EBADMSG;
    }
    return len;
}

ssize_t cstore_chunk_read_hash (cstore_t *self, const uint8_t hash[SHA256_LEN], uint32_t len,
                                void *buf, size_t buflen, char *err, size_t errlen)
{
    if (buflen < len) {
        seterr (err, errlen, "chunk read: buffer of %zu bytes too small for %" PRIu32, buflen, len);
        return -EINVAL;
    }
    char *bp = blob_path (self, hash, len);
    if (!bp)
        return -ENOMEM;
    ssize_t rc = -ENOENT;
    if (access (bp, F_OK) == 0) {
        rc = read_verify (self, bp, 0, false, NULL, hash, len, buf, err, errlen);
        if (rc == -EBADMSG) {
            /* corrupt: drop it so the next create rewrites it; the caller
             * (cstore_chunk_read) marks the archive damaged */
            seterr (err, errlen, "blob %s does not match its SHA-256 (deleted)", bp);
            unlink (bp);
        }
    }
    free (bp);
    if (rc >= 0)
        return rc;
    char hex[SHA256_HEXLEN + 1];
    sha256_hex (hash, hex);
    sqlite3_stmt *st = sql_prep (self, "SELECT path, offset, archive FROM refs WHERE hash=? AND len=?",
                                 err, errlen);
    if (!st)
        return -EIO;
    sqlite3_bind_text (st, 1, hex, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, len);
    while (sqlite3_step (st) == SQLITE_ROW) {
        rc = read_verify (self, (const char *)sqlite3_column_text (st, 0),
                          sqlite3_column_int64 (st, 1), true,
                          (const char *)sqlite3_column_text (st, 2), hash, len, buf, err, errlen);
        if (rc >= 0)
            break;
    }
    sqlite3_finalize (st);
    if (rc == -ENOENT)
        seterr (err, errlen, "chunk %.16s...: not in the content store", hex);
    return rc;
}

static bool archive_is_copy (cstore_t *self, const char *name)
{
    sqlite3_stmt *st = sql_prep (self, "SELECT mode FROM archives WHERE name=?", NULL, 0);
    bool copy = false;
    if (!st)
        return false;
    sqlite3_bind_text (st, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step (st) == SQLITE_ROW)
        copy = !strcmp ((const char *)sqlite3_column_text (st, 0), "copy");
    sqlite3_finalize (st);
    return copy;
}

ssize_t cstore_chunk_read (cstore_t *self, const char *archive, uint32_t idx, void *buf,
                           size_t buflen, char *err, size_t errlen)
{
    const manifest_t *m = cstore_archive_get (self, archive, err, errlen);
    if (!m)
        return -ENOENT;
    if (idx >= m->nchunks) {
        seterr (err, errlen, "archive %s: no chunk %" PRIu32 " (has %zu)", archive, idx, m->nchunks);
        return -ENOENT;
    }
    char e[400];
    ssize_t rc = cstore_chunk_read_hash (self, m->chunks[idx].hash, m->chunks[idx].len, buf, buflen,
                                         e, sizeof e);
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
        && !archive_is_copy (self, archive)) {
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

int cstore_mark_damaged (cstore_t *self, const char *archive, const char *reason)
{
    sqlite3_stmt *st = sql_prep (self, "INSERT OR REPLACE INTO damaged(archive, reason, at)"
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
    sqlite3_stmt *st = sql_prep (self, "SELECT reason FROM damaged WHERE archive=?", NULL, 0);
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

/* --- purge ----------------------------------------------------------- */

int cstore_purge (cstore_t *self, char *err, size_t errlen)
{
    int count = gc_blobs (self, err, errlen);
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
    sqlite3_stmt *st = sql_prep (self, "SELECT 1 FROM blobs WHERE hash=? AND len=?", err, errlen);
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
