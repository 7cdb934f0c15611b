/* cmd_match.c - `canopy match`: a front end compatible with Fluxion's
 * resource-query.  Loads a graph (-L FILE, -f grug|jgf|rv1exec), then reads
 * commands one per line on stdin (match allocate|allocate_orelse_reserve|
 * allocate_with_satisfiability|satisfiability FILE, multi-match, cancel ID,
 * info ID, find EXPR, set-status PATH up|down, get-status PATH,
 * set-property PATH K=V, get-property PATH, stat, list, help, quit) and
 * writes matches in the chosen format (-F simple|pretty_simple|jgf|rlite|
 * rv1|rv1_nosched) to the -t file or stdout.  All file reading happens here;
 * the matcher library (src/match) does none. */
#include "match.h"
#include "idset.h"
#include "readfile.h"
#include "xalloc.h"
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define MAX_FILE (256u << 20)

typedef struct {
    int64_t jobid;
    int state;   /* 0 allocated, 1 reserved, 2 canceled */
    int64_t at;
    char *fn;
    double ov;
} jinfo_t;

typedef struct {
    matcher_t *m;
    mgraph_t *g;
    FILE *out;
    int64_t jobid_counter;
    jinfo_t *jobs;
    int njobs;
    double pmin, pmax, paccum;
    int elapse;
} ctx_t;

static double now_sec (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return tv.tv_sec + tv.tv_usec / 1e6;
}

static jinfo_t *job_get (ctx_t *c, int64_t id)
{
    for (int i = 0; i < c->njobs; i++)
        if (c->jobs[i].jobid == id)
            return &c->jobs[i];
    return NULL;
}

static void job_set (ctx_t *c, int64_t id, int state, int64_t at, const char *fn, double ov)
{
    jinfo_t *j = job_get (c, id);
    if (!j) {
        c->jobs = xreallocarray (c->jobs, c->njobs + 1, sizeof (jinfo_t));
        j = &c->jobs[c->njobs++];
        j->fn = NULL;
    }
    j->jobid = id;
    j->state = state;
    j->at = at;
    free (j->fn);
    j->fn = xstrdup (fn);
    j->ov = ov;
}

static void print_sched (ctx_t *c, int64_t jobid, bool matched, int64_t at, bool sat)
{
    FILE *o = c->out;
    if (matched) {
        fprintf (o, "INFO: =============================\n");
        fprintf (o, "INFO: JOBID=%lld\n", (long long)jobid);
        fprintf (o, "INFO: RESOURCES=%s\n", at == 0 ? "ALLOCATED" : "RESERVED");
        if (at == 0)
            fprintf (o, "INFO: SCHEDULED AT=Now\n");
        else
            fprintf (o, "INFO: SCHEDULED AT=%lld\n", (long long)at);
        fprintf (o, "INFO: =============================\n");
    } else {
        fprintf (o, "INFO: =============================\n");
        fprintf (o, "INFO: No matching resources found\n");
        if (!sat)
            fprintf (o, "INFO: Unsatisfiable request\n");
        fprintf (o, "INFO: JOBID=%lld\n", (long long)jobid);
        fprintf (o, "INFO: =============================\n");
    }
}

static int parse_op (const char *s)
{
    if (!strcmp (s, "allocate"))
        return MATCH_ALLOCATE;
    if (!strcmp (s, "allocate_orelse_reserve"))
        return MATCH_ALLOCATE_ORELSE_RESERVE;
    if (!strcmp (s, "allocate_with_satisfiability"))
        return MATCH_ALLOCATE_W_SATISFIABILITY;
    if (!strcmp (s, "satisfiability"))
        return MATCH_SATISFIABILITY;
    return -1;
}

/* A command's input file (up to MAX_FILE), or NULL after the resource-query style error. */
static char *read_input (const char *path, size_t *len)
{
    char err[512] = "";
    char *text = read_file (path, MAX_FILE, len, err, sizeof (err));
    if (!text)
        fprintf (stderr, "ERROR: can't open %s\n", path);
    return text;
}

