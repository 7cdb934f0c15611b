/* test_jobdb.c - the job store: event-sourced rows, state machine, results,
 * event logs, output, listing, persistence across reopen and a crashed
 * writer, restart recovery (running -> LOST, pending requeued). */
#include "check.h"
#include "jobdb.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char err[256];
static const char *spec = "{\"version\":1,\"resources\":[{\"type\":\"slot\",\"count\":2,\"label\":\"task\","
                          "\"with\":[{\"type\":\"core\",\"count\":1}]}],\"tasks\":[{\"command\":[\"/bin/sleep\",\"1\"],"
                          "\"slot\":\"task\",\"count\":{\"per_slot\":1}}],\"attributes\":{\"system\":{\"duration\":0}}}";

static int ev (jobdb_t *db, uint64_t id, double ts, const char *name, const char *ctx)
{
    json_t *c = ctx ? json_loads (ctx, 0, NULL) : NULL;
    int rc = jobdb_event (db, id, ts, name, c, err, sizeof err);
    json_decref (c);
    return rc;
}

static job_state_t state_of (jobdb_t *db, uint64_t id, job_result_t *res)
{
    jobdb_job_t j;
    if (jobdb_get (db, id, &j) < 0)
        return (job_state_t)-1;
    job_state_t s = j.state;
    if (res)
        *res = j.result;
    jobdb_job_clear (&j);
    return s;
}

/* run id through to INACTIVE with the given finish status */
static void full_run (jobdb_t *db, uint64_t id, int status)
{
    char ctx[64];
    jobdb_submit (db, id, 1000, spec, 1, err, sizeof err);
    ev (db, id, 2, "depend", NULL);
    ev (db, id, 3, "alloc", NULL);
    snprintf (ctx, sizeof ctx, "{\"status\":%d}", status);
    ev (db, id, 4, "finish", ctx);
    ev (db, id, 5, "clean", NULL);
}

struct cnt {
    int n;
    uint64_t ids[64];
};

static int count_cb (const jobdb_job_t *j, void *arg)
{
    struct cnt *c = arg;
    if (c->n < 64)
        c->ids[c->n] = j->id;
    c->n++;
    return 0;
}

struct outbuf {
    char text[256];
    int64_t last;
    int n;
};

static int out_cb (const char *stream, int rank, const void *data, size_t len, int64_t seq, void *arg)
{
    struct outbuf *o = arg;
    snprintf (o->text + strlen (o->text), sizeof o->text - strlen (o->text), "[%s%d:%zu]", stream, rank, len);
    o->last = seq;
    o->n++;
    return 0;
}

