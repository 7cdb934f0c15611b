/* members.c - the lead's table of ranks and hosts for an instance that grows
 * and shrinks, the rank rule for joining hosts, and routing over attachments
 * (doc/membership.md).  Pure: no I/O. */
#define _GNU_SOURCE
#include "members.h"
#include "xalloc.h"
#include "errquote.h"
#include <stdlib.h>
#include <string.h>

struct members {
    uint32_t size;
    member_t *v;
    uint64_t seq;
};

members_t *members_new (uint32_t size)
{
    if (size == 0)
        return NULL;
    members_t *m = xcalloc (1, sizeof *m);
    m->v = xcalloc (size, sizeof *m->v);
    m->size = size;
    return m;
}

void members_destroy (members_t **p)
{
    if (!p || !*p)
        return;
    for (uint32_t i = 0; i < (*p)->size; i++) {
        free ((*p)->v[i].host);
        free ((*p)->v[i].endpoint);
    }
    free ((*p)->v);
    free (*p);
    *p = NULL;
}

uint32_t members_size (const members_t *m) { return m->size; }

const member_t *members_get (const members_t *m, uint32_t rank)
{
    return rank < m->size ? &m->v[rank] : NULL;
}

long members_find (const members_t *m, const char *host)
{
    for (uint32_t i = 0; i < m->size; i++)
        if (m->v[i].state == MEMBER_HELD && m->v[i].host && !strcmp (m->v[i].host, host))
            return i;
    return -1;
}

static int set (members_t *m, uint32_t r, const char *host, const char *endpoint)
{
    member_t *e = &m->v[r];
    char *h = xstrdup (host), *ep = xstrdup (endpoint);
    free (e->host);
    free (e->endpoint);
    e->host = h;
    e->endpoint = ep;
    e->state = MEMBER_HELD;
    e->since = ++m->seq;
    return 0;
}

int members_fix (members_t *m, uint32_t rank, const char *host, const char *endpoint, char *err,
                 size_t errlen)
{
    /* one host may hold several fixed ranks (a local instance lists it once
     * per broker, each with endpoints of its own) */
    if (rank >= m->size)
        return errfail (err, errlen, "members: rank %u is outside the instance (size %u)", rank, m->size);
    if (set (m, rank, host, endpoint) < 0)
        return errfail (err, errlen, "members: out of memory");
    m->v[rank].fixed = true;
    return 0;
}

long members_join (members_t *m, const char *host, const char *endpoint, char *err, size_t errlen)
{
    long r = members_find (m, host);
    if (r < 0) {   /* the free rank it held last */
        for (uint32_t i = 0; i < m->size; i++)
            if (m->v[i].state == MEMBER_FREE && m->v[i].host && !strcmp (m->v[i].host, host)) {
                r = i;
                break;
            }
    }
    if (r < 0) {   /* the lowest rank never held (reserved ranks only by their host) */
        for (uint32_t i = 0; i < m->size; i++)
            if (m->v[i].state == MEMBER_FREE && !m->v[i].host && !m->v[i].reserved) {
                r = i;
                break;
            }
    }
    if (r < 0) {   /* the free rank released longest ago */
        for (uint32_t i = 0; i < m->size; i++)
            if (m->v[i].state == MEMBER_FREE && !m->v[i].reserved && (r < 0 || m->v[i].since < m->v[r].since))
                r = i;
    }
    if (r < 0)
        return errfail (err, errlen, "members: the instance is full: all %u ranks are held", m->size);
    if (m->v[r].fixed && strcmp (m->v[r].host, host))
        return errfail (err, errlen, "members: rank %ld is fixed for %s", r, m->v[r].host);
    if (set (m, (uint32_t)r, host, endpoint) < 0)
        return errfail (err, errlen, "members: out of memory");
    return r;
}

