/* taskmap.c - lay a job's tasks out over its allocated ranks.  See taskmap.h. */
#include "taskmap.h"
#include "xalloc.h"
#include "errquote.h"
#include "idset.h"
#include "jobspec_build.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void taskmap_free (taskmap_entry_t *v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++) {
        free (v[i].cores);
        free (v[i].gpus);
    }
    free (v);
}

int taskmap_ntasks (const taskmap_entry_t *v, int n)
{
    int t = 0;
    for (int i = 0; i < n; i++)
        t += v[i].count;
    return t;
}

static int cmp_entry (const void *a, const void *b)
{
    const taskmap_entry_t *x = a, *y = b;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static long count_ids (const char *text)
{
    if (!text || !*text)
        return 0;
    idset_t *s = idset_decode (text, NULL, 0);
    long n = s ? (long)idset_count (s) : -1;
    idset_destroy (&s);
    return n;
}

static json_int_t int_of (const json_t *o, const char *key, json_int_t dflt)
{
    json_t *v = json_object_get (o, key);
    return json_is_integer (v) ? json_integer_value (v) : dflt;
}

int taskmap_build (const json_t *js, const json_t *R, taskmap_entry_t **out, char *err, size_t errlen)
{
    *out = NULL;
    /* -- the request: slots per node (node level) or per-slot needs -- */
    json_t *res = json_object_get (js, "resources");
    json_t *top = json_array_get (res, 0);
    const char *type = json_string_value (json_object_get (top, "type"));
    if (!type)
        return errfail (err, errlen, "jobspec: no resources");
    json_t *slot = top;
    long slots_per_node = 0;   /* 0 = no node level */
    if (!strcmp (type, "node")) {
        slot = json_array_get (json_object_get (top, "with"), 0);
        slots_per_node = (long)int_of (slot, "count", -1);
        if (slots_per_node < 1)
            return errfail (err, errlen, "jobspec: node must hold a slot count >= 1");
    }
    const char *st = json_string_value (json_object_get (slot, "type"));
    if (!st || strcmp (st, "slot"))
        return errfail (err, errlen, "jobspec: expected a slot");
    long cps = 0, gps = 0;
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get (slot, "with"), i, c) {
        const char *t = json_string_value (json_object_get (c, "type"));
        if (t && !strcmp (t, "core"))
            cps = (long)int_of (c, "count", 0);
        else if (t && !strcmp (t, "gpu"))
            gps = (long)int_of (c, "count", 0);
    }
    json_t *count = json_object_get (json_array_get (json_object_get (js, "tasks"), 0), "count");
    long per_slot = (long)int_of (count, "per_slot", 0);
    long total = (long)int_of (count, "total", 0);
    if ((per_slot < 1) == (total < 1))
        return errfail (err, errlen, "jobspec: tasks count needs per_slot or total (>= 1)");

    /* -- the allocation -- */
    json_t *lite = json_object_get (json_object_get (R, "execution"), "R_lite");
    if (!json_is_array (lite) || json_array_size (lite) == 0)
        return errfail (err, errlen, "R: execution.R_lite must be a non-empty list");
    size_t cap = 0, n = 0;
    taskmap_entry_t *v = NULL;
    json_t *e;
    json_array_foreach (lite, i, e) {
        const char *rk = json_string_value (json_object_get (e, "rank"));
        json_t *ch = json_object_get (e, "children");
        const char *cores = json_string_value (json_object_get (ch, "core"));
        const char *gpus = json_string_value (json_object_get (ch, "gpu"));
        idset_t *ranks = rk ? idset_decode (rk, NULL, 0) : NULL;
        if (!ranks || !cores || count_ids (cores) < 0 || (gpus && count_ids (gpus) < 0)) {
            idset_destroy (&ranks);
            taskmap_free (v, (int)n);
            return errfail (err, errlen, "R: malformed R_lite entry %zu", i);
        }
        for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r)) {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                v = xrealloc (v, cap * sizeof *v);
            }
            memset (&v[n], 0, sizeof v[n]);
            v[n].rank = r;
            v[n].cores = xstrdup (cores);
            v[n].gpus = xstrdup (gpus ? gpus : "");
            n++;
        }
        idset_destroy (&ranks);
    }
    qsort (v, n, sizeof *v, cmp_entry);
    for (size_t k = 1; k < n; k++)
        if (v[k].rank == v[k - 1].rank) {
            uint32_t dup = v[k].rank;
            taskmap_free (v, (int)n);
            return errfail (err, errlen, "R: rank %u appears twice", dup);
        }

    /* -- lay out -- */
    long want = jobspec_ntasks (js);        /* -1: unknown shape: per_slot over every slot */
    long next = 0;
    for (size_t k = 0; k < n; k++) {
        long slots;
        if (slots_per_node)
            slots = slots_per_node;
        else {
            slots = cps > 0 ? count_ids (v[k].cores) / cps : 1;
            if (gps > 0 && count_ids (v[k].gpus) / gps < slots)
                slots = count_ids (v[k].gpus) / gps;
        }
        long tasks = total > 0 ? slots : slots * per_slot;
        if (want >= 0 && tasks > want - next)
            tasks = want - next;
        if (tasks > 1000000)
            tasks = 1000000;
        v[k].first = (int)next;
        v[k].count = (int)tasks;
        next += tasks;
    }
    if (want > 0 && next < want) {
        taskmap_free (v, (int)n);
        return errfail (err, errlen, "the allocation holds %ld of the %ld tasks", next, want);
    }
    if (next < 1) {
        taskmap_free (v, (int)n);
        return errfail (err, errlen, "the allocation holds no task");
    }
    *out = v;
    return (int)n;
}
