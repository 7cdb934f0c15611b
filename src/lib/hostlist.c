/* hostlist.c - expand and compress hostlist expressions.
 *
 * Hand-written: the only C implementations (Slurm's, flux-core's) are not
 * packaged as libraries in Debian.  Supported: comma-separated terms, each
 * a prefix, optionally one bracketed range list "[0-3,7]" and a suffix.
 * Zero padding follows the width of the range's low bound ("io[01-04]").
 */
#include "hostlist.h"
#include "xalloc.h"
#include "errquote.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOSTLIST_MAX 1000000

struct vec {
    char **v;
    size_t n, cap;
};

static int push (struct vec *h, const char *s, size_t len)
{
    if (h->n >= HOSTLIST_MAX)
        return -1;
    if (h->n == h->cap) {
        size_t c = h->cap ? h->cap * 2 : 16;
        h->v = xrealloc (h->v, c * sizeof (char *));
        h->cap = c;
    }
    h->v[h->n++] = xstrndup (s, len);
    return 0;
}

void hostlist_free (char **hosts, size_t n)
{
    if (!hosts)
        return;
    for (size_t i = 0; i < n; i++)
        free (hosts[i]);
    free (hosts);
}

static int valid_name_char (char c)
{
    return isalnum ((unsigned char)c) || c == '-' || c == '_' || c == '.';
}

/* expand one term (no top-level commas) */
static int expand_term (struct vec *h, const char *t, size_t len, char *err, size_t errlen)
{
    const char *lb = memchr (t, '[', len);
    if (!lb) {
        for (size_t i = 0; i < len; i++)
            if (!valid_name_char (t[i]))
                goto bad;
        if (len == 0)
            goto bad;
        return push (h, t, len);
    }
    const char *rb = memchr (lb, ']', len - (lb - t));
    if (!rb)
        goto bad;
    size_t plen = lb - t;
    const char *suffix = rb + 1;
    size_t slen = len - (suffix - t);
    for (size_t i = 0; i < plen; i++)
        if (!valid_name_char (t[i]))
            goto bad;
    for (size_t i = 0; i < slen; i++)
        if (!valid_name_char (suffix[i]))
            goto bad;
    const char *p = lb + 1;
    while (p < rb) {
        const char *q = p;
        while (q < rb && isdigit ((unsigned char)*q))
            q++;
        if (q == p || q - p > 9)
            goto bad;
        int width = q - p;
        unsigned long lo = strtoul (p, NULL, 10), hi = lo;
        p = q;
        if (*p == '-') {
            p++;
            q = p;
            while (q < rb && isdigit ((unsigned char)*q))
                q++;
            if (q == p || q - p > 9)
                goto bad;
            hi = strtoul (p, NULL, 10);
            p = q;
        }
        if (hi < lo || hi - lo >= HOSTLIST_MAX)
            goto bad;
        if (p < rb) {
            if (*p != ',')
                goto bad;
            p++;
            if (p == rb)
                goto bad;
        }
        for (unsigned long i = lo; i <= hi; i++) {
            char buf[512];
            int k = snprintf (buf, sizeof buf, "%.*s%0*lu%.*s", (int)plen, t, width, i, (int)slen,
                              suffix);
            if (k < 0 || k >= (int)sizeof buf || push (h, buf, k) < 0)
                goto toomany;
        }
    }
    if (lb + 1 == rb)
        goto bad;
    return 0;
bad: {
    char q[65];
    snprintf (err, errlen, "invalid hostlist term '%s'", errquote (q, sizeof q, t, len));
    return -1;
}
toomany:
    snprintf (err, errlen, "hostlist too large");
    return -1;
}

