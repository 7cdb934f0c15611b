/* test_ociref.c - image references: docker.io defaults, library/, tags,
 * digests, registries with ports, and rejection of malformed names. */
#include <string.h>
#include "check.h"
#include "ociref.h"

static int norm (const char *in, const char *want)
{
    ociref_t r;
    char err[256], buf[600];
    if (ociref_parse (in, &r, err, sizeof err) < 0) {
        printf ("# %s: %s\n", in, err);
        return 0;
    }
    ociref_format (&r, buf, sizeof buf);
    if (strcmp (buf, want))
        printf ("# %s -> %s (want %s)\n", in, buf, want);
    return !strcmp (buf, want);
}

static int bad (const char *in, const char *needle)
{
    ociref_t r;
    char err[256] = "";
    int rc = ociref_parse (in, &r, err, sizeof err);
    if (rc == 0 || !strstr (err, needle) || strchr (err, '\n')) {
        printf ("# %s: rc %d err '%s'\n", in, rc, err);
        return 0;
    }
    return 1;
}

int main (void)
{
    const char *D = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char in[300], want[300];
    ok (norm ("busybox", "docker.io/library/busybox:latest"), "bare name gets docker.io, library/ and latest");
    ok (norm ("busybox:1.36", "docker.io/library/busybox:1.36"), "tag kept");
    ok (norm ("user/app", "docker.io/user/app:latest"), "two components on docker.io: no library/");
    ok (norm ("docker.io/busybox", "docker.io/library/busybox:latest"), "explicit docker.io still gets library/");
    ok (norm ("127.0.0.1:5000/app:v1", "127.0.0.1:5000/app:v1"), "registry with a port");
    ok (norm ("localhost/a/b", "localhost/a/b:latest"), "localhost is a registry");
    ok (norm ("ghcr.io/o/p/q:x_y.z-1", "ghcr.io/o/p/q:x_y.z-1"), "deep paths and tag characters");
    ok (norm ("my-reg:5000/a__b/c--d", "my-reg:5000/a__b/c--d:latest"), "':' makes a registry; __ and -- separators");
    snprintf (in, sizeof in, "busybox@%s", D);
    snprintf (want, sizeof want, "docker.io/library/busybox@%s", D);
    ok (norm (in, want), "digest only: no latest tag");
    snprintf (in, sizeof in, "127.0.0.1:5000/app:v2@%s", D);
    snprintf (want, sizeof want, "127.0.0.1:5000/app:v2@%s", D);
    ok (norm (in, want), "tag and digest");
    ociref_t r;
    char err[256];
    ociref_parse (in, &r, err, sizeof err);
    ok (!strcmp (ociref_object (&r), D), "the object asked for is the digest when given");
    ociref_parse ("busybox", &r, err, sizeof err);
    ok (!strcmp (ociref_registry_host (&r), "registry-1.docker.io"), "docker.io answers at registry-1.docker.io");
    ok (!strcmp (ociref_object (&r), "latest"), "object is the tag otherwise");

    ok (bad ("", "empty"), "empty rejected");
    ok (bad ("Busybox", "invalid repository"), "upper case repository rejected");
    ok (bad ("a//b", "invalid repository"), "empty component rejected");
    ok (bad ("a/b/", "invalid repository"), "trailing slash rejected");
    ok (bad ("a.b:x/c", "invalid registry"), "non-numeric port rejected");
    ok (bad ("busybox:", "invalid tag"), "empty tag rejected");
    ok (bad ("busybox:-x", "invalid tag"), "tag starting with '-' rejected");
    ok (bad ("busybox@sha256:abc", "invalid digest"), "short digest rejected");
    ok (bad ("busybox@sha512:0123", "invalid digest"), "other algorithms rejected");
    ok (bad ("a..b", "invalid repository"), "double dot rejected");
    ok (bad ("a\nb", "invalid repository"), "control byte rejected, message one line");
    char longname[400];
    memset (longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ok (bad (longname, "too long"), "long reference rejected");
    ok (ociref_tag_valid ("latest") && !ociref_tag_valid (".x") && !ociref_tag_valid (""), "tag_valid");
    ok (ociref_digest_valid (D) && !ociref_digest_valid ("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"),
        "digest_valid wants lower-case hex");
    return done ();
}
