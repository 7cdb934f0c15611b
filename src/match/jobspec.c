/* jobspec.c - parse a jobspec (canonical "version: 9999" or V1) into the
 * matcher's resource tree.  YAML goes through yaml_json_parse; every
 * malformed field gets one error line naming it. */
#include "mint.h"
#include "xalloc.h"
#include "yaml_json.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JS_MAX_DEPTH 32

static void res_free (mres_t *r)
{
    free (r->type);
    free (r->unit);
    free (r->label);
    for (int i = 0; i < r->nwith; i++)
        res_free (&r->with[i]);
    free (r->with);
    free (r->udata);
}

void mjobspec_destroy (mjobspec_t **jp)
{
    if (!jp || !*jp)
        return;
    mjobspec_t *j = *jp;
    for (int i = 0; i < j->nres; i++)
        res_free (&j->res[i]);
    free (j->res);
    for (int i = 0; i < j->ntasks; i++)
        free (j->task_slots[i]);
    free (j->task_slots);
    constraint_destroy (&j->cons);
    json_decref (j->raw);
    free (j);
    *jp = NULL;
}

int64_t mjobspec_duration (const mjobspec_t *js)
{
    return js ? js->duration : 0;
}

void mjobspec_set_duration (mjobspec_t *js, int64_t seconds)
{
    if (js && seconds > 0)
        js->duration = seconds;
}

static int get_uint (json_t *o, unsigned *out)
{
    if (json_is_integer (o)) {
        json_int_t v = json_integer_value (o);
        if (v < 0 || v > UINT_MAX)
            return -1;
        *out = (unsigned)v;
        return 0;
    }
    return -1;
}

static int parse_res_list (json_t *arr, mres_t **out, int *nout, int depth, const char *where,
                           char *err, size_t errlen);

