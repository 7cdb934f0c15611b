/* imageimport.c - images into the store from an OCI layout directory, an
 * oci-archive or a docker-archive.  Archives are read once with libarchive,
 * every member streamed into the store with its digest computed; then the
 * layout's index.json (or docker's manifest.json, converted to OCI
 * manifests) names the images (doc/images.md "Import"). */
#define _GNU_SOURCE
#include "imageimport.h"
#include "xalloc.h"
#include "errquote.h"
#include "ocimanifest.h"
#include "ociref.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_MEMBERS 100000

/* what the source holds: archive members by name (digest in the store) */
struct member {
    char *name;
    char digest[80];
    int64_t size;
    char *link;    /* symlink or hard link target (normalised), or NULL */
};

struct source {
    imagestore_t *st;
    const char *dir;               /* layout directory, or NULL for an archive */
    struct member *m;
    size_t n, cap;
    char *index_json, *docker_manifest;
    size_t index_len, docker_len;
    int has_layout;
};

static void source_free (struct source *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free (s->m[i].name);
        free (s->m[i].link);
    }
    free (s->m);
    free (s->index_json);
    free (s->docker_manifest);
}

/* "./a//b" -> "a/b"; NULL if it climbs out ("..") */
static char *norm_path (const char *base_dir, const char *p)
{
    char buf[PATH_MAX * 2];
    if (base_dir && *base_dir && p[0] != '/')
        snprintf (buf, sizeof buf, "%s/%s", base_dir, p);
    else
        snprintf (buf, sizeof buf, "%s", p);
    char *parts[512];
    size_t np = 0;
    char *save, *t = strtok_r (buf, "/", &save);
    for (; t; t = strtok_r (NULL, "/", &save)) {
        if (!strcmp (t, ".") || !*t)
            continue;
        if (!strcmp (t, "..")) {
            if (np == 0)
                return NULL;
            np--;
            continue;
        }
        if (np == 512)
            return NULL;
        parts[np++] = t;
    }
    char out[PATH_MAX * 2] = "";
    size_t o = 0;
    for (size_t i = 0; i < np; i++)
        o += snprintf (out + o, sizeof out - o, "%s%s", i ? "/" : "", parts[i]);
    return xstrdup (out);
}

static struct member *find_member (struct source *s, const char *name, int depth)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp (s->m[i].name, name)) {
            if (s->m[i].link && depth < 8)
                return find_member (s, s->m[i].link, depth + 1);
            return s->m[i].link ? NULL : &s->m[i];
        }
    return NULL;
}

static char *slurp_archive (struct archive *a, int64_t size, size_t *len, char *err, size_t errlen)
{
    if (size < 0 || size > OCIM_MAX_MANIFEST) {
        errfmt (err, errlen, "metadata file too large");
        return NULL;
    }
    char *buf = xmalloc (size + 1);
    la_ssize_t k = archive_read_data (a, buf, size);
    if (k != size) {
        free (buf);
        errfmt (err, errlen, "cannot read the archive: %s", k < 0 ? archive_error_string (a) : "truncated");
        return NULL;
    }
    buf[size] = '\0';
    *len = size;
    return buf;
}

