/* test_hostlist.c - hostlist expand/compress: exact expansions, zero padding,
 * order and duplicates kept, round trips, and every malformed form refused. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "hostlist.h"

/* expand expr and compare with the space-separated names in want */
static void expands (const char *expr, const char *want)
{
    char err[160] = "";
    size_t n = 0;
    char **h = hostlist_expand (expr, &n, err, sizeof err);
    if (!h) {
        ok (0, "'%s' expands (error: %s)", expr, err);
        return;
    }
    /* join with spaces */
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen (h[i]) + 1;
    char *j = calloc (1, len);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat (j, " ");
        strcat (j, h[i]);
    }
    ok (!strcmp (j, want), "'%s' -> '%s'", expr, j);
    free (j);
    hostlist_free (h, n);
}

static void rejects (const char *expr, const char *substr)
{
    char err[160] = "";
    size_t n = 12345;
    char **h = hostlist_expand (expr, &n, err, sizeof err);
    ok (h == NULL && strstr (err, substr) && !strchr (err, '\n'), "'%s' rejected: %s", expr, err);
    if (h)
        hostlist_free (h, n);
}

/* compress names, check text, expand it back and compare with the input */
static void compresses (const char *names, const char *want)
{
    char *copy = strdup (names), *save = NULL;
    char *v[64];
    size_t n = 0;
    for (char *tok = strtok_r (copy, " ", &save); tok; tok = strtok_r (NULL, " ", &save))
        v[n++] = tok;
    char *c = hostlist_compress (v, n);
    ok (c && !strcmp (c, want), "compress '%s' -> '%s'", names, c ? c : "(null)");
    if (c && *c) {
        char err[160] = "";
        size_t m = 0;
        char **h = hostlist_expand (c, &m, err, sizeof err);
        int same = h && m == n;
        for (size_t i = 0; same && i < n; i++)
            same = !strcmp (h[i], v[i]);
        ok (same, "'%s' expands back to the input (%s)", c, err);
        hostlist_free (h, m);
    }
    free (c);
    free (copy);
}

