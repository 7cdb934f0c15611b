/* jobstate.c - the job state machine: names of states and results, and
 * job_state_apply(), the fold of one event into a job's record.  Pure: no
 * I/O.  See jobstate.h and doc/jobs.md (events). */
#include "jobstate.h"
#include "errquote.h"
#include "idset.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

/* -- names -------------------------------------------------------------- */

static const char *state_names[] = { "NEW", "DEPEND", "SCHED", "RUN", "CLEANUP", "INACTIVE" };
static const char *state_abbrevs[] = { "N", "D", "S", "R", "C", "I" };
static const char *result_names[] = { "", "COMPLETED", "FAILED", "CANCELED", "TIMEOUT", "LOST" };

const char *job_state_name (job_state_t s)
{
    return (unsigned)s <= JOB_INACTIVE ? state_names[s] : "?";
}

const char *job_state_abbrev (job_state_t s)
{
    return (unsigned)s <= JOB_INACTIVE ? state_abbrevs[s] : "?";
}

int job_state_parse (const char *name, job_state_t *s)
{
    for (int i = 0; name && i <= JOB_INACTIVE; i++)
        if (!strcasecmp (name, state_names[i]) || !strcasecmp (name, state_abbrevs[i])) {
            *s = (job_state_t)i;
            return 0;
        }
    return -1;
}

const char *job_result_name (job_result_t r)
{
    return (unsigned)r <= JOB_RESULT_LOST ? result_names[r] : "?";
}

const char *job_status_abbrev (job_state_t s, job_result_t r)
{
    static const char *abbrevs[] = { "I", "CD", "F", "CA", "TO", "F" };
    if (s != JOB_INACTIVE)
        return job_state_abbrev (s);
    return (unsigned)r <= JOB_RESULT_LOST ? abbrevs[r] : "?";
}

int job_result_parse (const char *name, job_result_t *r)
{
    for (int i = 1; name && i <= JOB_RESULT_LOST; i++)
        if (!strcasecmp (name, result_names[i])) {
            *r = (job_result_t)i;
            return 0;
        }
    return -1;
}

int job_exit_code (int status)
{
    if (status < 0)
        return 1;
    if (WIFEXITED (status))
        return WEXITSTATUS (status);
    if (WIFSIGNALED (status))
        return 128 + WTERMSIG (status);
    return 1;
}

void jobdb_job_clear (jobdb_job_t *j)
{
    if (!j)
        return;
    free (j->name);
    free (j->jobspec);
    free (j->R);
    free (j->exception);
    memset (j, 0, sizeof *j);
}

/* -- the state machine -------------------------------------------------- */

static int nnodes_of_R (const json_t *R)
{
    json_t *lite = json_object_get (json_object_get (R, "execution"), "R_lite");
    idset_t *all = idset_new ();
    size_t i;
    json_t *e;
    int n = 0;
    json_array_foreach (lite, i, e) {
        const char *rk = json_string_value (json_object_get (e, "rank"));
        idset_t *ids = rk ? idset_decode (rk, NULL, 0) : NULL;
        for (uint32_t r = ids ? idset_first (ids) : IDSET_INVALID; r != IDSET_INVALID; r = idset_next (ids, r))
            idset_set (all, r);
        idset_destroy (&ids);
    }
    n = (int)idset_count (all);
    idset_destroy (&all);
    return n;
}

static job_result_t result_of (const jobdb_job_t *j)
{
    if (j->exception) {
        if (!strncmp (j->exception, "cancel:", 7))
            return JOB_RESULT_CANCELED;
        if (!strncmp (j->exception, "timeout:", 8))
            return JOB_RESULT_TIMEOUT;
        if (!strncmp (j->exception, "lost:", 5))
            return JOB_RESULT_LOST;
        return JOB_RESULT_FAILED;
    }
    return j->status == 0 ? JOB_RESULT_COMPLETED : JOB_RESULT_FAILED;
}

