/* fuzz_jobspec.c - jobspec text through the parser and, when it parses,
 * through a match on a fixed small graph. */
#include "match.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char graph[] =
    "{\"graph\":{\"nodes\":["
    "{\"id\":\"0\",\"metadata\":{\"type\":\"cluster\",\"name\":\"c0\",\"id\":0,\"uniq_id\":0}},"
    "{\"id\":\"1\",\"metadata\":{\"type\":\"node\",\"name\":\"node0\",\"id\":0,\"uniq_id\":1}},"
    "{\"id\":\"2\",\"metadata\":{\"type\":\"socket\",\"name\":\"socket0\",\"id\":0,\"uniq_id\":2}},"
    "{\"id\":\"3\",\"metadata\":{\"type\":\"core\",\"name\":\"core0\",\"id\":0,\"uniq_id\":3}},"
    "{\"id\":\"4\",\"metadata\":{\"type\":\"core\",\"name\":\"core1\",\"id\":1,\"uniq_id\":4}},"
    "{\"id\":\"5\",\"metadata\":{\"type\":\"memory\",\"name\":\"memory0\",\"id\":0,\"uniq_id\":5,"
    "\"size\":4}}],"
    "\"edges\":[{\"source\":\"0\",\"target\":\"1\"},{\"source\":\"1\",\"target\":\"2\"},"
    "{\"source\":\"2\",\"target\":\"3\"},{\"source\":\"2\",\"target\":\"4\"},"
    "{\"source\":\"2\",\"target\":\"5\"}]}}";

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    mjobspec_t *j = mjobspec_parse ((const char *)data, size, err, sizeof (err));
    if (!j) {
        if (strchr (err, '\n'))
            abort ();
        return 0;
    }
    mgraph_t *g = mgraph_new ();
    if (mgraph_load_jgf (g, graph, sizeof (graph) - 1, err, sizeof (err)) < 0)
        abort ();
    const char *pol[] = {"low", "high", "first", "lonodex"};
    for (int p = 0; p < 4; p++) {
        matcher_t *m = matcher_new (g, pol[p], "CA", NULL, err, sizeof (err));
        if (!m)
            abort ();
        int64_t at;
        char *out = NULL;
        for (int i = 1; i <= 2; i++) {
            matcher_match (m, j, MATCH_ALLOCATE_ORELSE_RESERVE, i, &at, &out, err, sizeof (err));
            free (out);
            out = NULL;
        }
        matcher_match (m, j, MATCH_SATISFIABILITY, 9, &at, &out, err, sizeof (err));
        free (out);
        matcher_destroy (&m);
    }
    mgraph_destroy (&g);
    mjobspec_destroy (&j);
    return 0;
}
