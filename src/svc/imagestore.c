/* imagestore.c - the node-local image store, an OCI image layout on disk:
 * blobs written to temp files, digest-checked, fsync'd and renamed;
 * index.json replaced atomically under a flock; unreferenced blobs
 * collected (doc/images.md). */
#define _GNU_SOURCE
#include "imagestore.h"
#include "errquote.h"
#include "ocimanifest.h"
#include "ociref.h"
#include "sha256.h"
#include "xalloc.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define REF_ANNOTATION "org.opencontainers.image.ref.name"

struct imagestore {
    char *dir;
    char *blobdir;
};

struct imagestore_writer {
    imagestore_t *st;
    char tmp[PATH_MAX];
    char want[80];
    int fd;
    int64_t max, n;
    sha256_ctx_t *h;
};

const char *imagestore_dir (const imagestore_t *st)
{
    return st->dir;
}

static int mkdir_private (const char *d, char *err, size_t errlen)
{
    if (mkdir (d, 0700) < 0 && errno != EEXIST)
        return errfail (err, errlen, "cannot create %s: %s", d, strerror (errno));
    struct stat sb;
    if (lstat (d, &sb) < 0 || !S_ISDIR (sb.st_mode))
        return errfail (err, errlen, "%s is not a directory", d);
    if (sb.st_uid != geteuid ())
        return errfail (err, errlen, "%s is not owned by us", d);
    return 0;
}

static int fsync_dir (const char *d)
{
    int fd = open (d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

/* write data to dir/name atomically (temp + fsync + rename + fsync dir) */
static int write_atomic (const char *dir, const char *name, const char *data, size_t len, char *err, size_t errlen)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    snprintf (tmp, sizeof tmp, "%s/%s.tmp-XXXXXX", dir, name);
    snprintf (dst, sizeof dst, "%s/%s", dir, name);
    int fd = mkostemp (tmp, O_CLOEXEC);
    if (fd < 0)
        return errfail (err, errlen, "cannot create a temp file in %s: %s", dir, strerror (errno));
    size_t off = 0;
    while (off < len) {
        ssize_t k = write (fd, data + off, len - off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close (fd);
            unlink (tmp);
            return errfail (err, errlen, "cannot write %s: %s", dst, strerror (e));
        }
        off += k;
    }
    if (fchmod (fd, 0644) < 0 || fsync (fd) < 0 || close (fd) < 0) {
        int e = errno;
        unlink (tmp);
        return errfail (err, errlen, "cannot write %s: %s", dst, strerror (e));
    }
    if (rename (tmp, dst) < 0) {
        int e = errno;
        unlink (tmp);
        return errfail (err, errlen, "cannot rename into %s: %s", dst, strerror (e));
    }
    fsync_dir (dir);
    return 0;
}

static void remove_temps (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir (d)))
        if (strstr (e->d_name, ".tmp-"))
            unlinkat (dirfd (d), e->d_name, 0);
    closedir (d);
}

imagestore_t *imagestore_open (const char *dir, char *err, size_t errlen)
{
    char b[PATH_MAX], s[PATH_MAX];
    snprintf (b, sizeof b, "%s/blobs", dir);
    snprintf (s, sizeof s, "%s/blobs/sha256", dir);
    if (mkdir_private (dir, err, errlen) < 0 || mkdir_private (b, err, errlen) < 0 || mkdir_private (s, err, errlen) < 0)
        return NULL;
    imagestore_t *st = xcalloc (1, sizeof *st);
    st->dir = xstrdup (dir);
    st->blobdir = xstrdup (s);
    char p[PATH_MAX];
    snprintf (p, sizeof p, "%s/oci-layout", dir);
    if (access (p, F_OK) < 0) {
        const char *l = "{\"imageLayoutVersion\":\"1.0.0\"}";
        if (write_atomic (dir, "oci-layout", l, strlen (l), err, errlen) < 0)
            goto fail;
    }
    snprintf (p, sizeof p, "%s/index.json", dir);
    if (access (p, F_OK) < 0) {
        const char *l = "{\"schemaVersion\":2,\"mediaType\":\"" OCIM_OCI_INDEX "\",\"manifests\":[]}";
        if (write_atomic (dir, "index.json", l, strlen (l), err, errlen) < 0)
            goto fail;
    }
    remove_temps (dir);
    remove_temps (s);
    return st;
fail:
    imagestore_close (&st);
    return NULL;
}

