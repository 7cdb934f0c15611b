/* sbuf.c - a growable string buffer (the matcher's writers, topo_draw). */
#include "sbuf.h"
#include "xalloc.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_init (sbuf_t *b)
{
    b->s = NULL;
    b->len = b->cap = 0;
}

void sb_free (sbuf_t *b)
{
    free (b->s);
    sb_init (b);
}

static void grow (sbuf_t *b, size_t need)
{
    if (b->len + need + 1 <= b->cap)
        return;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + need + 1)
        nc *= 2;
    b->s = xrealloc (b->s, nc);
    b->cap = nc;
}

void sb_addn (sbuf_t *b, const char *s, size_t n)
{
    grow (b, n);
    memcpy (b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void sb_add (sbuf_t *b, const char *s)
{
    sb_addn (b, s, strlen (s));
}

void sb_printf (sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (NULL, 0, fmt, ap);
    va_end (ap);
    if (n < 0)
        return;
    grow (b, (size_t)n);
    va_start (ap, fmt);
    vsnprintf (b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end (ap);
    b->len += (size_t)n;
}

char *sb_take (sbuf_t *b)
{
    char *s = b->s ? b->s : xstrdup ("");
    sb_init (b);
    return s;
}
