/* test_idset.c - idset bitmap operations and the RFC 22 "0-3,7" text form:
 * decode/encode round trips, brackets, errors, the id ceiling. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "idset.h"

/* decode text, re-encode, compare with want (NULL = expect an error) */
static void roundtrip (const char *text, const char *want, size_t count)
{
    char err[160] = "";
    idset_t *s = idset_decode (text, err, sizeof err);
    if (!want) {
        ok (s == NULL && err[0] && !strchr (err, '\n'), "'%s' rejected: %s", text, err);
        idset_destroy (&s);
        return;
    }
    char *e = s ? idset_encode (s) : NULL;
    ok (e && !strcmp (e, want) && idset_count (s) == count, "'%s' -> '%s' (%zu ids)", text,
        e ? e : err, s ? idset_count (s) : 0);
    /* the encoding decodes back to the same set */
    idset_t *s2 = e ? idset_decode (e, err, sizeof err) : NULL;
    ok (s2 && idset_equal (s, s2), "'%s' re-decodes equal", want);
    idset_destroy (&s);
    idset_destroy (&s2);
    free (e);
}

int main (void)
{
    char err[160];

    roundtrip ("", "", 0);
    roundtrip ("[]", "", 0);
    roundtrip ("0", "0", 1);
    roundtrip ("[0]", "0", 1);
    roundtrip ("0-3,7", "0-3,7", 5);
    roundtrip ("[0-3,7]", "0-3,7", 5);
    roundtrip ("7,0-3", "0-3,7", 5);
    roundtrip ("3,2,1,0", "0-3", 4);
    roundtrip ("0-3,4-5", "0-5", 6);
    roundtrip ("1,1,1", "1", 1);
    roundtrip ("2-5,3-4", "2-5", 4);
    roundtrip ("5-5", "5", 1);
    roundtrip ("63,64", "63-64", 2);
    roundtrip ("62,64,66", "62,64,66", 3);
    roundtrip ("0-127,129", "0-127,129", 129);
    roundtrip ("007", "7", 1);
    roundtrip ("16777215", "16777215", 1);

    roundtrip ("1-", NULL, 0);
    roundtrip ("-1", NULL, 0);
    roundtrip ("a", NULL, 0);
    roundtrip ("1,a", NULL, 0);
    roundtrip ("3-1", NULL, 0);
    roundtrip ("1,", NULL, 0);
    roundtrip (",1", NULL, 0);
    roundtrip ("1,,2", NULL, 0);
    roundtrip ("1 2", NULL, 0);
    roundtrip (" 1", NULL, 0);
    roundtrip ("1-2-3", NULL, 0);
    roundtrip ("[1", NULL, 0);
    roundtrip ("1]", NULL, 0);
    roundtrip ("[1]]", NULL, 0);
    roundtrip ("[[1]]", NULL, 0);
    roundtrip ("[", NULL, 0);
    roundtrip ("+1", NULL, 0);
    roundtrip ("0x10", NULL, 0);
    roundtrip ("1\n2", NULL, 0); /* the error must stay on one line */

    /* the id ceiling */
    const char *huge[] = { "16777216", "0-16777216", "99999999999999999999", "4294967295",
                           "4294967296", "1,18446744073709551617" };
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
        err[0] = '\0';
        idset_t *s = idset_decode (huge[i], err, sizeof err);
        ok (s == NULL && strstr (err, "too large"), "'%s' rejected as too large: %s", huge[i], err);
        idset_destroy (&s);
    }
    {
        idset_t *s = idset_decode ("1", NULL, 0);
        ok (s && idset_count (s) == 1, "decode with no err buffer works");
        idset_destroy (&s);
        s = idset_decode ("x", NULL, 0);
        ok (s == NULL, "decode with no err buffer fails cleanly");
    }

    /* bitmap operations */
    {
        idset_t *s = idset_new ();
        ok (s && idset_count (s) == 0 && idset_first (s) == IDSET_INVALID
                && idset_last (s) == IDSET_INVALID,
            "new set is empty");
        char *e = idset_encode (s);
        ok (e && !strcmp (e, ""), "empty set encodes to \"\"");
        free (e);
        ok (idset_set (s, 5) == 0 && idset_set (s, 5) == 0 && idset_count (s) == 1,
            "setting twice counts once");
        ok (idset_set (s, 1000) == 0 && idset_test (s, 1000) && !idset_test (s, 999)
                && !idset_test (s, 1u << 30),
            "test: set, unset, far beyond the bitmap");
        ok (idset_set (s, IDSET_MAX_ID) < 0 && idset_set (s, IDSET_MAX_ID - 1) == 0,
            "idset_set refuses IDSET_MAX_ID, takes IDSET_MAX_ID-1");
        ok (idset_first (s) == 5 && idset_next (s, 5) == 1000 && idset_next (s, 1000) == IDSET_MAX_ID - 1
                && idset_next (s, IDSET_MAX_ID - 1) == IDSET_INVALID && idset_last (s) == IDSET_MAX_ID - 1,
            "iteration in order");
        idset_clear (s, IDSET_MAX_ID - 1);
        idset_clear (s, 77);           /* not set */
        idset_clear (s, 1u << 31);     /* far out */
        ok (idset_count (s) == 2 && idset_last (s) == 1000, "clear: only set ids change the count");
        ok (idset_range_set (s, 60, 70) == 0 && idset_count (s) == 13, "range 60-70 adds 11");
        e = idset_encode (s);
        ok (e && !strcmp (e, "5,60-70,1000"), "encode: %s", e ? e : "(null)");
        free (e);

        idset_t *c = idset_copy (s);
        ok (c && idset_equal (c, s), "copy is equal");
        idset_clear (c, 65);
        ok (!idset_equal (c, s) && idset_test (s, 65), "copy is independent");
        idset_t *o = idset_decode ("0-62,1000", err, sizeof err);
        idset_subtract (s, o);
        e = idset_encode (s);
        ok (e && !strcmp (e, "63-70") && idset_count (s) == 8, "subtract: %s", e ? e : "(null)");
        free (e);
        idset_t *empty = idset_new (), *ce = idset_copy (empty);
        ok (ce && idset_count (ce) == 0 && idset_equal (ce, empty), "copy of empty set");
        ok (!idset_equal (empty, s), "empty != non-empty");
        /* equal counts, different members */
        idset_t *a = idset_decode ("1-3", err, sizeof err), *b = idset_decode ("2-4", err, sizeof err);
        ok (!idset_equal (a, b), "1-3 != 2-4");
        idset_destroy (&a);
        idset_destroy (&b);
        idset_destroy (&empty);
        idset_destroy (&ce);
        idset_destroy (&o);
        idset_destroy (&c);
        idset_destroy (&s);
        ok (s == NULL, "destroy clears the pointer");
        idset_destroy (&s);
        idset_destroy (NULL);
    }

    /* a pseudo-random set: encoding is canonical and round trips */
    {
        idset_t *s = idset_new ();
        uint32_t x = 12345;
        for (int i = 0; i < 3000; i++) {
            x = x * 1103515245u + 12345u;
            idset_set (s, (x >> 8) % 5000);
        }
        char *e = idset_encode (s);
        idset_t *d = idset_decode (e, err, sizeof err);
        char *e2 = d ? idset_encode (d) : NULL;
        ok (d && idset_equal (s, d) && e2 && !strcmp (e, e2), "random set of %zu round trips",
            idset_count (s));
        /* canonical: ranges ascending and never adjacent */
        int canon = 1;
        long prev_hi = -2;
        for (char *p = e; *p;) {
            char *end;
            long lo = strtol (p, &end, 10), hi = lo;
            if (*end == '-')
                hi = strtol (end + 1, &end, 10);
            if (lo <= prev_hi + 1 || hi <= lo - (lo == hi ? 1 : 0) || (hi == lo && end[-1] == '-'))
                canon = 0;
            prev_hi = hi;
            p = *end == ',' ? end + 1 : end;
        }
        ok (canon, "encoding is canonical (sorted, maximal ranges)");
        free (e);
        free (e2);
        idset_destroy (&d);
        idset_destroy (&s);
    }
    {   /* union: word-wise, counts the new ids only, grows to the other's last id */
        char err[128];
        idset_t *a = idset_decode ("0-3,100", err, sizeof err);
        idset_t *b = idset_decode ("2-5,64,16000000", err, sizeof err);
        idset_t *e = idset_new ();
        ok (a && b && e && idset_union (a, b) == 0, "union succeeds");
        char *t = a ? idset_encode (a) : NULL;
        ok (t && !strcmp (t, "0-5,64,100,16000000") && idset_count (a) == 9,
            "union 0-3,100 | 2-5,64,16000000 = %s (count %zu)", t ? t : "NULL", a ? idset_count (a) : 0);
        free (t);
        ok (idset_union (a, e) == 0 && idset_count (a) == 9, "union with an empty set changes nothing");
        ok (idset_union (e, a) == 0 && idset_equal (e, a), "union into an empty set copies it");
        idset_destroy (&a);
        idset_destroy (&b);
        idset_destroy (&e);
    }
    return done ();
}