void imagestore_close (imagestore_t **p)
{
    if (!p || !*p)
        return;
    free ((*p)->dir);
    free ((*p)->blobdir);
    free (*p);
    *p = NULL;
}

char *imagestore_blob_path (const imagestore_t *st, const char *digest, char *buf, size_t len)
{
    snprintf (buf, len, "%s/%s", st->blobdir, digest + 7);
    return buf;
}

int imagestore_has_blob (imagestore_t *st, const char *digest, int64_t size)
{
    if (!ociref_digest_valid (digest))
        return 0;
    char p[PATH_MAX];
    struct stat sb;
    if (stat (imagestore_blob_path (st, digest, p, sizeof p), &sb) < 0 || !S_ISREG (sb.st_mode))
        return 0;
    return size < 0 || sb.st_size == size;
}

imagestore_writer_t *imagestore_blob_begin (imagestore_t *st, const char *digest, int64_t max, char *err,
                                            size_t errlen)
{
    if (digest && !ociref_digest_valid (digest)) {
        errfail (err, errlen, "invalid digest");
        return NULL;
    }
    imagestore_writer_t *w = xcalloc (1, sizeof *w);
    w->st = st;
    w->max = max;
    if (digest)
        snprintf (w->want, sizeof w->want, "%s", digest);
    snprintf (w->tmp, sizeof w->tmp, "%s/.tmp-XXXXXX", st->blobdir);
    w->fd = mkostemp (w->tmp, O_CLOEXEC);
    if (w->fd < 0) {
        errfail (err, errlen, "cannot create a temp file in %s: %s", st->blobdir, strerror (errno));
        free (w);
        return NULL;
    }
    w->h = sha256_ctx_new ();
    return w;
}

int imagestore_blob_write (imagestore_writer_t *w, const void *data, size_t len, char *err, size_t errlen)
{
    if (w->max >= 0 && w->n + (int64_t)len > w->max)
        return errfail (err, errlen, "blob %s is larger than its %lld bytes", w->want[0] ? w->want : "(new)",
                        (long long)w->max);
    sha256_ctx_update (w->h, data, len);
    const char *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t k = write (w->fd, p + off, len - off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errfail (err, errlen, "cannot write blob: %s", strerror (errno));
        }
        off += k;
    }
    w->n += len;
    return 0;
}

int64_t imagestore_blob_written (const imagestore_writer_t *w)
{
    return w->n;
}

void imagestore_blob_abort (imagestore_writer_t *w)
{
    if (!w)
        return;
    close (w->fd);
    unlink (w->tmp);
    sha256_ctx_destroy (&w->h);
    free (w);
}

int imagestore_blob_commit (imagestore_writer_t *w, int64_t want_size, char digest_out[80], char *err, size_t errlen)
{
    uint8_t h[SHA256_LEN];
    char hex[SHA256_HEXLEN + 1], got[80];
    sha256_ctx_final (w->h, h);
    sha256_hex (h, hex);
    snprintf (got, sizeof got, "sha256:%s", hex);
    const char *name = w->want[0] ? w->want : got;
    if (want_size >= 0 && w->n != want_size) {
        errfmt (err, errlen, "blob %s truncated: got %lld of %lld bytes", name, (long long)w->n, (long long)want_size);
        imagestore_blob_abort (w);
        return -1;
    }
    if (w->want[0] && strcmp (w->want, got)) {
        errfmt (err, errlen, "blob %s: digest mismatch (the bytes hash to %s)", w->want, got);
        imagestore_blob_abort (w);
        return -1;
    }
    const struct timespec mt[2] = { { IMAGESTORE_BLOB_MTIME, 0 }, { IMAGESTORE_BLOB_MTIME, 0 } };
    if (fchmod (w->fd, 0644) < 0 || futimens (w->fd, mt) < 0 || fsync (w->fd) < 0) {
        errfmt (err, errlen, "cannot write blob %s: %s", name, strerror (errno));
        imagestore_blob_abort (w);
        return -1;
    }
    char dst[PATH_MAX];
    imagestore_blob_path (w->st, got, dst, sizeof dst);
    if (rename (w->tmp, dst) < 0) {
        errfmt (err, errlen, "cannot store blob %s: %s", name, strerror (errno));
        imagestore_blob_abort (w);
        return -1;
    }
    fsync_dir (w->st->blobdir);
    if (digest_out)
        strcpy (digest_out, got);
    close (w->fd);
    sha256_ctx_destroy (&w->h);
    free (w);
    return 0;
}

