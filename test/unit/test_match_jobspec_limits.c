/* test_match_jobspec_limits.c - jobspec values past what the matcher
 * carries are refused saying the limit (counts past 2^32 - 1, a duration
 * of 1e300), and what Fluxion accepts is accepted: "attributes:" (or
 * "system:") left empty. */
#include "check.h"
#include "match.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char err[256];

static mjobspec_t *parse (const char *text)
{
    err[0] = '\0';
    return mjobspec_parse (text, strlen (text), err, sizeof err);
}

static bool refused_with (const char *text, const char *want)
{
    mjobspec_t *j = parse (text);
    bool r = !j && strstr (err, want);
    mjobspec_destroy (&j);
    return r;
}

#define HEAD "version: 9999\nresources:\n  - type: node\n"

int main (void)
{
    char t[512];
    /* counts: 2^32 - 1 is accepted, 2^32 and more are refused with the limit */
    snprintf (t, sizeof t, HEAD "    count: 4294967295\n");
    mjobspec_t *j = parse (t);
    ok (j != NULL, "count 4294967295 accepted (%s)", err);
    mjobspec_destroy (&j);
    snprintf (t, sizeof t, HEAD "    count: 4294967296\n");
    ok (refused_with (t, "from 1 to 4294967295"), "count 2^32 refused saying the limit: %s", err);
    snprintf (t, sizeof t, HEAD "    count: 10000000000\n");
    ok (refused_with (t, "\"count\" must be an integer from 1 to 4294967295"),
        "count 1e10 refused saying the limit: %s", err);
    snprintf (t, sizeof t, HEAD "    count: 0\n");
    ok (refused_with (t, "from 1 to"), "count 0 refused: %s", err);
    snprintf (t, sizeof t, HEAD "    count:\n      min: 5000000000\n");
    ok (refused_with (t, "\"count.min\" must be an integer from 1 to 4294967295"),
        "count.min past 2^32 refused saying the limit: %s", err);
    snprintf (t, sizeof t, HEAD "    count:\n      min: 1\n      max: 5000000000\n");
    ok (refused_with (t, "\"count.max\" must be an integer from min to 4294967295"),
        "count.max past 2^32 refused saying the limit: %s", err);

    /* durations */
    snprintf (t, sizeof t, HEAD "    count: 1\nattributes:\n  system:\n    duration: 1e300\n");
    ok (refused_with (t, "from 0 to 9.2e18"), "duration 1e300 refused saying the limit: %s", err);
    snprintf (t, sizeof t, HEAD "    count: 1\nattributes:\n  system:\n    duration: -1\n");
    ok (refused_with (t, "from 0 to 9.2e18"), "duration -1 refused: %s", err);
    snprintf (t, sizeof t, HEAD "    count: 1\nattributes:\n  system:\n    duration: 9e18\n");
    j = parse (t);
    ok (j && mjobspec_duration (j) == (int64_t)9e18, "duration 9e18 accepted (%s)", err);
    mjobspec_destroy (&j);

    /* attributes: left empty, or system: left empty */
    snprintf (t, sizeof t, HEAD "    count: 1\nattributes:\n");
    j = parse (t);
    ok (j != NULL && mjobspec_duration (j) == 0, "\"attributes:\" left empty accepted (%s)", err);
    mjobspec_destroy (&j);
    snprintf (t, sizeof t, HEAD "    count: 1\nattributes:\n  system:\n");
    j = parse (t);
    ok (j != NULL, "\"system:\" left empty accepted (%s)", err);
    mjobspec_destroy (&j);
    snprintf (t, sizeof t, HEAD "    count: 1\nattributes: 3\n");
    ok (refused_with (t, "\"attributes\" must be a mapping"), "attributes: 3 still refused: %s", err);
    return done ();
}
