/* writers.c - write a match: "simple" (post-order, one vertex a line, as
 * Fluxion's resource-query prints it), "pretty_simple", JGF, and R
 * (R_lite ranks/children plus the JGF scheduling graph). */
#include "mdfu.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void indent (sbuf_t *b, int level)
{
    sb_add (b, "      ");
    for (int i = 0; i <= level; i++)
        sb_add (b, "---");
}

static void w_simple (matcher_t *m, sbuf_t *b, const mrec_t *r, int n)
{
    for (int i = 0; i < n; i++) {
        indent (b, r[i].level);
        sb_printf (b, "%s[%u:%s]\n", m->g->v[r[i].v].name, r[i].needs, r[i].excl ? "x" : "s");
    }
}

static void w_pretty (matcher_t *m, sbuf_t *b, const mrec_t *r, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        indent (b, r[i].level);
        sb_printf (b, "%s[%u:%s]\n", m->g->v[r[i].v].name, r[i].needs,
                   r[i].excl ? "exclusive" : "shared");
    }
}

json_t *mw_jgf_vertex (matcher_t *m, int v, int64_t size, bool excl, const char *dompath);
json_t *mw_jgf (matcher_t *m, const mrec_t *r, int n);
json_t *mw_rlite (matcher_t *m, const mrec_t *r, int n);
json_t *mw_rv1_execution (matcher_t *m, const mrec_t *r, int n, int64_t at, int64_t dur);

char *mw_write (matcher_t *m, const mrec_t *recs, int n, int64_t jobid, int64_t at, int64_t dur)
{
    sbuf_t b;
    sb_init (&b);
    if (n == 0)
        return sb_take (&b);
    switch (m->fmt) {
        case MFMT_PRETTY_SIMPLE:
            w_pretty (m, &b, recs, n);
            break;
        case MFMT_JGF: {
            json_t *o = mw_jgf (m, recs, n);
            char *s = json_dumps (o, 0);
            sb_add (&b, s);
            sb_add (&b, "\n");
            free (s);
            json_decref (o);
            break;
        }
        case MFMT_RLITE: {
            json_t *o = mw_rlite (m, recs, n);
            char *s = json_dumps (o, JSON_COMPACT);
            sb_add (&b, s);
            sb_add (&b, "\n");
            free (s);
            json_decref (o);
            break;
        }
        case MFMT_RV1:
        case MFMT_RV1_NOSCHED: {
            json_t *o = json_pack ("{s:i s:o}", "version", 1, "execution",
                                   mw_rv1_execution (m, recs, n, at, dur));
            if (m->fmt == MFMT_RV1)
                json_object_set_new (o, "scheduling", mw_jgf (m, recs, n));
            char *s = json_dumps (o, 0);
            sb_add (&b, s);
            sb_add (&b, "\n");
            free (s);
            json_decref (o);
            break;
        }
        default:
            w_simple (m, &b, recs, n);
            break;
    }
    (void)jobid;
    return sb_take (&b);
}

/* find results: vertices in post-order with their depth; each is written
 * with its full size, exclusive, linked to the next shallower record */
char *mw_write_find (matcher_t *m, const int *verts, const int *levels, int n)
{
    mgraph_t *g = m->g;
    mrec_t *r = xcalloc (n ? n : 1, sizeof (mrec_t));
    for (int i = 0; i < n; i++) {
        r[i].v = verts[i];
        r[i].level = levels[i];
        r[i].needs = (unsigned)g->v[verts[i]].size;
        r[i].excl = true;
        r[i].parent = -1;
        r[i].pedge = -1;
    }
    for (int i = 0; i < n; i++) {
        for (int k = i + 1; k < n; k++) {
            if (r[k].level < r[i].level) {
                if (r[k].level == r[i].level - 1) {
                    r[i].parent = k;
                    mvtx_t *p = &g->v[r[k].v];
                    for (int q = 0; q < p->nout; q++) {
                        medge_t *e = &g->e[p->out[q]];
                        if (e->dst == r[i].v && e->subsys == m->dom) {
                            r[i].pedge = p->out[q];
                            break;
                        }
                    }
                }
                break;
            }
        }
    }
    char *s = mw_write (m, r, n, 0, 0, 0);
    free (r);
    return s;
}
