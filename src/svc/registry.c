/* registry.c - a small OCI distribution client on libcurl: probe /v2/, do
 * the auth dance the WWW-Authenticate challenge asks for, fetch manifests
 * (by tag or digest, checked) and stream blobs into the image store with
 * their SHA-256 checked on the fly (doc/images.md). */
#define _GNU_SOURCE
#include "registry.h"
#include "xalloc.h"
#include "errquote.h"
#include "ociauth.h"
#include "ocimanifest.h"
#include "ociref.h"
#include "sha256.h"
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct reg {
    CURL *curl;
    ociref_t ref;
    char base[600];          /* scheme://host/v2/PATH */
    char host[OCIREF_MAX];
    int plain;
    const char *user, *password;
    char *auth;              /* "Authorization: ..." header or NULL */
    int auth_tried;
} reg_t;

/* one response */
struct resp {
    long status;
    char ctype[160];
    char dcd[80];            /* Docker-Content-Digest */
    char wwwauth[2048];
    /* body sink: memory (cap) or a store writer */
    char *buf;
    size_t len, cap;
    imagestore_writer_t *w;
    int too_big;
    char werr[256];
    int64_t bytes;
};

void registry_global_init (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
}

static size_t on_header (char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = sz * n;
    if (len >= 5 && !strncmp (p, "HTTP/", 5)) {   /* a new response (after a redirect or 100) */
        char *sp = memchr (p, ' ', len);
        r->status = sp ? strtol (sp + 1, NULL, 10) : 0;
        r->ctype[0] = r->dcd[0] = r->wwwauth[0] = '\0';
        return len;
    }
    const char *colon = memchr (p, ':', len);
    if (!colon)
        return len;
    size_t kl = colon - p;
    const char *v = colon + 1;
    while (v < p + len && (*v == ' ' || *v == '\t'))
        v++;
    size_t vl = p + len - v;
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    char *dst = NULL;
    size_t dl = 0;
    if (kl == 12 && !strncasecmp (p, "Content-Type", 12))
        dst = r->ctype, dl = sizeof r->ctype;
    else if (kl == 21 && !strncasecmp (p, "Docker-Content-Digest", 21))
        dst = r->dcd, dl = sizeof r->dcd;
    else if (kl == 16 && !strncasecmp (p, "WWW-Authenticate", 16))
        dst = r->wwwauth, dl = sizeof r->wwwauth;
    if (dst) {
        if (vl >= dl)
            vl = dl - 1;
        memcpy (dst, v, vl);
        dst[vl] = '\0';
    }
    return len;
}

static size_t on_body (char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = sz * n;
    r->bytes += len;
    if (r->w && r->status == 200) {
        if (imagestore_blob_write (r->w, p, len, r->werr, sizeof r->werr) < 0) {
            r->too_big = 1;
            return 0;
        }
        return len;
    }
    if (r->len + len > r->cap) {
        if (!r->w && r->status == 200) {   /* a manifest larger than allowed */
            r->too_big = 1;
            return 0;
        }
        len = r->cap > r->len ? r->cap - r->len : 0;   /* error bodies: keep a prefix */
        if (!len)
            return sz * n;
    }
    memcpy (r->buf + r->len, p, len);
    r->len += len;
    return sz * n;
}

static int base64 (const char *in, char *out, size_t outlen)
{
    size_t n = strlen (in);
    if (4 * ((n + 2) / 3) + 1 > outlen)
        return -1;
    EVP_EncodeBlock ((unsigned char *)out, (const unsigned char *)in, (int)n);
    return 0;
}

