/* test_jobstate.c - the job state machine: every event in every state
 * (allowed ones move the job as doc/jobs.md says, refused ones change
 * nothing), results from finish status and exceptions, and the names. */
#include "check.h"
#include "jobstate.h"
#include <stdlib.h>
#include <string.h>

static char err[256];

static const char *const events[] = { "submit", "depend", "alloc", "start", "finish", "exception", "release",
                                      "free", "clean", "dependency-add", "dependency-remove", "priority",
                                      "annotation", NULL };

static json_t *ctx_of (const char *ev)
{
    if (!strcmp (ev, "submit"))
        return json_pack ("{s:i s:s s:i s:i}", "userid", 7, "name", "hostname", "ntasks", 2, "nnodes", 1);
    if (!strcmp (ev, "finish"))
        return json_pack ("{s:i}", "status", 0);
    if (!strcmp (ev, "exception"))
        return json_pack ("{s:s s:i s:s}", "type", "cancel", "severity", 0, "note", "by user");
    if (!strcmp (ev, "alloc"))
        return json_loads ("{\"R\":{\"version\":1,\"execution\":{\"R_lite\":[{\"rank\":\"0-2\",\"children\":{}}]}}}",
                           0, NULL);
    return json_object ();
}

/* drive a fresh record to state s by the usual path */
static void reach (jobdb_job_t *j, job_state_t s, bool finished)
{
    memset (j, 0, sizeof *j);
    static const char *path[] = { "submit", "depend", "alloc", "finish", "clean" };
    for (int k = 0; k < (int)s && k < 5; k++) {
        if (s == JOB_CLEANUP && k == 3 && !finished) {   /* CLEANUP by an exception, not finished */
            json_t *c = ctx_of ("exception");
            job_state_apply (j, 10 + k, "exception", c, err, sizeof err);
            json_decref (c);
            continue;
        }
        json_t *c = ctx_of (path[k]);
        if (job_state_apply (j, 10 + k, path[k], c, err, sizeof err) < 0)
            abort ();
        json_decref (c);
    }
}

/* expected state after event ev in state s, or -1 if refused */
static int expect (job_state_t s, const char *ev, bool finished)
{
    if (!strcmp (ev, "submit"))
        return s == JOB_NEW ? JOB_DEPEND : -1;
    if (s == JOB_NEW || s == JOB_INACTIVE)
        return -1;
    if (!strcmp (ev, "depend"))
        return s == JOB_DEPEND ? JOB_SCHED : -1;
    if (!strcmp (ev, "alloc"))
        return s == JOB_SCHED ? JOB_RUN : -1;
    if (!strcmp (ev, "finish"))
        return s == JOB_RUN ? JOB_CLEANUP : (s == JOB_CLEANUP && !finished) ? JOB_CLEANUP : -1;
    if (!strcmp (ev, "exception"))
        return JOB_CLEANUP;
    if (!strcmp (ev, "clean"))
        return s == JOB_CLEANUP ? JOB_INACTIVE : -1;
    if (!strcmp (ev, "start") || !strcmp (ev, "release") || !strcmp (ev, "free"))
        return s == JOB_RUN || s == JOB_CLEANUP ? (int)s : -1;
    return (int)s;   /* informational */
}

