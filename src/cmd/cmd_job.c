/* cmd_job.c - canopy job attach|last|info|submit|cancel, and the output
 * follower shared with canopy submit --watch and canopy run.
 *
 * attach streams a job's output (what was kept so far, then live) and
 * returns its exit code; Ctrl-C once prints a hint, twice within 2 s
 * cancels the job.  info prints the jobspec, R and the event log (or one of
 * them).  submit sends a jobspec file (JSON or YAML) as it is. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cmd.h"
#include "xalloc.h"
#include "jobid.h"
#include "jobspec_build.h"
#include "yaml_json.h"

static volatile sig_atomic_t interrupts;

static void on_int (int sig)
{
    interrupts++;
}

/* Validate an id on the command line (f58 or decimal); dies with one line. */
static void check_id (const char *s)
{
    jobid_t id;
    char err[160];
    if (jobid_parse (s, &id, err, sizeof err) < 0)
        die ("%s", err);
}

int cmd_job_watch (client_t *c, const char *id)
{
    check_id (id);
    uint32_t tag = cmd_send (c, 0, "job.attach", json_pack ("{s:s}", "id", id), CMSG_F_STREAMING);
    struct sigaction sa = { .sa_handler = on_int }, old;
    sigaction (SIGINT, &sa, &old);
    int seen = 0;
    double t_first = 0;
    int code = 1;
    bool got_final = false;
    char *exception = NULL;
    bool ran = false;
    for (;;) {
        if (interrupts != seen) {
            seen = interrupts;
            struct timespec ts;
            clock_gettime (CLOCK_MONOTONIC, &ts);
            double now = ts.tv_sec + ts.tv_nsec * 1e-9;
            if (t_first > 0 && now - t_first <= 2.0) {
                char err[256];
                json_t *r = client_call (c, 0, "job.cancel", json_pack ("{s:s}", "id", id), 10000, err, sizeof err);
                if (!r)
                    fprintf (stderr, "canopy: cancel %s: %s\n", id, err);
                else
                    fprintf (stderr, "canopy: job %s: cancel requested\n", id);
                json_decref (r);
                t_first = 0;
            }
            else {
                fprintf (stderr, "canopy: interrupt: Ctrl-C again within 2 s cancels job %s\n", id);
                t_first = now;
            }
        }
        cmsg_t m;
        char err[256];
        int rc = client_stream_next (c, tag, &m, 500, err, sizeof err);
        if (rc < 0) {
            if (errno == EINTR || errno == ETIMEDOUT)
                continue;
            die ("attach: lost connection to broker: %s", err);
        }
        if (rc == 0) {
            client_msg_clear (&m);
            break;
        }
        if (m.hdr.errnum) {
            char msg[512];
            snprintf (msg, sizeof msg, "%s", client_errstr (&m));
            client_msg_clear (&m);
            die ("attach: %s", msg);
        }
        const char *stream = NULL, *result = NULL, *exc = NULL;
        int task = 0, exitcode = 1, r = 0;
        if (json_unpack (m.json, "{s:s s:i}", "stream", &stream, "task", &task) == 0) {
            FILE *f = strcmp (stream, "stderr") ? stdout : stderr;
            fwrite (m.data, 1, m.data_len, f);
            fflush (f);
        }
        else if (json_unpack (m.json, "{s:s s:i s:b}", "result", &result, "exitcode", &exitcode, "ran", &r) == 0) {
            exc = json_string_value (json_object_get (m.json, "exception"));
            got_final = true;
            code = exitcode;
            ran = r;
            free (exception);
            exception = exc ? xstrdup (exc) : NULL;
        }
        client_msg_clear (&m);
    }
    sigaction (SIGINT, &old, NULL);
    if (!got_final)
        die ("attach: job %s: the job manager ended the stream without a result", id);
    if (exception) {
        fprintf (stderr, "canopy: job %s: exception: %s\n", id, exception);
        if (!ran || code == 0)
            code = 1;
    }
    free (exception);
    return code;
}

static void print_eventlog (json_t *log)
{
    size_t i;
    json_t *e;
    json_array_foreach (log, i, e) {
        char *ctx = json_dumps (json_object_get (e, "context"), JSON_COMPACT);
        printf ("%.6f %s %s\n", json_number_value (json_object_get (e, "timestamp")),
                json_string_value (json_object_get (e, "name")), ctx ? ctx : "{}");
        free (ctx);
    }
}