/* GET url; body into r (memory of cap bytes, or r->w).  Returns the curl code. */
static CURLcode do_get (reg_t *g, const char *url, const char *accept, int follow, struct resp *r, const char *userpwd)
{
    CURL *c = g->curl;
    curl_easy_reset (c);
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, g->plain ? "http,https" : "https");
    curl_easy_setopt (c, CURLOPT_REDIR_PROTOCOLS_STR, g->plain ? "http,https" : "https");
    curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, (long)follow);
    curl_easy_setopt (c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt (c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt (c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (c, CURLOPT_USERAGENT, "canopy/1");
    curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt (c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt (c, CURLOPT_WRITEDATA, r);
    if (userpwd) {
        curl_easy_setopt (c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt (c, CURLOPT_USERPWD, userpwd);
    }
    struct curl_slist *h = NULL;
    char acc[512];
    if (accept) {
        snprintf (acc, sizeof acc, "Accept: %s", accept);
        h = curl_slist_append (h, acc);
    }
    if (g->auth && !userpwd)
        h = curl_slist_append (h, g->auth);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform (c);
    curl_slist_free_all (h);
    return rc;
}

/* React to a 401: set g->auth from the challenge.  0 to retry, -1 (err). */
static int authenticate (reg_t *g, const struct resp *r, int *errnum, char *err, size_t errlen)
{
    char q[200];
    *errnum = EACCES;
    if (g->auth_tried)
        return errfail (err, errlen, "authentication failed for %s (HTTP 401%s)", g->host,
                        g->user ? ": wrong user or password?" : "");
    g->auth_tried = 1;
    ociauth_challenge_t ch;
    char e2[256];
    if (ociauth_parse_challenge (r->wwwauth, &ch, e2, sizeof e2) < 0)
        return errfail (err, errlen, "%s: HTTP 401 with an unusable challenge: %s", g->host, e2);
    char userpwd[600] = "";
    if (g->user) {
        if (snprintf (userpwd, sizeof userpwd, "%s:%s", g->user, g->password ? g->password : "") >= (int)sizeof userpwd)
            return errfail (err, errlen, "credentials too long");
    }
    if (ch.scheme == OCIAUTH_BASIC) {
        if (!g->user)
            return errfail (err, errlen, "%s requires authentication (give --user USER:PASS or --authfile FILE)", g->host);
        char b[1024];
        if (base64 (userpwd, b, sizeof b) < 0)
            return errfail (err, errlen, "credentials too long");
        free (g->auth);
        if (asprintf (&g->auth, "Authorization: Basic %s", b) < 0)
            g->auth = NULL;
        return 0;
    }
    /* Bearer: a token from the realm */
    char svc[800] = "", scope[1200] = "", want[700];
    snprintf (want, sizeof want, "repository:%s:pull", g->ref.path);
    if (ch.service[0] && !ociauth_urlencode (ch.service, svc, sizeof svc))
        return errfail (err, errlen, "token service too long");
    if (!ociauth_urlencode (ch.scope[0] ? ch.scope : want, scope, sizeof scope))
        return errfail (err, errlen, "token scope too long");
    if (strncmp (ch.realm, "https://", 8) && !(g->plain && !strncmp (ch.realm, "http://", 7)))
        return errfail (err, errlen, "%s: token realm '%s' is not https (use --plain-http for a test registry)", g->host,
                        errquote (q, sizeof q, ch.realm, (size_t)-1));
    char *url = NULL;
    if (asprintf (&url, "%s%sservice=%s&scope=%s", ch.realm, strchr (ch.realm, '?') ? "&" : "?", svc, scope) < 0)
        return errfail (err, errlen, "out of memory");
    struct resp tr = { .cap = 65536 };
    tr.buf = xmalloc (tr.cap);
    free (g->auth);
    g->auth = NULL;
    CURLcode cc = do_get (g, url, NULL, 1, &tr, g->user ? userpwd : NULL);
    free (url);
    int rc = -1;
    if (cc != CURLE_OK) {
        *errnum = EIO;
        errfmt (err, errlen, "token server %s: %s", errquote (q, sizeof q, ch.realm, (size_t)-1), curl_easy_strerror (cc));
    }
    else if (tr.status == 401 || tr.status == 403)
        errfmt (err, errlen, "authentication failed for %s (token server answered HTTP %ld)", g->host, tr.status);
    else if (tr.status != 200) {
        *errnum = EIO;
        errfmt (err, errlen, "token server %s answered HTTP %ld", errquote (q, sizeof q, ch.realm, (size_t)-1), tr.status);
    }
    else {
        char *tok = ociauth_token (tr.buf, tr.len, e2, sizeof e2);
        if (!tok) {
            *errnum = EPROTO;
            errfmt (err, errlen, "token server for %s: %s", g->host, e2);
        }
        else {
            if (asprintf (&g->auth, "Authorization: Bearer %s", tok) < 0)
                g->auth = NULL;
            free (tok);
            rc = 0;
        }
    }
    free (tr.buf);
    return rc;
}

/* GET with the auth dance: at most one re-authentication. */
static int get_authed (reg_t *g, const char *url, const char *accept, int follow, struct resp *r, int *errnum, char *err,
                       size_t errlen)
{
    for (int attempt = 0;; attempt++) {
        r->len = 0;
        r->bytes = 0;
        r->status = 0;
        CURLcode cc = do_get (g, url, accept, follow, r, NULL);
        if (r->too_big) {
            *errnum = EILSEQ;
            return errfail (err, errlen, "%s", r->werr[0] ? r->werr : "manifest larger than 4 MiB");
        }
        if (cc != CURLE_OK) {
            *errnum = cc == CURLE_PARTIAL_FILE ? EILSEQ : EIO;
            return errfail (err, errlen, "%s: %s%s", g->host, curl_easy_strerror (cc),
                            cc == CURLE_PARTIAL_FILE ? " (truncated transfer)" : "");
        }
        if (r->status != 401 || attempt > 1)
            return 0;
        /* a 401's body went to r->buf, never to a blob writer: retry as is */
        if (authenticate (g, r, errnum, err, errlen) < 0)
            return -1;
    }
}

static int probe (reg_t *g, int *errnum, char *err, size_t errlen)
{
    char url[800];
    snprintf (url, sizeof url, "%s://%s/v2/", g->plain ? "http" : "https", g->host);
    struct resp r = { .cap = 4096 };
    r.buf = xmalloc (r.cap);
    int rc = get_authed (g, url, NULL, 1, &r, errnum, err, errlen);
    if (rc == 0 && r.status == 401) {
        *errnum = EACCES;
        rc = errfail (err, errlen, "authentication failed for %s (HTTP 401%s)", g->host,
                      g->user ? ": wrong user or password?" : "");
    }
    else if (rc == 0 && r.status != 200) {
        *errnum = EIO;
        rc = errfail (err, errlen, "%s does not answer as a registry (GET /v2/: HTTP %ld)", g->host, r.status);
    }
    free (r.buf);
    return rc;
}

static const char *status_msg (long st)
{
    return st == 404 ? "not found" : st == 403 ? "forbidden" : st == 401 ? "unauthorized" : "error";
}

/* the manifest named by obj (tag or digest), checked against want_digest (if
 * set) and Docker-Content-Digest; body malloc'd */
static char *get_manifest (reg_t *g, const char *obj, const char *want_digest, const char *what, char ctype[160],
                           char digest[80], size_t *len, int *errnum, char *err, size_t errlen)
{
    char url[900];
    snprintf (url, sizeof url, "%s/manifests/%s", g->base, obj);
    struct resp r = { .cap = OCIM_MAX_MANIFEST };
    r.buf = xmalloc (r.cap);
    if (get_authed (g, url, OCIM_ACCEPT, 1, &r, errnum, err, errlen) < 0) {
        free (r.buf);
        return NULL;
    }
    if (r.status != 200) {
        *errnum = r.status == 404 ? ENOENT : r.status == 401 || r.status == 403 ? EACCES : EIO;
        errfmt (err, errlen, "%s: manifest %s (HTTP %ld)", what, status_msg (r.status), r.status);
        free (r.buf);
        return NULL;
    }
    uint8_t h[SHA256_LEN];
    char hex[SHA256_HEXLEN + 1];
    sha256_hash (r.buf, r.len, h);
    sha256_hex (h, hex);
    snprintf (digest, 80, "sha256:%s", hex);
    char q[100];
    if (want_digest && strcmp (want_digest, digest)) {
        *errnum = EILSEQ;
        errfmt (err, errlen, "%s: wrong digest from the registry: manifest hashes to %s", what, digest);
        free (r.buf);
        return NULL;
    }
    if (r.dcd[0] && strcmp (r.dcd, digest)) {
        *errnum = EILSEQ;
        errfmt (err, errlen, "%s: wrong digest from the registry: Docker-Content-Digest %s, manifest hashes to %s", what,
                errquote (q, sizeof q, r.dcd, (size_t)-1), digest);
        free (r.buf);
        return NULL;
    }
    snprintf (ctype, 160, "%s", r.ctype);
    *len = r.len;
    return r.buf;
}

static int get_blob (reg_t *g, imagestore_t *st, const ocim_desc_t *d, int64_t *bytes, int *errnum, char *err,
                     size_t errlen)
{
    char url[900];
    snprintf (url, sizeof url, "%s/blobs/%s", g->base, d->digest);
    struct resp r = { .cap = 4096 };
    r.buf = xmalloc (r.cap);
    r.w = imagestore_blob_begin (st, d->digest, d->size, err, errlen);
    if (!r.w) {
        free (r.buf);
        *errnum = EIO;
        return -1;
    }
    int rc = get_authed (g, url, NULL, 1, &r, errnum, err, errlen);
    if (rc == 0 && r.status != 200) {
        *errnum = r.status == 404 ? ENOENT : r.status == 401 || r.status == 403 ? EACCES : EIO;
        rc = errfail (err, errlen, "blob %s: %s (HTTP %ld)", d->digest, status_msg (r.status), r.status);
    }
    char q[100];
    if (rc == 0 && r.dcd[0] && strcmp (r.dcd, d->digest)) {
        *errnum = EILSEQ;
        rc = errfail (err, errlen, "blob %s: wrong digest from the registry (Docker-Content-Digest %s)", d->digest,
                      errquote (q, sizeof q, r.dcd, (size_t)-1));
    }
    if (rc < 0) {
        imagestore_blob_abort (r.w);
        free (r.buf);
        return -1;
    }
    *bytes += imagestore_blob_written (r.w);
    free (r.buf);
    if (imagestore_blob_commit (r.w, d->size, NULL, err, errlen) < 0) {
        *errnum = EILSEQ;
        return -1;
    }
    return 0;
}

json_t *registry_pull (imagestore_t *st, const char *refstr, const registry_pull_opts_t *o, int *errnum, char *err,
                       size_t errlen)
{
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    *errnum = EINVAL;
    reg_t g = { .plain = o->plain_http, .user = o->user, .password = o->password };
    if (ociref_parse (refstr, &g.ref, err, errlen) < 0)
        return NULL;
    const char *os, *arch, *variant;
    char pos[32], parch[32], pvar[32];
    ocim_host_platform (&os, &arch, &variant);
    if (o->platform) {
        if (ocim_platform_parse (o->platform, pos, sizeof pos, parch, sizeof parch, pvar, sizeof pvar, err, errlen) < 0)
            return NULL;
        os = pos, arch = parch, variant = pvar;
    }
    char name[4 * OCIREF_MAX];
    ociref_format (&g.ref, name, sizeof name);
    snprintf (g.host, sizeof g.host, "%s", ociref_registry_host (&g.ref));
    snprintf (g.base, sizeof g.base, "%s://%s/v2/%s", g.plain ? "http" : "https", g.host, g.ref.path);
    if (!(g.curl = curl_easy_init ())) {
        *errnum = EIO;
        errfmt (err, errlen, "cannot start libcurl");
        return NULL;
    }
    json_t *res = NULL;
    char *body = NULL, *ibody = NULL;
    ocim_t *m = NULL;
    int busy = imagestore_busy_begin (st);
    char ctype[160], digest[80], idigest[80] = "";
    size_t len;
    if (probe (&g, errnum, err, errlen) < 0)
        goto out;
    if (!(body = get_manifest (&g, ociref_object (&g.ref), g.ref.digest[0] ? g.ref.digest : NULL, name, ctype, digest,
                               &len, errnum, err, errlen)))
        goto out;
    char e2[256];
    if (!(m = ocim_parse (body, len, ctype, e2, sizeof e2))) {
        *errnum = EPROTO;
        errfmt (err, errlen, "%s: %s", name, e2);
        goto out;
    }
    if (m->kind == OCIM_INDEX) {
        const ocim_desc_t *d = ocim_select (m, os, arch, variant, e2, sizeof e2);
        if (!d) {
            *errnum = ENOENT;
            errfmt (err, errlen, "%s: %s", name, e2);
            goto out;
        }
        char want[80];
        snprintf (want, sizeof want, "%s", d->digest);
        strcpy (idigest, digest);
        ibody = body;
        ocim_destroy (&m);
        if (!(body = get_manifest (&g, want, want, name, ctype, digest, &len, errnum, err, errlen)))
            goto out;
        if (!(m = ocim_parse (body, len, ctype, e2, sizeof e2))) {
            *errnum = EPROTO;
            errfmt (err, errlen, "%s: platform manifest %s: %s", name, want, e2);
            goto out;
        }
        if (m->kind != OCIM_MANIFEST) {
            *errnum = EPROTO;
            errfmt (err, errlen, "%s: index entry %s is itself an index", name, want);
            goto out;
        }
    }
    int fetched = 0, present = 0;
    int64_t bytes = 0, size = len;
    for (size_t i = 0; i <= m->nlayers; i++) {
        const ocim_desc_t *d = i == 0 ? &m->config : &m->layers[i - 1];
        size += d->size;
        if (imagestore_has_blob (st, d->digest, d->size)) {
            present++;
            continue;
        }
        if (get_blob (&g, st, d, &bytes, errnum, err, errlen) < 0)
            goto out;
        fetched++;
    }
    if (imagestore_blob_put (st, digest, body, len, NULL, err, errlen) < 0
        || imagestore_ref_set (st, name, m->media_type, digest, (int64_t)len, err, errlen) < 0) {
        *errnum = EIO;
        goto out;
    }
    clock_gettime (CLOCK_MONOTONIC, &t1);
    res = json_pack ("{s:s s:s s:s s:I s:I s:i s:i s:I s:f}", "ref", name, "digest", digest, "mediaType", m->media_type,
                     "size", (json_int_t)size, "layers", (json_int_t)m->nlayers, "fetched", fetched, "present", present,
                     "bytes", (json_int_t)bytes,
                     "seconds", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (idigest[0])
        json_object_set_new (res, "index", json_string (idigest));
out:
    imagestore_busy_end (busy);
    if (!res) {
        int removed;
        char e3[256];
        imagestore_gc (st, &removed, e3, sizeof e3);   /* drop blobs of this failed pull */
    }
    ocim_destroy (&m);
    free (body);
    free (ibody);
    free (g.auth);
    curl_easy_cleanup (g.curl);
    return res;
}
