/* fuzz_yaml.c - yaml_json_parse on arbitrary text.  A tree that comes back
 * is dumped as JSON; when that JSON parses again (JSON is YAML), it must
 * give the same tree.  A failure always carries a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "yaml_json.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err[256];
    json_t *j = yaml_json_parse ((const char *)data, size, err, sizeof err);
    if (!j) {
        if (!err[0] || strchr (err, '\n'))
            abort (); /* failures are reported, on one line */
        return 0;
    }
    char *s = json_dumps (j, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s)
        abort ();
    /* raw non-ASCII may hold YAML line breaks (NEL, LS, PS) that fold, and
     * DEL is not allowed raw in YAML: compare only plain-ASCII dumps */
    int ascii = 1;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p >= 0x7f)
            ascii = 0;
    if (ascii) {
        json_t *k = yaml_json_parse (s, strlen (s), err, sizeof err);
        if (k && !json_equal (j, k))
            abort ();
        json_decref (k);
    }
    free (s);
    json_decref (j);
    return 0;
}
