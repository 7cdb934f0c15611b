/* jobspec_build.c - `canopy submit` options -> RFC 25 V1 jobspec, the YAML
 * rendering for --dry-run, and the few readers the job manager needs.
 * The shape produced is documented in doc/jobs.md. */
#include "jobspec_build.h"
#include "sbuf.h"
#include "xalloc.h"
#include "errquote.h"
#include "hostlist.h"
#include "idset.h"
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* -- time limit --------------------------------------------------------- */

int jobspec_parse_time_limit (const char *s, double *seconds, char *err, size_t errlen)
{
    if (!s || !*s)
        return errfail (err, errlen, "invalid time limit '': expected e.g. 30s, 5m, 1.5h, 2d or minutes");
    char *end;
    errno = 0;
    double v = strtod (s, &end);
    double mult = 60.0;                 /* bare number: minutes, as flux run -t */
    if (end == s || errno || !isfinite (v) || v < 0 || strspn (s, "0123456789.") != (size_t)(end - s))
        return errfail (err, errlen, "invalid time limit '%.40s': expected e.g. 30s, 5m, 1.5h, 2d or minutes", s);
    if (*end) {
        if (end[1] != '\0')
            return errfail (err, errlen, "invalid time limit '%.40s': unknown unit '%.20s'", s, end);
        switch (*end) {
            case 's': mult = 1; break;
            case 'm': mult = 60; break;
            case 'h': mult = 3600; break;
            case 'd': mult = 86400; break;
            default:
                return errfail (err, errlen, "invalid time limit '%.40s': unknown unit '%c' (use s, m, h or d)",
                             s, *end);
        }
    }
    v *= mult;
    if (!isfinite (v) || v > 1e12)
        return errfail (err, errlen, "invalid time limit '%.40s': too large", s);
    *seconds = v;
    return 0;
}

/* -- pieces ------------------------------------------------------------- */

static json_t *resource (const char *type, int count, json_t *with)
{
    json_t *r = json_pack ("{s:s s:i}", "type", type, "count", count);
    if (r && with)
        json_object_set_new (r, "with", with);
    else
        json_decref (with);
    return r;
}

static json_t *build_constraints (const jobspec_opts_t *o, char *err, size_t errlen)
{
    json_t *terms = json_array ();
    for (size_t i = 0; i < o->nrequires; i++) {
        const char *r = o->requires[i];
        char e[128];
        if (!r || !*r) {
            errfail (err, errlen, "invalid --requires '': expected rank:IDSET or host:HOSTLIST");
            goto error;
        }
        if (!strncmp (r, "rank:", 5)) {
            idset_t *ids = idset_decode (r + 5, e, sizeof e);
            if (!ids || idset_count (ids) == 0) {
                errfail (err, errlen, "invalid --requires '%.60s': %s", r, ids ? "empty rank set" : e);
                idset_destroy (&ids);
                goto error;
            }
            char *canon = idset_encode (ids);
            idset_destroy (&ids);
            json_array_append_new (terms, json_pack ("{s:[s]}", "ranks", canon));
            free (canon);
        }
        else if (!strncmp (r, "host:", 5)) {
            size_t n = 0;
            char **hosts = hostlist_expand (r + 5, &n, e, sizeof e);
            if (!hosts || n == 0) {
                errfail (err, errlen, "invalid --requires '%.60s': %s", r, hosts ? "empty hostlist" : e);
                hostlist_free (hosts, n);
                goto error;
            }
            hostlist_free (hosts, n);
            json_array_append_new (terms, json_pack ("{s:[s]}", "hostlist", r + 5));
        }
        else {
            errfail (err, errlen, "invalid --requires '%.60s': expected rank:IDSET or host:HOSTLIST", r);
            goto error;
        }
    }
    if (json_array_size (terms) == 0) {
        json_decref (terms);
        return json_null ();
    }
    if (json_array_size (terms) == 1) {
        json_t *t = json_incref (json_array_get (terms, 0));
        json_decref (terms);
        return t;
    }
    return json_pack ("{s:o}", "and", terms);
error:
    json_decref (terms);
    return NULL;
}

