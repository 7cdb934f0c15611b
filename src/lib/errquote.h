/* errquote.h - make user text safe to quote inside a one-line error message.
 *
 * Errors echo input ("unknown key 'x'"); input may hold newlines or other
 * control bytes that would break the message over lines or into the
 * terminal.  errquote() copies a bounded prefix with those bytes replaced.
 * Pure: no I/O.
 */
#ifndef CANOPY_ERRQUOTE_H
#define CANOPY_ERRQUOTE_H
#include <stddef.h>

/* Copy at most `len` bytes of `s` (stopping early at a NUL) into buf, at most
 * size-1 of them, replacing each control byte (0x00-0x1f, 0x7f) with '?'.
 * Always NUL-terminates when size > 0.  Returns buf, so it can be passed
 * straight to a "%s".  Pass len = (size_t)-1 for a NUL-terminated string. */
char *errquote (char *buf, size_t size, const char *s, size_t len);

/* Flatten a library's message (libxml2, jansson, libyaml...) into one line
 * for quoting: each run of whitespace, newlines included, becomes one space,
 * other control bytes '?', leading and trailing whitespace dropped.  At most
 * size-1 bytes; always NUL-terminates when size > 0.  Returns buf ("" for a
 * NULL msg). */
char *errline (char *buf, size_t size, const char *msg);

/* snprintf into err (if err and errlen), then replace control bytes so
 * the message stays one line whatever the arguments held. */
void errfmt (char *err, size_t errlen, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
/* The same, returning -1: `return errfail (err, errlen, "bad %s", x);` */
int errfail (char *err, size_t errlen, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

#endif
