/* sbuf.h - a growable string buffer: append text and printf output, then
 * take the string.  Pure; out of memory aborts (xalloc.h). */
#ifndef CANOPY_SBUF_H
#define CANOPY_SBUF_H
#include <stddef.h>

typedef struct {
    char *s;
    size_t len, cap;
} sbuf_t;

void sb_init (sbuf_t *b);
void sb_free (sbuf_t *b);
void sb_add (sbuf_t *b, const char *s);
void sb_addn (sbuf_t *b, const char *s, size_t n);
void sb_printf (sbuf_t *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* the string (never NULL: "" if nothing was added); b is reset */
char *sb_take (sbuf_t *b);

#endif
