/* ocimanifest.c - parse and validate OCI / Docker v2 manifests and indexes,
 * and choose an index entry by platform (doc/images.md). */
#include "ocimanifest.h"
#include "xalloc.h"
#include "ociref.h"
#include "errquote.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *config_types[] = {
    OCIM_OCI_CONFIG, "application/vnd.docker.container.image.v1+json", NULL,
};
static const char *layer_types[] = {
    OCIM_OCI_LAYER_TAR,
    OCIM_OCI_LAYER_GZIP,
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    NULL,
};

static int in_list (const char *s, const char **l)
{
    for (; *l; l++)
        if (!strcmp (s, *l))
            return 1;
    return 0;
}

/* media type without parameters and surrounding blanks, into buf */
static void bare_type (const char *s, char *buf, size_t len)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strcspn (s, ";");
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= len)
        n = len - 1;
    memcpy (buf, s, n);
    buf[n] = '\0';
}

int ocim_type_kind (const char *media_type)
{
    char t[160];
    bare_type (media_type, t, sizeof t);
    if (!strcmp (t, OCIM_OCI_MANIFEST) || !strcmp (t, OCIM_DOCKER_MANIFEST))
        return OCIM_MANIFEST;
    if (!strcmp (t, OCIM_OCI_INDEX) || !strcmp (t, OCIM_DOCKER_LIST))
        return OCIM_INDEX;
    return 0;
}

void ocim_destroy (ocim_t **p)
{
    if (!p || !*p)
        return;
    free ((*p)->layers);
    free ((*p)->manifests);
    free (*p);
    *p = NULL;
}

static int copy_str (char *dst, size_t len, json_t *v, const char *what, char *err, size_t errlen)
{
    const char *s = json_string_value (v);
    if (!s)
        return errfail (err, errlen, "%s is not a string", what);
    if (strlen (s) >= len)
        return errfail (err, errlen, "%s too long", what);
    strcpy (dst, s);
    return 0;
}

static int parse_desc (json_t *o, ocim_desc_t *d, const char *what, int platform, char *err, size_t errlen)
{
    char q[80];
    memset (d, 0, sizeof *d);
    if (!json_is_object (o))
        return errfail (err, errlen, "%s is not an object", what);
    json_t *mt = json_object_get (o, "mediaType"), *dg = json_object_get (o, "digest"),
           *sz = json_object_get (o, "size");
    if (!mt || !dg || !sz)
        return errfail (err, errlen, "%s lacks mediaType, digest or size", what);
    if (copy_str (d->media_type, sizeof d->media_type, mt, "mediaType", err, errlen) < 0
        || copy_str (d->digest, sizeof d->digest, dg, "digest", err, errlen) < 0)
        return -1;
    if (!ociref_digest_valid (d->digest))
        return errfail (err, errlen, "%s: invalid digest '%s' (want sha256: and 64 lower-case hex digits)", what,
                        errquote (q, sizeof q, d->digest, (size_t)-1));
    if (!json_is_integer (sz) || json_integer_value (sz) < 0 || json_integer_value (sz) > OCIM_MAX_BLOB)
        return errfail (err, errlen, "%s: size must be an integer from 0 to 1 TiB", what);
    d->size = json_integer_value (sz);
    if (platform) {
        json_t *p = json_object_get (o, "platform");
        if (p) {
            if (!json_is_object (p))
                return errfail (err, errlen, "%s: platform is not an object", what);
            json_t *v;
            if ((v = json_object_get (p, "os")) && copy_str (d->os, sizeof d->os, v, "platform.os", err, errlen) < 0)
                return -1;
            if ((v = json_object_get (p, "architecture"))
                && copy_str (d->arch, sizeof d->arch, v, "platform.architecture", err, errlen) < 0)
                return -1;
            if ((v = json_object_get (p, "variant"))
                && copy_str (d->variant, sizeof d->variant, v, "platform.variant", err, errlen) < 0)
                return -1;
        }
    }
    return 0;
}