int main (void)
{
    /* expansion */
    expands ("node0", "node0");
    expands ("login,node[0-3]", "login node0 node1 node2 node3");
    expands ("node[0-3,7]", "node0 node1 node2 node3 node7");
    expands ("io[01-04]", "io01 io02 io03 io04");
    expands ("io[08-11]", "io08 io09 io10 io11");
    expands ("n[008-010]", "n008 n009 n010");
    expands ("n[9-11]", "n9 n10 n11");
    expands ("n[1-2]x", "n1x n2x");
    expands ("rack[1-2]-sw", "rack1-sw rack2-sw");
    expands ("[1-3]", "1 2 3");
    expands ("a.b_c-d", "a.b_c-d");
    expands ("n[3,1,2]", "n3 n1 n2");
    expands ("n[1,1],n1", "n1 n1 n1");
    expands ("n[5]", "n5");
    expands ("n[0-1],m[0-1],n[2]", "n0 n1 m0 m1 n2");
    expands ("n[0-1],io[01-02],login", "n0 n1 io01 io02 login");
    {
        char err[160];
        size_t n = 0;
        char **h = hostlist_expand ("n[0-999]", &n, err, sizeof err);
        ok (h && n == 1000 && !strcmp (h[0], "n0") && !strcmp (h[999], "n999"), "n[0-999] gives 1000");
        hostlist_free (h, n);
        h = hostlist_expand ("n[000000000-000000002]", &n, err, sizeof err);
        ok (h && n == 3 && !strcmp (h[2], "n000000002"), "nine-digit zero-padded bounds");
        hostlist_free (h, n);
        h = hostlist_expand ("x", &n, NULL, 0);
        ok (h && n == 1, "NULL err buffer is fine on success");
        hostlist_free (h, n);
        h = hostlist_expand ("x[", &n, NULL, 0);
        ok (h == NULL, "NULL err buffer is fine on failure");
        hostlist_free (NULL, 0);
    }

    /* errors */
    rejects ("", "empty");
    rejects ("node[0-3", "unbalanced");
    rejects ("node0-3]", "unbalanced");
    rejects ("n[[1]]", "unbalanced");
    rejects ("n]1[", "unbalanced");
    rejects ("n[1]]", "unbalanced");
    rejects ("a,", "trailing comma");
    rejects (",a", "invalid hostlist term");
    rejects ("a,,b", "invalid hostlist term");
    rejects ("n[]", "invalid hostlist term");
    rejects ("n[3-1]", "invalid hostlist term");
    rejects ("n[1-]", "invalid hostlist term");
    rejects ("n[-1]", "invalid hostlist term");
    rejects ("n[1,]", "invalid hostlist term");
    rejects ("n[,1]", "invalid hostlist term");
    rejects ("n[1,,2]", "invalid hostlist term");
    rejects ("n[a]", "invalid hostlist term");
    rejects ("n[1-2-3]", "invalid hostlist term");
    rejects ("n[1]x[2]", "invalid hostlist term");
    rejects ("n[0123456789]", "invalid hostlist term");
    rejects ("n[0-2000000]", "invalid hostlist term");
    rejects ("bad host", "invalid hostlist term");
    rejects ("n/1", "invalid hostlist term");
    rejects ("n[ 1]", "invalid hostlist term");
    rejects ("a b[1]", "invalid hostlist term");
    rejects ("n[1] ", "invalid hostlist term");
    rejects ("bad\nname", "invalid hostlist term"); /* error stays one line */
    rejects ("n[0-\n", "unbalanced");
    {
        /* a name too long to be a hostname must fail, not truncate */
        char big[700];
        memset (big, 'a', 600);
        strcpy (big + 600, "[1-2]");
        char err[160] = "";
        size_t n;
        char **h = hostlist_expand (big, &n, err, sizeof err);
        ok (h == NULL && err[0], "600-char prefix refused: %s", err);
        hostlist_free (h, h ? n : 0);
    }

    /* compression */
    compresses ("n0 n1 n3", "n[0-1,3]");
    compresses ("node0 node1 node2 node3", "node[0-3]");
    compresses ("io01 io02 io03 io04", "io[01-04]");
    compresses ("io08 io09 io10", "io[08-10]");
    compresses ("n8 n9 n10 n11", "n[8-9],n[10-11]");
    compresses ("login", "login");
    compresses ("login n0", "login,n0");
    compresses ("n0 login n1", "n0,login,n1");
    compresses ("n0 n1 m0 m1", "n[0-1],m[0-1]");
    compresses ("n3 n2 n1", "n[3,2,1]");
    compresses ("n1 n1", "n[1,1]");
    compresses ("a b c", "a,b,c");
    compresses ("1 2 3", "[1-3]");
    compresses ("n1 n01", "n1,n01");
    compresses ("n0 n1 n2 n5 n6 n9", "n[0-2,5-6,9]");
    {
        char *c = hostlist_compress (NULL, 0);
        ok (c && !strcmp (c, ""), "compress of nothing is \"\"");
        free (c);
        /* long common prefix: compress must not truncate it */
        char a[710], b[710], want[720];
        memset (a, 'p', 700);
        memcpy (b, a, 700);
        strcpy (a + 700, "1");
        strcpy (b + 700, "2");
        memcpy (want, a, 700);
        strcpy (want + 700, "[1-2]");
        char *v[2] = { a, b };
        c = hostlist_compress (v, 2);
        ok (c && !strcmp (c, want), "compress keeps a 700-char prefix whole (got %zu chars, want %zu)",
            c ? strlen (c) : 0, strlen (want));
        free (c);
    }
    /* expand -> compress -> expand is stable */
    {
        const char *exprs[] = { "node[0-15],login,io[01-04]", "n[0-2,5-6,9]", "a,b[1-2],c",
                                "x[098-102]" };
        for (size_t i = 0; i < sizeof exprs / sizeof *exprs; i++) {
            char err[160];
            size_t n, m;
            char **h = hostlist_expand (exprs[i], &n, err, sizeof err);
            char *c = h ? hostlist_compress (h, n) : NULL;
            char **h2 = c ? hostlist_expand (c, &m, err, sizeof err) : NULL;
            int same = h2 && m == n;
            for (size_t k = 0; same && k < n; k++)
                same = !strcmp (h[k], h2[k]);
            ok (same, "'%s' -> '%s' -> same hosts", exprs[i], c ? c : "(null)");
            hostlist_free (h, h ? n : 0);
            hostlist_free (h2, h2 ? m : 0);
            free (c);
        }
    }
    return done ();
}