int main (void)
{
    char dir[] = "/tmp/test_jobdb.XXXXXX";
    if (!mkdtemp (dir))
        return 1;
    char path[256];
    snprintf (path, sizeof path, "%s/jobs.db", dir);

    /* names */
    job_state_t s;
    job_result_t r;
    ok (!strcmp (job_state_name (JOB_CLEANUP), "CLEANUP") && !strcmp (job_state_abbrev (JOB_RUN), "R"), "state names");
    ok (job_state_parse ("sched", &s) == 0 && s == JOB_SCHED && job_state_parse ("I", &s) == 0 && s == JOB_INACTIVE
        && job_state_parse ("bogus", &s) == -1, "state parse");
    ok (job_result_parse ("canceled", &r) == 0 && r == JOB_RESULT_CANCELED && job_result_parse ("", &r) == -1
        && !strcmp (job_result_name (JOB_RESULT_LOST), "LOST"), "result names");

    /* open errors */
    ok (jobdb_open ("/nonexistent/dir/jobs.db", err, sizeof err) == NULL && err[0], "bad path: %s", err);
    char junk[256];
    snprintf (junk, sizeof junk, "%s/junk.db", dir);
    FILE *f = fopen (junk, "w");
    fputs ("this is not a database, just some text long enough to be looked at by sqlite...........", f);
    fclose (f);
    err[0] = '\0';
    ok (jobdb_open (junk, err, sizeof err) == NULL && err[0], "non-database file refused: %s", err);

    jobdb_t *db = jobdb_open (path, err, sizeof err);
    ok (db != NULL, "open %s (%s)", path, db ? "" : err);
    ok (jobdb_max_id (db) == 0 && jobdb_last (db, UINT32_MAX) == 0, "empty store: no ids");

    /* submit */
    ok (jobdb_submit (db, 100, 1000, spec, 10.5, err, sizeof err) == 0, "submit 100");
    ok (jobdb_submit (db, 100, 1000, spec, 11, err, sizeof err) == -1 && strstr (err, "exists"), "duplicate id: %s", err);
    ok (jobdb_submit (db, 101, 1000, "{not json", 11, err, sizeof err) == -1 && strstr (err, "JSON"), "bad jobspec: %s", err);
    ok (jobdb_get (db, 101, &(jobdb_job_t){ 0 }) == -1, "failed submit left nothing");
    jobdb_job_t j;
    ok (jobdb_get (db, 100, &j) == 0 && j.state == JOB_DEPEND && j.userid == 1000 && !strcmp (j.name, "sleep")
        && j.ntasks == 2 && j.t_submit == 10.5 && j.status == -1 && j.seq == 1 && j.result == JOB_RESULT_NONE,
        "row after submit: DEPEND, user, name 'sleep', 2 tasks");
    jobdb_job_clear (&j);

    /* the full life */
    ok (ev (db, 100, 11, "alloc", NULL) == -1 && strstr (err, "not SCHED"), "alloc in DEPEND refused: %s", err);
    ok (ev (db, 100, 11, "explode", NULL) == -1 && strstr (err, "unknown event"), "unknown event refused");
    ok (ev (db, 100, 11, "depend", "[1]") == -1, "non-object context refused");
    json_t *log = jobdb_eventlog (db, 100, 0);
    ok (json_array_size (log) == 1, "refused events are not logged");
    json_decref (log);
    ok (ev (db, 100, 11, "dependency-add", "{\"description\":\"afterok:f21\"}") == 0
        && ev (db, 100, 12, "dependency-remove", "{\"description\":\"afterok:f21\"}") == 0, "dependency events");
    ok (ev (db, 100, 12, "depend", NULL) == 0 && state_of (db, 100, NULL) == JOB_SCHED, "depend -> SCHED");
    const char *alloc = "{\"R\":{\"version\":1,\"execution\":{\"R_lite\":[{\"rank\":\"0-1\",\"children\":{\"core\":\"0\"}},"
                        "{\"rank\":\"3\",\"children\":{\"core\":\"1\"}}],\"nodelist\":[\"n[0-1,3]\"],\"starttime\":13,\"expiration\":0}}}";
    ok (ev (db, 100, 13, "alloc", alloc) == 0 && state_of (db, 100, NULL) == JOB_RUN, "alloc -> RUN");
    ok (ev (db, 100, 13.5, "start", NULL) == 0, "start");
    ok (ev (db, 100, 14, "finish", "{}") == -1 && strstr (err, "status"), "finish without status refused");
    ok (ev (db, 100, 14, "finish", "{\"status\":0}") == 0 && state_of (db, 100, NULL) == JOB_CLEANUP, "finish -> CLEANUP");
    ok (ev (db, 100, 14, "finish", "{\"status\":0}") == -1, "second finish refused");
    ok (ev (db, 100, 15, "release", "{\"ranks\":\"all\",\"final\":true}") == 0 && ev (db, 100, 15, "free", NULL) == 0,
        "release, free");
    ok (ev (db, 100, 16, "clean", NULL) == 0 && state_of (db, 100, &r) == JOB_INACTIVE && r == JOB_RESULT_COMPLETED,
        "clean -> INACTIVE COMPLETED");
    ok (ev (db, 100, 17, "start", NULL) == -1 && strstr (err, "inactive"), "no events after INACTIVE");
    ok (jobdb_get (db, 100, &j) == 0 && j.nnodes == 3 && j.R && strstr (j.R, "R_lite") && j.status == 0
        && j.t_run == 13 && j.t_cleanup == 14 && j.t_inactive == 16 && j.seq == 10 && !j.exception,
        "row: 3 nodes from R, times, status, 10 events");
    jobdb_job_clear (&j);
    log = jobdb_eventlog (db, 100, 0);
    const char *names[] = { "submit", "dependency-add", "dependency-remove", "depend", "alloc", "start", "finish",
                            "release", "free", "clean" };
    int order_ok = json_array_size (log) == 10;
    for (size_t i = 0; order_ok && i < 10; i++)
        order_ok = !strcmp (json_string_value (json_object_get (json_array_get (log, i), "name")), names[i]);
    ok (order_ok, "event log holds the 10 events in order");
    ok (json_integer_value (json_object_get (json_object_get (json_array_get (log, 0), "context"), "userid")) == 1000
        && json_real_value (json_object_get (json_array_get (log, 0), "timestamp")) == 10.5, "submit context and timestamp");
    json_decref (log);
    log = jobdb_eventlog (db, 100, 8);
    ok (json_array_size (log) == 2 && !strcmp (json_string_value (json_object_get (json_array_get (log, 1), "name")), "clean"),
        "eventlog after seq 8: free, clean");
    json_decref (log);
    ok (jobdb_eventlog (db, 999, 0) == NULL, "eventlog of an unknown job is NULL");
    ok (ev (db, 999, 1, "depend", NULL) == -1 && strstr (err, "no such job"), "event for unknown job: %s", err);

    /* results */
    full_run (db, 110, 256);
    ok (state_of (db, 110, &r) == JOB_INACTIVE && r == JOB_RESULT_FAILED, "exit status 256 -> FAILED");
    jobdb_submit (db, 111, 1000, spec, 1, err, sizeof err);
    ev (db, 111, 2, "depend", NULL);
    ok (ev (db, 111, 3, "exception", "{\"type\":\"cancel\",\"severity\":0,\"note\":\"by user\"}") == 0
        && state_of (db, 111, NULL) == JOB_CLEANUP, "cancel in SCHED -> CLEANUP");
    ev (db, 111, 4, "clean", NULL);
    ok (jobdb_get (db, 111, &j) == 0 && j.result == JOB_RESULT_CANCELED && j.exception && !strcmp (j.exception, "cancel: by user")
        && j.t_run == 0, "-> CANCELED, never ran, exception text kept");
    jobdb_job_clear (&j);
    jobdb_submit (db, 112, 2000, spec, 1, err, sizeof err);
    ev (db, 112, 2, "depend", NULL);
    ev (db, 112, 3, "alloc", NULL);
    jobdb_submit (db, 114, 3000, spec, 1, err, sizeof err);
    ev (db, 114, 2, "depend", NULL);
    ok (ev (db, 114, 3, "alloc", "{\"R\":{\"execution\":{\"R_lite\":[{\"children\":{}},7,{\"rank\":5}]}}}") == 0
        && state_of (db, 114, NULL) == JOB_RUN, "alloc with a malformed R does not crash");
    ev (db, 114, 4, "exception", "{\"type\":\"cancel\"}");
    ev (db, 114, 5, "clean", NULL);
    ok (ev (db, 112, 4, "exception", "{\"type\":\"warn\",\"severity\":1}") == 0 && state_of (db, 112, NULL) == JOB_RUN,
        "non-fatal exception leaves RUN");
    ok (ev (db, 112, 5, "exception", "{\"type\":\"timeout\",\"severity\":0,\"note\":\"1m\"}") == 0
        && state_of (db, 112, NULL) == JOB_CLEANUP, "timeout -> CLEANUP");
    ok (ev (db, 112, 6, "finish", "{\"status\":9}") == 0 && state_of (db, 112, NULL) == JOB_CLEANUP,
        "finish after the exception is recorded, stays CLEANUP");
    ev (db, 112, 7, "clean", NULL);
    ok (state_of (db, 112, &r) == JOB_INACTIVE && r == JOB_RESULT_TIMEOUT, "-> TIMEOUT (exception came first)");
    ok (ev (db, 110, 9, "exception", "{\"severity\":0}") == -1, "exception without type refused");
    jobdb_submit (db, 113, 2000, spec, 1, err, sizeof err);
    ev (db, 113, 2, "depend", NULL);
    ev (db, 113, 3, "alloc", NULL);
    ev (db, 113, 4, "finish", "{\"status\":0}");
    ev (db, 113, 5, "exception", "{\"type\":\"epilog\",\"severity\":0}");
    ev (db, 113, 6, "clean", NULL);
    ok (state_of (db, 113, &r) == JOB_INACTIVE && r == JOB_RESULT_COMPLETED, "exception after finish does not change the result");

    /* listing */
    struct cnt c = { 0 };
    ok (jobdb_list (db, true, UINT32_MAX, count_cb, &c) == 6 && c.ids[0] == 100 && c.ids[4] == 113 && c.ids[5] == 114,
        "list -a: 6 jobs in id order");
    jobdb_submit (db, 120, 1000, spec, 1, err, sizeof err);
    c.n = 0;
    ok (jobdb_list (db, false, UINT32_MAX, count_cb, &c) == 1 && c.ids[0] == 120, "list active: just 120");
    c.n = 0;
    ok (jobdb_list (db, true, 2000, count_cb, &c) == 2 && c.ids[0] == 112, "list -a for user 2000: 2 jobs");
    ok (jobdb_last (db, 2000) == 113 && jobdb_last (db, 1000) == 120 && jobdb_last (db, 5) == 0, "job last per user");
    ok (jobdb_max_id (db) == 120, "max id 120");
    uint64_t big = 0xC000000000000001ULL;   /* top bit set: stored as a negative int64 */
    ok (jobdb_submit (db, big, 1, spec, 1, err, sizeof err) == 0 && state_of (db, big, NULL) == JOB_DEPEND,
        "64-bit id with the top bit set round-trips");
    ok (jobdb_max_id (db) == big && jobdb_last (db, 1) == big && jobdb_last (db, 1000) == 120,
        "max/last compare ids unsigned");

    /* output */
    ok (jobdb_output_append (db, 120, "stdout", 0, "hello\n", 6) == 0
        && jobdb_output_append (db, 120, "stderr", 1, "a\0b", 3) == 0
        && jobdb_output_append (db, 121, "stdout", 0, "other", 5) == 0
        && jobdb_output_append (db, 120, "stdout", 1, "", 0) == 0, "append output chunks");
    struct outbuf o = { "", 0, 0 };
    ok (jobdb_output_read (db, 120, 0, out_cb, &o) == 3 && !strcmp (o.text, "[stdout0:6][stderr1:3][stdout1:0]"),
        "read back in order, binary length kept: %s", o.text);
    struct outbuf o2 = { "", 0, 0 };
    int64_t mid;
    {
        struct outbuf t = { "", 0, 0 };
        jobdb_output_read (db, 120, 0, out_cb, &t);
        mid = t.last;
    }
    ok (jobdb_output_read (db, 120, mid, out_cb, &o2) == 0, "nothing after the last seq");
    ok (jobdb_output_append (db, 120, NULL, 0, "x", 1) == -1, "NULL stream refused");

    /* restart recovery */
    jobdb_submit (db, 130, 1000, spec, 1, err, sizeof err);         /* stays DEPEND */
    jobdb_submit (db, 131, 1000, spec, 1, err, sizeof err);
    ev (db, 131, 2, "depend", NULL);                                 /* SCHED */
    jobdb_submit (db, 132, 1000, spec, 1, err, sizeof err);
    ev (db, 132, 2, "depend", NULL);
    ev (db, 132, 3, "alloc", NULL);                                  /* RUN */
    jobdb_submit (db, 133, 1000, spec, 1, err, sizeof err);
    ev (db, 133, 2, "depend", NULL);
    ev (db, 133, 3, "alloc", NULL);
    ev (db, 133, 4, "finish", "{\"status\":0}");                     /* CLEANUP, finished */
    jobdb_close (&db);
    ok (db == NULL, "close clears the pointer");

    /* a writer that dies without closing loses nothing it committed */
    pid_t pid = fork ();
    if (pid == 0) {
        jobdb_t *d = jobdb_open (path, err, sizeof err);
        int rc = d ? jobdb_submit (d, 134, 1000, spec, 1, err, sizeof err) : -1;
        if (rc == 0)
            rc = jobdb_event (d, 134, 2, "depend", NULL, err, sizeof err);
        _exit (rc == 0 ? 0 : 1);      /* no close, no checkpoint */
    }
    int wst;
    waitpid (pid, &wst, 0);
    ok (WIFEXITED (wst) && WEXITSTATUS (wst) == 0, "child wrote job 134 and exited without closing");

    db = jobdb_open (path, err, sizeof err);
    ok (db != NULL, "reopen");
    ok (state_of (db, 134, NULL) == JOB_SCHED, "the crashed writer's job 134 is there, in SCHED");
    ok (state_of (db, 100, &r) == JOB_INACTIVE && r == JOB_RESULT_COMPLETED, "old records survive reopen");
    uint64_t *pend;
    size_t np;
    int lost = jobdb_recover (db, 50, &pend, &np, err, sizeof err);
    ok (lost == 1, "recover: 1 job LOST (%d) %s", lost, lost < 0 ? err : "");
    ok (np == 5 && pend[0] == 120 && pend[1] == 130 && pend[2] == 131 && pend[3] == 134 && pend[4] == big,
        "recover: pending 120,130,131,134,big in id order (%zu)", np);
    free (pend);
    ok (jobdb_get (db, 132, &j) == 0 && j.state == JOB_INACTIVE && j.result == JOB_RESULT_LOST && j.t_inactive == 50
        && j.exception && !strncmp (j.exception, "lost:", 5), "running job 132 -> INACTIVE LOST (%s)", j.exception);
    jobdb_job_clear (&j);
    ok (state_of (db, 133, &r) == JOB_INACTIVE && r == JOB_RESULT_COMPLETED, "finished job 133 in CLEANUP -> COMPLETED");
    log = jobdb_eventlog (db, 132, 0);
    ok (json_array_size (log) == 5
        && !strcmp (json_string_value (json_object_get (json_array_get (log, 3), "name")), "exception")
        && !strcmp (json_string_value (json_object_get (json_object_get (json_array_get (log, 3), "context"), "type")), "lost"),
        "132's log ends exception(lost), clean");
    json_decref (log);
    lost = jobdb_recover (db, 60, &pend, &np, err, sizeof err);
    ok (lost == 0 && np == 5, "second recover: nothing more lost, same 5 pending");
    free (pend);

    /* WAL and two handles */
    char wal[300];
    snprintf (wal, sizeof wal, "%s-wal", path);
    struct stat sb;
    ok (stat (wal, &sb) == 0, "WAL file present");
    jobdb_t *db2 = jobdb_open (path, err, sizeof err);
    ok (db2 && jobdb_submit (db2, 140, 1, spec, 1, err, sizeof err) == 0 && state_of (db, 140, NULL) == JOB_DEPEND,
        "a second handle writes, the first sees it");
    jobdb_close (&db2);

    /* throughput (printed, not asserted) */
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    for (uint64_t id = 1000; id < 1200; id++)
        jobdb_submit (db, id, 1, spec, 1, err, sizeof err);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    double dt = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf ("# 200 submits in %.3fs (%.0f/s, synchronous=FULL on %s)\n", dt, 200 / dt, dir);
    jobdb_close (&db);

    char cmd[300];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    if (system (cmd) != 0)
        printf ("# could not remove %s\n", dir);
    return done ();
}