int imagestore_blob_put (imagestore_t *st, const char *digest, const void *data, size_t len, char digest_out[80],
                         char *err, size_t errlen)
{
    imagestore_writer_t *w = imagestore_blob_begin (st, digest, (int64_t)len, err, errlen);
    if (!w)
        return -1;
    if (imagestore_blob_write (w, data, len, err, errlen) < 0) {
        imagestore_blob_abort (w);
        return -1;
    }
    return imagestore_blob_commit (w, (int64_t)len, digest_out, err, errlen);
}

char *imagestore_blob_read (imagestore_t *st, const char *digest, size_t max, size_t *len, char *err, size_t errlen)
{
    char p[PATH_MAX];
    if (!ociref_digest_valid (digest)) {
        errfmt (err, errlen, "invalid digest");
        return NULL;
    }
    int fd = open (imagestore_blob_path (st, digest, p, sizeof p), O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat (fd, &sb) < 0) {
        errfmt (err, errlen, "blob %s is not in the store", digest);
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    if ((size_t)sb.st_size > max) {
        close (fd);
        errfmt (err, errlen, "blob %s too large (%lld bytes)", digest, (long long)sb.st_size);
        return NULL;
    }
    char *buf = xmalloc (sb.st_size + 1);
    size_t off = 0;
    while (off < (size_t)sb.st_size) {
        ssize_t k = read (fd, buf + off, sb.st_size - off);
        if (k <= 0) {
            if (k < 0 && errno == EINTR)
                continue;
            break;
        }
        off += k;
    }
    close (fd);
    if (off != (size_t)sb.st_size) {
        free (buf);
        errfmt (err, errlen, "cannot read blob %s", digest);
        return NULL;
    }
    buf[off] = '\0';
    *len = off;
    return buf;
}

/* ---- index.json ---- */

static int lock_index (imagestore_t *st, int op)
{
    char p[PATH_MAX];
    snprintf (p, sizeof p, "%s/.lock", st->dir);
    int fd = open (p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    while (flock (fd, op) < 0) {
        if (errno != EINTR) {
            close (fd);
            return -1;
        }
    }
    return fd;
}

static void unlock_fd (int fd)
{
    if (fd >= 0)
        close (fd);
}

static json_t *index_load (imagestore_t *st, char *err, size_t errlen)
{
    char p[PATH_MAX];
    snprintf (p, sizeof p, "%s/index.json", st->dir);
    json_error_t je;
    json_t *o = json_load_file (p, 0, &je);
    if (!o || !json_is_array (json_object_get (o, "manifests"))) {
        errfmt (err, errlen, "%s: not a valid OCI index (%s)", p, o ? "no manifests array" : je.text);
        json_decref (o);
        return NULL;
    }
    return o;
}

static int index_save (imagestore_t *st, json_t *o, char *err, size_t errlen)
{
    char *s = json_dumps (o, JSON_COMPACT);
    if (!s)
        return errfail (err, errlen, "out of memory");
    int rc = write_atomic (st->dir, "index.json", s, strlen (s), err, errlen);
    free (s);
    return rc;
}

/* The index as it is now, read under the shared lock (a snapshot; nothing is held after). */
static json_t *index_read (imagestore_t *st, char *err, size_t errlen)
{
    int lk = lock_index (st, LOCK_SH);
    json_t *o = index_load (st, err, errlen);
    unlock_fd (lk);
    return o;
}

static const char *entry_ref (json_t *e)
{
    return json_string_value (json_object_get (json_object_get (e, "annotations"), REF_ANNOTATION));
}

/* An index entry's ref (NULL when it has none), with its digest and media type (NULL when missing). */
static const char *entry_fields (json_t *e, const char **dg, const char **mt)
{
    *dg = json_string_value (json_object_get (e, "digest"));
    *mt = json_string_value (json_object_get (e, "mediaType"));
    return entry_ref (e);
}

/* Position of the entry tagged ref in the manifests array, -1 when there is none. */
static long index_find (json_t *ms, const char *ref)
{
    size_t i;
    json_t *e;
    json_array_foreach (ms, i, e) {
        const char *r = entry_ref (e);
        if (r && !strcmp (r, ref))
            return (long)i;
    }
    return -1;
}

/* Under the exclusive lock: drop the entry tagged ref and append add (taken over; NULL: only drop, and
 * -ENOENT with err filled when there is nothing to drop), then save the index. */
static int index_put (imagestore_t *st, const char *ref, json_t *add, char *err, size_t errlen)
{
    int lk = lock_index (st, LOCK_EX);
    if (lk < 0) {
        json_decref (add);
        return errfail (err, errlen, "cannot lock the image store: %s", strerror (errno));
    }
    json_t *o = index_load (st, err, errlen);
    int rc = -1;
    if (o) {
        json_t *ms = json_object_get (o, "manifests");
        long i = index_find (ms, ref);
        if (i >= 0)
            json_array_remove (ms, (size_t)i);
        if (add)
            json_array_append (ms, add);
        if (i < 0 && !add) {
            char q[300];
            errfmt (err, errlen, "no image %s in the store", errquote (q, sizeof q, ref, (size_t)-1));
            rc = -ENOENT;
        } else
            rc = index_save (st, o, err, errlen);
        json_decref (o);
    }
    json_decref (add);
    unlock_fd (lk);
    return rc;
}

int imagestore_ref_set (imagestore_t *st, const char *ref, const char *media_type, const char *digest, int64_t size,
                        char *err, size_t errlen)
{
    return index_put (st, ref,
                      json_pack ("{s:s s:s s:I s:{s:s}}", "mediaType", media_type, "digest", digest, "size",
                                 (json_int_t)size, "annotations", REF_ANNOTATION, ref),
                      err, errlen);
}

int imagestore_ref_get (imagestore_t *st, const char *ref, char media_type[128], char digest[80], int64_t *size,
                        char *err, size_t errlen)
{
    json_t *o = index_read (st, err, errlen);
    if (!o)
        return -1;
    json_t *ms = json_object_get (o, "manifests");
    long i = index_find (ms, ref);
    if (i >= 0) {
        json_t *e = json_array_get (ms, (size_t)i);
        snprintf (media_type, 128, "%s", json_string_value (json_object_get (e, "mediaType")) ?: "");
        snprintf (digest, 80, "%s", json_string_value (json_object_get (e, "digest")) ?: "");
        *size = json_integer_value (json_object_get (e, "size"));
    }
    json_decref (o);
    return i >= 0;
}

/* One row of imagestore_list: sizes add up the manifest's config and layers when it can be read. */
static json_t *list_row (imagestore_t *st, json_t *e, const char *r, const char *dg, const char *mt)
{
    json_int_t size = json_integer_value (json_object_get (e, "size"));
    json_int_t layers = -1;
    size_t len;
    char e2[256];
    char *body = imagestore_blob_read (st, dg, OCIM_MAX_MANIFEST, &len, e2, sizeof e2);
    ocim_t *m = body ? ocim_parse (body, len, mt, e2, sizeof e2) : NULL;
    if (m && m->kind == OCIM_MANIFEST) {
        size += m->config.size;
        layers = m->nlayers;
        for (size_t k = 0; k < m->nlayers; k++)
            size += m->layers[k].size;
    }
    ocim_destroy (&m);
    free (body);
    return json_pack ("{s:s s:s s:s s:I s:I}", "ref", r ? r : "", "digest", dg, "mediaType", mt, "size", size,
                      "layers", layers);
}

/* One row of imagestore_entries: tagged entries only. */
static json_t *entries_row (imagestore_t *st, json_t *e, const char *r, const char *dg, const char *mt)
{
    (void)st;
    if (!r)
        return NULL;
    return json_pack ("{s:s s:s s:s s:I}", "ref", r, "digest", dg, "mediaType", mt, "size",
                      json_integer_value (json_object_get (e, "size")));
}

/* An array of row (...) for each index entry that has a digest and a media type; a NULL row is left out. */
static json_t *index_rows (imagestore_t *st, json_t *(*row) (imagestore_t *, json_t *, const char *, const char *,
                                                              const char *),
                           char *err, size_t errlen)
{
    json_t *o = index_read (st, err, errlen);
    if (!o)
        return NULL;
    json_t *out = json_array ();
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get (o, "manifests"), i, e) {
        const char *dg, *mt, *r = entry_fields (e, &dg, &mt);
        json_t *x = dg && mt ? row (st, e, r, dg, mt) : NULL;
        if (x)
            json_array_append_new (out, x);
    }
    json_decref (o);
    return out;
}

json_t *imagestore_list (imagestore_t *st, char *err, size_t errlen)
{
    return index_rows (st, list_row, err, errlen);
}

int imagestore_ref_remove (imagestore_t *st, const char *ref, char *err, size_t errlen)
{
    return index_put (st, ref, NULL, err, errlen);
}

json_t *imagestore_entries (imagestore_t *st, char *err, size_t errlen)
{
    return index_rows (st, entries_row, err, errlen);
}

int imagestore_blob_verify (imagestore_t *st, const char *digest, int64_t size, char *err, size_t errlen)
{
    char p[PATH_MAX];
    if (!ociref_digest_valid (digest))
        return errfail (err, errlen, "invalid digest");
    int fd = open (imagestore_blob_path (st, digest, p, sizeof p), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errfail (err, errlen, "blob %s is not in the store: %s", digest, strerror (errno));
    sha256_ctx_t *h = sha256_ctx_new ();
    size_t cap = 1 << 20;
    char *buf = xmalloc (cap);
    int64_t n = 0;
    ssize_t k;
    while ((k = read (fd, buf, cap)) != 0) {
        if (k < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        sha256_ctx_update (h, buf, (size_t)k);
        n += k;
    }
    int e = errno;
    close (fd);
    free (buf);
    uint8_t d[SHA256_LEN];
    char hex[SHA256_HEXLEN + 1];
    sha256_ctx_final (h, d);
    sha256_ctx_destroy (&h);
    sha256_hex (d, hex);
    if (k < 0)
        return errfail (err, errlen, "cannot read blob %s: %s", digest, strerror (e));
    if (size >= 0 && n != size)
        return errfail (err, errlen, "blob %s in the store has %lld bytes, not %lld", digest, (long long)n,
                        (long long)size);
    if (strcmp (hex, digest + 7))
        return errfail (err, errlen, "blob %s in the store is damaged (its bytes hash to sha256:%s)", digest, hex);
    return 0;
}

json_t *imagestore_image_blobs (imagestore_t *st, const char *ref, char media_type[128], char digest[80],
                                int64_t *size, int *errnum, char *err, size_t errlen)
{
    *errnum = EIO;
    int f = imagestore_ref_get (st, ref, media_type, digest, size, err, errlen);
    if (f < 0)
        return NULL;
    if (f == 0) {
        char q[300];
        *errnum = ENOENT;
        errfmt (err, errlen, "no image %s in the store", errquote (q, sizeof q, ref, (size_t)-1));
        return NULL;
    }
    size_t len;
    char e2[512];
    char *body = imagestore_blob_read (st, digest, OCIM_MAX_MANIFEST, &len, e2, sizeof e2);
    ocim_t *m = body ? ocim_parse (body, len, media_type, e2, sizeof e2) : NULL;
    free (body);
    if (!m) {
        errfmt (err, errlen, "image %s: manifest %s: %s", ref, digest, e2);
        return NULL;
    }
    if (m->kind != OCIM_MANIFEST) {
        *errnum = EPROTO;
        errfmt (err, errlen, "image %s is an index, not a manifest", ref);
        ocim_destroy (&m);
        return NULL;
    }
    json_t *a = json_array ();
    json_array_append_new (a, json_pack ("{s:s s:I s:s}", "digest", digest, "size", (json_int_t)*size, "mediaType",
                                         media_type));
    json_array_append_new (a, json_pack ("{s:s s:I s:s}", "digest", m->config.digest, "size",
                                         (json_int_t)m->config.size, "mediaType", m->config.media_type));
    for (size_t i = 0; i < m->nlayers; i++) {
        /* a layer listed twice is one blob */
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = !strcmp (m->layers[j].digest, m->layers[i].digest);
        dup = dup || !strcmp (m->layers[i].digest, m->config.digest);
        if (!dup)
            json_array_append_new (a, json_pack ("{s:s s:I s:s}", "digest", m->layers[i].digest, "size",
                                                 (json_int_t)m->layers[i].size, "mediaType",
                                                 m->layers[i].media_type));
    }
    ocim_destroy (&m);
    return a;
}

/* ---- garbage collection ---- */

struct marks {
    char **v;
    size_t n, cap;
};

static void mark (struct marks *m, const char *d)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp (m->v[i], d))
            return;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->v = xrealloc (m->v, m->cap * sizeof *m->v);
    }
    m->v[m->n++] = xstrdup (d);
}

