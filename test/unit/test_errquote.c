/* test_errquote.c - library messages quoted into errors stay one line:
 * errline() flattening, and the parsers that copy libxml2's and jansson's
 * messages (grug, jgf) give one-line errors for input that makes those
 * messages span lines. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "errquote.h"
#include "match.h"

static int one_line (const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

int main (void)
{
    char b[64];
    ok (!strcmp (errline (b, sizeof b, "Input is not proper UTF-8, indicate encoding !\nBytes: 0xFF\n"),
                 "Input is not proper UTF-8, indicate encoding ! Bytes: 0xFF"),
        "errline: inner newline to one space, trailing newline dropped (got '%s')", b);
    ok (!strcmp (errline (b, sizeof b, "  a \r\n\t b\x01" "c  \n"), "a b?c"),
        "errline: whitespace runs to one space, ends trimmed, control bytes '?' (got '%s')", b);
    ok (!strcmp (errline (b, sizeof b, NULL), ""), "errline: NULL message gives an empty string");
    ok (!strcmp (errline (b, 4, "abcdef"), "abc"), "errline: bounded by the buffer (got '%s')", b);
    ok (!strcmp (errline (b, 3, "ab cd"), "ab"), "errline: no dangling space at the bound (got '%s')", b);

    /* libxml2 says "...indicate encoding !\nBytes: 0xFF ..." for one bad byte */
    char err[256] = "";
    static const char bad_utf8[] = "<?xml version=\"1.0\"?>\n<graphml><graph>\xff</graph></graphml>\n";
    mgraph_t *g = mgraph_new ();
    int rc = mgraph_load_grug (g, bad_utf8, sizeof bad_utf8 - 1, err, sizeof err);
    ok (rc < 0 && strstr (err, "UTF-8") && one_line (err),
        "grug: invalid UTF-8 is refused with a one-line error (rc %d, '%s')", rc, err);
    mgraph_destroy (&g);

    /* jansson quotes the input near the error, newline included */
    static const char bad_json[] = "[\"\\u00\n\"]";
    g = mgraph_new ();
    err[0] = '\0';
    rc = mgraph_load_jgf (g, bad_json, sizeof bad_json - 1, err, sizeof err);
    ok (rc < 0 && strstr (err, "JSON error") && one_line (err),
        "jgf: a JSON error quoting a newline stays one line (rc %d, '%s')", rc, err);
    mgraph_destroy (&g);
    return done ();
}
