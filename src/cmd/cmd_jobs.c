/* cmd_jobs.c - canopy jobs: list jobs as flux jobs does (JOBID USER NAME ST
 * NTASKS NNODES TIME INFO); active ones of the caller by default, -a adds
 * inactive jobs, -A everyone's, --json prints the records. */
#define _GNU_SOURCE
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmd.h"
#include "jobstate.h"

static const char *user_name (json_int_t uid, char *buf, size_t len)
{
    static json_int_t cached = -1;
    static char name[64];
    if (uid != cached) {
        struct passwd *pw = getpwuid ((uid_t)uid);
        if (pw)
            snprintf (name, sizeof name, "%s", pw->pw_name);
        else
            snprintf (name, sizeof name, "%lld", (long long)uid);
        cached = uid;
    }
    snprintf (buf, len, "%s", name);
    return buf;
}

/* flux's fsd: 1.23s, 4.5m, 2h, 1.1d */
static void fsd (double s, char *buf, size_t len)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf (buf, len, "%.3gs", s);
    else if (s < 3600)
        snprintf (buf, len, "%.3gm", s / 60);
    else if (s < 86400)
        snprintf (buf, len, "%.3gh", s / 3600);
    else
        snprintf (buf, len, "%.3gd", s / 86400);
}

static double num (const json_t *j, const char *key)
{
    return json_number_value (json_object_get (j, key));
}

static const char *str (const json_t *j, const char *key)
{
    const char *s = json_string_value (json_object_get (j, key));
    return s ? s : "";
}

/* TIME: pending since submit, running since start, or how long it ran. */
static void time_of (const json_t *j, job_state_t st, char *buf, size_t len)
{
    double now = num (j, "now"), t_run = num (j, "t_run"), t;
    if (st == JOB_DEPEND || st == JOB_SCHED)
        t = now - num (j, "t_submit");
    else if (t_run <= 0)
        t = 0;
    else if (st == JOB_RUN)
        t = now - t_run;
    else
        t = (num (j, "t_cleanup") > 0 ? num (j, "t_cleanup") : num (j, "t_inactive")) - t_run;
    fsd (t, buf, len);
}

/* INFO: what the job waits for, where it runs, or how it ended. */
static void info_of (const json_t *j, job_state_t st, job_result_t res, char *buf, size_t len)
{
    size_t o = 0, i;
    json_t *v;
    buf[0] = '\0';
    switch (st) {
    case JOB_DEPEND:
        if (json_object_get (j, "dependencies")) {
            o = snprintf (buf, len, "depends:");
            json_array_foreach (json_object_get (j, "dependencies"), i, v)
                if (o < len)
                    o += snprintf (buf + o, len - o, "%s%s", i ? "," : "", json_string_value (v));
        }
        break;
    case JOB_SCHED:
        if (json_object_get (j, "reason"))
            snprintf (buf, len, "%s", str (j, "reason"));
        else if (num (j, "t_estimate") > 0) {
            char t[32];
            fsd (num (j, "t_estimate") - num (j, "now"), t, sizeof t);
            snprintf (buf, len, "eta:%s", t);
        }
        else if (json_object_get (j, "queue_position"))
            snprintf (buf, len, "queue position %lld",
                      (long long)json_integer_value (json_object_get (j, "queue_position")));
        break;
    case JOB_RUN:
    case JOB_CLEANUP:
        json_array_foreach (json_object_get (j, "nodelist"), i, v)
            if (o < len)
                o += snprintf (buf + o, len - o, "%s%s", i ? "," : "", json_string_value (v));
        break;
    case JOB_INACTIVE:
        if (json_is_string (json_object_get (j, "exception")))
            snprintf (buf, len, "%s %s", job_result_name (res), str (j, "exception"));
        else if (res == JOB_RESULT_FAILED)
            snprintf (buf, len, "FAILED exit %d", job_exit_code ((int)json_integer_value (json_object_get (j, "status"))));
        else
            snprintf (buf, len, "%s", job_result_name (res));
        break;
    default:
        break;
    }
}

int cmd_jobs (int argc, char **argv)
{
    static struct option opts[] = {
        { "all", no_argument, 0, 'a' },  { "all-users", no_argument, 0, 'A' }, { "json", no_argument, 0, 'j' },
        { "no-header", no_argument, 0, 'n' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
    };
    bool all = false, everyone = false, json = false, header = true;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long (argc, argv, "+aAnh", opts, NULL)) != -1) {
        switch (c) {
        case 'a': all = true; break;
        case 'A': everyone = true; break;
        case 'j': json = true; break;
        case 'n': header = false; break;
        case 'h': printf ("Usage: canopy jobs [-a] [-A] [-n] [--json]\n"); return 0;
        default: die ("jobs: unknown option '%.60s' (see canopy jobs --help)", argv[optind - 1]);
        }
    }
    if (optind < argc)
        die ("jobs: unexpected argument '%.60s'", argv[optind]);
    client_t *cl = cmd_connect ();
    char err[512];
    json_t *r = client_call (cl, 0, "job.list",
                             json_pack ("{s:b s:I}", "all", all, "userid", everyone ? (json_int_t)-1 : (json_int_t)getuid ()),
                             60000, err, sizeof err);
    if (!r)
        die ("jobs: %s", err);
    json_t *jobs = json_object_get (r, "jobs");
    size_t k;
    json_t *e;
    json_array_foreach (jobs, k, e) {   /* ST as flux jobs shows it: D S R C, CD F CA TO */
        job_state_t st = JOB_NEW;
        job_result_t res = JOB_RESULT_NONE;
        job_state_parse (str (e, "state"), &st);
        job_result_parse (str (e, "result"), &res);
        json_object_set_new (e, "st", json_string (job_status_abbrev (st, res)));
    }
    if (json) {
        char *s = json_dumps (jobs, JSON_INDENT (1));
        printf ("%s\n", s);
        free (s);
    }
    else {
        if (header)
            printf ("%12s %-8s %-10s %2s %6s %6s %8s %s\n", "JOBID", "USER", "NAME", "ST", "NTASKS", "NNODES",
                    "TIME", "INFO");
        /* newest first, as flux jobs */
        for (size_t i = json_array_size (jobs); i-- > 0;) {
            json_t *j = json_array_get (jobs, i);
            char user[64], nn[24], tbuf[32], info[512];
            job_state_t st = JOB_NEW;
            job_result_t res = JOB_RESULT_NONE;
            job_state_parse (str (j, "state"), &st);
            job_result_parse (str (j, "result"), &res);
            time_of (j, st, tbuf, sizeof tbuf);
            info_of (j, st, res, info, sizeof info);
            json_int_t nnodes = json_integer_value (json_object_get (j, "nnodes"));
            if (nnodes > 0)
                snprintf (nn, sizeof nn, "%lld", (long long)nnodes);
            else
                snprintf (nn, sizeof nn, "-");
            printf ("%12s %-8.8s %-10.10s %2s %6lld %6s %8s %s\n", json_string_value (json_object_get (j, "id")),
                    user_name (json_integer_value (json_object_get (j, "userid")), user, sizeof user),
                    json_string_value (json_object_get (j, "name")), json_string_value (json_object_get (j, "st")),
                    (long long)json_integer_value (json_object_get (j, "ntasks")), nn,
                    tbuf, info);
        }
    }
    json_decref (r);
    client_destroy (&cl);
    return 0;
}