ocim_t *ocim_parse (const char *data, size_t len, const char *content_type, char *err, size_t errlen)
{
    char q[128];
    if (len > OCIM_MAX_MANIFEST) {
        errfail (err, errlen, "manifest too large (%zu bytes, at most 4 MiB)", len);
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb (data, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        errfail (err, errlen, "manifest is not JSON: %s", je.text);
        return NULL;
    }
    ocim_t *m = xcalloc (1, sizeof *m);
    if (!json_is_object (o)) {
        errfail (err, errlen, "manifest is not a JSON object");
        goto fail;
    }
    json_t *sv = json_object_get (o, "schemaVersion");
    if (!json_is_integer (sv) || json_integer_value (sv) != 2) {
        errfail (err, errlen, "unsupported manifest schemaVersion (want 2: schema 1 images are not supported)");
        goto fail;
    }
    char ct[160] = "", body[160] = "";
    if (content_type)
        bare_type (content_type, ct, sizeof ct);
    json_t *mt = json_object_get (o, "mediaType");
    if (mt) {
        if (!json_is_string (mt)) {
            errfail (err, errlen, "manifest mediaType is not a string");
            goto fail;
        }
        bare_type (json_string_value (mt), body, sizeof body);
    }
    /* the header decides unless it is absent or generic */
    const char *type = ct;
    if (!ct[0] || !strcmp (ct, "application/json") || !strcmp (ct, "text/plain")
        || !strcmp (ct, "application/octet-stream"))
        type = body;
    if (!type[0]) {
        /* an OCI document may omit mediaType: tell by its fields */
        if (json_object_get (o, "manifests"))
            type = OCIM_OCI_INDEX;
        else if (json_object_get (o, "config"))
            type = OCIM_OCI_MANIFEST;
    }
    m->kind = ocim_type_kind (type);
    if (!m->kind) {
        errfail (err, errlen, "unsupported manifest media type '%s'",
                 errquote (q, sizeof q, type[0] ? type : "(none)", (size_t)-1));
        goto fail;
    }
    if (body[0] && ocim_type_kind (body) != m->kind) {
        errfail (err, errlen, "manifest media type '%s' does not match its body's '%s'", errquote (q, 64, type, (size_t)-1),
                 errquote (q + 64, 64, body, (size_t)-1));
        goto fail;
    }
    snprintf (m->media_type, sizeof m->media_type, "%s", type);
    char what[64];
    if (m->kind == OCIM_MANIFEST) {
        if (parse_desc (json_object_get (o, "config"), &m->config, "config", 0, err, errlen) < 0)
            goto fail;
        if (!in_list (m->config.media_type, config_types)) {
            errfail (err, errlen, "unsupported config media type '%s'",
                     errquote (q, sizeof q, m->config.media_type, (size_t)-1));
            goto fail;
        }
        json_t *ls = json_object_get (o, "layers");
        if (!json_is_array (ls) || json_array_size (ls) > OCIM_MAX_ENTRIES) {
            errfail (err, errlen, "manifest layers must be an array of at most %d", OCIM_MAX_ENTRIES);
            goto fail;
        }
        m->nlayers = json_array_size (ls);
        m->layers = xcalloc (m->nlayers ? m->nlayers : 1, sizeof *m->layers);
        for (size_t i = 0; i < m->nlayers; i++) {
            snprintf (what, sizeof what, "layer %zu", i);
            if (parse_desc (json_array_get (ls, i), &m->layers[i], what, 0, err, errlen) < 0)
                goto fail;
            if (!in_list (m->layers[i].media_type, layer_types)) {
                errfail (err, errlen, "layer %zu: unsupported media type '%s'", i,
                         errquote (q, sizeof q, m->layers[i].media_type, (size_t)-1));
                goto fail;
            }
        }
    }
    else {
        json_t *ms = json_object_get (o, "manifests");
        if (!json_is_array (ms) || json_array_size (ms) > OCIM_MAX_ENTRIES) {
            errfail (err, errlen, "index manifests must be an array of at most %d", OCIM_MAX_ENTRIES);
            goto fail;
        }
        m->nmanifests = json_array_size (ms);
        m->manifests = xcalloc (m->nmanifests ? m->nmanifests : 1, sizeof *m->manifests);
        for (size_t i = 0; i < m->nmanifests; i++) {
            snprintf (what, sizeof what, "index entry %zu", i);
            if (parse_desc (json_array_get (ms, i), &m->manifests[i], what, 1, err, errlen) < 0)
                goto fail;
        }
    }
    json_decref (o);
    return m;
fail:
    json_decref (o);
    ocim_destroy (&m);
    return NULL;
}

int ocim_platform_parse (const char *s, char *os, size_t oslen, char *arch, size_t archlen, char *variant,
                         size_t varlen, char *err, size_t errlen)
{
    char q[64];
    const char *a = strchr (s, '/');
    const char *v = a ? strchr (a + 1, '/') : NULL;
    size_t n1 = a ? (size_t)(a - s) : 0, n2 = a ? (v ? (size_t)(v - a - 1) : strlen (a + 1)) : 0;
    size_t n3 = v ? strlen (v + 1) : 0;
    if (!a || n1 == 0 || n2 == 0 || (v && (n3 == 0 || strchr (v + 1, '/'))) || n1 >= oslen || n2 >= archlen
        || n3 >= varlen)
        return errfail (err, errlen, "invalid platform '%s' (want OS/ARCH or OS/ARCH/VARIANT)",
                        errquote (q, sizeof q, s, (size_t)-1));
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '/' || *p == '_' || *p == '-'
              || *p == '.'))
            return errfail (err, errlen, "invalid platform '%s' (lower-case letters, digits, '_', '-', '.')",
                            errquote (q, sizeof q, s, (size_t)-1));
    memcpy (os, s, n1);
    os[n1] = '\0';
    memcpy (arch, a + 1, n2);
    arch[n2] = '\0';
    if (v)
        memcpy (variant, v + 1, n3);
    variant[n3] = '\0';
    return 0;
}