static const char *dep_names[] = { "after", "afterok", "afterany", "afternotok" };

const char *jobspec_dep_scheme_name (jobspec_dep_scheme_t s)
{
    return (unsigned)s < 4 ? dep_names[s] : "?";
}

static int dep_scheme_parse (const char *s, size_t len, jobspec_dep_scheme_t *out)
{
    for (int i = 0; i < 4; i++)
        if (strlen (dep_names[i]) == len && !strncmp (s, dep_names[i], len)) {
            *out = (jobspec_dep_scheme_t)i;
            return 0;
        }
    return -1;
}

static json_t *build_dependencies (const jobspec_opts_t *o, char *err, size_t errlen)
{
    json_t *deps = json_array ();
    for (size_t i = 0; i < o->ndependencies; i++) {
        const char *d = o->dependencies[i];
        const char *colon = d ? strchr (d, ':') : NULL;
        jobspec_dep_scheme_t sch;
        jobid_t id;
        char e[128], idbuf[JOBID_STRLEN];
        if (!colon) {
            errfail (err, errlen, "invalid --dependency '%.60s': expected SCHEME:JOBID "
                  "(after, afterok, afterany, afternotok)", d ? d : "");
            goto error;
        }
        if (dep_scheme_parse (d, colon - d, &sch) < 0) {
            errfail (err, errlen, "invalid --dependency '%.60s': unknown scheme '%.*s' "
                  "(use after, afterok, afterany or afternotok)", d, (int)(colon - d) > 20 ? 20 : (int)(colon - d), d);
            goto error;
        }
        if (jobid_parse (colon + 1, &id, e, sizeof e) < 0) {
            errfail (err, errlen, "invalid --dependency '%.60s': %s", d, e);
            goto error;
        }
        jobid_encode (id, JOBID_F58, idbuf, sizeof idbuf);
        json_array_append_new (deps, json_pack ("{s:s s:s}", "scheme", dep_names[sch], "value", idbuf));
    }
    return deps;
error:
    json_decref (deps);
    return NULL;
}

static int env_name_ok (const char *s, size_t len)
{
    return len > 0 && !memchr (s, '=', len);
}

static json_t *build_environment (const jobspec_opts_t *o, char *err, size_t errlen)
{
    json_t *env = json_object ();
    if (o->environ_base)
        for (const char *const *e = o->environ_base; *e; e++) {
            const char *eq = strchr (*e, '=');
            if (!eq || eq == *e)
                continue;               /* not NAME=VAL: skip, as a shell would */
            char *name = xstrndup (*e, eq - *e);
            json_object_set_new (env, name, json_string (eq + 1));
            free (name);
        }
    for (size_t i = 0; i < o->nenv_rules; i++) {
        const char *r = o->env_rules[i];
        if (!r || !*r || !strcmp (r, "-")) {
            errfail (err, errlen, "invalid --env '%s': expected NAME=VAL, NAME or -PATTERN", r ? r : "");
            goto error;
        }
        if (r[0] == '-') {
            const char *pat = r + 1;
            const char *key;
            json_t *v;
            void *tmp;
            json_object_foreach_safe (env, tmp, key, v) {
                if (fnmatch (pat, key, 0) == 0)
                    json_object_del (env, key);
            }
            continue;
        }
        const char *eq = strchr (r, '=');
        if (eq) {
            if (!env_name_ok (r, eq - r)) {
                errfail (err, errlen, "invalid --env '%.60s': empty variable name", r);
                goto error;
            }
            char *name = xstrndup (r, eq - r);
            json_object_set_new (env, name, json_string (eq + 1));
            free (name);
            continue;
        }
        /* NAME or glob: take from the base environment (after a removal) */
        int found = 0;
        if (o->environ_base)
            for (const char *const *e = o->environ_base; *e; e++) {
                const char *q = strchr (*e, '=');
                if (!q || q == *e)
                    continue;
                char *name = xstrndup (*e, q - *e);
                if (fnmatch (r, name, 0) == 0) {
                    json_object_set_new (env, name, json_string (q + 1));
                    found = 1;
                }
                free (name);
            }
        if (!found && !strpbrk (r, "*?[")) {
            errfail (err, errlen, "invalid --env '%.60s': not set in the environment", r);
            goto error;
        }
    }
    /* json_string() refuses invalid UTF-8 and returns NULL: catch that */
    const char *key;
    json_t *v;
    json_object_foreach (env, key, v)
        if (!v) {
            errfail (err, errlen, "environment variable %.60s is not valid UTF-8", key);
            goto error;
        }
    return env;
error:
    json_decref (env);
    return NULL;
}