static int run_match (ctx_t *c, int op, const char *fn)
{
    char err[512] = "";
    size_t len;
    char *text = read_input (fn, &len);
    if (!text)
        return -1;
    int64_t jobid = c->jobid_counter;
    mjobspec_t *js = mjobspec_parse (text, len, err, sizeof (err));
    free (text);
    if (!js) {
        fprintf (stderr, "match_allocate: ERROR: Jobspec error for %lld: %s\n", (long long)jobid,
                 err);
        return -1;
    }
    int64_t at = 0;
    char *out = NULL;
    double t0 = now_sec ();
    int rc = matcher_match (c->m, js, op, jobid, &at, &out, err, sizeof (err));
    double ov = now_sec () - t0;
    mjobspec_destroy (&js);
    if (rc == MATCH_ERROR) {
        fprintf (stderr, "match_allocate: ERROR: Jobspec error for %lld: %s\n", (long long)jobid,
                 err);
        free (out);
        return -1;
    }
    if (out)
        fputs (out, c->out);
    free (out);
    if (op == MATCH_SATISFIABILITY) {
        fprintf (c->out, "INFO: =============================\n");
        fprintf (c->out, "INFO: %s request\n", rc == MATCH_OK ? "Satisfiable" : "Unsatisfiable");
        fprintf (c->out, "INFO: =============================\n");
        return 0;
    }
    print_sched (c, jobid, rc == MATCH_OK, at, rc != MATCH_UNSAT);
    if (rc == MATCH_OK) {
        job_set (c, jobid, at == 0 ? 0 : 1, at, fn, ov);
        if (ov < c->pmin || c->pmin == 0)
            c->pmin = ov;
        if (ov > c->pmax)
            c->pmax = ov;
        c->paccum += ov;
    }
    c->jobid_counter++;
    return rc == MATCH_OK ? 0 : -1;
}

static const char *state_str (int s)
{
    return s == 0 ? "ALLOCATED" : s == 1 ? "RESERVED" : "CANCELED";
}

static int split (char *line, char **argv, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r (line, " \t\r\n", &save); t && n < max;
         t = strtok_r (NULL, " \t\r\n", &save))
        argv[n++] = t;
    return n;
}

/* update allocate|reserve jgf|rv1exec FILE JOBID AT DURATION */
static int cmd_update (ctx_t *c, int argc, char **argv)
{
    char err[512] = "";
    if (argc != 7) {
        fprintf (stderr, "ERROR: malformed command\n");
        return 0;
    }
    if (strcmp (argv[1], "allocate") && strcmp (argv[1], "reserve")) {
        fprintf (stderr, "ERROR: unknown subcmd %s\n", argv[1]);
        return 0;
    }
    if (strcmp (argv[2], "jgf") && strcmp (argv[2], "rv1exec")) {
        fprintf (stderr, "ERROR: unsupported reader %s\n", argv[2]);
        return 0;
    }
    size_t len;
    char *text = read_input (argv[3], &len);
    if (!text)
        return 0;
    int64_t id = strtoll (argv[4], NULL, 10);
    int64_t at = strtoll (argv[5], NULL, 10), d = strtoll (argv[6], NULL, 10);
    if (matcher_has_job (c->m, id)) {
        fprintf (stderr, "ERROR: existing Jobid \n");
        free (text);
        return 0;
    }
    if (at < 0 || d <= 0) {
        fprintf (stderr, "ERROR: invalid time (%lld, %lld)\n", (long long)at, (long long)d);
        free (text);
        return 0;
    }
    char *out = NULL;
    int rc = -1;
    if (!strcmp (argv[2], "rv1exec"))
        rc = matcher_update_rv1exec (c->m, text, len, id, at, d, &out, err, sizeof (err));
    else
        snprintf (err, sizeof (err), "update from JGF is not supported");
    free (text);
    if (rc != 0)
        fprintf (stderr, "ERROR: traverser run () returned error \nERROR: %s\n", err);
    if (out)
        fputs (out, c->out);
    free (out);
    print_sched (c, id, rc == 0, at, true);
    if (rc == 0)
        job_set (c, id, at == 0 ? 0 : 1, at, argv[3], 0.0);
    c->jobid_counter = id + 1;
    return 0;
}

