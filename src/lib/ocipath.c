/* ocipath.c - parse the pull-side request paths of the OCI distribution API
 * for the mirror: the repository name by the distribution grammar, the
 * reference a tag or a sha256 digest; anything else is refused.  Pure. */
#include "ocipath.h"
#include "errquote.h"
#include "ociref.h"
#include <stdio.h>
#include <string.h>

static int alnum (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* length of the separator at s[i] ('.', '_', '__', '-'+), 0 if none */
static size_t sep_len (const char *s, size_t i, size_t len)
{
    if (s[i] == '.')
        return 1;
    if (s[i] == '_')
        return i + 1 < len && s[i + 1] == '_' ? 2 : 1;
    size_t j = i;
    while (j < len && s[j] == '-')
        j++;
    return j - i;
}

int ocipath_name_valid (const char *s, size_t len)
{
    if (len == 0 || len > 255)
        return 0;
    size_t i = 0;
    for (;;) {   /* a component: alnum+ (sep alnum+)* */
        if (i >= len || !alnum (s[i]))
            return 0;
        while (i < len && alnum (s[i]))
            i++;
        while (i < len && s[i] != '/') {
            size_t k = sep_len (s, i, len);
            if (k == 0)
                return 0;
            i += k;
            if (i >= len || !alnum (s[i]))
                return 0;
            while (i < len && alnum (s[i]))
                i++;
        }
        if (i == len)
            return 1;
        i++;   /* the '/' */
    }
}

int ocipath_parse (const char *path, ocipath_t *p, char *err, size_t errlen)
{
    memset (p, 0, sizeof *p);
    if (!strcmp (path, "/v2/") || !strcmp (path, "/v2"))
        return p->kind = OCIPATH_ROOT;
    if (strncmp (path, "/v2/", 4))
        return errfail (err, errlen, "not a distribution API path");
    const char *rest = path + 4, *mk = NULL, *bk = NULL;
    size_t rl = strlen (rest), tl = strlen ("/tags/list");
    if (rl > tl && !strcmp (rest + rl - tl, "/tags/list") && ocipath_name_valid (rest, rl - tl)) {
        memcpy (p->name, rest, rl - tl);
        p->name[rl - tl] = '\0';
        return p->kind = OCIPATH_TAGS;
    }
    for (const char *q = strstr (rest, "/manifests/"); q; q = strstr (q + 1, "/manifests/"))
        mk = q;
    for (const char *q = strstr (rest, "/blobs/"); q; q = strstr (q + 1, "/blobs/"))
        bk = q;
    const char *cut = mk && (!bk || mk > bk) ? mk : bk;
    if (!cut)
        return errfail (err, errlen, "not a manifest or blob path");
    size_t nl = (size_t)(cut - rest);
    if (!ocipath_name_valid (rest, nl))
        return errfail (err, errlen, "not a valid repository name");
    const char *obj = cut + (cut == mk ? strlen ("/manifests/") : strlen ("/blobs/"));
    if (strlen (obj) >= sizeof p->reference)
        return errfail (err, errlen, "reference too long");
    memcpy (p->name, rest, nl);
    p->name[nl] = '\0';
    strcpy (p->reference, obj);
    if (cut == mk) {
        if (!strncmp (obj, "sha256:", 7) ? !ociref_digest_valid (obj) : !ociref_tag_valid (obj))
            return errfail (err, errlen, "not a valid tag or digest");
        return p->kind = OCIPATH_MANIFEST;
    }
    if (!ociref_digest_valid (obj))
        return errfail (err, errlen, "not a valid digest");
    return p->kind = OCIPATH_BLOB;
}
