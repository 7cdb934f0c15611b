/* yaml_json.c - YAML text to a jansson tree, via libyaml's event parser.
 *
 * A recursive descent over the event stream.  Anchors and aliases are
 * refused (a config or jobspec has no need of them, and refusing them keeps
 * "billion laughs" input from expanding).  Depth is bounded.  Only the
 * first document is read, and it must end cleanly: junk after the root node
 * is an error.
 */
#include "yaml_json.h"
#include "xalloc.h"
#include "errquote.h"
#include <yaml.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <errno.h>

#define MAX_DEPTH 64

struct ctx {
    yaml_parser_t p;
    char *err;
    size_t errlen;
    int failed;
};

static void fail (struct ctx *c, const yaml_mark_t *m, const char *what)
{
    if (c->failed)
        return;
    c->failed = 1;
    if (m)
        errfmt (c->err, c->errlen, "line %zu column %zu: %s", (size_t)m->line + 1,
                (size_t)m->column + 1, what);
    else
        errfmt (c->err, c->errlen, "%s", what);
}

static int next (struct ctx *c, yaml_event_t *ev)
{
    if (!yaml_parser_parse (&c->p, ev)) {
        yaml_mark_t m = c->p.problem_mark;
        fail (c, &m, c->p.problem ? c->p.problem : "YAML syntax error");
        return -1;
    }
    return 0;
}

static json_t *scalar (const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag) {
        if (n == 0 || !strcmp (s, "~") || !strcmp (s, "null") || !strcmp (s, "Null")
            || !strcmp (s, "NULL"))
            return json_null ();
        if (!strcmp (s, "true") || !strcmp (s, "True") || !strcmp (s, "TRUE"))
            return json_true ();
        if (!strcmp (s, "false") || !strcmp (s, "False") || !strcmp (s, "FALSE"))
            return json_false ();
        char *end;
        errno = 0;
        long long ll = strtoll (s, &end, 10);
        if (*end == '\0' && errno == 0 && end != s)
            return json_integer (ll);
        errno = 0;
        double d = strtod (s, &end);
        if (*end == '\0' && errno == 0 && end != s && strspn (s, "0123456789+-.eE") == n)
            return json_real (d);
    }
    return json_stringn (s, n);
}

static json_t *node (struct ctx *c, yaml_event_t *ev, int depth);

static json_t *sequence (struct ctx *c, int depth)
{
    json_t *a = json_array ();
    for (;;) {
        yaml_event_t ev;
        if (next (c, &ev) < 0)
            goto err;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete (&ev);
            return a;
        }
        json_t *v = node (c, &ev, depth + 1);
        yaml_event_delete (&ev);
        if (!v)
            goto err;
        json_array_append_new (a, v);
    }
err:
    json_decref (a);
    return NULL;
}

static json_t *mapping (struct ctx *c, int depth)
{
    json_t *o = json_object ();
    for (;;) {
        yaml_event_t kev;
        if (next (c, &kev) < 0)
            goto err;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete (&kev);
            return o;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            fail (c, &kev.start_mark, "mapping keys must be plain scalars");
            yaml_event_delete (&kev);
            goto err;
        }
        char *key = xstrndup ((const char *)kev.data.scalar.value, kev.data.scalar.length);
        yaml_mark_t km = kev.start_mark;
        yaml_event_delete (&kev);
        yaml_event_t vev;
        if (next (c, &vev) < 0) {
            free (key);
            goto err;
        }
        json_t *v = node (c, &vev, depth + 1);
        yaml_event_delete (&vev);
        if (!v) {
            free (key);
            goto err;
        }
        if (json_object_get (o, key)) {
            char msg[128], q[65];
            snprintf (msg, sizeof msg, "duplicate key '%s'", errquote (q, sizeof q, key, (size_t)-1));
            fail (c, &km, msg);
            free (key);
            json_decref (v);
            goto err;
        }
        json_object_set_new (o, key, v);
        free (key);
    }
err:
    json_decref (o);
    return NULL;
}

static json_t *node (struct ctx *c, yaml_event_t *ev, int depth)
{
    if (depth > MAX_DEPTH) {
        fail (c, &ev->start_mark, "nesting too deep");
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor) {
            fail (c, &ev->start_mark, "anchors are not supported");
            return NULL;
        }
        return scalar (ev);
    case YAML_SEQUENCE_START_EVENT:
        if (ev->data.sequence_start.anchor) {
            fail (c, &ev->start_mark, "anchors are not supported");
            return NULL;
        }
        return sequence (c, depth);
    case YAML_MAPPING_START_EVENT:
        if (ev->data.mapping_start.anchor) {
            fail (c, &ev->start_mark, "anchors are not supported");
            return NULL;
        }
        return mapping (c, depth);
    case YAML_ALIAS_EVENT:
        fail (c, &ev->start_mark, "aliases are not supported");
        return NULL;
    default:
        fail (c, &ev->start_mark, "unexpected YAML event");
        return NULL;
    }
}

json_t *yaml_json_parse (const char *text, size_t len, char *errbuf, size_t errlen)
{
    struct ctx c = { .err = errbuf, .errlen = errlen };
    json_t *root = NULL;
    if (errlen)
        errbuf[0] = '\0';
    if (!yaml_parser_initialize (&c.p)) {
        fail (&c, NULL, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string (&c.p, (const unsigned char *)text, len);
    yaml_event_t ev;
    /* STREAM-START, then DOCUMENT-START (or STREAM-END for empty input) */
    for (;;) {
        if (next (&c, &ev) < 0)
            goto done;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete (&ev);
            continue;
        }
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete (&ev);
            fail (&c, NULL, "empty document");
            goto done;
        }
        root = node (&c, &ev, 0);
        yaml_event_delete (&ev);
        break;
    }
    if (!root)
        goto done;
    /* the first document must end right after its root node, and what
     * follows must be the end of the text or another document (which is not
     * read).  libyaml ends a document implicitly before looking at the next
     * token, so junk after a flow root ("{a: 1} }}") only shows up as a
     * syntax error in the event after DOCUMENT-END. */
    for (int i = 0; i < 2; i++) {
        if (next (&c, &ev) < 0)
            goto bad;
        yaml_event_type_t t = ev.type;
        yaml_mark_t m = ev.start_mark;
        yaml_event_delete (&ev);
        if (i == 0 && t != YAML_DOCUMENT_END_EVENT) {
            fail (&c, &m, "expected the end of the document");
            goto bad;
        }
        if (i == 1 && t != YAML_STREAM_END_EVENT && t != YAML_DOCUMENT_START_EVENT) {
            fail (&c, &m, "expected the end of the text or another document");
            goto bad;
        }
    }
    goto done;
bad:
    json_decref (root);
    root = NULL;
done:
    yaml_parser_delete (&c.p);
    return root;
}
