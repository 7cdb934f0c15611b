/* imagemirror.c - the node-local image store served read-only over the pull
 * side of the OCI distribution API with libmicrohttpd: /v2/, manifests by
 * tag and digest, blobs; every request it cannot serve is a 404 that is
 * logged and counted, never a silent fallback (doc/images.md, "Mirror"). */
#define _GNU_SOURCE
#include "imagemirror.h"
#include "errquote.h"
#include "ocimanifest.h"
#include "ocipath.h"
#include "ociref.h"
#include "xalloc.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct imagemirror {
    imagestore_t *st;
    overlay_t *ov;
    struct MHD_Daemon *d;
    char url[128];
    pthread_mutex_t lock;
    long long requests, manifests, blobs, bytes, fallthrough;
    char last[512];
};

const char *imagemirror_domain (const char *ns)
{
    if (!ns || !*ns)
        return NULL;
    if (!strcmp (ns, "registry-1.docker.io") || !strcmp (ns, "index.docker.io"))
        return "docker.io";
    return ns;
}

static enum MHD_Result send_buf (struct MHD_Connection *c, unsigned status, const char *body, size_t len,
                                 const char *ctype, const char *digest)
{
    struct MHD_Response *r = MHD_create_response_from_buffer (len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header (r, "Docker-Distribution-API-Version", "registry/2.0");
    if (ctype)
        MHD_add_response_header (r, "Content-Type", ctype);
    if (digest)
        MHD_add_response_header (r, "Docker-Content-Digest", digest);
    enum MHD_Result rc = MHD_queue_response (c, status, r);
    MHD_destroy_response (r);
    return rc;
}

/* a 404 containerd falls through on: logged and counted */
static enum MHD_Result not_here (imagemirror_t *m, struct MHD_Connection *c, const char *method, const char *url,
                                 const char *ns, const char *code, const char *why)
{
    char q[300], qn[120], line[512];
    snprintf (line, sizeof line, "%s %s%s%s%s", method, errquote (q, sizeof q, url, (size_t)-1), ns ? " (ns " : "",
              ns ? errquote (qn, sizeof qn, ns, (size_t)-1) : "", ns ? ")" : "");
    pthread_mutex_lock (&m->lock);
    m->fallthrough++;
    snprintf (m->last, sizeof m->last, "%s", line);
    pthread_mutex_unlock (&m->lock);
    overlay_log (m->ov, "image mirror: cannot serve %s: %s; the client falls through to the registry", line, why);
    char body[256];
    snprintf (body, sizeof body, "{\"errors\":[{\"code\":\"%s\",\"message\":\"not in this node's store\"}]}", code);
    return send_buf (c, MHD_HTTP_NOT_FOUND, body, strlen (body), "application/json", NULL);
}

/* the repository part of a full reference (after the domain, before :tag) */
static int ref_matches (const char *ref, const char *name, const char *tag)
{
    const char *slash = strchr (ref, '/');
    if (!slash)
        return 0;
    const char *path = slash + 1;
    size_t nl = strlen (name);
    return !strncmp (path, name, nl) && path[nl] == ':' && !strcmp (path + nl + 1, tag);
}

static enum MHD_Result serve_manifest (imagemirror_t *m, struct MHD_Connection *c, const char *method,
                                       const char *url, const char *ns, const char *name, const char *reference)
{
    char err[512];
    json_t *ents = imagestore_entries (m->st, err, sizeof err);
    if (!ents) {
        overlay_log (m->ov, "image mirror: %s", err);
        return send_buf (c, MHD_HTTP_INTERNAL_SERVER_ERROR, "{}", 2, "application/json", NULL);
    }
    const char *domain = imagemirror_domain (ns);
    json_t *hit = NULL;
    size_t nhit = 0, i;
    json_t *e;
    int by_digest = !strncmp (reference, "sha256:", 7);
    json_array_foreach (ents, i, e) {
        const char *r = json_string_value (json_object_get (e, "ref"));
        const char *dg = json_string_value (json_object_get (e, "digest"));
        if (by_digest) {
            if (!strcmp (dg, reference)) {
                hit = e;
                nhit = 1;
                break;
            }
            continue;
        }
        if (domain) {
            size_t dl = strlen (domain);
            if (!strncmp (r, domain, dl) && r[dl] == '/' && ref_matches (r, name, reference)) {
                hit = e;
                nhit = 1;
                break;
            }
        }
        else if (ref_matches (r, name, reference)) {
            hit = e;
            nhit++;
        }
    }
    if (!hit || nhit != 1) {
        json_decref (ents);
        return not_here (m, c, method, url, ns, "MANIFEST_UNKNOWN",
                         nhit > 1 ? "several registries' images have this name (no ns given)" : "not in this node's store");
    }
    char dg[80], mt[128];
    snprintf (dg, sizeof dg, "%s", json_string_value (json_object_get (hit, "digest")));
    snprintf (mt, sizeof mt, "%s", json_string_value (json_object_get (hit, "mediaType")));
    json_decref (ents);
    size_t len;
    char *body = imagestore_blob_read (m->st, dg, OCIM_MAX_MANIFEST, &len, err, sizeof err);
    if (!body)
        return not_here (m, c, method, url, ns, "MANIFEST_UNKNOWN", err);
    pthread_mutex_lock (&m->lock);
    m->manifests++;
    m->bytes += (long long)len;
    pthread_mutex_unlock (&m->lock);
    enum MHD_Result rc = send_buf (c, MHD_HTTP_OK, body, len, mt, dg);
    free (body);
    return rc;
}

/* tags/list: the tags of the stored references of repository name (of
 * registry ns when given, of any otherwise) */
static enum MHD_Result serve_tags (imagemirror_t *m, struct MHD_Connection *c, const char *method, const char *url,
                                   const char *ns, const char *name)
{
    char err[512];
    json_t *ents = imagestore_entries (m->st, err, sizeof err);
    if (!ents)
        return send_buf (c, MHD_HTTP_INTERNAL_SERVER_ERROR, "{}", 2, "application/json", NULL);
    const char *domain = imagemirror_domain (ns);
    json_t *tags = json_array ();
    size_t i, nl = strlen (name);
    json_t *e;
    json_array_foreach (ents, i, e) {
        const char *r = json_string_value (json_object_get (e, "ref")), *slash = strchr (r, '/');
        if (!slash || (domain && ((size_t)(slash - r) != strlen (domain) || strncmp (r, domain, strlen (domain)))))
            continue;
        if (!strncmp (slash + 1, name, nl) && slash[1 + nl] == ':')
            json_array_append_new (tags, json_string (slash + 2 + nl));
    }
    json_decref (ents);
    if (json_array_size (tags) == 0) {
        json_decref (tags);
        return not_here (m, c, method, url, ns, "NAME_UNKNOWN", "no image of this name in this node's store");
    }
    json_t *o = json_pack ("{s:s s:o}", "name", name, "tags", tags);
    char *body = json_dumps (o, JSON_COMPACT);
    json_decref (o);
    enum MHD_Result rc = send_buf (c, MHD_HTTP_OK, body, strlen (body), "application/json", NULL);
    free (body);
    return rc;
}

static enum MHD_Result serve_blob (imagemirror_t *m, struct MHD_Connection *c, const char *method, const char *url,
                                   const char *ns, const char *digest)
{
    if (!ociref_digest_valid (digest))
        return not_here (m, c, method, url, ns, "BLOB_UNKNOWN", "not a valid digest");
    char p[PATH_MAX];
    int fd = open (imagestore_blob_path (m->st, digest, p, sizeof p), O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat (fd, &sb) < 0 || !S_ISREG (sb.st_mode)) {
        if (fd >= 0)
            close (fd);
        return not_here (m, c, method, url, ns, "BLOB_UNKNOWN", "not in this node's store");
    }
    struct MHD_Response *r = MHD_create_response_from_fd64 ((uint64_t)sb.st_size, fd);
    if (!r) {
        close (fd);
        return MHD_NO;
    }
    MHD_add_response_header (r, "Docker-Distribution-API-Version", "registry/2.0");
    MHD_add_response_header (r, "Content-Type", "application/octet-stream");
    MHD_add_response_header (r, "Docker-Content-Digest", digest);
    pthread_mutex_lock (&m->lock);
    m->blobs++;
    if (strcmp (method, "HEAD"))
        m->bytes += (long long)sb.st_size;
    pthread_mutex_unlock (&m->lock);
    enum MHD_Result rc = MHD_queue_response (c, MHD_HTTP_OK, r);
    MHD_destroy_response (r);
    return rc;
}

static enum MHD_Result answer (void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    imagemirror_t *m = cls;
    if (*con_cls == NULL) {   /* first call: headers only */
        *con_cls = m;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock (&m->lock);
    m->requests++;
    pthread_mutex_unlock (&m->lock);
    if (strcmp (method, "GET") && strcmp (method, "HEAD"))
        return send_buf (c, MHD_HTTP_METHOD_NOT_ALLOWED, "{\"errors\":[{\"code\":\"UNSUPPORTED\"}]}", 34,
                         "application/json", NULL);
    const char *ns = MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, "ns");
    ocipath_t p;
    char why[128];
    switch (ocipath_parse (url, &p, why, sizeof why)) {
    case OCIPATH_ROOT: return send_buf (c, MHD_HTTP_OK, "{}", 2, "application/json", NULL);
    case OCIPATH_MANIFEST: return serve_manifest (m, c, method, url, ns, p.name, p.reference);
    case OCIPATH_BLOB: return serve_blob (m, c, method, url, ns, p.reference);
    case OCIPATH_TAGS: return serve_tags (m, c, method, url, ns, p.name);
    default: return not_here (m, c, method, url, ns, "NAME_UNKNOWN", why);
    }
}

static int resolve4 (const char *host, struct in_addr *out)
{
    if (inet_pton (AF_INET, host, out) == 1)
        return 0;
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
    if (getaddrinfo (host, NULL, &hints, &res) != 0 || !res)
        return -1;
    *out = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
    freeaddrinfo (res);
    return 0;
}

imagemirror_t *imagemirror_start (imagestore_t *st, overlay_t *ov, const char *listen, const char *default_addr,
                                  char *err, size_t errlen)
{
    char q[120];
    const char *colon = strrchr (listen, ':');
    const char *port = colon ? colon + 1 : listen;
    char *end;
    long p = strtol (port, &end, 10);
    if (*port == '\0' || *end || p < 0 || p > 65535) {
        errfmt (err, errlen, "image mirror: '%s' is not PORT or ADDRESS:PORT", errquote (q, sizeof q, listen, (size_t)-1));
        return NULL;
    }
    char host[256];
    if (colon && colon > listen)
        snprintf (host, sizeof host, "%.*s", (int)(colon - listen), listen);
    else
        snprintf (host, sizeof host, "%s", default_addr && *default_addr ? default_addr : "127.0.0.1");
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t)p) };
    if (resolve4 (host, &sa.sin_addr) < 0) {
        errfmt (err, errlen, "image mirror: cannot resolve '%s' to an IPv4 address", errquote (q, sizeof q, host, (size_t)-1));
        return NULL;
    }
    imagemirror_t *m = xcalloc (1, sizeof *m);
    m->st = st;
    m->ov = ov;
    pthread_mutex_init (&m->lock, NULL);
    m->d = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, answer, m,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)128, MHD_OPTION_END);
    if (!m->d) {
        errfmt (err, errlen, "image mirror: cannot listen on %s:%ld (in use?)", errquote (q, sizeof q, host, (size_t)-1), p);
        pthread_mutex_destroy (&m->lock);
        free (m);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info (m->d, MHD_DAEMON_INFO_BIND_PORT);
    char ip[INET_ADDRSTRLEN];
    inet_ntop (AF_INET, &sa.sin_addr, ip, sizeof ip);
    snprintf (m->url, sizeof m->url, "http://%s:%u", ip, di ? (unsigned)di->port : (unsigned)p);
    overlay_log (ov, "image mirror: serving the image store read-only at %s", m->url);
    return m;
}

const char *imagemirror_url (const imagemirror_t *m)
{
    return m->url;
}

json_t *imagemirror_stats (imagemirror_t *m)
{
    pthread_mutex_lock (&m->lock);
    json_t *o = json_pack ("{s:s s:I s:I s:I s:I s:I s:s}", "url", m->url, "requests", (json_int_t)m->requests,
                           "manifests", (json_int_t)m->manifests, "blobs", (json_int_t)m->blobs, "bytes",
                           (json_int_t)m->bytes, "fallthrough", (json_int_t)m->fallthrough, "last_fallthrough", m->last);
    pthread_mutex_unlock (&m->lock);
    return o;
}

void imagemirror_stop (imagemirror_t **p)
{
    if (!p || !*p)
        return;
    MHD_stop_daemon ((*p)->d);
    pthread_mutex_destroy (&(*p)->lock);
    free (*p);
    *p = NULL;
}