/* Set a dotted attribute path under attributes ("system.a.b"). */
static int set_path (json_t *attrs, const char *path, json_t *val, char *err, size_t errlen)
{
    json_t *cur = attrs;
    const char *p = path;
    for (;;) {
        const char *dot = strchr (p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen (p);
        if (len == 0) {
            json_decref (val);
            return errfail (err, errlen, "invalid --setattr '%.60s': empty key component", path);
        }
        char *k = xstrndup (p, len);
        if (!dot) {
            json_object_set_new (cur, k, val);
            free (k);
            return 0;
        }
        json_t *next = json_object_get (cur, k);
        if (!next) {
            next = json_object ();
            json_object_set_new (cur, k, next);
        }
        else if (!json_is_object (next)) {
            errfail (err, errlen, "invalid --setattr '%.60s': '%s' is not a table", path, k);
            free (k);
            json_decref (val);
            return -1;
        }
        free (k);
        cur = next;
        p = dot + 1;
    }
}

static int apply_setattr (json_t *attrs, const char *s, char *err, size_t errlen)
{
    if (!s || !*s || *s == '=')
        return errfail (err, errlen, "invalid --setattr '%s': expected KEY[=VAL]", s ? s : "");
    const char *eq = strchr (s, '=');
    char *key = eq ? xstrndup (s, eq - s) : xstrdup (s);
    json_t *val;
    if (!eq)
        val = json_integer (1);
    else {
        val = json_loads (eq + 1, JSON_DECODE_ANY, NULL);
        if (!val)
            val = json_string (eq + 1);
        if (!val) {
            free (key);
            return errfail (err, errlen, "invalid --setattr '%.60s': value is not valid UTF-8", s);
        }
    }
    int prefixed = !strncmp (key, "system.", 7) || !strncmp (key, "user.", 5);
    size_t plen = strlen (key) + 8;
    char *path = xmalloc (plen);
    snprintf (path, plen, "%s%s", prefixed ? "" : "system.", key);
    free (key);
    int rc = set_path (attrs, path, val, err, errlen);
    free (path);
    return rc;
}

/* -- checks on the assembled attributes (also catches --setattr abuse) -- */

static int check_constraint (const json_t *c, int depth, char *err, size_t errlen)
{
    if (depth > 32)
        return errfail (err, errlen, "invalid constraints: nested too deeply");
    if (!json_is_object (c) || json_object_size (c) != 1)
        return errfail (err, errlen, "invalid constraints: each term must be an object with one operator");
    const char *op = json_object_iter_key (json_object_iter ((json_t *)c));
    json_t *args = json_object_iter_value (json_object_iter ((json_t *)c));
    if (!json_is_array (args))
        return errfail (err, errlen, "invalid constraints: '%s' takes an array", op);
    size_t i;
    json_t *a;
    if (!strcmp (op, "and") || !strcmp (op, "or") || !strcmp (op, "not")) {
        json_array_foreach (args, i, a)
            if (check_constraint (a, depth + 1, err, errlen) < 0)
                return -1;
        return 0;
    }
    if (!strcmp (op, "ranks") || !strcmp (op, "hostlist")) {
        json_array_foreach (args, i, a) {
            char e[128];
            if (!json_is_string (a))
                return errfail (err, errlen, "invalid constraints: '%s' values must be strings", op);
            if (op[0] == 'r') {
                idset_t *ids = idset_decode (json_string_value (a), e, sizeof e);
                if (!ids)
                    return errfail (err, errlen, "invalid constraints: ranks: %s", e);
                idset_destroy (&ids);
            }
            else {
                size_t n;
                char **h = hostlist_expand (json_string_value (a), &n, e, sizeof e);
                if (!h)
                    return errfail (err, errlen, "invalid constraints: hostlist: %s", e);
                hostlist_free (h, n);
            }
        }
        return 0;
    }
    return errfail (err, errlen, "invalid constraints: unsupported operator '%.30s' "
                 "(canopy knows and, or, not, ranks, hostlist)", op);
}

static int check_system (json_t *js, char *err, size_t errlen)
{
    json_t *sys = json_object_get (json_object_get (js, "attributes"), "system");
    json_t *v;
    if (!json_is_object (sys))
        return errfail (err, errlen, "invalid jobspec: attributes.system must be a table");
    v = json_object_get (sys, "duration");
    if (!json_is_number (v) || json_number_value (v) < 0 || !isfinite (json_number_value (v)))
        return errfail (err, errlen, "invalid attributes.system.duration: must be a number >= 0 (seconds)");
    if ((v = json_object_get (sys, "cwd")) && !json_is_string (v))
        return errfail (err, errlen, "invalid attributes.system.cwd: must be a string");
    if ((v = json_object_get (sys, "environment"))) {
        const char *k;
        json_t *e;
        if (!json_is_object (v))
            return errfail (err, errlen, "invalid attributes.system.environment: must be a table");
        json_object_foreach (v, k, e)
            if (!json_is_string (e))
                return errfail (err, errlen, "invalid attributes.system.environment: %.60s is not a string", k);
    }
    if ((v = json_object_get (sys, "constraints")) && check_constraint (v, 0, err, errlen) < 0)
        return -1;
    if ((v = json_object_get (sys, "job")) && (!json_is_object (v)
        || (json_object_get (v, "name") && !json_is_string (json_object_get (v, "name")))))
        return errfail (err, errlen, "invalid attributes.system.job.name: must be a string");
    jobspec_dep_t *deps;
    size_t n;
    if (jobspec_dependencies (js, &deps, &n, err, errlen) < 0)
        return -1;
    free (deps);
    return 0;
}

/* -- the builder -------------------------------------------------------- */

static int check_count (const char *opt, int v, char *err, size_t errlen)
{
    if (v < 0 || v > JOBSPEC_MAX_COUNT)
        return errfail (err, errlen, "invalid %s %d: must be between 1 and %d", opt, v, JOBSPEC_MAX_COUNT);
    return 0;
}

json_t *jobspec_build (const jobspec_opts_t *o, char *err, size_t errlen)
{
    json_t *js = NULL, *v;
    if (!o)
        return errfail (err, errlen, "no options"), NULL;
    if (o->argc < 1 || !o->argv || !o->argv[0] || !o->argv[0][0])
        return errfail (err, errlen, "no command given"), NULL;
    if (check_count ("-N/--nodes", o->nnodes, err, errlen) < 0
        || check_count ("-n/--ntasks", o->ntasks, err, errlen) < 0
        || check_count ("-c/--cores-per-task", o->cores_per_task, err, errlen) < 0
        || check_count ("-g/--gpus-per-task", o->gpus_per_task, err, errlen) < 0)
        return NULL;
    int nnodes = o->nnodes;
    int ntasks = o->ntasks ? o->ntasks : (nnodes ? nnodes : 1);
    int cores = o->cores_per_task ? o->cores_per_task : 1;
    int gpus = o->gpus_per_task;
    if (o->exclusive && !nnodes)
        return errfail (err, errlen, "--exclusive needs -N/--nodes"), NULL;
    if (nnodes && ntasks < nnodes)
        return errfail (err, errlen, "invalid -n %d with -N %d: need at least one task per node",
                     ntasks, nnodes), NULL;
    double duration = 0;
    if (o->time_limit) {
        char e[128];
        if (jobspec_parse_time_limit (o->time_limit, &duration, e, sizeof e) < 0)
            return errfail (err, errlen, "%s", e), NULL;
    }
    if (o->cwd && o->cwd[0] != '/')
        return errfail (err, errlen, "invalid --cwd '%.60s': must be an absolute path", o->cwd), NULL;
    if (o->job_name && !o->job_name[0])
        return errfail (err, errlen, "invalid --job-name: empty"), NULL;

    /* resources and tasks */
    json_t *slot_with = json_array ();
    json_array_append_new (slot_with, resource ("core", cores, NULL));
    if (gpus)
        json_array_append_new (slot_with, resource ("gpu", gpus, NULL));
    json_t *res, *count;
    if (nnodes) {
        int per_node = (ntasks + nnodes - 1) / nnodes;
        json_t *slot = resource ("slot", per_node, slot_with);
        json_object_set_new (slot, "label", json_string ("task"));
        json_t *node = resource ("node", nnodes, json_pack ("[o]", slot));
        if (o->exclusive)
            json_object_set_new (node, "exclusive", json_true ());
        res = json_pack ("[o]", node);
        count = ntasks % nnodes ? json_pack ("{s:i}", "total", ntasks)
                                : json_pack ("{s:i}", "per_slot", 1);
    }
    else {
        json_t *slot = resource ("slot", ntasks, slot_with);
        json_object_set_new (slot, "label", json_string ("task"));
        res = json_pack ("[o]", slot);
        count = json_pack ("{s:i}", "per_slot", 1);
    }
    json_t *cmd = json_array ();
    for (int i = 0; i < o->argc; i++) {
        json_t *a = o->argv[i] ? json_string (o->argv[i]) : NULL;
        if (!a) {
            json_decref (cmd);
            json_decref (res);
            json_decref (count);
            return errfail (err, errlen, "command argument %d is not valid UTF-8", i), NULL;
        }
        json_array_append_new (cmd, a);
    }
    json_t *tasks = json_pack ("[{s:o s:s s:o}]", "command", cmd, "slot", "task", "count", count);

    json_t *sys = json_pack ("{s:f}", "duration", duration);
    js = json_pack ("{s:i s:o s:o s:{s:o}}", "version", 1, "resources", res, "tasks", tasks,
                    "attributes", "system", sys);
    if (!js)
        return errfail (err, errlen, "out of memory"), NULL;
    if (o->cwd)
        json_object_set_new (sys, "cwd", json_string (o->cwd));
    if (!(v = build_environment (o, err, errlen)))
        goto error;
    json_object_set_new (sys, "environment", v);
    if (!(v = build_constraints (o, err, errlen)))
        goto error;
    if (json_is_null (v))
        json_decref (v);
    else
        json_object_set_new (sys, "constraints", v);
    if (!(v = build_dependencies (o, err, errlen)))
        goto error;
    if (json_array_size (v))
        json_object_set_new (sys, "dependencies", v);
    else
        json_decref (v);
    if (o->job_name)
        json_object_set_new (sys, "job", json_pack ("{s:s}", "name", o->job_name));
    json_t *attrs = json_object_get (js, "attributes");
    for (size_t i = 0; i < o->nsetattrs; i++)
        if (apply_setattr (attrs, o->setattrs[i], err, errlen) < 0)
            goto error;
    if (check_system (js, err, errlen) < 0)
        goto error;
    return js;
error:
    json_decref (js);
    return NULL;
}

/* -- readers ------------------------------------------------------------ */

const char *jobspec_name (const json_t *js)
{
    json_t *attrs = json_object_get (js, "attributes");
    const char *n = json_string_value (json_object_get (
        json_object_get (json_object_get (attrs, "system"), "job"), "name"));
    if (n && *n)
        return n;
    const char *a0 = json_string_value (json_array_get (
        json_object_get (json_array_get (json_object_get (js, "tasks"), 0), "command"), 0));
    if (!a0 || !*a0)
        return "?";
    const char *slash = strrchr (a0, '/');
    return slash && slash[1] ? slash + 1 : a0;
}

/* Product of counts from the top of `res` down to the "slot" level. */
static long slot_total (const json_t *res, int depth)
{
    if (!json_is_array (res) || json_array_size (res) != 1 || depth > 8)
        return -1;
    json_t *r = json_array_get (res, 0);
    const char *type = json_string_value (json_object_get (r, "type"));
    json_int_t c = json_integer_value (json_object_get (r, "count"));
    if (!type || !json_is_integer (json_object_get (r, "count")) || c < 1)
        return -1;
    if (!strcmp (type, "slot"))
        return c;
    long below = slot_total (json_object_get (r, "with"), depth + 1);
    return below < 0 || c > JOBSPEC_MAX_COUNT ? -1 : below * c;
}

int jobspec_ntasks (const json_t *js)
{
    json_t *count = json_object_get (json_array_get (json_object_get (js, "tasks"), 0), "count");
    json_t *v;
    if ((v = json_object_get (count, "total")))
        return json_is_integer (v) && json_integer_value (v) > 0
                   && json_integer_value (v) <= JOBSPEC_MAX_COUNT ? (int)json_integer_value (v) : -1;
    if ((v = json_object_get (count, "per_slot"))) {
        long slots = slot_total (json_object_get (js, "resources"), 0);
        if (!json_is_integer (v) || json_integer_value (v) < 1 || slots < 0)
            return -1;
        long long n = (long long)slots * json_integer_value (v);
        return n > JOBSPEC_MAX_COUNT * 1000LL ? -1 : (int)n;
    }
    return -1;
}

int jobspec_dependencies (const json_t *js, jobspec_dep_t **deps, size_t *n,
                          char *err, size_t errlen)
{
    *deps = NULL;
    *n = 0;
    json_t *a = json_object_get (json_object_get (json_object_get (js, "attributes"), "system"),
                                 "dependencies");
    if (!a)
        return 0;
    if (!json_is_array (a))
        return errfail (err, errlen, "invalid attributes.system.dependencies: must be an array");
    jobspec_dep_t *out = xcalloc (json_array_size (a) + 1, sizeof *out);
    size_t i;
    json_t *d;
    json_array_foreach (a, i, d) {
        const char *scheme = json_string_value (json_object_get (d, "scheme"));
        const char *value = json_string_value (json_object_get (d, "value"));
        char e[128];
        if (!scheme || !value) {
            free (out);
            return errfail (err, errlen, "invalid dependency %zu: needs string scheme and value", i);
        }
        if (dep_scheme_parse (scheme, strlen (scheme), &out[i].scheme) < 0) {
            free (out);
            return errfail (err, errlen, "invalid dependency %zu: unknown scheme '%.30s'", i, scheme);
        }
        if (jobid_parse (value, &out[i].id, e, sizeof e) < 0) {
            free (out);
            return errfail (err, errlen, "invalid dependency %zu: %s", i, e);
        }
    }
    *deps = out;
    *n = json_array_size (a);
    if (*n == 0) {
        free (out);
        *deps = NULL;
    }
    return 0;
}

/* -- YAML --------------------------------------------------------------- */

/* Would a YAML reader (ours, or a YAML 1.1 one) take this plain scalar for
 * something other than a string?  Then it must be quoted. */
static int needs_quotes (const char *s)
{
    static const char *words[] = { "~", "null", "true", "false", "yes", "no", "on", "off",
                                   "y", "n", ".inf", ".nan", "-.inf", "+.inf" };
    if (!*s)
        return 1;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcasecmp (s, words[i]))
            return 1;
    return strchr ("0123456789+-.", s[0]) != NULL;
}