static int read_archive (struct source *s, const char *path, int *errnum, char *err, size_t errlen)
{
    char q[200];
    struct archive *a = archive_read_new ();
    archive_read_support_filter_all (a);
    archive_read_support_format_tar (a);
    int rc = -1;
    *errnum = EPROTO;
    if (archive_read_open_filename (a, path, 1 << 16) != ARCHIVE_OK) {
        errfmt (err, errlen, "%s: not a readable archive: %s", path, archive_error_string (a));
        goto out;
    }
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header (a, &e)) == ARCHIVE_OK) {
        const char *raw = archive_entry_pathname (e);
        if (!raw)
            continue;
        char *name = norm_path (NULL, raw);
        if (!name) {
            errfmt (err, errlen, "%s: member '%s' climbs out of the archive", path, errquote (q, sizeof q, raw, (size_t)-1));
            goto out;
        }
        mode_t type = archive_entry_filetype (e);
        const char *hl = archive_entry_hardlink (e);
        if (!strcmp (name, "index.json") || !strcmp (name, "manifest.json")) {
            char **dst = name[0] == 'i' ? &s->index_json : &s->docker_manifest;
            size_t *dl = name[0] == 'i' ? &s->index_len : &s->docker_len;
            free (*dst);
            if (!(*dst = slurp_archive (a, archive_entry_size (e), dl, err, errlen))) {
                free (name);
                goto out;
            }
            free (name);
            continue;
        }
        if (!strcmp (name, "oci-layout"))
            s->has_layout = 1;
        if (s->n == MAX_MEMBERS) {
            free (name);
            errfmt (err, errlen, "%s: more than %d members", path, MAX_MEMBERS);
            goto out;
        }
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->m = xrealloc (s->m, s->cap * sizeof *s->m);
        }
        struct member *m = &s->m[s->n];
        memset (m, 0, sizeof *m);
        m->name = name;
        if (hl) {
            if (!(m->link = norm_path (NULL, hl))) {
                errfmt (err, errlen, "%s: link '%s' climbs out", path, errquote (q, sizeof q, hl, (size_t)-1));
                free (name);
                goto out;
            }
            s->n++;
            continue;
        }
        if (type == AE_IFLNK) {
            const char *tgt = archive_entry_symlink (e);
            char *dir = xstrdup (name);
            char *sl = strrchr (dir, '/');
            if (sl)
                *sl = '\0';
            else
                dir[0] = '\0';
            m->link = tgt ? norm_path (dir, tgt) : NULL;
            free (dir);
            if (!m->link) {
                free (name);
                continue;   /* a link out of the archive is never followed */
            }
            s->n++;
            continue;
        }
        if (type != AE_IFREG) {
            free (name);
            continue;
        }
        /* stream the member into the store; under blobs/sha256/ its name is its digest */
        char want[80] = "";
        if (!strncmp (name, "blobs/sha256/", 13)) {
            snprintf (want, sizeof want, "sha256:%s", name + 13);
            if (!ociref_digest_valid (want))
                want[0] = '\0';
        }
        int64_t max = archive_entry_size_is_set (e) ? archive_entry_size (e) : OCIM_MAX_BLOB;
        imagestore_writer_t *w = imagestore_blob_begin (s->st, want[0] ? want : NULL, max, err, errlen);
        if (!w) {
            *errnum = EIO;
            free (name);
            goto out;
        }
        char buf[1 << 16];
        la_ssize_t k;
        while ((k = archive_read_data (a, buf, sizeof buf)) > 0)
            if (imagestore_blob_write (w, buf, k, err, errlen) < 0) {
                imagestore_blob_abort (w);
                free (name);
                goto out;
            }
        if (k < 0) {
            errfmt (err, errlen, "%s: cannot read member %s: %s", path, errquote (q, sizeof q, name, (size_t)-1),
                    archive_error_string (a));
            imagestore_blob_abort (w);
            free (name);
            goto out;
        }
        m->size = imagestore_blob_written (w);
        char e2[256];
        if (imagestore_blob_commit (w, archive_entry_size_is_set (e) ? max : -1, m->digest, e2, sizeof e2) < 0) {
            *errnum = EILSEQ;
            errfmt (err, errlen, "%s: member %s: %s", path, errquote (q, sizeof q, name, (size_t)-1), e2);
            free (name);
            goto out;
        }
        s->n++;
    }
    if (r != ARCHIVE_EOF) {
        errfmt (err, errlen, "%s: cannot read the archive: %s", path, archive_error_string (a));
        goto out;
    }
    rc = 0;
out:
    archive_read_free (a);
    return rc;
}