static int job_info (int argc, char **argv)
{
    if (argc < 2 || argc > 3)
        die ("job info: Usage: canopy job info ID [jobspec|R|eventlog]");
    const char *key = argc == 3 ? argv[2] : NULL;
    if (key && strcmp (key, "jobspec") && strcmp (key, "R") && strcmp (key, "eventlog"))
        die ("job info: unknown key '%.40s' (jobspec, R or eventlog)", key);
    check_id (argv[1]);
    client_t *c = cmd_connect ();
    char err[512];
    json_t *o = client_call (c, 0, "job.info", json_pack ("{s:s}", "id", argv[1]), 30000, err, sizeof err);
    if (!o)
        die ("job info: %s", err);
    json_t *spec = json_object_get (o, "jobspec"), *R = json_object_get (o, "R");
    json_t *log = json_object_get (o, "eventlog");
    if (key && !strcmp (key, "jobspec")) {
        char *y = jobspec_yaml (spec);
        fputs (y ? y : "", stdout);
        free (y);
    }
    else if (key && !strcmp (key, "R")) {
        if (json_is_null (R))
            die ("job info: job %s has no allocation", argv[1]);
        char *s = json_dumps (R, JSON_INDENT (2));
        printf ("%s\n", s);
        free (s);
    }
    else if (key)
        print_eventlog (log);
    else {
        json_t *job = json_object_get (o, "job");
        printf ("job %s: %s%s%s\n", json_string_value (json_object_get (job, "id")),
                json_string_value (json_object_get (job, "state")),
                *json_string_value (json_object_get (job, "result")) ? " " : "",
                json_string_value (json_object_get (job, "result")));
        printf ("--- jobspec\n");
        char *y = jobspec_yaml (spec);
        fputs (y ? y : "", stdout);
        free (y);
        printf ("--- R\n");
        char *s = json_is_null (R) ? xstrdup ("(not allocated)") : json_dumps (R, JSON_INDENT (2));
        printf ("%s\n", s);
        free (s);
        printf ("--- eventlog\n");
        print_eventlog (log);
    }
    json_decref (o);
    client_destroy (&c);
    return 0;
}

static int job_submit_file (int argc, char **argv)
{
    if (argc != 2)
        die ("job submit: Usage: canopy job submit FILE|-");
    size_t len = 0;
    char *text;
    if (!strcmp (argv[1], "-")) {
        size_t cap = 4096;
        text = xmalloc (cap + 1);
        size_t k;
        while ((k = fread (text + len, 1, cap - len, stdin)) > 0)
            if ((len += k) == cap)
                text = xrealloc (text, (cap *= 2) + 1);
        text[len] = '\0';
    }
    else
        text = cmd_read_file (argv[1], &len);
    char err[512];
    json_t *js = yaml_json_parse (text, len, err, sizeof err);
    free (text);
    if (!js)
        die ("job submit: %s: %s", argv[1], err);
    client_t *c = cmd_connect ();
    json_t *r = client_call (c, 0, "job.submit", json_pack ("{s:o s:I}", "jobspec", js, "userid", (json_int_t)getuid ()),
                             120000, err, sizeof err);
    if (!r)
        die ("job submit: %s", err);
    printf ("%s\n", json_string_value (json_object_get (r, "id")));
    json_decref (r);
    client_destroy (&c);
    return 0;
}

int cmd_job (int argc, char **argv)
{
    if (argc < 2 || cmd_help_asked (argc, argv)) {   /* also canopy job SUB --help */
        fprintf (argc < 2 ? stderr : stdout,
                 "Usage: canopy job attach ID | last | info ID [jobspec|R|eventlog] | submit FILE | cancel ID...\n");
        return argc < 2;
    }
    const char *sub = argv[1];
    if (!strcmp (sub, "attach")) {
        if (argc != 3)
            die ("job attach: Usage: canopy job attach ID");
        client_t *c = cmd_connect ();
        int rc = cmd_job_watch (c, argv[2]);
        client_destroy (&c);
        return rc;
    }
    if (!strcmp (sub, "last")) {
        if (argc != 2)
            die ("job last: takes no arguments");
        client_t *c = cmd_connect ();
        char err[512];
        json_t *r = client_call (c, 0, "job.last", json_pack ("{s:I}", "userid", (json_int_t)getuid ()), 30000, err,
                                 sizeof err);
        if (!r)
            die ("job last: %s", err);
        printf ("%s\n", json_string_value (json_object_get (r, "id")));
        json_decref (r);
        client_destroy (&c);
        return 0;
    }
    if (!strcmp (sub, "info"))
        return job_info (argc - 1, argv + 1);
    if (!strcmp (sub, "submit"))
        return job_submit_file (argc - 1, argv + 1);
    if (!strcmp (sub, "cancel"))
        return cmd_cancel (argc - 1, argv + 1);
    die ("job: unknown subcommand '%.40s' (attach, last, info, submit, cancel)", sub);
}
