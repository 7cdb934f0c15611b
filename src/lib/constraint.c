/* constraint.c - RFC 31 constraints: compile to a small tree, match nodes.
 * Rank sets are idsets and host lists are expanded once and sorted, so a
 * test per node is a bit lookup or a binary search. */
#include "constraint.h"
#include "xalloc.h"
#include "errquote.h"
#include "hostlist.h"
#include "idset.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { C_AND, C_OR, C_NOT, C_RANKS, C_HOSTS, C_PROPS };

struct term {
    int op;
    struct term **kids;
    size_t nkids;
    idset_t *ranks;
    char **names;           /* C_HOSTS: sorted hosts; C_PROPS: property names */
    size_t nnames;
};

struct constraint {
    struct term *root;
    char *text;
};

static void term_destroy (struct term *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nkids; i++)
        term_destroy (t->kids[i]);
    free (t->kids);
    idset_destroy (&t->ranks);
    hostlist_free (t->names, t->nnames);
    free (t);
}

static int cmpstr (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

static void add_names (struct term *t, char **v, size_t n)
{
    t->names = xrealloc (t->names, (t->nnames + n + 1) * sizeof *t->names);
    memcpy (t->names + t->nnames, v, n * sizeof *v);
    t->nnames += n;
}

/* names a constraint may list in all, so that a short one cannot expand
 * ("n[0-999999]" many times over) past any instance into gigabytes */
#define CONSTRAINT_MAX_NAMES 1000000

static struct term *compile (const json_t *j, int depth, size_t *names_left, char *err,
                             size_t errlen)
{
    if (depth > 32)
        return errfail (err, errlen, "invalid constraints: nested too deeply"), NULL;
    if (!json_is_object (j) || json_object_size (j) != 1)
        return errfail (err, errlen, "invalid constraints: each term must be an object with one operator"), NULL;
    void *it = json_object_iter ((json_t *)j);
    const char *op = json_object_iter_key (it);
    json_t *args = json_object_iter_value (it);
    if (!json_is_array (args))
        return errfail (err, errlen, "invalid constraints: '%.30s' takes an array", op), NULL;
    struct term *t = xcalloc (1, sizeof *t);
    size_t i;
    json_t *a;
    if (!strcmp (op, "and") || !strcmp (op, "or") || !strcmp (op, "not")) {
        t->op = op[0] == 'a' ? C_AND : op[0] == 'o' ? C_OR : C_NOT;
        t->kids = xcalloc (json_array_size (args) + 1, sizeof *t->kids);
        json_array_foreach (args, i, a) {
            if (!(t->kids[t->nkids] = compile (a, depth + 1, names_left, err, errlen)))
                goto error;
            t->nkids++;
        }
        return t;
    }
    if (!strcmp (op, "ranks")) {
        t->op = C_RANKS;
        t->ranks = idset_new ();
        json_array_foreach (args, i, a) {
            char e[128];
            if (json_is_integer (a)) {   /* RFC 31 allows integer ranks as well as idsets */
                json_int_t r = json_integer_value (a);
                if (r < 0 || r >= IDSET_INVALID) {
                    errfail (err, errlen, "invalid constraints: ranks: %lld is not a rank "
                             "(0 to %u)", (long long)r, IDSET_INVALID - 1);
                    goto error;
                }
                idset_set (t->ranks, (uint32_t)r);
                continue;
            }
            idset_t *ids = json_is_string (a) ? idset_decode (json_string_value (a), e, sizeof e) : NULL;
            if (!ids) {
                errfail (err, errlen, "invalid constraints: ranks: %s",
                      json_is_string (a) ? e : "values must be strings or integers");
                goto error;
            }
            int urc = idset_union (t->ranks, ids); /* word-wise: "0-16000000" is quick */
            idset_destroy (&ids);
            if (urc < 0) {
                errfail (err, errlen, "out of memory");
                goto error;
            }
        }
        return t;
    }
    if (!strcmp (op, "hostlist")) {
        t->op = C_HOSTS;
        json_array_foreach (args, i, a) {
            char e[128];
            size_t n = 0;
            char **h = json_is_string (a) ? hostlist_expand (json_string_value (a), &n, e, sizeof e) : NULL;
            if (!h) {
                errfail (err, errlen, "invalid constraints: hostlist: %s",
                      json_is_string (a) ? e : "values must be strings");
                goto error;
            }
            if (n > *names_left) {
                hostlist_free (h, n);
                errfail (err, errlen, "invalid constraints: hostlist: more than %d names in all",
                         CONSTRAINT_MAX_NAMES);
                goto error;
            }
            *names_left -= n;
            add_names (t, h, n);
            free (h);           /* the names moved into t->names */
        }
        if (t->nnames)
            qsort (t->names, t->nnames, sizeof *t->names, cmpstr);
        return t;
    }
    if (!strcmp (op, "properties")) {
        t->op = C_PROPS;
        json_array_foreach (args, i, a) {
            const char *p = json_string_value (a);
            if (!p || !*p || !strcmp (p, "^")) {
                errfail (err, errlen, "invalid constraints: properties: values must be non-empty strings");
                goto error;
            }
            char *d = xstrdup (p);
            add_names (t, &d, 1);
        }
        return t;
    }
    errfail (err, errlen, "invalid constraints: unsupported operator '%.30s' "
          "(canopy knows and, or, not, ranks, hostlist, properties)", op);
error:
    term_destroy (t);
    return NULL;
}

constraint_t *constraint_compile (const json_t *j, char *err, size_t errlen)
{
    constraint_t *c = xcalloc (1, sizeof *c);
    size_t names_left = CONSTRAINT_MAX_NAMES;
    if (!(c->root = compile (j, 0, &names_left, err, errlen)) || !(c->text = json_dumps (j, JSON_COMPACT))) {
        if (c->root)
            errfail (err, errlen, "out of memory");
        constraint_destroy (&c);
        return NULL;
    }
    return c;
}

void constraint_destroy (constraint_t **p)
{
    if (p && *p) {
        term_destroy ((*p)->root);
        free ((*p)->text);
        free (*p);
        *p = NULL;
    }
}

const char *constraint_text (const constraint_t *c)
{
    return c ? c->text : "";
}

static bool term_match (const struct term *t, const struct constraint_node *n)
{
    switch (t->op) {
        case C_AND:
        case C_NOT: {
            bool all = true;
            for (size_t i = 0; i < t->nkids && all; i++)
                all = term_match (t->kids[i], n);
            return t->op == C_AND ? all : !all;
        }
        case C_OR:
            for (size_t i = 0; i < t->nkids; i++)
                if (term_match (t->kids[i], n))
                    return true;
            return false;
        case C_RANKS:
            return idset_test (t->ranks, n->rank);
        case C_HOSTS:
            return t->nnames && n->hostname
                   && bsearch (&n->hostname, t->names, t->nnames, sizeof *t->names, cmpstr);
        case C_PROPS:
            /* every listed property held, every ^property absent */
            for (size_t i = 0; i < t->nnames; i++) {
                bool neg = t->names[i][0] == '^';
                const char *p = t->names[i] + neg;
                bool has = n->has_prop && n->has_prop (p, n->arg);
                if (has == neg)
                    return false;
            }
            return true;
    }
    return false;
}

bool constraint_match (const constraint_t *c, const struct constraint_node *n)
{
    return !c || term_match (c->root, n);
}