/* partial-cancel JOBID jgf|rv1exec FILE [stats] */
static int cmd_partial_cancel (ctx_t *c, int argc, char **argv)
{
    char err[512] = "";
    if (argc < 4 || argc > 5) {
        fprintf (stderr, "ERROR: malformed command\n");
        return 0;
    }
    int64_t id = strtoll (argv[1], NULL, 10);
    const char *reader = argv[2];
    if (strcmp (reader, "jgf") && strcmp (reader, "rv1exec")) {
        fprintf (stderr, "ERROR: unsupported reader %s\n", reader);
        return 0;
    }
    size_t len;
    char *text = read_input (argv[3], &len);
    if (!text)
        return 0;
    jinfo_t *j = job_get (c, id);
    if (!matcher_has_job (c->m, id) || !j) {
        fprintf (stderr, "ERROR: nonexistent job %lld\n", (long long)id);
        free (text);
        return 0;
    }
    if (j->state == 1) {
        fprintf (stderr, "ERROR: reservations not currently supported by partial cancel\n");
        free (text);
        return 0;
    }
    int64_t *ranks = NULL;
    int nranks = 0;
    bool full = false;
    int rc = !strcmp (reader, "jgf")
                 ? mgraph_jgf_ranks (text, len, &ranks, &nranks, err, sizeof (err))
                 : mgraph_rv1exec_ranks (text, len, &ranks, &nranks, err, sizeof (err));
    free (text);
    if (rc == 0)
        rc = matcher_partial_cancel (c->m, id, ranks, nranks, &full, err, sizeof (err));
    free (ranks);
    if (rc != 0) {
        printf ("%s\n", err);
        fprintf (stderr, "ERROR: error encountered while removing job %lld\n", (long long)id);
    } else if (full) {
        j->state = 2;
    }
    if (argc == 5 && !strcmp (argv[4], "stats")) {
        fprintf (c->out, "INFO: =============================\n");
        fprintf (c->out, "INFO: PARTIAL CANCEL PREORDER COUNT=\"%u\"\n",
                 matcher_preorder_count (c->m));
        fprintf (c->out, "INFO: PARTIAL CANCEL POSTORDER COUNT=\"%u\"\n",
                 matcher_postorder_count (c->m));
        fprintf (c->out, "INFO: =============================\n");
    }
    return 0;
}

/* returns 1 to quit */
/* ---- the command table: one function a command ---- */

static void malformed (void)
{
    fprintf (stderr, "ERROR: malformed command\n");
}

static int cmd_quit (ctx_t *c, int argc, char **argv)
{
    (void)c, (void)argc, (void)argv;
    return 1;
}

static int cmd_match_one (ctx_t *c, int argc, char **argv)
{
    (void)argc;
    int op = parse_op (argv[1]);
    if (op < 0)
        fprintf (stderr, "ERROR: unknown subcmd %s\n", argv[1]);
    else
        run_match (c, op, argv[2]);
    return 0;
}

static int cmd_multi_match (ctx_t *c, int argc, char **argv)
{
    int op = parse_op (argv[1]);
    if (op < 0) {
        fprintf (stderr, "ERROR: unknown subcmd %s\n", argv[1]);
        return 0;
    }
    for (int i = 2; i < argc; i++)
        if (run_match (c, op, argv[i]) != 0)
            break;
    return 0;
}

