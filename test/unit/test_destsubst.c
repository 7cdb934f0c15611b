/* test_destsubst.c - "{rank}" in a destination template: every occurrence
 * replaced by the rank, anything else (partial or odd braces) kept as is. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "destsubst.h"

static int is (const char *tmpl, uint32_t rank, const char *want)
{
    char *got = archive_dest_subst (tmpl, rank);
    int r = !strcmp (got, want);
    if (!r)
        printf ("# '%s' rank %u: got '%s', want '%s'\n", tmpl, rank, got, want);
    free (got);
    return r;
}

int main (void)
{
    ok (is ("/data/out", 3, "/data/out"), "no placeholder: unchanged");
    ok (is ("", 7, ""), "empty template stays empty");
    ok (is ("/d/{rank}", 0, "/d/0"), "rank 0");
    ok (is ("/d/{rank}/x", 4294967295u, "/d/4294967295/x"), "the largest rank, in the middle");
    ok (is ("{rank}{rank}{rank}", 12, "121212"), "adjacent placeholders, each replaced");
    ok (is ("/d/{rank", 5, "/d/{rank"), "an unterminated placeholder is kept");
    ok (is ("/d/{{rank}}", 5, "/d/{5}"), "braces around it are kept");
    ok (is ("/d/{RANK}/{ran}", 5, "/d/{RANK}/{ran}"), "other words in braces are kept");
    /* many placeholders: the result grows past twice the template */
    char tmpl[6 * 200 + 1], want[10 * 200 + 1];
    tmpl[0] = want[0] = '\0';
    for (int i = 0; i < 200; i++) {
        strcat (tmpl, "{rank}");
        strcat (want, "1234567890");
    }
    ok (is (tmpl, 1234567890u, want), "200 placeholders of a 10-digit rank (output 1.7x the input)");
    return done ();
}
