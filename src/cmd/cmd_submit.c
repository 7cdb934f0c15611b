/* cmd_submit.c - canopy submit / canopy run: build a jobspec from flux-style
 * options (jobspec_build.c), send it to the job manager on rank 0 and print
 * the job id; --watch (and run) then follow the job's output and exit with
 * its exit code.  --dry-run prints the jobspec as YAML instead. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmd.h"
#include "xalloc.h"
#include "jobspec_build.h"

extern char **environ;

struct strv {
    const char **v;
    size_t n;
};

static void strv_add (struct strv *s, const char *x)
{
    s->v = xreallocarray (s->v, s->n + 2, sizeof *s->v);
    s->v[s->n++] = x;
    s->v[s->n] = NULL;
}

static int parse_count (const char *verb, const char *opt, const char *s)
{
    char *end;
    errno = 0;
    long v = strtol (s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > JOBSPEC_MAX_COUNT)
        die ("%s: invalid %s '%.40s': expected an integer from 1 to %d", verb, opt, s, JOBSPEC_MAX_COUNT);
    return (int)v;
}

static void usage (FILE *f, const char *verb)
{
    fprintf (f,
             "Usage: canopy %s [OPTIONS] CMD [ARGS...]\n"
             "  -N, --nodes=N             nodes\n"
             "  -n, --ntasks=N            tasks (default: N with -N, else 1)\n"
             "  -c, --cores-per-task=N    cores per task (default 1)\n"
             "  -g, --gpus-per-task=N     gpus per task (default 0)\n"
             "      --exclusive           whole nodes (needs -N)\n"
             "      --requires=rank:IDSET|host:HOSTLIST   (repeatable)\n"
             "      --dependency=after|afterok|afterany|afternotok:JOBID (repeatable)\n"
             "  -t, --time-limit=FSD      30s, 5m, 1.5h, 2d; a bare number is minutes\n"
             "  -S, --setattr=KEY[=VAL]   jobspec attribute (repeatable)\n"
             "      --cwd=DIR             working directory (default: the current one)\n"
             "      --env=RULE            NAME=VAL, NAME, or -PATTERN (repeatable)\n"
             "      --env-remove=PATTERN  drop variables (repeatable)\n"
             "      --job-name=NAME       name shown by canopy jobs\n"
             "      --dry-run             print the jobspec (YAML) and exit\n"
             "      --cc=IDSET            submit one copy per id ({cc} in the command becomes the id)\n"
             "%s",
             verb, strcmp (verb, "run") ? "      --watch               follow output, exit with the job's exit code\n" : "");
}

static int submit_main (int argc, char **argv, bool run)
{
    const char *verb = run ? "run" : "submit";
    enum { OPT_EXCL = 256, OPT_REQ, OPT_DEP, OPT_CWD, OPT_ENV, OPT_ENVRM, OPT_NAME, OPT_WATCH, OPT_DRY, OPT_CC };
    static struct option opts[] = {
        { "nodes", required_argument, 0, 'N' },     { "ntasks", required_argument, 0, 'n' },
        { "cores-per-task", required_argument, 0, 'c' }, { "gpus-per-task", required_argument, 0, 'g' },
        { "exclusive", no_argument, 0, OPT_EXCL },    { "requires", required_argument, 0, OPT_REQ },
        { "dependency", required_argument, 0, OPT_DEP }, { "time-limit", required_argument, 0, 't' },
        { "setattr", required_argument, 0, 'S' },   { "cwd", required_argument, 0, OPT_CWD },
        { "env", required_argument, 0, OPT_ENV },     { "env-remove", required_argument, 0, OPT_ENVRM },
        { "job-name", required_argument, 0, OPT_NAME }, { "watch", no_argument, 0, OPT_WATCH },
        { "dry-run", no_argument, 0, OPT_DRY },     { "cc", required_argument, 0, OPT_CC },       { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    jobspec_opts_t o = { 0 };
    struct strv req = { 0 }, dep = { 0 }, set = { 0 }, env = { 0 };
    bool watch = run, dry = false;
    idset_t *cc = NULL;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long (argc, argv, "+:N:n:c:g:t:S:h", opts, NULL)) != -1) {
        switch (c) {
        case 'N': o.nnodes = parse_count (verb, "-N/--nodes", optarg); break;
        case 'n': o.ntasks = parse_count (verb, "-n/--ntasks", optarg); break;
        case 'c': o.cores_per_task = parse_count (verb, "-c/--cores-per-task", optarg); break;
        case 'g': {
            char *end;
            long v = strtol (optarg, &end, 10);
            if (end == optarg || *end || v < 0 || v > JOBSPEC_MAX_COUNT)
                die ("%s: invalid -g/--gpus-per-task '%.40s': expected an integer from 0 to %d", verb, optarg,
                     JOBSPEC_MAX_COUNT);
            o.gpus_per_task = (int)v;
            break;
        }
        case OPT_EXCL: o.exclusive = true; break;
        case OPT_REQ: strv_add (&req, optarg); break;
        case OPT_DEP: strv_add (&dep, optarg); break;
        case 't': o.time_limit = optarg; break;
        case 'S': strv_add (&set, optarg); break;
        case OPT_CWD: o.cwd = optarg; break;
        case OPT_ENV: strv_add (&env, optarg); break;
        case OPT_ENVRM: {
            char *r;
            r = xasprintf ("-%s", optarg);
            strv_add (&env, r);
            break;
        }
        case OPT_NAME: o.job_name = optarg; break;
        case OPT_WATCH: watch = true; break;
        case OPT_DRY: dry = true; break;
        case OPT_CC: {
            char e[160];
            idset_destroy (&cc);
            if (!(cc = idset_decode (optarg, e, sizeof e)) || idset_count (cc) == 0)
                die ("%s: invalid --cc '%.40s': %s", verb, optarg, cc ? "empty" : e);
            break;
        }
        case 'h': usage (stdout, verb); return 0;
        case ':':
            die ("%s: option %s needs a value", verb, argv[optind - 1]);
        default:
            if (optopt && optopt < 256)
                die ("%s: unknown option '-%c' (see canopy %s --help)", verb, optopt, verb);
            die ("%s: unknown option '%.60s' (see canopy %s --help)", verb, argv[optind - 1], verb);
        }
    }
    if (optind >= argc)
        die ("%s: no command given (Usage: canopy %s [OPTIONS] CMD...)", verb, verb);
    char cwd[PATH_MAX];
    if (!o.cwd && getcwd (cwd, sizeof cwd))
        o.cwd = cwd;
    o.requires = req.v;
    o.nrequires = req.n;
    o.dependencies = dep.v;
    o.ndependencies = dep.n;
    o.setattrs = set.v;
    o.nsetattrs = set.n;
    o.env_rules = env.v;
    o.nenv_rules = env.n;
    o.environ_base = (const char *const *)environ;
    o.argc = argc - optind;
    o.argv = argv + optind;
    char err[512];
    json_t *js = jobspec_build (&o, err, sizeof err);
    if (!js)
        die ("%s: %s", verb, err);
    if (dry) {
        char *y = jobspec_yaml (js);
        fputs (y ? y : "", stdout);
        free (y);
        json_decref (js);
        idset_destroy (&cc);
        free (req.v);
        free (dep.v);
        free (set.v);
        free (env.v);
        return 0;
    }
    if (cc && run)
        die ("run: --cc is for submit");
    if (cc && watch)
        die ("submit: --cc and --watch do not go together");
    client_t *cl = cmd_connect ();
    int rc = 0;
    uint32_t k = cc ? idset_first (cc) : 0;
    do {
        json_t *copy = json_deep_copy (js);
        if (cc) {   /* {cc} in the command becomes the copy's id */
            json_t *cmd = json_object_get (json_array_get (json_object_get (copy, "tasks"), 0), "command");
            size_t i;
            json_t *a;
            json_array_foreach (cmd, i, a) {
                const char *t = json_string_value (a), *p = t ? strstr (t, "{cc}") : NULL;
                if (p) {
                    char *n = xasprintf ("%.*s%u%s", (int)(p - t), t, k, p + 4);
                    json_array_set_new (cmd, i, json_string (n));
                    free (n);
                }
            }
        }
        json_t *resp = client_call (cl, 0, "job.submit",
                                    json_pack ("{s:o s:I}", "jobspec", copy, "userid", (json_int_t)getuid ()), 120000,
                                    err, sizeof err);
        if (!resp)
            die ("%s: %s", verb, err);
        const char *id = json_string_value (json_object_get (resp, "id"));
        if (!id)
            die ("%s: malformed response from the job manager", verb);
        char idbuf[64];
        snprintf (idbuf, sizeof idbuf, "%s", id);
        json_decref (resp);
        if (!run) {
            printf ("%s\n", idbuf);
            fflush (stdout);
        }
        if (watch)
            rc = cmd_job_watch (cl, idbuf);
    } while (cc && (k = idset_next (cc, k)) != IDSET_INVALID);
    json_decref (js);
    idset_destroy (&cc);
    client_destroy (&cl);
    free (req.v);
    free (dep.v);
    free (set.v);
    free (env.v);
    return rc;
}

int cmd_submit (int argc, char **argv)
{
    return submit_main (argc, argv, false);
}

int cmd_run (int argc, char **argv)
{
    return submit_main (argc, argv, true);
}
