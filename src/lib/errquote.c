/* errquote.c - copy a bounded prefix of user text with control bytes made
 * printable, for quoting in one-line error messages. */
#include "errquote.h"
#include <stdarg.h>
#include <stdio.h>

char *errquote (char *buf, size_t size, const char *s, size_t len)
{
    size_t o = 0;
    if (size == 0)
        return buf;
    for (size_t i = 0; s && i < len && s[i] && o + 1 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    buf[o] = '\0';
    return buf;
}

char *errline (char *buf, size_t size, const char *msg)
{
    size_t o = 0;
    int space = 0;
    if (size == 0)
        return buf;
    for (const char *p = msg; p && *p && o + 1 < size; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f') {
            space = o > 0;
            continue;
        }
        if (space) {
            if (o + 2 >= size)
                break;
            buf[o++] = ' ';
            space = 0;
        }
        buf[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    buf[o] = '\0';
    return buf;
}

static void verrfmt (char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (!err || !errlen)
        return;
    vsnprintf (err, errlen, fmt, ap);
    for (char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

void errfmt (char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    verrfmt (err, errlen, fmt, ap);
    va_end (ap);
}

int errfail (char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    verrfmt (err, errlen, fmt, ap);
    va_end (ap);
    return -1;
}
