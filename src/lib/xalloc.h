/* xalloc.h - canopy's one out-of-memory policy.
 *
 * Like Redis's zmalloc, an allocation that fails is not an error a caller
 * can handle: the broker and the command abort with one line on stderr.
 * Every heap allocation in canopy goes through these, so no caller checks
 * (or forgets to check) for NULL, and no `p = realloc (p, n)` loses p.
 * The one exception is a size that comes from input (a length field in a
 * message or file): check it against a limit first, then allocate here.
 */
#ifndef CANOPY_XALLOC_H
#define CANOPY_XALLOC_H
#include <stddef.h>

void *xmalloc (size_t n);
void *xcalloc (size_t nmemb, size_t size);
void *xrealloc (void *p, size_t n);
/* realloc of nmemb elements of size bytes, aborting on overflow too */
void *xreallocarray (void *p, size_t nmemb, size_t size);
char *xstrdup (const char *s);
char *xstrndup (const char *s, size_t n);
char *xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* What xalloc does when memory runs out: print one line and abort. */
void xalloc_oom (size_t n) __attribute__ ((noreturn));

#endif