static int cmd_cancel (ctx_t *c, int argc, char **argv)
{
    int64_t id = strtoll (argv[1], NULL, 10);
    if (!matcher_has_job (c->m, id)) {
        fprintf (stderr, "cancel: ERROR: nonexistent job %lld\n", (long long)id);
        return 0;
    }
    if (matcher_cancel (c->m, id) < 0)
        fprintf (stderr, "ERROR: error encountered while removing job %lld\n", (long long)id);
    jinfo_t *j = job_get (c, id);
    if (j)
        j->state = 2;
    if (argc == 3 && !strcmp (argv[2], "stats")) {
        fprintf (c->out, "INFO: =============================\n");
        fprintf (c->out, "INFO: CANCEL PREORDER COUNT=\"%u\"\n", matcher_preorder_count (c->m));
        fprintf (c->out, "INFO: CANCEL POSTORDER COUNT=\"%u\"\n", matcher_postorder_count (c->m));
        fprintf (c->out, "INFO: =============================\n");
    }
    return 0;
}

static int cmd_attach (ctx_t *c, int argc, char **argv)
{
    (void)argc;
    char err[512] = "";
    size_t len;
    char *text = read_input (argv[1], &len);
    if (!text)
        return 0;
    if (mgraph_attach_jgf (c->g, text, len, err, sizeof (err)) < 0)
        fprintf (stderr, "ERROR: can't attach JGF subgraph: %s\n", err);
    else
        matcher_graph_changed (c->m);
    free (text);
    return 0;
}

static int cmd_remove (ctx_t *c, int argc, char **argv)
{
    (void)argc;
    char err[512] = "";
    if (!strcmp (argv[2], "true")) {
        if (matcher_remove_path (c->m, argv[1], err, sizeof (err)) < 0)
            fprintf (stderr, "ERROR: can't remove subgraph: %s\n", err);
    } else if (!strcmp (argv[2], "false")) {
        idset_t *ids = idset_decode (argv[1], err, sizeof (err));
        if (!ids) {
            fprintf (stderr, "ERROR: failed to decode ranks.\n");
            return 0;
        }
        int64_t *r = xmalloc (sizeof (int64_t) * (idset_count (ids) + 1));
        int n = 0;
        for (uint32_t x = idset_first (ids); x != IDSET_INVALID; x = idset_next (ids, x))
            r[n++] = x;
        if (matcher_remove_ranks (c->m, r, n, err, sizeof (err)) < 0)
            fprintf (stderr, "ERROR: can't remove subgraph: %s\n", err);
        free (r);
        idset_destroy (&ids);
    } else
        fprintf (stderr, "ERROR: invalid path boolean input \n");
    return 0;
}

static void print_job (const jinfo_t *j)
{
    printf ("INFO: %lld, %s, %lld, %s, %f\n", (long long)j->jobid, state_str (j->state),
            (long long)j->at, j->fn, j->ov);
}

static int cmd_info (ctx_t *c, int argc, char **argv)
{
    (void)argc;
    jinfo_t *j = job_get (c, strtoll (argv[1], NULL, 10));
    if (!j)
        printf ("ERROR: jobid doesn't exist: %s\n", argv[1]);
    else
        print_job (j);
    return 0;
}

static int cmd_list (ctx_t *c, int argc, char **argv)
{
    (void)argc, (void)argv;
    for (int i = 0; i < c->njobs; i++)
        print_job (&c->jobs[i]);
    return 0;
}

static int cmd_stat (ctx_t *c, int argc, char **argv)
{
    (void)argc, (void)argv;
    int n = c->njobs;
    printf ("INFO: Num. of Jobs Matched: %d\n", n);
    printf ("INFO: Min. Match Time: %g\n", n ? c->pmin : 0.0);
    printf ("INFO: Max. Match Time: %g\n", c->pmax);
    printf ("INFO: Avg. Match Time: %g\n", n ? c->paccum / n : 0.0);
    return 0;
}

static int cmd_find (ctx_t *c, int argc, char **argv)
{
    char err[512] = "";
    if (argc < 2) {
        fprintf (stderr, "ERROR: malformed command: \n");
        return 0;
    }
    char crit[4096] = "";
    for (int i = 1; i < argc; i++) {
        if (i > 1)
            strncat (crit, " ", sizeof (crit) - strlen (crit) - 1);
        strncat (crit, argv[i], sizeof (crit) - strlen (crit) - 1);
    }
    char *out = NULL;
    if (matcher_find (c->m, crit, &out, err, sizeof (err)) < 0) {
        fprintf (stderr, "ERROR: %s\n", err);
        return 0;
    }
    if (out)
        fputs (out, c->out);
    free (out);
    fprintf (c->out, "INFO: =============================\n");
    fprintf (c->out, "INFO: EXPRESSION=\"%s\"\n", crit);
    fprintf (c->out, "INFO: =============================\n");
    return 0;
}

