/* test_ocimanifest.c - manifests and indexes: media types from header and
 * body, validation of digests/sizes/types, platform choice, and the auth
 * challenge / token / credentials parsers. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "ocimanifest.h"
#include "ociauth.h"

#define H1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define H2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define H3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static const char *MAN =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" H1 "\",\"size\":10},"
    "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" H2 "\",\"size\":20},"
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" H3 "\",\"size\":30}]}";

static const char *IDX =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\","
    "\"manifests\":["
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"digest\":\"" H1 "\",\"size\":5,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"digest\":\"" H2 "\",\"size\":6,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" H3 "\",\"size\":7,"
    "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}]}";

static int rejects (const char *doc, const char *ct, const char *needle)
{
    char err[256] = "";
    ocim_t *m = ocim_parse (doc, strlen (doc), ct, err, sizeof err);
    int r = !m && strstr (err, needle) && !strchr (err, '\n');
    if (!r)
        printf ("# got '%s'\n", err);
    ocim_destroy (&m);
    return r;
}

static char *subst (const char *doc, const char *from, const char *to)
{
    const char *p = strstr (doc, from);
    char *s = malloc (strlen (doc) + strlen (to) + 1);
    size_t a = p - doc;
    memcpy (s, doc, a);
    strcpy (s + a, to);
    strcat (s, p + strlen (from));
    return s;
}

int main (void)
{
    char err[256];
    ocim_t *m = ocim_parse (MAN, strlen (MAN), NULL, err, sizeof err);
    ok (m && m->kind == OCIM_MANIFEST && m->nlayers == 2, "OCI manifest parses (2 layers)");
    ok (m && m->config.size == 10 && !strcmp (m->layers[1].digest, H3), "config and layer descriptors kept");
    ocim_destroy (&m);
    m = ocim_parse (MAN, strlen (MAN), "application/vnd.oci.image.manifest.v1+json; charset=utf-8", err, sizeof err);
    ok (m != NULL, "Content-Type with parameters accepted");
    ocim_destroy (&m);
    ok (rejects (MAN, "application/vnd.example.thing+json", "unsupported manifest media type 'application/vnd.example.thing+json'"),
        "unknown Content-Type rejected, named");
    ok (rejects (MAN, OCIM_OCI_INDEX, "does not match"), "header says index, body says manifest: rejected");
    char *s = subst (MAN, "\"size\":20", "\"size\":-1");
    ok (rejects (s, NULL, "size must be"), "negative size rejected");
    free (s);
    s = subst (MAN, "\"size\":20", "\"size\":2199023255553");
    ok (rejects (s, NULL, "size must be"), "size over 1 TiB rejected");
    free (s);
    s = subst (MAN, H2, "sha256:22");
    ok (rejects (s, NULL, "invalid digest"), "short digest rejected");
    free (s);
    s = subst (MAN, "layer.v1.tar+gzip", "layer.v1.tar+lz4");
    ok (rejects (s, NULL, "layer 0: unsupported media type"), "unknown layer type rejected");
    free (s);
    s = subst (MAN, "image.config.v1+json", "example.config");
    ok (rejects (s, NULL, "unsupported config media type"), "unknown config type rejected");
    free (s);
    s = subst (MAN, "\"schemaVersion\":2", "\"schemaVersion\":1");
    ok (rejects (s, NULL, "schema 1"), "schema 1 rejected");
    free (s);
    ok (rejects ("<html>", NULL, "not JSON"), "HTML rejected");
    ok (rejects ("{\"schemaVersion\":2}", NULL, "unsupported manifest media type '(none)'"), "untyped empty doc rejected");
    ok (rejects ("{\"schemaVersion\":2,\"schemaVersion\":2}", NULL, "not JSON"), "duplicate keys rejected");

    ocim_t *x = ocim_parse (IDX, strlen (IDX), "application/json", err, sizeof err);
    ok (x && x->kind == OCIM_INDEX && x->nmanifests == 3, "Docker manifest list parses (generic header: body decides)");
    const ocim_desc_t *d = x ? ocim_select (x, "linux", "arm64", "", err, sizeof err) : NULL;
    ok (d && !strcmp (d->digest, H2), "linux/arm64 chosen");
    d = x ? ocim_select (x, "linux", "arm", "v7", err, sizeof err) : NULL;
    ok (d && !strcmp (d->digest, H1), "linux/arm/v7 chosen");
    d = x ? ocim_select (x, "linux", "arm", "v6", err, sizeof err) : NULL;
    ok (!d && strstr (err, "no image for platform linux/arm/v6") && strstr (err, "linux/arm/v7, linux/arm64"),
        "missing platform: error lists the offered ones");
    d = x ? ocim_select (x, "unknown", "unknown", "", err, sizeof err) : NULL;
    ok (d && !strcmp (d->digest, H3), "entries match on os/arch only");
    ocim_destroy (&x);

    char os[32], arch[32], var[32];
    ok (ocim_platform_parse ("linux/arm64/v8", os, sizeof os, arch, sizeof arch, var, sizeof var, err, sizeof err) == 0
            && !strcmp (os, "linux") && !strcmp (arch, "arm64") && !strcmp (var, "v8"),
        "platform os/arch/variant");
    ok (ocim_platform_parse ("linux", os, sizeof os, arch, sizeof arch, var, sizeof var, err, sizeof err) < 0
            && strstr (err, "invalid platform"),
        "platform without arch rejected");
    ok (ocim_platform_parse ("linux/a/b/c", os, sizeof os, arch, sizeof arch, var, sizeof var, err, sizeof err) < 0,
        "platform with 4 parts rejected");

    ocim_desc_t cfg = { .media_type = OCIM_OCI_CONFIG, .digest = H1, .size = 3 };
    ocim_desc_t lay = { .media_type = OCIM_OCI_LAYER_TAR, .digest = H2, .size = 4 };
    size_t len;
    char *built = ocim_build_manifest (&cfg, &lay, 1, &len);
    m = built ? ocim_parse (built, len, OCIM_OCI_MANIFEST, err, sizeof err) : NULL;
    ok (m && m->nlayers == 1 && !strcmp (m->layers[0].digest, H2) && m->config.size == 3, "built manifest parses back");
    ocim_destroy (&m);
    free (built);

    /* auth */
    ociauth_challenge_t c;
    ok (ociauth_parse_challenge ("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                                 "scope=\"repository:library/busybox:pull\"",
                                 &c, err, sizeof err) == 0
            && c.scheme == OCIAUTH_BEARER && !strcmp (c.realm, "https://auth.docker.io/token")
            && !strcmp (c.service, "registry.docker.io") && !strcmp (c.scope, "repository:library/busybox:pull"),
        "Bearer challenge: realm, service, scope");
    ok (ociauth_parse_challenge ("Basic realm=\"Registry Realm\"", &c, err, sizeof err) == 0 && c.scheme == OCIAUTH_BASIC
            && !strcmp (c.realm, "Registry Realm"),
        "Basic challenge");
    ok (ociauth_parse_challenge ("Negotiate abc, Bearer realm=http://x/t , service=s", &c, err, sizeof err) == 0
            && c.scheme == OCIAUTH_BEARER && !strcmp (c.realm, "http://x/t") && !strcmp (c.service, "s"),
        "unknown scheme skipped, unquoted values");
    ok (ociauth_parse_challenge ("Bearer realm=\"a\\\"b\"", &c, err, sizeof err) == 0 && !strcmp (c.realm, "a\"b"),
        "quoted-pair unescaped");
    ok (ociauth_parse_challenge ("Bearer service=x", &c, err, sizeof err) < 0 && strstr (err, "without a realm"),
        "Bearer without realm rejected");
    ok (ociauth_parse_challenge ("Bearer realm=\"x", &c, err, sizeof err) < 0 && strstr (err, "unterminated"),
        "unterminated quote rejected");
    ok (ociauth_parse_challenge ("Digest realm=x", &c, err, sizeof err) < 0 && strstr (err, "no Basic or Bearer"),
        "only unknown schemes rejected");
    char *t = ociauth_token ("{\"access_token\":\"tok1\"}", 23, err, sizeof err);
    ok (t && !strcmp (t, "tok1"), "access_token read");
    free (t);
    t = ociauth_token ("{\"token\":\"\"}", 12, err, sizeof err);
    ok (!t && strstr (err, "no token"), "empty token rejected");
    char u[64], p[64];
    const char *cf = "{\"auths\":{\"https://reg.example:5000\":{\"auth\":\"YWxpY2U6cyNjcjp0\"}}}";   /* alice:s#cr:t */
    ok (ociauth_lookup (cf, strlen (cf), "reg.example:5000", u, sizeof u, p, sizeof p, err, sizeof err) == 1
            && !strcmp (u, "alice") && !strcmp (p, "s#cr:t"),
        "config.json auth decoded (password may hold ':')");
    ok (ociauth_lookup (cf, strlen (cf), "reg.example", u, sizeof u, p, sizeof p, err, sizeof err) == 0,
        "other host (prefix of the key) not matched");
    const char *bad = "{\"auths\":{\"h\":{\"auth\":\"!!!!\"}}}";
    ok (ociauth_lookup (bad, strlen (bad), "h", u, sizeof u, p, sizeof p, err, sizeof err) < 0, "bad base64 rejected");
    char enc[64];
    ok (ociauth_urlencode ("repository:a/b:pull", enc, sizeof enc) && !strcmp (enc, "repository%3Aa%2Fb%3Apull"),
        "urlencode");
    return done ();
}