static int marked (const struct marks *m, const char *hex)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp (m->v[i] + 7, hex))
            return 1;
    return 0;
}

/* mark digest and what it reaches; -1 if a present manifest is unreadable */
static int mark_tree (imagestore_t *st, struct marks *m, const char *mt, const char *dg, int depth, char *err,
                      size_t errlen)
{
    mark (m, dg);
    if (!imagestore_has_blob (st, dg, -1) || !ocim_type_kind (mt))
        return 0;
    if (depth > 4)
        return errfail (err, errlen, "index nesting too deep at %s", dg);
    size_t len;
    char *body = imagestore_blob_read (st, dg, OCIM_MAX_MANIFEST, &len, err, errlen);
    ocim_t *o = body ? ocim_parse (body, len, mt, err, errlen) : NULL;
    free (body);
    if (!o)
        return -1;
    int rc = 0;
    if (o->kind == OCIM_MANIFEST) {
        mark (m, o->config.digest);
        for (size_t i = 0; i < o->nlayers; i++)
            mark (m, o->layers[i].digest);
    }
    else
        for (size_t i = 0; i < o->nmanifests && rc == 0; i++)
            rc = mark_tree (st, m, o->manifests[i].media_type, o->manifests[i].digest, depth + 1, err, errlen);
    ocim_destroy (&o);
    return rc;
}