static int cmd_set_status (ctx_t *c, int argc, char **argv)
{
    (void)argc;
    if (mgraph_find_path (c->g, argv[1]) < 0)
        fprintf (c->out, "Could not find path %s in resource graph.\n", argv[1]);
    else if (strcmp (argv[2], "up") && strcmp (argv[2], "down"))
        fprintf (stderr, "ERROR: unrecognized status\n");
    else
        matcher_set_status (c->m, argv[1], !strcmp (argv[2], "up"));
    return 0;
}

static int cmd_get_status (ctx_t *c, int argc, char **argv)
{
    (void)argc;
    bool up;
    if (matcher_get_status (c->m, argv[1], &up) < 0)
        fprintf (c->out, "Could not find path %s in resource graph.\n", argv[1]);
    else
        fprintf (c->out, "%s is %s\n", argv[1], up ? "up" : "down");
    return 0;
}

static int cmd_set_property (ctx_t *c, int argc, char **argv)
{
    (void)argc;
    char *eq = strchr (argv[2], '=');
    if (!eq || eq == argv[2] || !eq[1]) {
        fprintf (c->out, "Incorrect input format. \n"
                         "Please use `set-property <resource> PROPERTY=VALUE`.\n");
        return 0;
    }
    *eq = '\0';
    if (matcher_set_property (c->m, argv[1], argv[2], eq + 1) < 0)
        fprintf (c->out, "Couldn't find path %s in resource graph.\n", argv[1]);
    return 0;
}

static int cmd_get_property (ctx_t *c, int argc, char **argv)
{
    (void)argc;
    int found = 0;
    char *s = matcher_get_properties (c->m, argv[1], &found);
    if (!found)
        fprintf (c->out, "Could not find path %s in resource graph.\n", argv[1]);
    else if (!s || !*s)
        fprintf (c->out, "No properties were found for %s (vtx's uniq_id=%d).\n", argv[1],
                 mgraph_find_path (c->g, argv[1]));
    else
        fputs (s, c->out);
    free (s);
    return 0;
}

static int cmd_help (ctx_t *c, int argc, char **argv)
{
    (void)c, (void)argc, (void)argv;
    printf ("INFO: match (m) -- match allocate|allocate_orelse_reserve|"
            "allocate_with_satisfiability|satisfiability JOBSPEC\n"
            "INFO: multi-match (M) -- multi-match SUBCMD JOBSPEC...\n"
            "INFO: cancel (c) -- cancel JOBID\n"
            "INFO: find (f) -- find EXPRESSION\n"
            "INFO: set-status (t) -- set-status PATH up|down\n"
            "INFO: get-status (e) -- get-status PATH\n"
            "INFO: set-property (p) -- set-property PATH KEY=VALUE\n"
            "INFO: get-property (g) -- get-property PATH\n"
            "INFO: info (i) -- info JOBID\n"
            "INFO: list (l) -- list\n"
            "INFO: stat (s) -- stat\n"
            "INFO: quit (q) -- quit\n");
    return 0;
}

/* name, one-letter alias (resource-query's), the argument counts the command
 * takes with its name (0 = no check, -1 = no upper limit; outside them the
 * line is malformed), and what runs it: 1 from it ends the session */
