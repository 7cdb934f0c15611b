/* mplan.c - a small span planner: how many units of a resource are in use
 * over time.  Spans are [start, end) with an amount; availability during a
 * window is the total minus the peak use inside it.  Vertices hold few
 * spans, so a flat array is enough. */
#include "mint.h"
#include "xalloc.h"
#include <stdlib.h>

int64_t mt_end (int64_t at, int64_t dur)
{
    if (dur < 0)
        dur = 0;
    if (at > MT_INF - dur)
        return MT_INF;
    return at + dur;
}

int64_t mplan_avail (const mplan_t *p, int64_t at, int64_t dur)
{
    if (p->n == 0)
        return p->total;
    int64_t end = mt_end (at, dur);
    if (end <= at)
        end = at + 1;
    int64_t peak = 0;
    /* peak use is reached at `at` or at the start of a span in the window */
    for (int i = -1; i < p->n; i++) {
        int64_t t;
        if (i < 0)
            t = at;
        else {
            t = p->s[i].start;
            if (t <= at || t >= end)
                continue;
        }
        int64_t use = 0;
        for (int j = 0; j < p->n; j++)
            if (p->s[j].start <= t && t < p->s[j].end)
                use += p->s[j].amount;
        if (use > peak)
            peak = use;
    }
    int64_t a = p->total - peak;
    return a < 0 ? 0 : a;
}

int64_t mplan_add (mplan_t *p, int64_t at, int64_t dur, int64_t amount, int64_t id)
{
    if (p->n == p->cap) {
        int nc = p->cap ? p->cap * 2 : 2;
        p->s = xrealloc (p->s, sizeof (*p->s) * nc);
        p->cap = nc;
    }
    p->s[p->n].start = at;
    p->s[p->n].end = mt_end (at, dur);
    p->s[p->n].amount = amount;
    p->s[p->n].id = id;
    p->n++;
    return id;
}

int mplan_rem (mplan_t *p, int64_t id)
{
    for (int i = 0; i < p->n; i++) {
        if (p->s[i].id == id) {
            p->s[i] = p->s[p->n - 1];
            p->n--;
            return 0;
        }
    }
    return -1;
}

/* move the end of span `id` to `end` (kept after its start); -1 if none */
int mplan_set_end (mplan_t *p, int64_t id, int64_t end)
{
    for (int i = 0; i < p->n; i++) {
        if (p->s[i].id == id) {
            p->s[i].end = end > p->s[i].start ? end : p->s[i].start + 1;
            return 0;
        }
    }
    return -1;
}

void mplan_free (mplan_t *p)
{
    free (p->s);
    p->s = NULL;
    p->n = p->cap = 0;
}

/* amount held by span `id`, or -1 if there is none */
int64_t mplan_span_amount (const mplan_t *p, int64_t id)
{
    for (int i = 0; i < p->n; i++)
        if (p->s[i].id == id)
            return p->s[i].amount;
    return -1;
}

/* lower span `id` by `amount` (not below 0); returns what is left, or -1 */
int64_t mplan_reduce (mplan_t *p, int64_t id, int64_t amount)
{
    for (int i = 0; i < p->n; i++) {
        if (p->s[i].id == id) {
            p->s[i].amount = p->s[i].amount > amount ? p->s[i].amount - amount : 0;
            return p->s[i].amount;
        }
    }
    return -1;
}
