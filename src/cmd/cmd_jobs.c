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
            char user[64], nn[24];
            json_int_t nnodes = json_integer_value (json_object_get (j, "nnodes"));
            if (nnodes > 0)
                snprintf (nn, sizeof nn, "%lld", (long long)nnodes);
            else
                snprintf (nn, sizeof nn, "-");
            printf ("%12s %-8.8s %-10.10s %2s %6lld %6s %8s %s\n", json_string_value (json_object_get (j, "id")),
                    user_name (json_integer_value (json_object_get (j, "userid")), user, sizeof user),
                    json_string_value (json_object_get (j, "name")), json_string_value (json_object_get (j, "st")),
                    (long long)json_integer_value (json_object_get (j, "ntasks")), nn,
                    json_string_value (json_object_get (j, "time")), json_string_value (json_object_get (j, "info")));
        }
    }
    json_decref (r);
    client_destroy (&cl);
    return 0;
}