void ocim_host_platform (const char **os, const char **arch, const char **variant)
{
    *os = "linux";
    *variant = "";
#if defined(__x86_64__)
    *arch = "amd64";
#elif defined(__aarch64__)
    *arch = "arm64";
#elif defined(__i386__)
    *arch = "386";
#elif defined(__arm__)
    *arch = "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    *arch = "ppc64le";
#elif defined(__s390x__)
    *arch = "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    *arch = "riscv64";
#else
    *arch = "unknown";
#endif
}

const ocim_desc_t *ocim_select (const ocim_t *idx, const char *os, const char *arch, const char *variant,
                                char *err, size_t errlen)
{
    if (idx->kind != OCIM_INDEX) {
        errfail (err, errlen, "not an index");
        return NULL;
    }
    for (size_t i = 0; i < idx->nmanifests; i++) {
        const ocim_desc_t *d = &idx->manifests[i];
        if (ocim_type_kind (d->media_type) != OCIM_MANIFEST)
            continue;
        if (strcmp (d->os, os) || strcmp (d->arch, arch))
            continue;
        if (variant && variant[0] && strcmp (d->variant, variant))
            continue;
        return d;
    }
    char offered[256] = "";
    size_t off = 0;
    for (size_t i = 0; i < idx->nmanifests && off < sizeof offered - 1; i++) {
        const ocim_desc_t *d = &idx->manifests[i];
        if (!d->os[0])
            continue;
        int k = snprintf (offered + off, sizeof offered - off, "%s%s/%s%s%s", off ? ", " : "", d->os, d->arch,
                          d->variant[0] ? "/" : "", d->variant);
        if (k < 0)
            break;
        off += (size_t)k;
        if (off >= sizeof offered)
            off = sizeof offered - 1;
    }
    char q[64];
    errfail (err, errlen, "no image for platform %s/%s%s%s in the index (it offers: %s)",
             errquote (q, 32, os, (size_t)-1), errquote (q + 32, 32, arch, (size_t)-1), variant && variant[0] ? "/" : "",
             variant ? variant : "", off ? offered : "none");
    return NULL;
}

static json_t *desc_json (const ocim_desc_t *d)
{
    return json_pack ("{s:s s:s s:I}", "mediaType", d->media_type, "digest", d->digest, "size", (json_int_t)d->size);
}

char *ocim_build_manifest (const ocim_desc_t *config, const ocim_desc_t *layers, size_t nlayers, size_t *len)
{
    json_t *ls = json_array ();
    for (size_t i = 0; i < nlayers; i++)
        json_array_append_new (ls, desc_json (&layers[i]));
    json_t *o = json_pack ("{s:i s:s s:o s:o}", "schemaVersion", 2, "mediaType", OCIM_OCI_MANIFEST, "config",
                           desc_json (config), "layers", ls);
    char *s = json_dumps (o, JSON_COMPACT);
    json_decref (o);
    if (s && len)
        *len = strlen (s);
    return s;
}
