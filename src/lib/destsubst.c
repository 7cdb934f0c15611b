/* destsubst.c - "{rank}" in a destination directory template. */
#include "destsubst.h"
#include "xalloc.h"
#include <stdio.h>
#include <string.h>

char *archive_dest_subst (const char *tmpl, uint32_t rank)
{
    char r[16];
    size_t rl = (size_t)snprintf (r, sizeof r, "%u", rank);
    size_t n = 0;
    for (const char *p = tmpl; *p;)   /* the length first */
        if (!strncmp (p, "{rank}", 6)) {
            n += rl;
            p += 6;
        }
        else {
            n++;
            p++;
        }
    char *out = xmalloc (n + 1);
    char *o = out;
    for (const char *p = tmpl; *p;)
        if (!strncmp (p, "{rank}", 6)) {
            memcpy (o, r, rl);
            o += rl;
            p += 6;
        }
        else
            *o++ = *p++;
    *o = '\0';
    return out;
}
