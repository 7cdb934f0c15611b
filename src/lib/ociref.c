/* ociref.c - parse and normalise container image references (the grammar of
 * the distribution project's reference package; doc/images.md). */
#include "ociref.h"
#include "errquote.h"
#include <stdio.h>
#include <string.h>

static int is_lowalnum (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int ociref_digest_valid (const char *s)
{
    if (strncmp (s, "sha256:", 7) != 0 || strlen (s) != 7 + 64)
        return 0;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

int ociref_tag_valid (const char *s)
{
    size_t n = strlen (s);
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int w = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!w && (i == 0 || (c != '.' && c != '-')))
            return 0;
    }
    return 1;
}

/* one path component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)* */
static int component_valid (const char *s, size_t n)
{
    if (n == 0 || !is_lowalnum (s[0]) || !is_lowalnum (s[n - 1]))
        return 0;
    for (size_t i = 0; i < n;) {
        if (is_lowalnum (s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        if (s[i] == '.')
            j = i + 1;
        else if (s[i] == '_')
            j = (i + 1 < n && s[i + 1] == '_') ? i + 2 : i + 1;
        else if (s[i] == '-')
            while (j < n && s[j] == '-')
                j++;
        else
            return 0;
        if (j >= n || !is_lowalnum (s[j]))
            return 0;
        i = j;
    }
    return 1;
}

/* host[:port]: host labels of [A-Za-z0-9-] joined by '.', or [v6] */
static int domain_valid (const char *s, size_t n)
{
    if (n == 0 || n >= OCIREF_MAX)
        return 0;
    const char *colon = NULL;
    size_t hostlen = n;
    if (s[0] == '[') {
        const char *e = memchr (s, ']', n);
        if (!e)
            return 0;
        for (const char *p = s + 1; p < e; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') || *p == ':'))
                return 0;
        hostlen = e - s + 1;
        if (hostlen < n && s[hostlen] != ':')
            return 0;
        if (hostlen < n)
            colon = s + hostlen;
    }
    else {
        colon = memchr (s, ':', n);
        if (colon)
            hostlen = colon - s;
        if (hostlen == 0)
            return 0;
        size_t lab = 0;
        for (size_t i = 0; i < hostlen; i++) {
            char c = s[i];
            if (c == '.') {
                if (lab == 0 || s[i - 1] == '-')
                    return 0;
                lab = 0;
            }
            else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                     || (c == '-' && lab > 0))
                lab++;
            else
                return 0;
        }
        if (lab == 0 || s[hostlen - 1] == '-')
            return 0;
    }
    if (colon) {
        size_t plen = n - (colon - s) - 1;
        if (plen == 0 || plen > 5)
            return 0;
        for (size_t i = 1; i <= plen; i++)
            if (colon[i] < '0' || colon[i] > '9')
                return 0;
    }
    return 1;
}

int ociref_parse (const char *s, ociref_t *r, char *err, size_t errlen)
{
    char q[96];
    memset (r, 0, sizeof *r);
    size_t n = strlen (s);
    if (n == 0)
        return errfail (err, errlen, "empty image reference");
    if (n >= OCIREF_MAX)
        return errfail (err, errlen, "image reference too long (%zu characters, at most %d)", n, OCIREF_MAX - 1);
    char buf[OCIREF_MAX];
    memcpy (buf, s, n + 1);
    char *at = strchr (buf, '@');
    if (at) {
        *at = '\0';
        if (!ociref_digest_valid (at + 1))
            return errfail (err, errlen, "invalid digest in image reference '%s' (want sha256: and 64 lower-case hex digits)",
                            errquote (q, sizeof q, s, (size_t)-1));
        strcpy (r->digest, at + 1);
    }
    /* domain: the first component if it has '.' or ':' or is localhost */
    char *name = buf;
    char *slash = strchr (buf, '/');
    if (slash && (memchr (buf, '.', slash - buf) || memchr (buf, ':', slash - buf)
                  || (slash - buf == 9 && !strncmp (buf, "localhost", 9)))) {
        if (!domain_valid (buf, slash - buf))
            return errfail (err, errlen, "invalid registry in image reference '%s'", errquote (q, sizeof q, s, (size_t)-1));
        memcpy (r->domain, buf, slash - buf);
        name = slash + 1;
    }
    else
        strcpy (r->domain, "docker.io");
    /* tag: after the last ':' of the remainder (the domain is gone) */
    char *colon = strrchr (name, ':');
    if (colon) {
        *colon = '\0';
        if (!ociref_tag_valid (colon + 1))
            return errfail (err, errlen, "invalid tag in image reference '%s'", errquote (q, sizeof q, s, (size_t)-1));
        strcpy (r->tag, colon + 1);
    }
    else if (!r->digest[0])
        strcpy (r->tag, "latest");
    if (!*name)
        return errfail (err, errlen, "no repository in image reference '%s'", errquote (q, sizeof q, s, (size_t)-1));
    int ncomp = 0;
    for (const char *p = name;; ncomp++) {
        const char *e = strchr (p, '/');
        size_t len = e ? (size_t)(e - p) : strlen (p);
        if (!component_valid (p, len))
            return errfail (err, errlen,
                            "invalid repository name in image reference '%s' (lower-case letters, digits, "
                            "'.', '_', '-' between them)",
                            errquote (q, sizeof q, s, (size_t)-1));
        if (!e)
            break;
        p = e + 1;
    }
    if (strlen (name) + 8 >= sizeof r->path)
        return errfail (err, errlen, "image reference too long once normalised");
    if (!strcmp (r->domain, "docker.io") && ncomp == 0)
        snprintf (r->path, sizeof r->path, "library/%s", name);
    else
        snprintf (r->path, sizeof r->path, "%s", name);
    char full[4 * OCIREF_MAX + 8];
    ociref_format (r, full, sizeof full);
    if (strlen (full) >= OCIREF_MAX)
        return errfail (err, errlen, "image reference too long once normalised (%zu characters)", strlen (full));
    return 0;
}

char *ociref_repo (const ociref_t *r, char *buf, size_t len)
{
    snprintf (buf, len, "%s/%s", r->domain, r->path);
    return buf;
}

char *ociref_format (const ociref_t *r, char *buf, size_t len)
{
    snprintf (buf, len, "%s/%s%s%s%s%s", r->domain, r->path, r->tag[0] ? ":" : "", r->tag,
              r->digest[0] ? "@" : "", r->digest);
    return buf;
}

const char *ociref_registry_host (const ociref_t *r)
{
    return strcmp (r->domain, "docker.io") ? r->domain : "registry-1.docker.io";
}

const char *ociref_object (const ociref_t *r)
{
    return r->digest[0] ? r->digest : r->tag;
}