int imagestore_busy_begin (imagestore_t *st)
{
    char p[PATH_MAX];
    snprintf (p, sizeof p, "%s/.pull.lock", st->dir);
    int fd = open (p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    while (flock (fd, LOCK_SH) < 0)
        if (errno != EINTR) {
            close (fd);
            return -1;
        }
    return fd;
}

void imagestore_busy_end (int token)
{
    if (token >= 0)
        close (token);
}

int imagestore_gc (imagestore_t *st, int *removed, char *err, size_t errlen)
{
    *removed = 0;
    char p[PATH_MAX];
    snprintf (p, sizeof p, "%s/.pull.lock", st->dir);
    int busy = open (p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (busy < 0)
        return errfail (err, errlen, "cannot open %s: %s", p, strerror (errno));
    if (flock (busy, LOCK_EX | LOCK_NB) < 0) {
        close (busy);
        return 1;
    }
    int lk = lock_index (st, LOCK_EX);
    json_t *o = index_load (st, err, errlen);
    int rc = o ? 0 : -1;
    struct marks m = { 0 };
    size_t i;
    json_t *e;
    if (o)
        json_array_foreach (json_object_get (o, "manifests"), i, e) {
            const char *dg, *mt;
            entry_fields (e, &dg, &mt);
            if (dg && ociref_digest_valid (dg) && mark_tree (st, &m, mt ? mt : "", dg, 0, err, errlen) < 0) {
                rc = -1;   /* never delete what an unreadable manifest may need */
                break;
            }
        }
    if (rc == 0) {
        DIR *d = opendir (st->blobdir);
        struct dirent *de;
        while (d && (de = readdir (d))) {
            char q[300];
            snprintf (q, sizeof q, "sha256:%s", de->d_name);
            if (ociref_digest_valid (q) && !marked (&m, de->d_name) && unlinkat (dirfd (d), de->d_name, 0) == 0)
                (*removed)++;
        }
        if (d)
            closedir (d);
        fsync_dir (st->blobdir);
    }
    for (size_t k = 0; k < m.n; k++)
        free (m.v[k]);
    free (m.v);
    json_decref (o);
    unlock_fd (lk);
    close (busy);
    return rc;
}
