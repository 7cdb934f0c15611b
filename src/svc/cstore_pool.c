/* cstore_pool.c - the hashing pool of an archive create: a few threads
 * (one per CPU, at most 16) take chunk jobs in order, each preading one
 * chunk into its own buffer, hashing it and (copy mode) writing it as a
 * blob, so memory is threads x chunk_size whatever the file sizes.  Holes
 * are not read. */
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
#include <pthread.h>
#include <stdarg.h>

struct pool {
    cstore_t *self;
    const char *base;
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
    char *path = cs_blob_path (self, hash, len);
    if (!path)
        return -ENOMEM;
    struct stat sb;
    if (stat (path, &sb) == 0 && sb.st_size == len) {
        free (path);
        return 0;   /* there already (a corrupt one is deleted when read) */
    }
    char *slash = strrchr (path, '/');
    *slash = '\0';
    cs_mkdir_ok (path);
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
    uint8_t *buf = xmalloc (p->chunk_size);
    char *abs = xmalloc (ITEM_ABS_MAX);
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
            item_abs (p->base, it, abs, ITEM_ABS_MAX);
            fd = open (abs, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                pool_fail (p, errno, "%s: %s", abs, strerror (errno));
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
                        pool_fail (p, EAGAIN, "%s: file changed while reading (shorter)", abs);
                    else
                        pool_fail (p, errno, "%s: %s", abs, strerror (errno));
                    goto out;
                }
                got += n;
            }
            sha256_hash (buf, job->len, job->hash);
        }
        struct stat sb;
        if (fstat (fd, &sb) < 0 || (uint64_t)sb.st_size != it->size
            || ts_ns (&sb.st_mtim) != it->mtime_ns) {
            pool_fail (p, EAGAIN, "%s: file changed while reading", abs);
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
    free (abs);
    return NULL;
}

/* Hash (and maybe store) every job with the pool.  0 or -errno + err. */
int cs_pool_run (cstore_t *self, const char *base, struct item *items, struct job *jobs, uint64_t njobs,
                     uint32_t chunk_size, bool copy, char *err, size_t errlen)
{
    struct pool p = {
        .self = self, .base = base, .items = items, .jobs = jobs, .njobs = njobs,
        .chunk_size = chunk_size, .copy = copy,
    };
    atomic_init (&p.next, 0);
    atomic_init (&p.stop, false);
    pthread_mutex_init (&p.lock, NULL);
    uint8_t *zeros = xcalloc (1, chunk_size);
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