char **hostlist_expand (const char *expr, size_t *n, char *err, size_t errlen)
{
    struct vec h = { 0 };
    const char *p = expr;
    char dummy[8], q[65];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!*p) {
        snprintf (err, errlen, "empty hostlist");
        return NULL;
    }
    while (*p) {
        const char *start = p;
        int depth = 0;
        while (*p && (depth || *p != ',')) {
            if (*p == '[')
                depth++;
            else if (*p == ']')
                depth--;
            if (depth < 0 || depth > 1)
                break;
            p++;
        }
        if (depth != 0 || (*p && *p != ',')) {
            snprintf (err, errlen, "unbalanced brackets in hostlist '%s'",
                      errquote (q, sizeof q, expr, (size_t)-1));
            goto fail;
        }
        if (expand_term (&h, start, p - start, err, errlen) < 0)
            goto fail;
        if (*p == ',') {
            p++;
            if (!*p) {
                snprintf (err, errlen, "trailing comma in hostlist '%s'",
                          errquote (q, sizeof q, expr, (size_t)-1));
                goto fail;
            }
        }
    }
    *n = h.n;
    return h.v;
fail:
    hostlist_free (h.v, h.n);
    return NULL;
}

/* split name into prefix + trailing digits */
static void split (const char *s, size_t *plen, long *num, int *width)
{
    size_t len = strlen (s), i = len;
    while (i > 0 && isdigit ((unsigned char)s[i - 1]))
        i--;
    *plen = i;
    if (i == len || len - i > 9) {
        *plen = len;
        *num = -1;
        *width = 0;
        return;
    }
    *num = strtol (s + i, NULL, 10);
    *width = len - i;
}

static void appendn (char **buf, size_t *len, size_t *cap, const char *s, size_t k)
{
    if (*len + k + 1 > *cap) {
        while (*len + k + 1 > *cap)
            *cap *= 2;
        *buf = xrealloc (*buf, *cap);
    }
    memcpy (*buf + *len, s, k);
    *len += k;
    (*buf)[*len] = '\0';
}

static void append (char **buf, size_t *len, size_t *cap, const char *s)
{
    appendn (buf, len, cap, s, strlen (s));
}

char *hostlist_compress (char *const *hosts, size_t n)
{
    size_t cap = 64, len = 0;
    char *buf = xmalloc (cap);
    buf[0] = '\0';
    size_t i = 0;
    while (i < n) {
        size_t plen;
        long num;
        int width;
        split (hosts[i], &plen, &num, &width);
        if (len)
            append (&buf, &len, &cap, ",");
        if (num < 0) {
            append (&buf, &len, &cap, hosts[i]);
            i++;
            continue;
        }
        /* gather following hosts with the same prefix and width */
        size_t j = i + 1;
        while (j < n) {
            size_t pl2;
            long n2;
            int w2;
            split (hosts[j], &pl2, &n2, &w2);
            if (n2 < 0 || pl2 != plen || strncmp (hosts[i], hosts[j], plen) || w2 != width)
                break;
            j++;
        }
        if (j == i + 1) {
            append (&buf, &len, &cap, hosts[i]);
            i++;
            continue;
        }
        char tmp[64]; /* one range: two numbers of at most 9 digits */
        appendn (&buf, &len, &cap, hosts[i], plen);
        append (&buf, &len, &cap, "[");
        int first = 1;
        size_t k = i;
        while (k < j) {
            long lo, hi;
            size_t pl;
            int w;
            split (hosts[k], &pl, &lo, &w);
            hi = lo;
            size_t m = k + 1;
            while (m < j) {
                long v;
                split (hosts[m], &pl, &v, &w);
                if (v != hi + 1)
                    break;
                hi = v;
                m++;
            }
            if (lo == hi)
                snprintf (tmp, sizeof tmp, "%s%0*ld", first ? "" : ",", width, lo);
            else
                snprintf (tmp, sizeof tmp, "%s%0*ld-%0*ld", first ? "" : ",", width, lo, width, hi);
            append (&buf, &len, &cap, tmp);
            first = 0;
            k = m;
        }
        append (&buf, &len, &cap, "]");
        i = j;
    }
    return buf;
}