int members_reserve (members_t *m, uint32_t rank, const char *host, char *err, size_t errlen)
{
    if (rank >= m->size)
        return errfail (err, errlen, "members: rank %u is outside the instance (size %u)", rank, m->size);
    member_t *e = &m->v[rank];
    long held = members_find (m, host);
    if (held >= 0 && held != (long)rank)
        return errfail (err, errlen, "members: %s holds rank %ld, not %u", host, held, rank);
    if (e->fixed || (e->state == MEMBER_HELD && strcmp (e->host, host)))
        return errfail (err, errlen, "members: rank %u is held by %s", rank, e->host);
    e->reserved = true;
    if (e->state == MEMBER_FREE && (!e->host || strcmp (e->host, host))) {
        free (e->host);
        free (e->endpoint);
        e->host = xstrdup (host);   /* its "last holder": the rank rule's step 2 gives it to host */
        e->endpoint = xstrdup ("");
    }
    return 0;
}

int members_leave (members_t *m, const char *host)
{
    long r = members_find (m, host);
    if (r < 0 || m->v[r].fixed)
        return -1;
    m->v[r].state = MEMBER_FREE;
    m->v[r].since = ++m->seq;
    return 0;
}

json_t *members_to_json (const members_t *m)
{
    json_t *ranks = json_array ();
    for (uint32_t i = 0; i < m->size; i++) {
        const member_t *e = &m->v[i];
        if (!e->host)
            continue;
        json_array_append_new (ranks, json_pack ("{s:I s:s s:s s:s s:b s:I}", "rank", (json_int_t)i,
                                                 "host", e->host, "endpoint", e->endpoint, "state",
                                                 e->state == MEMBER_HELD ? "held" : "free", "fixed",
                                                 e->fixed, "since", (json_int_t)e->since));
    }
    return json_pack ("{s:I s:I s:o}", "size", (json_int_t)m->size, "seq", (json_int_t)m->seq, "ranks",
                      ranks);
}

members_t *members_from_json (json_t *o, char *err, size_t errlen)
{
    json_int_t size, seq;
    json_t *ranks, *e;
    json_error_t je;
    if (json_unpack_ex (o, &je, 0, "{s:I s:I s:o}", "size", &size, "seq", &seq, "ranks", &ranks) < 0
        || size < 1 || size > (json_int_t)TOPO_NONE - 2 || seq < 0 || !json_is_array (ranks)) {
        errfmt (err, errlen, "members: not a membership table");
        return NULL;
    }
    members_t *m = members_new ((uint32_t)size);
    if (!m) {
        errfmt (err, errlen, "members: out of memory");
        return NULL;
    }
    m->seq = (uint64_t)seq;
    size_t i;
    json_array_foreach (ranks, i, e) {
        json_int_t r, since;
        const char *host, *ep, *st;
        int fixed;
        if (json_unpack_ex (e, &je, 0, "{s:I s:s s:s s:s s:b s:I}", "rank", &r, "host", &host, "endpoint",
                            &ep, "state", &st, "fixed", &fixed, "since", &since)
                < 0
            || r < 0 || r >= size || since < 0 || (uint64_t)since > m->seq || m->v[r].host
            || (strcmp (st, "held") && strcmp (st, "free")) || !*host) {
            errfmt (err, errlen, "members: entry %zu is malformed", i);
            members_destroy (&m);
            return NULL;
        }
        if (!strcmp (st, "held") && !fixed && members_find (m, host) >= 0) {
            errfmt (err, errlen, "members: host of entry %zu holds two ranks", i);
            members_destroy (&m);
            return NULL;
        }
        member_t *x = &m->v[r];
        x->host = xstrdup (host);
        x->endpoint = xstrdup (ep);
        x->state = !strcmp (st, "held") ? MEMBER_HELD : MEMBER_FREE;
        x->fixed = fixed;
        x->since = (uint64_t)since;
    }
    return m;
}

uint32_t members_next_hop (const topo_t *t, uint32_t self, uint32_t dest,
                           bool (*attached) (uint32_t rank, void *arg), void *arg)
{
    if (dest == self)
        return self;
    if (!topo_in_subtree (t, self, dest))
        return MEMBERS_UP;
    /* the deepest attached rank on dest's path up to self: a broker that
     * attached past a dead parent is reached directly, one below a live
     * child through that child */
    for (uint32_t a = dest; a != self && a != TOPO_NONE; a = topo_parent (t, a))
        if (attached (a, arg))
            return a;
    return TOPO_NONE;
}