static const struct mcmd {
    const char *name, *alias;
    int min, max;
    int (*run) (ctx_t *c, int argc, char **argv);
} commands[] = {
    { "quit", "q", 0, 0, cmd_quit },
    { "match", "m", 3, 3, cmd_match_one },
    { "multi-match", "M", 4, -1, cmd_multi_match },
    { "cancel", "c", 2, 3, cmd_cancel },
    { "partial-cancel", "pc", 0, 0, cmd_partial_cancel },
    { "attach", "j", 2, 2, cmd_attach },
    { "update", "u", 0, 0, cmd_update },
    { "remove", NULL, 3, 3, cmd_remove },
    { "info", "i", 2, 2, cmd_info },
    { "list", "l", 0, 0, cmd_list },
    { "stat", "s", 0, 0, cmd_stat },
    { "find", "f", 0, 0, cmd_find },
    { "set-status", "t", 3, 3, cmd_set_status },
    { "get-status", "e", 2, 2, cmd_get_status },
    { "set-property", "p", 3, 3, cmd_set_property },
    { "get-property", "g", 2, 2, cmd_get_property },
    { "help", "h", 0, 0, cmd_help },
};

static int do_cmd (ctx_t *c, int argc, char **argv, const char *rawline)
{
    for (size_t i = 0; i < sizeof (commands) / sizeof (commands[0]); i++) {
        const struct mcmd *k = &commands[i];
        if (strcmp (argv[0], k->name) && (!k->alias || strcmp (argv[0], k->alias)))
            continue;
        if (k->min && (argc < k->min || (k->max >= 0 && argc > k->max))) {
            malformed ();
            return 0;
        }
        return k->run (c, argc, argv);
    }
    fprintf (stderr, "ERROR: unknown command: %s\n", rawline);
    return 0;
}

static void usage (FILE *f)
{
    fprintf (f,
             "Usage: canopy match [OPTIONS] < COMMANDS\n"
             "  -L, --load-file=FILE        resource graph (GRUG GraphML, JGF or rv1exec)\n"
             "  -f, --load-format=FMT       grug | jgf | rv1exec (default grug)\n"
             "  -P, --match-policy=POLICY   low|high|first|lonode|hinode|lonodex|hinodex|\n"
             "                              firstnodex|variation or \"policy=.. node_centric=..\"\n"
             "  -F, --match-format=FMT      simple|pretty_simple|jgf|rlite|rv1|rv1_nosched\n"
             "  -S, --match-subsystems=SS   CA | PA | C+PA (default CA)\n"
             "  -p, --prune-filters=SPEC    e.g. ALL:core,ALL:gpu (default ALL:core)\n"
             "  -t, --test-output=FILE      write matches here instead of stdout\n"
             "  -T, --traverser=NAME        simple | flexible (sibling slots are or-slots)\n"
             "  -r, --reserve-vtx-vec=N     accepted for compatibility\n"
             "  -e, --elapse-time           accepted for compatibility\n"
             "  -d, --disable-prompt        accepted for compatibility\n");
}