/* make sure blob d is in the store (from a layout dir: copied and checked) */
static int need_blob (struct source *s, const ocim_desc_t *d, int *errnum, char *err, size_t errlen)
{
    if (imagestore_has_blob (s->st, d->digest, d->size))
        return 0;
    *errnum = EPROTO;
    if (!s->dir)
        return errfail (err, errlen, "blob %s is missing from the archive (or has the wrong size)", d->digest);
    char p[PATH_MAX];
    snprintf (p, sizeof p, "%s/blobs/sha256/%s", s->dir, d->digest + 7);
    int fd = open (p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errfail (err, errlen, "blob %s is missing from the layout", d->digest);
    imagestore_writer_t *w = imagestore_blob_begin (s->st, d->digest, d->size, err, errlen);
    if (!w) {
        close (fd);
        *errnum = EIO;
        return -1;
    }
    char buf[1 << 16];
    ssize_t k;
    while ((k = read (fd, buf, sizeof buf)) > 0)
        if (imagestore_blob_write (w, buf, k, err, errlen) < 0) {
            *errnum = EILSEQ;
            close (fd);
            imagestore_blob_abort (w);
            return -1;
        }
    close (fd);
    if (k < 0) {
        imagestore_blob_abort (w);
        return errfail (err, errlen, "cannot read %s: %s", p, strerror (errno));
    }
    if (imagestore_blob_commit (w, d->size, NULL, err, errlen) < 0) {
        *errnum = EILSEQ;
        return -1;
    }
    return 0;
}

/* store the image of descriptor d (a manifest, or an index resolved by
 * platform) under name */
static int import_desc (struct source *s, const ocim_desc_t *top, const char *name, const char *os, const char *arch,
                        const char *variant, json_t *out, int *errnum, char *err, size_t errlen)
{
    ocim_desc_t d = *top;
    char e2[256];
    for (int depth = 0;; depth++) {
        if (d.size > OCIM_MAX_MANIFEST) {
            *errnum = EPROTO;
            return errfail (err, errlen, "%s: manifest %s larger than 4 MiB", name, d.digest);
        }
        if (need_blob (s, &d, errnum, err, errlen) < 0)
            return -1;
        size_t len;
        char *body = imagestore_blob_read (s->st, d.digest, OCIM_MAX_MANIFEST, &len, err, errlen);
        if (!body)
            return -1;
        ocim_t *m = ocim_parse (body, len, d.media_type, e2, sizeof e2);
        free (body);
        if (!m) {
            *errnum = EPROTO;
            return errfail (err, errlen, "%s: %s", name, e2);
        }
        if (m->kind == OCIM_INDEX) {
            const ocim_desc_t *c = depth < 3 ? ocim_select (m, os, arch, variant, e2, sizeof e2) : NULL;
            if (!c) {
                *errnum = ENOENT;
                errfail (err, errlen, "%s: %s", name, depth < 3 ? e2 : "index nesting too deep");
                ocim_destroy (&m);
                return -1;
            }
            d = *c;
            ocim_destroy (&m);
            continue;
        }
        int64_t size = d.size;
        for (size_t i = 0; i <= m->nlayers; i++) {
            const ocim_desc_t *b = i == 0 ? &m->config : &m->layers[i - 1];
            size += b->size;
            if (need_blob (s, b, errnum, err, errlen) < 0) {
                ocim_destroy (&m);
                return -1;
            }
        }
        json_array_append_new (out, json_pack ("{s:s s:s s:s s:I s:I}", "ref", name, "digest", d.digest, "mediaType",
                                               m->media_type, "size", (json_int_t)size, "layers",
                                               (json_int_t)m->nlayers));
        ocim_destroy (&m);
        return 0;
    }
}

/* does the user's --name carry a tag or digest? */
static int name_has_tag (const char *n)
{
    const char *sl = strrchr (n, '/');
    const char *last = sl ? sl + 1 : n;
    return strchr (last, ':') || strchr (n, '@');
}

/* the full name of an image whose layout/archive calls it `given` (may be NULL) */
static int image_name (const char *opt, const char *given, size_t nimages, char *out, size_t outlen, char *err,
                       size_t errlen)
{
    ociref_t r;
    char q[200];
    if (opt && name_has_tag (opt)) {
        if (nimages != 1)
            return errfail (err, errlen, "--name %s names one image but the input holds %zu",
                            errquote (q, sizeof q, opt, (size_t)-1), nimages);
        if (ociref_parse (opt, &r, err, errlen) < 0)
            return -1;
        ociref_format (&r, out, outlen);
        return 0;
    }
    if (opt) {
        char full[4 * OCIREF_MAX];
        const char *tag = given && ociref_tag_valid (given) ? given : NULL;
        if (given && !tag) {
            /* a full reference inside: keep its tag */
            ociref_t g;
            if (ociref_parse (given, &g, err, errlen) < 0)
                return -1;
            tag = g.tag[0] ? g.tag : "latest";
            snprintf (full, sizeof full, "%s:%s", opt, tag);
        }
        else
            snprintf (full, sizeof full, "%s:%s", opt, tag ? tag : "latest");
        if (ociref_parse (full, &r, err, errlen) < 0)
            return -1;
        ociref_format (&r, out, outlen);
        return 0;
    }
    if (!given)
        return errfail (err, errlen, "an image in the input has no name: give --name REPO:TAG");
    if (!strchr (given, '/') && !strchr (given, '@') && ociref_tag_valid (given))
        return errfail (err, errlen, "the input names an image only by the tag '%s': give --name REPO",
                        errquote (q, sizeof q, given, (size_t)-1));
    if (ociref_parse (given, &r, err, errlen) < 0)
        return -1;
    ociref_format (&r, out, outlen);
    return 0;
}

static int from_layout (struct source *s, const char *name_opt, const char *os, const char *arch, const char *variant,
                        json_t *out, int *errnum, char *err, size_t errlen)
{
    *errnum = EPROTO;
    json_error_t je;
    json_t *idx = json_loadb (s->index_json, s->index_len, 0, &je);
    json_t *ms = json_object_get (idx, "manifests");
    if (!json_is_array (ms) || json_array_size (ms) == 0) {
        json_decref (idx);
        return errfail (err, errlen, "index.json of the layout lists no images");
    }
    size_t i;
    json_t *e;
    int rc = 0;
    json_array_foreach (ms, i, e) {
        ocim_desc_t d = { 0 };
        const char *mt = json_string_value (json_object_get (e, "mediaType")),
                   *dg = json_string_value (json_object_get (e, "digest"));
        json_t *sz = json_object_get (e, "size");
        if (!mt || !dg || !ociref_digest_valid (dg) || !json_is_integer (sz) || json_integer_value (sz) < 0
            || !ocim_type_kind (mt) || strlen (mt) >= sizeof d.media_type) {
            rc = errfail (err, errlen, "index.json entry %zu: not a manifest or index descriptor", i);
            break;
        }
        snprintf (d.media_type, sizeof d.media_type, "%s", mt);
        snprintf (d.digest, sizeof d.digest, "%s", dg);
        d.size = json_integer_value (sz);
        const char *given = json_string_value (
            json_object_get (json_object_get (e, "annotations"), "org.opencontainers.image.ref.name"));
        char name[4 * OCIREF_MAX];
        if (image_name (name_opt, given, json_array_size (ms), name, sizeof name, err, errlen) < 0) {
            *errnum = EINVAL;
            rc = -1;
            break;
        }
        if ((rc = import_desc (s, &d, name, os, arch, variant, out, errnum, err, errlen)) < 0)
            break;
    }
    json_decref (idx);
    return rc;
}

static int from_docker (struct source *s, const char *name_opt, json_t *out, int *errnum, char *err, size_t errlen)
{
    char q[200];
    *errnum = EPROTO;
    json_error_t je;
    json_t *a = json_loadb (s->docker_manifest, s->docker_len, 0, &je);
    if (!json_is_array (a) || json_array_size (a) == 0) {
        json_decref (a);
        return errfail (err, errlen, "manifest.json of the docker-archive is not a list of images");
    }
    /* count the images (one per RepoTag, or one if none) */
    size_t nimages = 0, i;
    json_t *e;
    json_array_foreach (a, i, e) {
        size_t k = json_array_size (json_object_get (e, "RepoTags"));
        nimages += k ? k : 1;
    }
    int rc = 0;
    json_array_foreach (a, i, e) {
        const char *cfg = json_string_value (json_object_get (e, "Config"));
        json_t *ls = json_object_get (e, "Layers");
        if (!cfg || !json_is_array (ls) || json_array_size (ls) > OCIM_MAX_ENTRIES) {
            rc = errfail (err, errlen, "manifest.json entry %zu lacks Config or Layers", i);
            break;
        }
        char *cn = norm_path (NULL, cfg);
        struct member *cm = cn ? find_member (s, cn, 0) : NULL;
        free (cn);
        if (!cm) {
            rc = errfail (err, errlen, "docker-archive: config %s is missing", errquote (q, sizeof q, cfg, (size_t)-1));
            break;
        }
        ocim_desc_t config = { .media_type = OCIM_OCI_CONFIG, .size = cm->size };
        snprintf (config.digest, sizeof config.digest, "%s", cm->digest);
        size_t nl = json_array_size (ls);
        ocim_desc_t *layers = xcalloc (nl ? nl : 1, sizeof *layers);
        for (size_t k = 0; k < nl && rc == 0; k++) {
            const char *ln = json_string_value (json_array_get (ls, k));
            char *n = ln ? norm_path (NULL, ln) : NULL;
            struct member *lm = n ? find_member (s, n, 0) : NULL;
            free (n);
            if (!lm) {
                rc = errfail (err, errlen, "docker-archive: layer %s is missing",
                              errquote (q, sizeof q, ln ? ln : "(not a string)", (size_t)-1));
                break;
            }
            /* gzip magic: keep the layer compressed and say so */
            char p[PATH_MAX];
            unsigned char magic[2] = { 0, 0 };
            int fd = open (imagestore_blob_path (s->st, lm->digest, p, sizeof p), O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                if (read (fd, magic, 2) != 2)
                    magic[0] = 0;
                close (fd);
            }
            snprintf (layers[k].media_type, sizeof layers[k].media_type, "%s",
                      magic[0] == 0x1f && magic[1] == 0x8b ? OCIM_OCI_LAYER_GZIP : OCIM_OCI_LAYER_TAR);
            snprintf (layers[k].digest, sizeof layers[k].digest, "%s", lm->digest);
            layers[k].size = lm->size;
        }
        if (rc < 0) {
            free (layers);
            break;
        }
        size_t mlen;
        char *man = ocim_build_manifest (&config, layers, nl, &mlen);
        free (layers);
        ocim_desc_t d = { .media_type = OCIM_OCI_MANIFEST, .size = (int64_t)mlen };
        if (!man || imagestore_blob_put (s->st, NULL, man, mlen, d.digest, err, errlen) < 0) {
            free (man);
            *errnum = EIO;
            rc = -1;
            break;
        }
        free (man);
        json_t *tags = json_object_get (e, "RepoTags");
        size_t nt = json_array_size (tags);
        for (size_t t = 0; t < (nt ? nt : 1) && rc == 0; t++) {
            const char *given = nt ? json_string_value (json_array_get (tags, t)) : NULL;
            char name[4 * OCIREF_MAX];
            if (image_name (name_opt, given, nimages, name, sizeof name, err, errlen) < 0) {
                *errnum = EINVAL;
                rc = -1;
                break;
            }
            rc = import_desc (s, &d, name, "linux", "amd64", "", out, errnum, err, errlen);
        }
        if (rc < 0)
            break;
    }
    json_decref (a);
    return rc;
}

json_t *image_import (imagestore_t *st, const char *path, const char *name, const char *platform, int *errnum,
                      char *err, size_t errlen)
{
    const char *os, *arch, *variant;
    char pos[32], parch[32], pvar[32];
    ocim_host_platform (&os, &arch, &variant);
    *errnum = EINVAL;
    if (platform) {
        if (ocim_platform_parse (platform, pos, sizeof pos, parch, sizeof parch, pvar, sizeof pvar, err, errlen) < 0)
            return NULL;
        os = pos, arch = parch, variant = pvar;
    }
    if (name) {
        ociref_t r;
        if (ociref_parse (name, &r, err, errlen) < 0)
            return NULL;
    }
    struct stat sb;
    if (stat (path, &sb) < 0) {
        *errnum = ENOENT;
        errfmt (err, errlen, "%s: %s", path, strerror (errno));
        return NULL;
    }
    struct source s = { .st = st };
    json_t *out = json_array ();
    int busy = imagestore_busy_begin (st);
    int rc = -1;
    if (S_ISDIR (sb.st_mode)) {
        s.dir = path;
        char p[PATH_MAX];
        snprintf (p, sizeof p, "%s/index.json", path);
        int fd = open (p, O_RDONLY | O_CLOEXEC);
        struct stat ib;
        if (fd < 0 || fstat (fd, &ib) < 0 || ib.st_size > OCIM_MAX_MANIFEST) {
            *errnum = EPROTO;
            errfmt (err, errlen, "%s is not an OCI image layout (no readable index.json)", path);
        }
        else {
            s.index_json = xmalloc (ib.st_size + 1);
            s.index_len = read (fd, s.index_json, ib.st_size);
            if ((off_t)s.index_len != ib.st_size)
                errfmt (err, errlen, "cannot read %s", p);
            else
                rc = from_layout (&s, name, os, arch, variant, out, errnum, err, errlen);
        }
        if (fd >= 0)
            close (fd);
    }
    else if (S_ISREG (sb.st_mode)) {
        if (read_archive (&s, path, errnum, err, errlen) == 0) {
            *errnum = EPROTO;
            if (s.index_json)
                rc = from_layout (&s, name, os, arch, variant, out, errnum, err, errlen);
            else if (s.docker_manifest)
                rc = from_docker (&s, name, out, errnum, err, errlen);
            else
                errfmt (err, errlen, "%s holds neither an OCI layout (index.json) nor a docker-archive (manifest.json)",
                        path);
        }
    }
    else {
        *errnum = EINVAL;
        errfmt (err, errlen, "%s is neither a directory nor a file", path);
    }
    /* everything checked: now the references */
    size_t i;
    json_t *e;
    if (rc == 0)
        json_array_foreach (out, i, e) {
            char mt[128];
            snprintf (mt, sizeof mt, "%s", json_string_value (json_object_get (e, "mediaType")));
            const char *dg = json_string_value (json_object_get (e, "digest"));
            char p[PATH_MAX];
            struct stat bs;
            if (stat (imagestore_blob_path (st, dg, p, sizeof p), &bs) < 0
                || imagestore_ref_set (st, json_string_value (json_object_get (e, "ref")), mt, dg, bs.st_size, err,
                                       errlen) < 0) {
                *errnum = EIO;
                rc = -1;
                break;
            }
        }
    imagestore_busy_end (busy);
    int removed;
    char e3[256];
    imagestore_gc (st, &removed, e3, sizeof e3);   /* members no image uses */
    source_free (&s);
    if (rc < 0) {
        json_decref (out);
        return NULL;
    }
    return json_pack ("{s:o}", "images", out);
}