static int parse_res (json_t *o, mres_t *r, int depth, const char *where, char *err, size_t errlen)
{
    memset (r, 0, sizeof (*r));
    r->excl = -1;
    r->tid = -1;
    r->oper = '+';
    r->operand = 1;
    if (!json_is_object (o)) {
        snprintf (err, errlen, "jobspec: %s: each resource must be a mapping", where);
        return -1;
    }
    json_t *t = json_object_get (o, "type");
    if (!t) {
        snprintf (err, errlen, "jobspec: %s: resource is missing \"type\"", where);
        return -1;
    }
    if (!json_is_string (t) || !*json_string_value (t)) {
        snprintf (err, errlen, "jobspec: %s: \"type\" must be a non-empty string", where);
        return -1;
    }
    r->type = xstrdup (json_string_value (t));
    r->xor = !strcmp (r->type, "xor_slot");
    r->type_is_slot = !strcmp (r->type, "slot") || r->xor;
    const char *key;
    json_t *val;
    json_object_foreach (o, key, val) {
        if (!strcmp (key, "type") || !strcmp (key, "with") || !strcmp (key, "requires")
            || !strcmp (key, "id") || !strcmp (key, "attributes"))
            continue;
        if (!strcmp (key, "count")) {
            if (json_is_integer (val)) {
                if (get_uint (val, &r->cmin) < 0 || r->cmin < 1) {
                    snprintf (err, errlen, "jobspec: %s: %s \"count\" must be an integer from 1 to 4294967295",
                              where, r->type);
                    return -1;
                }
                r->cmax = r->cmin;
            } else if (json_is_object (val)) {
                json_t *mn = json_object_get (val, "min");
                json_t *mx = json_object_get (val, "max");
                json_t *op = json_object_get (val, "operator");
                json_t *od = json_object_get (val, "operand");
                if (!mn || get_uint (mn, &r->cmin) < 0 || r->cmin < 1) {
                    snprintf (err, errlen, "jobspec: %s: %s \"count.min\" must be an integer from 1 to 4294967295",
                              where, r->type);
                    return -1;
                }
                if (mx) {
                    if (get_uint (mx, &r->cmax) < 0 || r->cmax < r->cmin) {
                        snprintf (err, errlen,
                                  "jobspec: %s: %s \"count.max\" must be an integer from min to "
                                  "4294967295",
                                  where, r->type);
                        return -1;
                    }
                } else
                    r->cmax = UINT_MAX;
                if (op) {
                    const char *s = json_is_string (op) ? json_string_value (op) : "";
                    if (strlen (s) != 1 || !strchr ("+*^", s[0])) {
                        snprintf (err, errlen,
                                  "jobspec: %s: %s \"count.operator\" must be one of + * ^",
                                  where, r->type);
                        return -1;
                    }
                    r->oper = s[0];
                }
                if (od) {
                    if (!json_is_integer (od) || json_integer_value (od) < 1
                        || json_integer_value (od) > 1000000) {
                        snprintf (err, errlen,
                                  "jobspec: %s: %s \"count.operand\" must be an integer from 1 to 1000000",
                                  where, r->type);
                        return -1;
                    }
                    r->operand = (int)json_integer_value (od);
                }
                if ((r->oper == '*' && r->operand < 2) || (r->oper == '+' && r->operand < 1)) {
                    snprintf (err, errlen, "jobspec: %s: %s \"count.operand\" invalid for %c",
                              where, r->type, r->oper);
                    return -1;
                }
            } else {
                snprintf (err, errlen,
                          "jobspec: %s: %s \"count\" must be an integer or a min/max mapping",
                          where, r->type);
                return -1;
            }
        } else if (!strcmp (key, "unit")) {
            if (!json_is_string (val)) {
                snprintf (err, errlen, "jobspec: %s: %s \"unit\" must be a string", where, r->type);
                return -1;
            }
            r->unit = xstrdup (json_string_value (val));
        } else if (!strcmp (key, "exclusive")) {
            if (!json_is_boolean (val)) {
                snprintf (err, errlen, "jobspec: %s: %s \"exclusive\" must be true or false",
                          where, r->type);
                return -1;
            }
            r->excl = json_is_true (val) ? 1 : 0;
        } else if (!strcmp (key, "label")) {
            if (!json_is_string (val)) {
                snprintf (err, errlen, "jobspec: %s: %s \"label\" must be a string", where, r->type);
                return -1;
            }
            r->label = xstrdup (json_string_value (val));
        } else {
            snprintf (err, errlen, "jobspec: %s: %s has unknown key \"%s\"", where, r->type, key);
            return -1;
        }
    }
    if (!json_object_get (o, "count")) {
        snprintf (err, errlen, "jobspec: %s: %s is missing \"count\"", where, r->type);
        return -1;
    }
    if (r->type_is_slot && !r->label) {
        snprintf (err, errlen, "jobspec: %s: slot is missing \"label\"", where);
        return -1;
    }
    json_t *w = json_object_get (o, "with");
    if (r->type_is_slot && !w) {
        snprintf (err, errlen, "jobspec: %s: slot must have \"with\"", where);
        return -1;
    }
    if (w) {
        char sub[256];
        snprintf (sub, sizeof (sub), "%s.%s.with", where, r->type);
        if (depth >= JS_MAX_DEPTH) {
            snprintf (err, errlen, "jobspec: %s: resources nested too deeply", where);
            return -1;
        }
        if (parse_res_list (w, &r->with, &r->nwith, depth + 1, sub, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int parse_res_list (json_t *arr, mres_t **out, int *nout, int depth, const char *where,
                           char *err, size_t errlen)
{
    if (!json_is_array (arr) || json_array_size (arr) == 0) {
        snprintf (err, errlen, "jobspec: \"%s\" must be a non-empty list", where);
        return -1;
    }
    size_t n = json_array_size (arr);
    *out = xcalloc (n, sizeof (mres_t));
    *nout = 0;
    if (!*out)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int rc = parse_res (json_array_get (arr, i), &(*out)[i], depth, where, err, errlen);
        (*nout)++;
        if (rc < 0)
            return -1;
        for (size_t k = 0; k < i; k++) {
            /* sibling slots are "or" slots; the matcher takes them only
             * with the flexible traverser */
            if (!strcmp ((*out)[k].type, (*out)[i].type) && !(*out)[i].type_is_slot) {
                snprintf (err, errlen, "jobspec: %s: type \"%s\" appears twice at one level",
                          where, (*out)[i].type);
                return -1;
            }
        }
    }
    return 0;
}

mjobspec_t *mjobspec_parse (const char *text, size_t len, char *err, size_t errlen)
{
    char perr[256];
    json_t *o = yaml_json_parse (text, len, perr, sizeof (perr));
    if (!o) {
        snprintf (err, errlen, "jobspec: %s", perr);
        return NULL;
    }
    mjobspec_t *j = xcalloc (1, sizeof (*j));
    j->raw = o;
    if (!json_is_object (o)) {
        snprintf (err, errlen, "jobspec: top level must be a mapping");
        goto fail;
    }
    json_t *ver = json_object_get (o, "version");
    if (!ver) {
        snprintf (err, errlen, "jobspec: missing \"version\"");
        goto fail;
    }
    if (!json_is_integer (ver)
        || (json_integer_value (ver) != 9999 && json_integer_value (ver) != 1)) {
        snprintf (err, errlen, "jobspec: \"version\" must be 1 or 9999");
        goto fail;
    }
    json_t *res = json_object_get (o, "resources");
    if (!res) {
        snprintf (err, errlen, "jobspec: missing \"resources\"");
        goto fail;
    }
    if (parse_res_list (res, &j->res, &j->nres, 0, "resources", err, errlen) < 0)
        goto fail;
    json_t *attrs = json_object_get (o, "attributes");
    if (json_is_null (attrs))   /* "attributes:" left empty, as Fluxion accepts */
        attrs = NULL;
    if (attrs) {
        if (!json_is_object (attrs)) {
            snprintf (err, errlen, "jobspec: \"attributes\" must be a mapping");
            goto fail;
        }
        json_t *sys = json_object_get (attrs, "system");
        if (json_is_null (sys))
            sys = NULL;
        if (sys && !json_is_object (sys)) {
            snprintf (err, errlen, "jobspec: \"attributes.system\" must be a mapping");
            goto fail;
        }
        json_t *d = sys ? json_object_get (sys, "duration") : NULL;
        if (d) {
            if (!json_is_number (d) || json_number_value (d) < 0
                || json_number_value (d) > 9.2e18) {
                snprintf (err, errlen, "jobspec: \"attributes.system.duration\" must be a number "
                                       "of seconds from 0 to 9.2e18");
                goto fail;
            }
            j->duration = (int64_t)json_number_value (d);
        }
        j->constraint = sys ? json_object_get (sys, "constraints") : NULL;
        if (j->constraint && !json_is_null (j->constraint)) {
            char e2[200];
            if (!(j->cons = constraint_compile (j->constraint, e2, sizeof e2))) {
                snprintf (err, errlen, "jobspec: attributes.system.constraints: %s", e2);
                goto fail;
            }
        }
    }
    json_t *tasks = json_object_get (o, "tasks");
    if (tasks) {
        if (!json_is_array (tasks)) {
            snprintf (err, errlen, "jobspec: \"tasks\" must be a list");
            goto fail;
        }
        size_t n = json_array_size (tasks);
        j->task_slots = xcalloc (n ? n : 1, sizeof (char *));
        for (size_t i = 0; i < n; i++) {
            json_t *t = json_array_get (tasks, i);
            if (!json_is_object (t)) {
                snprintf (err, errlen, "jobspec: tasks[%zu] must be a mapping", i);
                goto fail;
            }
            json_t *cmd = json_object_get (t, "command");
            if (!cmd || (!json_is_array (cmd) && !json_is_string (cmd))) {
                snprintf (err, errlen, "jobspec: tasks[%zu].command must be a list", i);
                goto fail;
            }
            json_t *sl = json_object_get (t, "slot");
            if (!sl || !json_is_string (sl)) {
                snprintf (err, errlen, "jobspec: tasks[%zu].slot must be a string", i);
                goto fail;
            }
            json_t *cnt = json_object_get (t, "count");
            if (!cnt || !json_is_object (cnt)) {
                snprintf (err, errlen, "jobspec: tasks[%zu].count must be a mapping", i);
                goto fail;
            }
            j->task_slots[j->ntasks++] = xstrdup (json_string_value (sl));
        }
    }
    return j;
fail:
    mjobspec_destroy (&j);
    return NULL;
}

unsigned mres_calc_count (const mres_t *r, unsigned qc)
{
    if (r->cmin > r->cmax || r->cmin > qc)
        return 0;
    unsigned count = 0;
    unsigned long long cur = r->cmin;
    switch (r->oper) {
        case '+': {
            unsigned long long lim = qc < r->cmax ? qc : r->cmax;
            unsigned long long step = r->operand ? (unsigned long long)r->operand : 1;
            count = (unsigned)(cur + ((lim - cur) / step) * step);
            break;
        }
        case '*':
            while (cur <= qc && cur <= r->cmax) {
                count = (unsigned)cur;
                cur *= r->operand;
                if (r->operand < 2)
                    break;
            }
            break;
        case '^':
            if (r->operand < 2)
                count = (unsigned)cur;
            else {
                while (cur <= qc && cur <= r->cmax) {
                    unsigned long long base = cur;
                    count = (unsigned)cur;
                    for (int i = 1; i < r->operand && cur <= UINT_MAX; i++)
                        cur *= base;
                    if (base < 2)
                        break;
                }
            }
            break;
        default:
            break;
    }
    return count;
}

unsigned mres_effective_max (const mres_t *r)
{
    return mres_calc_count (r, UINT_MAX);
}

#define ALT_CAP 4096ul

static unsigned long cap_mul (unsigned long a, unsigned long b)
{
    return (a && b > ALT_CAP / a) ? ALT_CAP : a * b;
}

/* alternatives of a list when the xor sibling x (-1: none) is chosen */
static unsigned long alt_choice (const mres_t *rs, int n, int x)
{
    unsigned long c = 1;
    for (int i = 0; i < n; i++)
        if (!rs[i].xor || i == x)
            c = cap_mul (c, mres_alt_count (rs[i].with, rs[i].nwith));
    return c;
}

unsigned long mres_alt_count (const mres_t *rs, int n)
{
    unsigned long total = 0;
    bool any = false;
    for (int i = 0; i < n; i++) {
        if (rs[i].xor) {
            any = true;
            total += alt_choice (rs, n, i);
            if (total > ALT_CAP)
                total = ALT_CAP;
        }
    }
    return any ? total : alt_choice (rs, n, -1);
}

mres_t *mres_alt_build (const mres_t *rs, int n, unsigned long k, int *nout)
{
    int x = -1;
    *nout = 0;
    if (n <= 0)
        return NULL;
    for (int i = 0; i < n; i++) {
        if (!rs[i].xor)
            continue;
        unsigned long c = alt_choice (rs, n, i);
        if (k < c) {
            x = i;
            break;
        }
        k -= c;
    }
    mres_t *out = xcalloc (n, sizeof (mres_t));
    for (int i = 0; i < n; i++) {
        if (rs[i].xor && i != x)
            continue;
        mres_t *o = &out[(*nout)++];
        *o = rs[i];
        o->xor = 0;
        o->udata = NULL;
        unsigned long r = mres_alt_count (rs[i].with, rs[i].nwith);
        unsigned long sub = r ? k % r : 0;
        k = r ? k / r : k;
        o->with = mres_alt_build (rs[i].with, rs[i].nwith, sub, &o->nwith);
    }
    return out;
}

void mres_alt_free (mres_t *rs, int n)
{
    if (!rs)
        return;
    for (int i = 0; i < n; i++) {
        mres_alt_free (rs[i].with, rs[i].nwith);
        free (rs[i].udata);
    }
    free (rs);
}
