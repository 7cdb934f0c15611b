/* burstpool.c - burst pools: configuration, the external cluster's name,
 * pool ranks and the burst decision (doc/bursting.md).  Pure: no I/O. */
#define _GNU_SOURCE
#include "burstpool.h"
#include "errquote.h"
#include "xalloc.h"
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL_NAME_MAX 40
#define POOL_SIZE_MAX (1u << 16)

void burst_pools_clear (burst_pools_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free (p->v[i].name);
        json_decref (p->v[i].settings);
    }
    free (p->v);
    memset (p, 0, sizeof *p);
}

static bool valid_name (const char *s)
{
    size_t n = strlen (s);
    if (n == 0 || n > POOL_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* <name>-<first 8 hex of SHA-256 of the canonical JSON of the pool's config> */
static int cluster_name (json_t *pool, const char *name, char *out, size_t len)
{
    char *canon = json_dumps (pool, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENSURE_ASCII);
    unsigned char md[32];
    unsigned int mdlen = 0;
    int ok = canon && EVP_Digest (canon, strlen (canon), md, &mdlen, EVP_sha256 (), NULL) == 1;
    free (canon);
    if (!ok)
        return -1;
    snprintf (out, len, "%s-%02x%02x%02x%02x", name, md[0], md[1], md[2], md[3]);
    return 0;
}

static int get_uint (json_t *o, const char *key, uint32_t def, uint32_t min, uint32_t max, uint32_t *out)
{
    json_t *v = json_object_get (o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_integer (v) || json_integer_value (v) < min || json_integer_value (v) > max)
        return -1;
    *out = (uint32_t)json_integer_value (v);
    return 0;
}

static int get_secs (json_t *o, const char *key, double def, double *out)
{
    json_t *v = json_object_get (o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_number (v) || json_number_value (v) <= 0 || json_number_value (v) > 7 * 86400)
        return -1;
    *out = json_number_value (v);
    return 0;
}

int burst_pools_parse (json_t *arr, uint32_t base, burst_pools_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = { "name", "size", "cores", "gpus", "provider", "settings",
                                        "resume_timeout", "idle_time", "max_starting", "max_tries", NULL };
    static const char *const providers[] = { "local", "command", "kubernetes" };
    char q[64];
    memset (out, 0, sizeof *out);
    out->base = out->total = base;
    if (!arr || json_is_null (arr))
        return 0;
    if (!json_is_array (arr))
        return errfail (err, errlen, "config: burst must be a list of pools");
    out->v = xcalloc (json_array_size (arr) + 1, sizeof *out->v);
    size_t i;
    json_t *e;
    json_array_foreach (arr, i, e) {
        burst_pool_t *p = &out->v[out->n];
        if (!json_is_object (e)) {
            errfmt (err, errlen, "config: burst[%zu] must be a mapping", i);
            goto fail;
        }
        const char *k;
        json_t *v;
        json_object_foreach (e, k, v) {
            size_t j;
            for (j = 0; keys[j] && strcmp (keys[j], k); j++)
                ;
            if (!keys[j]) {
                errfmt (err, errlen, "config: burst[%zu]: unknown key '%s'", i, errquote (q, sizeof q, k, (size_t)-1));
                goto fail;
            }
        }
        const char *name = json_string_value (json_object_get (e, "name"));
        if (!name || !valid_name (name)) {
            errfmt (err, errlen, "config: burst[%zu]: name must be 1-%d of [a-z0-9-], not starting or ending with '-'",
                    i, POOL_NAME_MAX);
            goto fail;
        }
        for (size_t j = 0; j < out->n; j++)
            if (!strcmp (out->v[j].name, name)) {
                errfmt (err, errlen, "config: burst pool %s is declared twice", name);
                goto fail;
            }
        p->name = xstrdup (name);
        out->n++;
        if (!json_object_get (e, "size") || get_uint (e, "size", 0, 1, POOL_SIZE_MAX, &p->size) < 0) {
            errfmt (err, errlen, "config: burst pool %s: size must be an integer 1-%u", name, POOL_SIZE_MAX);
            goto fail;
        }
        if (get_uint (e, "cores", 1, 1, 1u << 20, &p->cores) < 0 || get_uint (e, "gpus", 0, 0, 1024, &p->gpus) < 0) {
            errfmt (err, errlen, "config: burst pool %s: cores must be an integer >= 1 and gpus >= 0", name);
            goto fail;
        }
        const char *prov = json_string_value (json_object_get (e, "provider"));
        size_t pi;
        for (pi = 0; prov && pi < 3 && strcmp (providers[pi], prov); pi++)
            ;
        if (!prov || pi == 3) {
            errfmt (err, errlen, "config: burst pool %s: provider must be local, command or kubernetes", name);
            goto fail;
        }
        p->provider = (enum burst_provider)pi;
        json_t *set = json_object_get (e, "settings");
        if (set && !json_is_object (set)) {
            errfmt (err, errlen, "config: burst pool %s: settings must be a mapping", name);
            goto fail;
        }
        p->settings = set ? json_incref (set) : json_object ();
        if (p->provider == BURST_COMMAND
            && (!json_is_string (json_object_get (p->settings, "resume"))
                || !json_is_string (json_object_get (p->settings, "suspend")))) {
            errfmt (err, errlen, "config: burst pool %s: the command provider needs settings resume and suspend (programs)",
                    name);
            goto fail;
        }
        if (p->provider == BURST_KUBERNETES && !json_is_string (json_object_get (p->settings, "kubeconfig"))) {
            errfmt (err, errlen, "config: burst pool %s: the kubernetes provider needs settings kubeconfig (a path)", name);
            goto fail;
        }
        if (p->provider == BURST_LOCAL) {
            json_t *nn = json_object_get (p->settings, "netns");
            json_t *sn = json_object_get (p->settings, "subnet");
            uint32_t net;
            char serr[200];
            if (nn && !json_is_boolean (nn)) {
                errfmt (err, errlen, "config: burst pool %s: settings netns must be true or false", name);
                goto fail;
            }
            if (sn && (!json_is_string (sn)
                       || burst_subnet_parse (json_string_value (sn), p->size, &net, serr, sizeof serr) < 0)) {
                errfmt (err, errlen, "config: burst pool %s: settings subnet: %s", name,
                        json_is_string (sn) ? serr : "must be a string a.b.c.d/len");
                goto fail;
            }
        }
        if (get_secs (e, "resume_timeout", 300, &p->resume_timeout) < 0
            || get_secs (e, "idle_time", 600, &p->idle_time) < 0) {
            errfmt (err, errlen, "config: burst pool %s: resume_timeout and idle_time must be seconds > 0 (at most a week)",
                    name);
            goto fail;
        }
        if (get_uint (e, "max_starting", p->size, 1, POOL_SIZE_MAX, &p->max_starting) < 0
            || get_uint (e, "max_tries", 3, 1, 100, &p->max_tries) < 0) {
            errfmt (err, errlen, "config: burst pool %s: max_starting must be >= 1 and max_tries 1-100", name);
            goto fail;
        }
        if ((uint64_t)out->total + p->size > (1u << 20)) {
            errfmt (err, errlen, "config: burst pools make the instance larger than %u ranks", 1u << 20);
            goto fail;
        }
        p->first_rank = out->total;
        out->total += p->size;
        if (cluster_name (e, name, p->cluster, sizeof p->cluster) < 0)
            goto nomem;
    }
    return 0;
nomem:
    errfmt (err, errlen, "config: out of memory");
fail:
    burst_pools_clear (out);
    return -1;
}

int burst_subnet_parse (const char *s, uint32_t nodes, uint32_t *net, char *err, size_t errlen)
{
    unsigned a, b, c, d, len;
    char tail;
    if (!s || sscanf (s, "%3u.%3u.%3u.%3u/%2u%c", &a, &b, &c, &d, &len, &tail) != 5 || a > 255 || b > 255 || c > 255
        || d > 255 || len > 32)
        return errfail (err, errlen, "'%.40s' is not an IPv4 subnet a.b.c.d/len", s ? s : "");
    if (len > 30)
        return errfail (err, errlen, "%s: the prefix must be at most 30 (a /30 per node)", s);
    uint32_t ip = a << 24 | b << 16 | c << 8 | d;
    uint32_t mask = len ? 0xffffffffu << (32 - len) : 0;
    if (ip & ~mask)
        return errfail (err, errlen, "%s: host bits are set (the network is %u.%u.%u.%u/%u)", s, (ip & mask) >> 24,
                        (ip & mask) >> 16 & 255, (ip & mask) >> 8 & 255, ip & mask & 255, len);
    if (a == 127 || a == 0 || a >= 224)
        return errfail (err, errlen, "%s: not a subnet for hosts (loopback, 0/8 or multicast)", s);
    uint64_t room = (uint64_t)1 << (32 - len) >> 2;
    if (room < nodes)
        return errfail (err, errlen, "%s holds %llu nodes (a /30 each), the pool has %u", s, (unsigned long long)room,
                        nodes);
    *net = ip;
    return 0;
}

const burst_pool_t *burst_pool_of_rank (const burst_pools_t *p, uint32_t rank)
{
    for (size_t i = 0; i < p->n; i++)
        if (rank >= p->v[i].first_rank && rank < p->v[i].first_rank + p->v[i].size)
            return &p->v[i];
    return NULL;
}

json_t *burst_pool_local_spec (uint32_t nodes, uint32_t cores, uint32_t gpus)
{
    return json_pack ("[{s:s s:I s:I s:I s:s}]", "name", "local", "size", (json_int_t)nodes, "cores",
                      (json_int_t)(cores ? cores : 1), "gpus", (json_int_t)gpus, "provider", "local");
}

void burst_decide (const burst_pools_t *p, const burst_need_t *need, bool burstable, const burst_state_t *st,
                   burst_decision_t *d)
{
    memset (d, 0, sizeof *d);
    d->pool = -1;
    if (need->nodes <= st->local_free) {
        d->verdict = BURST_RUN;
        return;
    }
    /* what the pools whose nodes fit could add, and what they hold now */
    uint64_t pool_all = 0, pool_now = 0;
    for (size_t i = 0; burstable && i < p->n; i++)
        if (p->v[i].cores >= need->cores && p->v[i].gpus >= need->gpus) {
            pool_all += p->v[i].size;
            pool_now += st->pool_free[i];
        }
    if (need->nodes > st->local_total + pool_all) {
        d->verdict = BURST_REJECT;
        if (!burstable || p->n == 0)
            snprintf (d->reason, sizeof d->reason, "needs %u nodes; the instance has %u%s", need->nodes,
                      st->local_total, p->n && !burstable ? " (pool nodes only for burstable jobs)" : "");
        else
            snprintf (d->reason, sizeof d->reason, "needs %u nodes; the instance has %u and its pools %llu", need->nodes,
                      st->local_total, (unsigned long long)pool_all);
        return;
    }
    if (need->nodes <= st->local_free + pool_now) {
        d->verdict = BURST_RUN;   /* pool nodes already up cover it */
        return;
    }
    if (!burstable) {   /* fits the local nodes once they are free */
        d->verdict = BURST_WAIT;
        snprintf (d->reason, sizeof d->reason, "waiting for %u nodes (%u free)", need->nodes, st->local_free);
        return;
    }
    /* nodes still missing after what is free and what is starting */
    uint64_t have = (uint64_t)st->local_free + pool_now;
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].cores >= need->cores && p->v[i].gpus >= need->gpus)
            have += st->pool_starting[i];
    d->verdict = BURST_WAIT;
    uint64_t missing = need->nodes > have ? need->nodes - have : 0;
    for (size_t i = 0; missing && i < p->n; i++) {
        const burst_pool_t *bp = &p->v[i];
        if (bp->cores < need->cores || bp->gpus < need->gpus || st->pool_idle[i] == 0)
            continue;
        uint32_t room = bp->max_starting > st->pool_starting[i] ? bp->max_starting - st->pool_starting[i] : 0;
        uint64_t k = missing < st->pool_idle[i] ? missing : st->pool_idle[i];
        if (k > room)
            k = room;
        if (k == 0)
            continue;
        d->pool = (int)i;
        d->start = (uint32_t)k;
        snprintf (d->reason, sizeof d->reason, "waiting for burst (pool %s: %u nodes starting)", bp->name,
                  st->pool_starting[i] + d->start);
        return;
    }
    /* nothing to start now: wait for the ones starting (or for room) */
    for (size_t i = 0; i < p->n; i++)
        if (st->pool_starting[i]) {
            snprintf (d->reason, sizeof d->reason, "waiting for burst (pool %s: %u nodes starting)", p->v[i].name,
                      st->pool_starting[i]);
            return;
        }
    snprintf (d->reason, sizeof d->reason, "waiting for %u nodes (local and pool nodes busy)", need->nodes);
}

size_t burst_release_from_top (const bool *held, uint32_t size, uint32_t *rel, size_t nrel)
{
    uint32_t floor = 0;   /* one past the highest held node */
    for (uint32_t k = 0; k < size; k++)
        if (held[k])
            floor = k + 1;
    size_t m = 0;
    for (size_t j = 0; j < nrel; j++)
        if (rel[j] >= floor)
            rel[m++] = rel[j];
    return m;
}
