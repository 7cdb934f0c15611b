/* test_ocipath.c - the mirror's request paths: /v2/, manifests by tag and
 * digest, blobs; names by the distribution grammar; anything else refused. */
#include <string.h>
#include "check.h"
#include "ocipath.h"

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

int main (void)
{
    ocipath_t p;
    char err[128];
    ok (ocipath_parse ("/v2/", &p, err, sizeof err) == OCIPATH_ROOT, "/v2/");
    ok (ocipath_parse ("/v2", &p, err, sizeof err) == OCIPATH_ROOT, "/v2");
    ok (ocipath_parse ("/v2/library/busybox/manifests/1.36", &p, err, sizeof err) == OCIPATH_MANIFEST
            && !strcmp (p.name, "library/busybox") && !strcmp (p.reference, "1.36"),
        "manifest by tag");
    ok (ocipath_parse ("/v2/a/b/c/manifests/" D64, &p, err, sizeof err) == OCIPATH_MANIFEST && !strcmp (p.name, "a/b/c")
            && !strcmp (p.reference, D64),
        "manifest by digest, 3 components");
    ok (ocipath_parse ("/v2/test/app/blobs/" D64, &p, err, sizeof err) == OCIPATH_BLOB && !strcmp (p.name, "test/app"),
        "blob");
    ok (ocipath_parse ("/v2/my-repo__x/a.b--c/manifests/latest", &p, err, sizeof err) == OCIPATH_MANIFEST,
        "separators . __ and runs of -");
    ok (ocipath_parse ("/v2/x/manifests/y/manifests/v1", &p, err, sizeof err) == OCIPATH_MANIFEST
            && !strcmp (p.name, "x/manifests/y"),
        "a repository named .../manifests/...: the last one splits");
    ok (ocipath_parse ("/v2/test/app/tags/list", &p, err, sizeof err) == OCIPATH_TAGS && !strcmp (p.name, "test/app"),
        "tags/list");
    const char *bad[] = {
        "/", "/v1/x/manifests/a", "/v2/x", "/v2//manifests/a", "/v2/X/manifests/a", "/v2/a//b/manifests/t",
        "/v2/../etc/manifests/a", "/v2/a/../b/manifests/t", "/v2/-a/manifests/t", "/v2/a-/manifests/t",
        "/v2/a___b/manifests/t", "/v2/a/manifests/", "/v2/a/manifests/.t", "/v2/a/manifests/t/x",
        "/v2/a/blobs/sha256:00", "/v2/a/blobs/latest", "/v2/a/manifests/sha256:XYZ", "/v2/A/tags/list", "/v2/tags/list", "/v2/a/tags/list/x",
        "/v2/a/blobs/uploads/", "/v2/a b/manifests/t", "/v2/a/manifests/" D64 "0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ok (ocipath_parse (bad[i], &p, err, sizeof err) < 0 && err[0], "refused: %s (%s)", bad[i], err);
    char longname[400];
    memset (longname, 'a', sizeof longname);
    memcpy (longname, "/v2/", 4);
    strcpy (longname + 300, "/manifests/t");
    ok (ocipath_parse (longname, &p, err, sizeof err) < 0, "a 296-byte name refused");
    return done ();
}
