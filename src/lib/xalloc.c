/* xalloc.c - allocation that aborts with a message on out of memory
 * (the policy is in xalloc.h). */
#include "xalloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void xalloc_oom (size_t n)
{
    char msg[96];
    int len = snprintf (msg, sizeof msg, "canopy: out of memory allocating %zu bytes\n", n);
    /* write(2), not stdio: stdio may itself need memory */
    if (len > 0 && write (STDERR_FILENO, msg, (size_t)len) < 0)
        msg[0] = '\0';
    abort ();
}

void *xmalloc (size_t n)
{
    void *p = malloc (n ? n : 1);
    if (!p)
        xalloc_oom (n);
    return p;
}

void *xcalloc (size_t nmemb, size_t size)
{
    void *p = calloc (nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        xalloc_oom (nmemb * size);
    return p;
}

void *xrealloc (void *p, size_t n)
{
    void *q = realloc (p, n ? n : 1);
    if (!q)
        xalloc_oom (n);
    return q;
}

void *xreallocarray (void *p, size_t nmemb, size_t size)
{
    if (size && nmemb > SIZE_MAX / size)
        xalloc_oom (SIZE_MAX);
    return xrealloc (p, nmemb * size);
}

char *xstrdup (const char *s)
{
    size_t n = strlen (s) + 1;
    return memcpy (xmalloc (n), s, n);
}

char *xstrndup (const char *s, size_t n)
{
    size_t len = strnlen (s, n);
    char *p = xmalloc (len + 1);
    memcpy (p, s, len);
    p[len] = '\0';
    return p;
}

char *xasprintf (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (NULL, 0, fmt, ap);
    va_end (ap);
    if (n < 0)
        xalloc_oom (0);
    char *p = xmalloc ((size_t)n + 1);
    va_start (ap, fmt);
    vsnprintf (p, (size_t)n + 1, fmt, ap);
    va_end (ap);
    return p;
}