static int ywrite (void *arg, unsigned char *buf, size_t size)
{
    sb_addn (arg, (const char *)buf, size);
    return 1;
}

static int emit_scalar (yaml_emitter_t *em, const char *s, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    yaml_scalar_event_initialize (&ev, NULL, (yaml_char_t *)YAML_STR_TAG, (yaml_char_t *)s,
                                  (int)strlen (s), 1, 1, style);
    return yaml_emitter_emit (em, &ev) ? 0 : -1;
}

static int emit (yaml_emitter_t *em, const json_t *v, int depth)
{
    yaml_event_t ev;
    char num[64];
    if (depth > 64)
        return -1;
    switch (json_typeof (v)) {
        case JSON_OBJECT: {
            const char *k;
            json_t *x;
            yaml_mapping_start_event_initialize (&ev, NULL, (yaml_char_t *)YAML_MAP_TAG, 1,
                                                 YAML_BLOCK_MAPPING_STYLE);
            if (!yaml_emitter_emit (em, &ev))
                return -1;
            json_object_foreach ((json_t *)v, k, x) {
                if (emit_scalar (em, k, needs_quotes (k) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                                         : YAML_ANY_SCALAR_STYLE) < 0
                    || emit (em, x, depth + 1) < 0)
                    return -1;
            }
            yaml_mapping_end_event_initialize (&ev);
            return yaml_emitter_emit (em, &ev) ? 0 : -1;
        }
        case JSON_ARRAY: {
            size_t i;
            json_t *x;
            yaml_sequence_start_event_initialize (&ev, NULL, (yaml_char_t *)YAML_SEQ_TAG, 1,
                                                  json_array_size (v) ? YAML_BLOCK_SEQUENCE_STYLE
                                                                      : YAML_FLOW_SEQUENCE_STYLE);
            if (!yaml_emitter_emit (em, &ev))
                return -1;
            json_array_foreach (v, i, x)
                if (emit (em, x, depth + 1) < 0)
                    return -1;
            yaml_sequence_end_event_initialize (&ev);
            return yaml_emitter_emit (em, &ev) ? 0 : -1;
        }
        case JSON_STRING: {
            const char *s = json_string_value (v);
            if (strlen (s) != json_string_length (v))
                return -1;          /* embedded NUL: not representable here */
            return emit_scalar (em, s, needs_quotes (s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                                        : YAML_ANY_SCALAR_STYLE);
        }
        case JSON_INTEGER:
            snprintf (num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value (v));
            return emit_scalar (em, num, YAML_PLAIN_SCALAR_STYLE);
        case JSON_REAL: {
            double d = json_real_value (v);
            for (int prec = 15; prec <= 17; prec++) {
                snprintf (num, sizeof num, "%.*g", prec, d);
                if (strtod (num, NULL) == d)
                    break;
            }
            if (!strpbrk (num, ".eEni"))
                strcat (num, ".0");     /* stays a real when read back */
            return emit_scalar (em, num, YAML_PLAIN_SCALAR_STYLE);
        }
        case JSON_TRUE:
            return emit_scalar (em, "true", YAML_PLAIN_SCALAR_STYLE);
        case JSON_FALSE:
            return emit_scalar (em, "false", YAML_PLAIN_SCALAR_STYLE);
        case JSON_NULL:
            return emit_scalar (em, "null", YAML_PLAIN_SCALAR_STYLE);
    }
    return -1;
}

char *jobspec_yaml (const json_t *js)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    sbuf_t b;
    sb_init (&b);
    if (!js || !yaml_emitter_initialize (&em))
        return NULL;
    yaml_emitter_set_output (&em, ywrite, &b);
    yaml_emitter_set_unicode (&em, 1);
    yaml_emitter_set_width (&em, -1);
    int rc = -1;
    yaml_stream_start_event_initialize (&ev, YAML_UTF8_ENCODING);
    if (!yaml_emitter_emit (&em, &ev))
        goto out;
    yaml_document_start_event_initialize (&ev, NULL, NULL, NULL, 1);
    if (!yaml_emitter_emit (&em, &ev))
        goto out;
    if (emit (&em, js, 0) < 0)
        goto out;
    yaml_document_end_event_initialize (&ev, 1);
    if (!yaml_emitter_emit (&em, &ev))
        goto out;
    yaml_stream_end_event_initialize (&ev);
    if (!yaml_emitter_emit (&em, &ev))
        goto out;
    rc = 0;
out:
    yaml_emitter_delete (&em);
    if (rc < 0) {
        sb_free (&b);
        return NULL;
    }
    return sb_take (&b);
}
