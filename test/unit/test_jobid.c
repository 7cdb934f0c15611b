/* test_jobid.c - job ids: layout, generator order, f58/decimal round trips,
 * parse errors. */
#include "check.h"
#include "jobid.h"
#include <stdlib.h>
#include <string.h>

int main (void)
{
    char buf[JOBID_STRLEN], err[128];
    jobid_t id;

    /* layout */
    id = jobid_make (123456789, 42, 7);
    ok (jobid_ts (id) == 123456789 && jobid_genid (id) == 42 && jobid_seq (id) == 7,
        "make/split round trip");
    ok (jobid_unix_ms (id) == JOBID_EPOCH_MS + 123456789, "unix ms = epoch + ts");
    ok (jobid_make (JOBID_TS_MAX, JOBID_GEN_MAX, JOBID_SEQ_MAX) == UINT64_MAX, "all fields max = 2^64-1");

    /* f58: known values (Flux's alphabet, most significant digit first) */
    ok (jobid_encode (0, JOBID_F58, buf, sizeof buf) == 2 && !strcmp (buf, "f1"), "0 -> f1 (%s)", buf);
    jobid_encode (57, JOBID_F58, buf, sizeof buf);
    ok (!strcmp (buf, "fz"), "57 -> fz (%s)", buf);
    jobid_encode (58, JOBID_F58, buf, sizeof buf);
    ok (!strcmp (buf, "f21"), "58 -> f21 (%s)", buf);
    jobid_encode (UINT64_MAX, JOBID_F58, buf, sizeof buf);
    ok (!strcmp (buf, "fjpXCZedGfVQ"), "2^64-1 -> fjpXCZedGfVQ (%s)", buf);
    jobid_encode (UINT64_MAX, JOBID_DEC, buf, sizeof buf);
    ok (!strcmp (buf, "18446744073709551615"), "2^64-1 decimal");
    ok (jobid_encode (12345, JOBID_F58, buf, 3) == -1, "encode into a too-small buffer fails");
    ok (jobid_encode (5, JOBID_F58, buf, 3) == 2, "encode into an exact buffer works");

    /* round trips over many values */
    int bad = 0;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        uint64_t v = i < 100 ? (uint64_t)i : (i < 200 ? UINT64_MAX - i : x >> (i % 64));
        jobid_t back;
        jobid_encode (v, JOBID_F58, buf, sizeof buf);
        if (jobid_parse (buf, &back, err, sizeof err) < 0 || back != v)
            bad++;
        jobid_encode (v, JOBID_DEC, buf, sizeof buf);
        if (jobid_parse (buf, &back, err, sizeof err) < 0 || back != v)
            bad++;
    }
    ok (bad == 0, "20000 values round-trip through f58 and decimal (%d bad)", bad);

    /* the f58 form sorts like the number when lengths agree */
    char a[JOBID_STRLEN], b[JOBID_STRLEN];
    jobid_encode (jobid_make (1000, 0, 1), JOBID_F58, a, sizeof a);
    jobid_encode (jobid_make (1000, 0, 2), JOBID_F58, b, sizeof b);
    ok (strlen (a) == strlen (b) && strcmp (a, b) < 0, "later id, same length, sorts later (%s < %s)", a, b);

    /* parse: Flux's ƒ prefix */
    ok (jobid_parse ("\xc6\x92" "21", &id, err, sizeof err) == 0 && id == 58, "ƒ21 parses as 58");
    ok (jobid_parse ("f21", &id, err, sizeof err) == 0 && id == 58, "f21 parses as 58");

    /* parse errors */
    const char *bads[] = { "", "f", "\xc6\x92", "f0", "fO", "fI", "fl", "12a", "-1", "+5", " 5", "5 ",
                           "18446744073709551616", "99999999999999999999999",
                           "fjpXCZedGfVR", "f11111111111111111111jpXCZedGfVR1", "0x10", "F21",
                           "f2 1", "\xc6\n", "1\n2" };
    for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
        err[0] = '\0';
        id = 777;
        int rc = jobid_parse (bads[i], &id, err, sizeof err);
        ok (rc == -1 && id == 777 && strlen (err) > 0 && !strchr (err, '\n'),
            "reject '%s': %s", bads[i], err);
    }
    ok (jobid_parse ("f111111111112", &id, err, sizeof err) == 0 && id == 1,
        "leading f58 zeros ('1' digits) are accepted");
    ok (jobid_parse ("0000000000000000000000042", &id, err, sizeof err) == 0 && id == 42,
        "leading decimal zeros are accepted");
    ok (jobid_parse ("5", &id, NULL, 0) == 0 && id == 5 && jobid_parse ("x", &id, NULL, 0) == -1,
        "NULL err buffer is allowed");

    /* generator */
    ok (jobid_gen_new (JOBID_GEN_MAX + 1, 0) == NULL, "genid out of range refused");
    jobid_gen_t *g = jobid_gen_new (3, 0);
    uint64_t t0 = JOBID_EPOCH_MS + 5000;
    jobid_t prev = 0;
    int order_bad = 0, gen_bad = 0;
    for (int i = 0; i < 3000; i++) {            /* 3000 ids in one millisecond */
        if (jobid_gen_next (g, t0, &id) < 0 || id <= prev)
            order_bad++;
        if (jobid_genid (id) != 3)
            gen_bad++;
        prev = id;
    }
    ok (order_bad == 0 && gen_bad == 0, "3000 ids in one ms strictly increase, genid kept");
    ok (jobid_ts (prev) == 5002 && jobid_seq (prev) == 3000 - 2048 - 1,
        "sequence overflow borrows the next ms (ts %llu seq %u)",
        (unsigned long long)jobid_ts (prev), jobid_seq (prev));
    ok (jobid_gen_next (g, t0 - 1000, &id) == 0 && id > prev, "clock stepped back: still increasing");
    prev = id;
    ok (jobid_gen_next (g, t0 + 10000, &id) == 0 && jobid_ts (id) == 15000 && jobid_seq (id) == 0,
        "later ms resets the sequence");
    ok (jobid_gen_next (g, JOBID_EPOCH_MS - 1, &id) == -1, "time before the epoch refused");
    ok (jobid_gen_next (g, JOBID_EPOCH_MS + JOBID_TS_MAX + 1, &id) == -1, "time past 2^40 ms refused");
    jobid_gen_destroy (&g);
    ok (g == NULL, "destroy clears the pointer");

    /* restart: seeded with the last id, new ids sort after it even with an
     * earlier clock, and whatever generator issued it */
    jobid_t last = jobid_make (9000, 0, 17);
    g = jobid_gen_new (0, last);
    ok (jobid_gen_next (g, JOBID_EPOCH_MS + 100, &id) == 0 && id > last, "seeded generator continues after last");
    jobid_gen_destroy (&g);
    last = jobid_make (9000, 9, JOBID_SEQ_MAX);
    g = jobid_gen_new (2, last);
    ok (jobid_gen_next (g, JOBID_EPOCH_MS + 9000, &id) == 0 && id > last && jobid_genid (id) == 2,
        "seed from a higher genid: next id still greater");
    jobid_gen_destroy (&g);
    last = jobid_make (9000, 1, 5);
    g = jobid_gen_new (2, last);
    ok (jobid_gen_next (g, JOBID_EPOCH_MS + 9000, &id) == 0 && id > last && jobid_ts (id) == 9000,
        "seed from a lower genid: same ms is fine");
    jobid_gen_destroy (&g);
    return done ();
}
