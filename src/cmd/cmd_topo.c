/* cmd_topo.c - canopy topo: draw a tree topology, or enumerate the distinct
 * tree shapes for a range of sizes (--designs) so experiments can sweep them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"
#include "xalloc.h"
#include "topo.h"
#include "config.h"

static const char *plain_label (uint32_t rank, void *arg)
{
    return "";
}

static char *levels_text (const topo_t *t)
{
    json_t *j = topo_to_json (t);
    json_t *levels = json_object_get (j, "levels");
    size_t cap = 256, len = 0;
    char *buf = xmalloc (cap);
    buf[0] = '\0';
    size_t i;
    json_t *lv;
    json_array_foreach (levels, i, lv) {
        idset_t *s = idset_new ();
        size_t k;
        json_t *r;
        json_array_foreach (lv, k, r) idset_set (s, json_integer_value (r));
        char *e = idset_encode (s);
        size_t need = len + strlen (e) + 8;
        if (need > cap)
            buf = xrealloc (buf, cap = need * 2);
        len += sprintf (buf + len, "%s%s", i ? " | " : "", e);
        free (e);
        idset_destroy (&s);
    }
    json_decref (j);
    return buf;
}

static int designs (long lo, long hi, bool as_json)
{
    json_t *out = json_array ();
    for (long n = lo; n <= hi; n++) {
        topo_t **shapes = NULL;
        json_t **aliases = NULL;
        size_t nshapes = 0;
        /* candidate specs: kary:1 .. kary:n-1 (kary:n-1 is flat), binomial */
        for (long k = 0; k <= (n > 1 ? n - 1 : 1) + 1; k++) {
            char spec[32];
            if (k == (n > 1 ? n - 1 : 1) + 1)
                snprintf (spec, sizeof spec, "binomial");
            else if (k == 0)
                continue;
            else
                snprintf (spec, sizeof spec, "kary:%ld", k);
            topo_t *t = topo_create (spec, n, NULL, NULL, 0);
            size_t j;
            for (j = 0; j < nshapes; j++)
                if (topo_isomorphic (shapes[j], t))
                    break;
            if (j < nshapes) {
                json_array_append_new (aliases[j], json_string (spec));
                topo_destroy (&t);
                continue;
            }
            shapes = xrealloc (shapes, (nshapes + 1) * sizeof *shapes);
            aliases = xrealloc (aliases, (nshapes + 1) * sizeof *aliases);
            shapes[nshapes] = t;
            aliases[nshapes] = json_array ();
            nshapes++;
        }
        json_t *jd = json_array ();
        if (!as_json)
            printf ("size %ld: %zu distinct shapes\n", n, nshapes);
        for (size_t j = 0; j < nshapes; j++) {
            json_t *tj = topo_to_json (shapes[j]);
            json_object_set_new (tj, "same_as", aliases[j]);
            if (!as_json) {
                char *lt = levels_text (shapes[j]);
                char same[256] = "";
                size_t na = json_array_size (aliases[j]);
                if (na) {
                    const char *last = json_string_value (json_array_get (aliases[j], na - 1));
                    snprintf (same, sizeof same, " (= %s%s)", na > 1 ? "... " : "", last);
                }
                char name[300];
                snprintf (name, sizeof name, "%s%s", topo_spec (shapes[j]), same);
                printf ("  %-28s height %u  levels %s\n", name, topo_height (shapes[j]), lt);
                free (lt);
            }
            json_object_del (tj, "parents");
            json_array_append_new (jd, tj);
            topo_destroy (&shapes[j]);
        }
        free (shapes);
        free (aliases);
        json_array_append_new (out, json_pack ("{s:I s:o}", "size", (json_int_t)n, "designs", jd));
    }
    if (as_json) {
        char *s = json_dumps (out, JSON_INDENT (1));
        printf ("%s\n", s);
        free (s);
    }
    json_decref (out);
    return 0;
}

int cmd_topo (int argc, char **argv)
{
    static struct option opts[] = {
        { "size", required_argument, 0, 'N' },  { "json", no_argument, 0, 'j' },
        { "designs", no_argument, 0, 'D' },     { "min-nodes", required_argument, 0, 'a' },
        { "max-nodes", required_argument, 0, 'b' }, { "help", no_argument, 0, 'h' },
        { "config", required_argument, 0, 'c' },
        { 0, 0, 0, 0 },
    };
    long size = 0, lo = 2, hi = 16;
    bool as_json = false, des = false;
    const char *cfgpath = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "N:jh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'N':
            size = strtol (optarg, &end, 10);
            if (*end || size < 1 || size > 1000000)
                die ("topo: invalid --size '%s'", optarg);
            break;
        case 'j': as_json = true; break;
        case 'D': des = true; break;
        case 'c': cfgpath = optarg; break;
        case 'a':
            lo = strtol (optarg, &end, 10);
            if (*end || lo < 1 || lo > 4096)
                die ("topo: invalid --min-nodes '%s' (1-4096)", optarg);
            break;
        case 'b':
            hi = strtol (optarg, &end, 10);
            if (*end || hi < 1 || hi > 4096)
                die ("topo: invalid --max-nodes '%s' (1-4096)", optarg);
            break;
        case 'h':
            printf ("Usage: canopy topo SPEC --size N [--json]\n"
                    "       canopy topo --config FILE [--json]   (any topology, custom included)\n"
                    "       canopy topo --designs [--min-nodes A] [--max-nodes B] [--json]\n");
            return 0;
        default: return 1;
        }
    }
    if (des) {
        if (lo > hi)
            die ("topo: --min-nodes is larger than --max-nodes");
        return designs (lo, hi, as_json);
    }
    char err[256];
    topo_t *t;
    config_t *cfg = NULL;
    if (cfgpath) {
        size_t len;
        char *text = cmd_read_file (cfgpath, &len);
        cfg = config_parse (text, len, err, sizeof err);
        free (text);
        if (!cfg)
            die ("topo: %s: %s", cfgpath, err);
        t = cfg->topo;
    }
    else {
        if (optind >= argc)
            die ("Usage: canopy topo SPEC --size N [--json]");
        if (size < 1)
            die ("topo: --size is required");
        t = topo_create (argv[optind], size, NULL, err, sizeof err);
        if (!t)
            die ("topo: %s", err);
    }
    if (as_json) {
        json_t *j = topo_to_json (t);
        char *s = json_dumps (j, JSON_INDENT (1));
        printf ("%s\n", s);
        free (s);
        json_decref (j);
    }
    else {
        char *s = topo_draw (t, plain_label, NULL, NULL);
        fputs (s, stdout);
        free (s);
    }
    if (cfg)
        config_destroy (&cfg);
    else
        topo_destroy (&t);
    return 0;
}
