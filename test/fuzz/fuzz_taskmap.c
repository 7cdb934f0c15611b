/* fuzz_taskmap.c - a jobspec (from any client) and an R into the task
 * layout: no crash, no hang, one-line errors, and a map whose task blocks
 * are contiguous and in rank order.  Input: the jobspec JSON, then the R
 * JSON right after it. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "taskmap.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    json_error_t je;
    json_t *js = json_loadb ((const char *)data, size, JSON_DISABLE_EOF_CHECK, &je);
    if (!js)
        return 0;
    size_t off = je.position;
    json_t *R = off < size ? json_loadb ((const char *)data + off, size - off, 0, &je) : NULL;
    if (R) {
        char err[256] = "";
        taskmap_entry_t *m = NULL;
        int n = taskmap_build (js, R, &m, err, sizeof err);
        if (n < 0 && (!err[0] || strchr (err, '\n')))
            abort (); /* bad input gets one line of error */
        if (n >= 0) {
            int next = 0;
            for (int i = 0; i < n; i++) {
                if (m[i].count < 0 || m[i].first != next || !m[i].cores || !m[i].gpus)
                    abort ();
                if (i > 0 && m[i].rank <= m[i - 1].rank)
                    abort ();
                next += m[i].count;
            }
            if (taskmap_ntasks (m, n) != next)
                abort ();
            taskmap_free (m, n);
        }
    }
    json_decref (R);
    json_decref (js);
    return 0;
}