int job_state_apply (jobdb_job_t *j, double ts, const char *name, const json_t *ctx,
                     char *err, size_t errlen)
{
    if (!name)
        return errfail (err, errlen, "event without a name");
    job_state_t st = j->state;
    if (!strcmp (name, "submit")) {
        if (st != JOB_NEW)
            return errfail (err, errlen, "submit: job already submitted");
        json_t *v;
        if ((v = json_object_get (ctx, "userid")) && json_is_integer (v))
            j->userid = (uint32_t)json_integer_value (v);
        if ((v = json_object_get (ctx, "name")) && json_is_string (v)) {
            free (j->name);
            j->name = xstrdup (json_string_value (v));
        }
        if ((v = json_object_get (ctx, "ntasks")) && json_is_integer (v))
            j->ntasks = (int)json_integer_value (v);
        if ((v = json_object_get (ctx, "nnodes")) && json_is_integer (v))
            j->nnodes = (int)json_integer_value (v);
        j->state = JOB_DEPEND;
        j->t_submit = j->t_depend = ts;
        j->status = -1;
    }
    else if (st == JOB_NEW)
        return errfail (err, errlen, "%s: job not submitted", name);
    else if (st == JOB_INACTIVE)
        return errfail (err, errlen, "%s: job is inactive", name);
    else if (!strcmp (name, "depend")) {
        if (st != JOB_DEPEND)
            return errfail (err, errlen, "depend: job is in %s, not DEPEND", job_state_name (st));
        j->state = JOB_SCHED;
        j->t_sched = ts;
    }
    else if (!strcmp (name, "alloc")) {
        if (st != JOB_SCHED)
            return errfail (err, errlen, "alloc: job is in %s, not SCHED", job_state_name (st));
        json_t *R = json_object_get (ctx, "R");
        if (R) {
            char *t = json_dumps (R, JSON_COMPACT);
            if (!t)
                return errfail (err, errlen, "alloc: bad R");
            free (j->R);
            j->R = t;
            int n = nnodes_of_R (R);
            if (n > 0)
                j->nnodes = n;
        }
        j->state = JOB_RUN;
        j->t_run = ts;
    }
    else if (!strcmp (name, "finish")) {
        json_t *s = json_object_get (ctx, "status");
        if (st != JOB_RUN && st != JOB_CLEANUP)
            return errfail (err, errlen, "finish: job is in %s, not RUN", job_state_name (st));
        if (!json_is_integer (s))
            return errfail (err, errlen, "finish: context needs an integer status");
        if (j->status != -1)
            return errfail (err, errlen, "finish: job already finished");
        j->status = (int)json_integer_value (s);
        if (st == JOB_RUN) {
            j->state = JOB_CLEANUP;
            j->t_cleanup = ts;
        }
    }
    else if (!strcmp (name, "exception")) {
        const char *type = json_string_value (json_object_get (ctx, "type"));
        const char *note = json_string_value (json_object_get (ctx, "note"));
        json_t *sev = json_object_get (ctx, "severity");
        if (!type || !*type || strchr (type, ':'))
            return errfail (err, errlen, "exception: context needs a type (a word)");
        if (sev && !json_is_integer (sev))
            return errfail (err, errlen, "exception: severity must be an integer");
        int fatal = !sev || json_integer_value (sev) == 0;
        /* the first fatal exception before the job finished decides its result */
        if (fatal && !j->exception && j->status == -1) {
            size_t len = strlen (type) + (note ? strlen (note) : 0) + 3;
            char *x = xmalloc (len);
            snprintf (x, len, "%s: %s", type, note ? note : "");
            j->exception = x;
        }
        if (fatal && st != JOB_CLEANUP) {
            j->state = JOB_CLEANUP;
            j->t_cleanup = ts;
        }
    }
    else if (!strcmp (name, "clean")) {
        if (st != JOB_CLEANUP)
            return errfail (err, errlen, "clean: job is in %s, not CLEANUP", job_state_name (st));
        j->state = JOB_INACTIVE;
        j->t_inactive = ts;
        j->result = result_of (j);
    }
    else if (!strcmp (name, "start") || !strcmp (name, "release") || !strcmp (name, "free")) {
        if (st != JOB_RUN && st != JOB_CLEANUP)
            return errfail (err, errlen, "%s: job is in %s", name, job_state_name (st));
    }
    else if (strcmp (name, "dependency-add") && strcmp (name, "dependency-remove")
             && strcmp (name, "priority") && strcmp (name, "annotation"))
        return errfail (err, errlen, "unknown event '%.40s'", name);
    j->seq++;
    return 0;
}
