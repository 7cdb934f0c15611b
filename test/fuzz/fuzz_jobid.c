/* fuzz_jobid.c - job id parser: never crash; anything accepted re-encodes to
 * a form that parses back to the same id. */
#include "jobid.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *s = malloc (size + 1);
    if (!s)
        return 0;
    memcpy (s, data, size);
    s[size] = '\0';
    char err[128];
    jobid_t id, back;
    if (jobid_parse (s, &id, err, sizeof err) == 0) {
        char buf[JOBID_STRLEN];
        for (int f = JOBID_F58; f <= JOBID_DEC; f++) {
            if (jobid_encode (id, (jobid_fmt_t)f, buf, sizeof buf) < 0)
                abort ();
            if (jobid_parse (buf, &back, err, sizeof err) < 0 || back != id)
                abort ();
        }
    }
    else if (!err[0] || strchr (err, '\n'))
        abort ();               /* errors are one non-empty line */
    free (s);
    return 0;
}