int cmd_match (int argc, char **argv)
{
    static const struct option lopts[] = {
        {"load-file", required_argument, 0, 'L'},
        {"load-format", required_argument, 0, 'f'},
        {"match-policy", required_argument, 0, 'P'},
        {"match-format", required_argument, 0, 'F'},
        {"match-subsystems", required_argument, 0, 'S'},
        {"prune-filters", required_argument, 0, 'p'},
        {"test-output", required_argument, 0, 't'},
        {"traverser", required_argument, 0, 'T'},
        {"reserve-vtx-vec", required_argument, 0, 'r'},
        {"elapse-time", no_argument, 0, 'e'},
        {"disable-prompt", no_argument, 0, 'd'},
        {"graph-format", required_argument, 0, 'g'},
        {"graph-output", required_argument, 0, 'o'},
        {"hwloc-allowlist", required_argument, 0, 'W'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *load = NULL, *lfmt = "grug", *policy = "first", *mfmt = "simple", *subs = "CA";
    const char *prune = NULL, *tout = NULL;
    bool flexible = false;
    int opt;
    optind = 1;
    while ((opt = getopt_long (argc, argv, "L:f:P:F:S:p:t:T:r:edg:o:W:h", lopts, NULL)) != -1) {
        switch (opt) {
            case 'L': load = optarg; break;
            case 'f': lfmt = optarg; break;
            case 'P': policy = optarg; break;
            case 'F': mfmt = optarg; break;
            case 'S': subs = optarg; break;
            case 'p': prune = optarg; break;
            case 't': tout = optarg; break;
            case 'T':
                if (strcmp (optarg, "simple") && strcmp (optarg, "flexible")) {
                    fprintf (stderr, "canopy match: unknown traverser \"%s\"\n", optarg);
                    return 1;
                }
                flexible = !strcmp (optarg, "flexible");
                break;
            case 'r': case 'e': case 'd': case 'g': case 'o': case 'W': break;
            case 'h': usage (stdout); return 0;
            default: usage (stderr); return 1;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "canopy match: unexpected argument \"%s\"\n", argv[optind]);
        return 1;
    }
    if (!load) {
        fprintf (stderr, "canopy match: a resource graph is required (-L FILE)\n");
        return 1;
    }
    int fmt;
    if (!strcmp (mfmt, "simple"))
        fmt = MFMT_SIMPLE;
    else if (!strcmp (mfmt, "pretty_simple"))
        fmt = MFMT_PRETTY_SIMPLE;
    else if (!strcmp (mfmt, "jgf"))
        fmt = MFMT_JGF;
    else if (!strcmp (mfmt, "rlite"))
        fmt = MFMT_RLITE;
    else if (!strcmp (mfmt, "rv1"))
        fmt = MFMT_RV1;
    else if (!strcmp (mfmt, "rv1_nosched"))
        fmt = MFMT_RV1_NOSCHED;
    else {
        fprintf (stderr, "canopy match: unknown match format \"%s\"\n", mfmt);
        return 1;
    }
    char err[512] = "";
    size_t len;
    char *text = read_file (load, MAX_FILE, &len, err, sizeof (err));
    if (!text) {
        fprintf (stderr, "canopy match: %s\n", err);
        return 1;
    }
    mgraph_t *g = mgraph_new ();
    int rc;
    if (!strcmp (lfmt, "grug"))
        rc = mgraph_load_grug (g, text, len, err, sizeof (err));
    else if (!strcmp (lfmt, "jgf"))
        rc = mgraph_load_jgf (g, text, len, err, sizeof (err));
    else if (!strcmp (lfmt, "rv1exec"))
        rc = mgraph_load_rv1exec (g, text, len, err, sizeof (err));
    else {
        snprintf (err, sizeof (err), "unknown load format \"%s\"", lfmt);
        rc = -1;
    }
    free (text);
    if (rc < 0) {
        fprintf (stderr, "canopy match: %s: %s\n", load, err);
        mgraph_destroy (&g);
        return 1;
    }
    ctx_t c = {0};
    c.g = g;
    c.jobid_counter = 1;
    c.m = matcher_new (g, policy, subs, prune, err, sizeof (err));
    if (!c.m) {
        fprintf (stderr, "canopy match: %s\n", err);
        mgraph_destroy (&g);
        return 1;
    }
    matcher_set_format (c.m, fmt);
    matcher_set_flexible (c.m, flexible);
    c.out = stdout;
    if (tout) {
        c.out = fopen (tout, "w");
        if (!c.out) {
            fprintf (stderr, "canopy match: can't open %s: %s\n", tout, strerror (errno));
            matcher_destroy (&c.m);
            mgraph_destroy (&g);
            return 1;
        }
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline (&line, &cap, stdin)) != -1) {
        char raw[1024];
        snprintf (raw, sizeof (raw), "%s", line);
        raw[strcspn (raw, "\r\n")] = '\0';
        char *argvv[256];
        int ac = split (line, argvv, 256);
        if (ac == 0 || argvv[0][0] == '#')
            continue;
        if (do_cmd (&c, ac, argvv, raw))
            break;
        fflush (c.out);
    }
    free (line);
    if (tout)
        fclose (c.out);
    for (int i = 0; i < c.njobs; i++)
        free (c.jobs[i].fn);
    free (c.jobs);
    matcher_destroy (&c.m);
    mgraph_destroy (&g);
    return 0;
}