int main (void)
{
    /* every event in every state */
    for (int s = JOB_NEW; s <= JOB_INACTIVE; s++)
        for (int fin = 0; fin < (s == JOB_CLEANUP ? 2 : 1); fin++)
            for (int e = 0; events[e]; e++) {
                jobdb_job_t j;
                reach (&j, (job_state_t)s, fin);
                int seq = j.seq;
                json_t *c = ctx_of (events[e]);
                int rc = job_state_apply (&j, 100, events[e], c, err, sizeof err);
                json_decref (c);
                int want = expect ((job_state_t)s, events[e], fin);
                if (want < 0)
                    ok (rc == -1 && (int)j.state == s && j.seq == seq && err[0] && !strchr (err, '\n'),
                        "%s%s: %s refused (%s)", job_state_name (s), s == JOB_CLEANUP ? (fin ? " finished" : " excepted") : "",
                        events[e], err);
                else
                    ok (rc == 0 && (int)j.state == want && j.seq == seq + 1, "%s%s: %s -> %s",
                        job_state_name (s), s == JOB_CLEANUP ? (fin ? " finished" : " excepted") : "", events[e],
                        job_state_name (want));
                jobdb_job_clear (&j);
            }
    /* what the events record */
    jobdb_job_t j;
    reach (&j, JOB_RUN, false);
    ok (j.userid == 7 && !strcmp (j.name, "hostname") && j.ntasks == 2, "submit records userid, name, ntasks");
    ok (j.nnodes == 3 && j.R && strstr (j.R, "R_lite"), "alloc records R and nnodes from its ranks");
    ok (j.t_submit == 10 && j.t_sched == 11 && j.t_run == 12 && j.status == -1, "timestamps and no status yet");
    jobdb_job_clear (&j);
    /* results */
    struct {
        const char *how;
        int status;
        const char *type;
        job_result_t want;
    } cases[] = {
        { "exit 0", 0, NULL, JOB_RESULT_COMPLETED },     { "exit 1", 256, NULL, JOB_RESULT_FAILED },
        { "cancel", -1, "cancel", JOB_RESULT_CANCELED }, { "timeout", -1, "timeout", JOB_RESULT_TIMEOUT },
        { "lost", -1, "lost", JOB_RESULT_LOST },         { "exec", -1, "exec", JOB_RESULT_FAILED },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        reach (&j, JOB_RUN, false);
        if (cases[k].type) {
            json_t *x = json_pack ("{s:s s:s}", "type", cases[k].type, "note", "n");
            job_state_apply (&j, 20, "exception", x, err, sizeof err);
            json_decref (x);
        }
        else {
            json_t *c = json_pack ("{s:i}", "status", cases[k].status);
            job_state_apply (&j, 20, "finish", c, err, sizeof err);
            json_decref (c);
        }
        ok (job_state_apply (&j, 21, "clean", NULL, err, sizeof err) == 0 && j.state == JOB_INACTIVE
                && j.result == cases[k].want,
            "%s: result %s", cases[k].how, job_result_name (cases[k].want));
        jobdb_job_clear (&j);
    }
    /* a non-fatal exception changes nothing; the first fatal one decides */
    reach (&j, JOB_RUN, false);
    json_t *c = json_pack ("{s:s s:i s:s}", "type", "note", "severity", 1, "note", "x");
    ok (job_state_apply (&j, 30, "exception", c, err, sizeof err) == 0 && j.state == JOB_RUN && !j.exception,
        "severity 1 exception: still RUN");
    json_decref (c);
    c = json_pack ("{s:s s:s}", "type", "timeout", "note", "t");
    job_state_apply (&j, 31, "exception", c, err, sizeof err);
    json_decref (c);
    c = json_pack ("{s:s s:s}", "type", "cancel", "note", "later");
    job_state_apply (&j, 32, "exception", c, err, sizeof err);
    json_decref (c);
    ok (j.exception && !strcmp (j.exception, "timeout: t"), "the first fatal exception is kept");
    jobdb_job_clear (&j);
    /* malformed contexts are refused */
    reach (&j, JOB_RUN, false);
    c = json_pack ("{s:s}", "status", "zero");
    ok (job_state_apply (&j, 40, "finish", c, err, sizeof err) == -1 && j.state == JOB_RUN, "finish without an integer status");
    json_decref (c);
    c = json_pack ("{s:s}", "type", "a:b");
    ok (job_state_apply (&j, 40, "exception", c, err, sizeof err) == -1 && j.state == JOB_RUN, "exception type with ':'");
    json_decref (c);
    ok (job_state_apply (&j, 40, "bogus", NULL, err, sizeof err) == -1 && strstr (err, "unknown event"), "unknown event");
    ok (job_state_apply (&j, 40, NULL, NULL, err, sizeof err) == -1, "event without a name");
    jobdb_job_clear (&j);
    /* names */
    job_state_t s;
    job_result_t r;
    ok (!strcmp (job_state_name (JOB_SCHED), "SCHED") && job_state_parse ("r", &s) == 0 && s == JOB_RUN, "state names");
    ok (!strcmp (job_status_abbrev (JOB_INACTIVE, JOB_RESULT_CANCELED), "CA")
            && !strcmp (job_status_abbrev (JOB_INACTIVE, JOB_RESULT_LOST), "F")
            && !strcmp (job_status_abbrev (JOB_DEPEND, JOB_RESULT_NONE), "D"),
        "status abbreviations as flux jobs");
    ok (job_result_parse ("TIMEOUT", &r) == 0 && r == JOB_RESULT_TIMEOUT && job_result_parse ("x", &r) == -1, "result names");
    /* exit codes from wait statuses (Linux encoding: exit code << 8, or the signal) */
    ok (job_exit_code (3 << 8) == 3 && job_exit_code (0) == 0, "exit status as the exit code");
    ok (job_exit_code (9) == 137, "killed by signal 9: 128 + 9");
    ok (job_exit_code (-1) == 1 && job_exit_code ((19 << 8) | 0x7f) == 1, "no status, or stopped: 1");
    return done ();
}
