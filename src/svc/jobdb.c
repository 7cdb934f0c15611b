/* jobdb.c - the job store: SQLite tables jobs, eventlog, output; each
 * event is folded into its job's row by the pure state machine
 * (src/lib/jobstate.c) in the same transaction.  See jobdb.h and
 * doc/jobs.md (schema, events). */
#include "jobdb.h"
#include "errquote.h"
#include "jobspec_build.h"
#include "xalloc.h"
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SCHEMA_VERSION 1

/* Job ids are uint64; SQLite integers are int64, so an id with the top bit
 * set (FLUID timestamps past 2041) is stored negative.  These orderings
 * sort by the unsigned value: non-negative first, then negative. */
#define UNSIGNED_ORDER      "(id < 0), id"
#define UNSIGNED_ORDER_DESC "(id < 0) DESC, id DESC"

struct jobdb {
    sqlite3 *db;
};

/* -- SQLite ------------------------------------------------------------- */

static const char *schema =
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  id INTEGER PRIMARY KEY,"
    "  userid INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  jobspec TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  result TEXT NOT NULL DEFAULT '',"
    "  status INTEGER NOT NULL DEFAULT -1,"
    "  ntasks INTEGER NOT NULL DEFAULT 0,"
    "  nnodes INTEGER NOT NULL DEFAULT 0,"
    "  t_submit REAL NOT NULL DEFAULT 0, t_depend REAL NOT NULL DEFAULT 0,"
    "  t_sched REAL NOT NULL DEFAULT 0, t_run REAL NOT NULL DEFAULT 0,"
    "  t_cleanup REAL NOT NULL DEFAULT 0, t_inactive REAL NOT NULL DEFAULT 0,"
    "  R TEXT,"
    "  exception TEXT,"
    "  seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS jobs_active ON jobs (id) WHERE state <> 'INACTIVE';"
    "CREATE INDEX IF NOT EXISTS jobs_user ON jobs (userid, id);"
    "CREATE TABLE IF NOT EXISTS eventlog ("
    "  id INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  timestamp REAL NOT NULL,"
    "  name TEXT NOT NULL,"
    "  context TEXT NOT NULL,"
    "  PRIMARY KEY (id, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS output ("
    "  seq INTEGER PRIMARY KEY,"
    "  id INTEGER NOT NULL,"
    "  stream TEXT NOT NULL,"
    "  rank INTEGER NOT NULL,"
    "  data BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS output_id ON output (id, seq);"
    "CREATE TABLE IF NOT EXISTS kv ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL);";

static const char *cols =
    "id, userid, name, jobspec, state, result, status, ntasks, nnodes, t_submit, t_depend, "
    "t_sched, t_run, t_cleanup, t_inactive, R, exception, seq";

static char *col_text (sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text (st, i);
    return t ? xstrdup ((const char *)t) : NULL;
}

static void row_to_job (sqlite3_stmt *st, jobdb_job_t *j)
{
    memset (j, 0, sizeof *j);
    j->id = (uint64_t)sqlite3_column_int64 (st, 0);
    j->userid = (uint32_t)sqlite3_column_int64 (st, 1);
    j->name = col_text (st, 2);
    j->jobspec = col_text (st, 3);
    job_state_t s = JOB_NEW;
    job_state_parse ((const char *)sqlite3_column_text (st, 4), &s);
    j->state = s;
    job_result_t r = JOB_RESULT_NONE;
    job_result_parse ((const char *)sqlite3_column_text (st, 5), &r);
    j->result = r;
    j->status = sqlite3_column_int (st, 6);
    j->ntasks = sqlite3_column_int (st, 7);
    j->nnodes = sqlite3_column_int (st, 8);
    j->t_submit = sqlite3_column_double (st, 9);
    j->t_depend = sqlite3_column_double (st, 10);
    j->t_sched = sqlite3_column_double (st, 11);
    j->t_run = sqlite3_column_double (st, 12);
    j->t_cleanup = sqlite3_column_double (st, 13);
    j->t_inactive = sqlite3_column_double (st, 14);
    j->R = col_text (st, 15);
    j->exception = col_text (st, 16);
    j->seq = sqlite3_column_int (st, 17);
}

static int exec (jobdb_t *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec (db->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        errfail (err, errlen, "job store: %s", msg ? msg : sqlite3_errmsg (db->db));
        sqlite3_free (msg);
        return -1;
    }
    return 0;
}

jobdb_t *jobdb_open (const char *path, char *err, size_t errlen)
{
    jobdb_t *db = xcalloc (1, sizeof *db);
    if (!path || sqlite3_open_v2 (path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        errfail (err, errlen, "job store %s: %s", path ? path : "(null)",
              db->db ? sqlite3_errmsg (db->db) : "cannot open");
        goto error;
    }
    sqlite3_busy_timeout (db->db, 5000);
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2 (db->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK
        && sqlite3_step (st) == SQLITE_ROW)
        version = sqlite3_column_int (st, 0);
    sqlite3_finalize (st);
    if (version < 0) {
        errfail (err, errlen, "job store %s: %s", path, sqlite3_errmsg (db->db));
        goto error;
    }
    if (version > SCHEMA_VERSION) {
        errfail (err, errlen, "job store %s: schema version %d is newer than this canopy's (%d)", path,
              version, SCHEMA_VERSION);
        goto error;
    }
    /* WAL: readers never block the writer; FULL: a commit survives power
     * loss, so an acknowledged submit is never lost. */
    if (exec (db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", err, errlen) < 0
        || exec (db, "BEGIN IMMEDIATE", err, errlen) < 0)
        goto error;
    if (exec (db, schema, err, errlen) < 0 || exec (db, "PRAGMA user_version=1", err, errlen) < 0) {
        exec (db, "ROLLBACK", NULL, 0);
        goto error;
    }
    if (exec (db, "COMMIT", err, errlen) < 0)
        goto error;
    return db;
error:
    jobdb_close (&db);
    return NULL;
}

void jobdb_close (jobdb_t **p)
{
    if (p && *p) {
        sqlite3_close ((*p)->db);
        free (*p);
        *p = NULL;
    }
}

static int load (jobdb_t *db, uint64_t id, jobdb_job_t *j)
{
    char sql[512];
    sqlite3_stmt *st;
    snprintf (sql, sizeof sql, "SELECT %s FROM jobs WHERE id = ?", cols);
    if (sqlite3_prepare_v2 (db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64 (st, 1, (sqlite3_int64)id);
    int rc = sqlite3_step (st);
    if (rc == SQLITE_ROW)
        row_to_job (st, j);
    sqlite3_finalize (st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int store (jobdb_t *db, const jobdb_job_t *j, bool insert)
{
    sqlite3_stmt *st;
    const char *sql = insert
        ? "INSERT INTO jobs (userid, name, jobspec, state, result, status, ntasks, nnodes, t_submit,"
          " t_depend, t_sched, t_run, t_cleanup, t_inactive, R, exception, seq, id)"
          " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18)"
        : "UPDATE jobs SET userid=?1, name=?2, jobspec=?3, state=?4, result=?5, status=?6, ntasks=?7,"
          " nnodes=?8, t_submit=?9, t_depend=?10, t_sched=?11, t_run=?12, t_cleanup=?13,"
          " t_inactive=?14, R=?15, exception=?16, seq=?17 WHERE id=?18";
    if (sqlite3_prepare_v2 (db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64 (st, 1, j->userid);
    sqlite3_bind_text (st, 2, j->name ? j->name : "", -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 3, j->jobspec ? j->jobspec : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 4, job_state_name (j->state), -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 5, job_result_name (j->result), -1, SQLITE_STATIC);
    sqlite3_bind_int (st, 6, j->status);
    sqlite3_bind_int (st, 7, j->ntasks);
    sqlite3_bind_int (st, 8, j->nnodes);
    sqlite3_bind_double (st, 9, j->t_submit);
    sqlite3_bind_double (st, 10, j->t_depend);
    sqlite3_bind_double (st, 11, j->t_sched);
    sqlite3_bind_double (st, 12, j->t_run);
    sqlite3_bind_double (st, 13, j->t_cleanup);
    sqlite3_bind_double (st, 14, j->t_inactive);
    if (j->R)
        sqlite3_bind_text (st, 15, j->R, -1, SQLITE_STATIC);
    if (j->exception)
        sqlite3_bind_text (st, 16, j->exception, -1, SQLITE_STATIC);
    sqlite3_bind_int (st, 17, j->seq);
    sqlite3_bind_int64 (st, 18, (sqlite3_int64)j->id);
    int rc = sqlite3_step (st);
    sqlite3_finalize (st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int log_event (jobdb_t *db, uint64_t id, int seq, double ts, const char *name, const json_t *ctx)
{
    sqlite3_stmt *st;
    char *text = ctx ? json_dumps (ctx, JSON_COMPACT) : xstrdup ("{}");
    if (!text)
        return -1;
    if (sqlite3_prepare_v2 (db->db, "INSERT INTO eventlog (id, seq, timestamp, name, context)"
                            " VALUES (?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK) {
        free (text);
        return -1;
    }
    sqlite3_bind_int64 (st, 1, (sqlite3_int64)id);
    sqlite3_bind_int (st, 2, seq);
    sqlite3_bind_double (st, 3, ts);
    sqlite3_bind_text (st, 4, name, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 5, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st);
    sqlite3_finalize (st);
    free (text);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* apply + log + store, inside an open transaction */
static int event_locked (jobdb_t *db, jobdb_job_t *j, double ts, const char *name, const json_t *ctx,
                         bool insert, char *err, size_t errlen)
{
    char e[160];
    if (ctx && !json_is_object (ctx))
        return errfail (err, errlen, "job %llu: %s: context must be an object", (unsigned long long)j->id, name);
    if (job_state_apply (j, ts, name, ctx, e, sizeof e) < 0)
        return errfail (err, errlen, "job %llu: %s", (unsigned long long)j->id, e);
    if (log_event (db, j->id, j->seq, ts, name, ctx) < 0 || store (db, j, insert) < 0)
        return errfail (err, errlen, "job %llu: job store: %s", (unsigned long long)j->id, sqlite3_errmsg (db->db));
    return 0;
}

int jobdb_submit (jobdb_t *db, uint64_t id, uint32_t userid, const char *jobspec, double ts,
                  char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *js = jobspec ? json_loads (jobspec, 0, &jerr) : NULL;
    if (!js)
        return errfail (err, errlen, "job %llu: jobspec is not JSON: %s", (unsigned long long)id,
                     jobspec ? jerr.text : "missing");
    jobdb_job_t j = { 0 };
    j.id = id;
    j.jobspec = json_dumps (js, JSON_COMPACT);
    json_t *ctx = json_pack ("{s:I s:s s:i}", "userid", (json_int_t)userid, "name", jobspec_name (js),
                             "ntasks", jobspec_ntasks (js) > 0 ? jobspec_ntasks (js) : 0);
    json_decref (js);
    int rc = -1;
    if (exec (db, "BEGIN IMMEDIATE", err, errlen) < 0)
        goto out;
    jobdb_job_t old;
    if (load (db, id, &old) == 0) {
        jobdb_job_clear (&old);
        exec (db, "ROLLBACK", NULL, 0);
        errfail (err, errlen, "job %llu already exists", (unsigned long long)id);
        goto out;
    }
    if (event_locked (db, &j, ts, "submit", ctx, true, err, errlen) < 0) {
        exec (db, "ROLLBACK", NULL, 0);
        goto out;
    }
    rc = exec (db, "COMMIT", err, errlen);
    if (rc < 0)
        exec (db, "ROLLBACK", NULL, 0);
out:
    json_decref (ctx);
    jobdb_job_clear (&j);
    return rc;
}

int jobdb_event (jobdb_t *db, uint64_t id, double ts, const char *name, const json_t *context,
                 char *err, size_t errlen)
{
    if (exec (db, "BEGIN IMMEDIATE", err, errlen) < 0)
        return -1;
    jobdb_job_t j;
    if (load (db, id, &j) < 0) {
        exec (db, "ROLLBACK", NULL, 0);
        return errfail (err, errlen, "job %llu: no such job", (unsigned long long)id);
    }
    int rc = event_locked (db, &j, ts, name, context, false, err, errlen);
    if (rc == 0)
        rc = exec (db, "COMMIT", err, errlen);
    if (rc < 0)
        exec (db, "ROLLBACK", NULL, 0);
    jobdb_job_clear (&j);
    return rc;
}

int jobdb_get (jobdb_t *db, uint64_t id, jobdb_job_t *out)
{
    return load (db, id, out);
}

json_t *jobdb_eventlog (jobdb_t *db, uint64_t id, int after_seq)
{
    jobdb_job_t j;
    if (load (db, id, &j) < 0)
        return NULL;
    jobdb_job_clear (&j);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2 (db->db, "SELECT timestamp, name, context FROM eventlog"
                            " WHERE id = ? AND seq > ? ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64 (st, 1, (sqlite3_int64)id);
    sqlite3_bind_int (st, 2, after_seq);
    json_t *a = json_array ();
    while (sqlite3_step (st) == SQLITE_ROW) {
        json_t *ctx = json_loads ((const char *)sqlite3_column_text (st, 2), 0, NULL);
        json_array_append_new (a, json_pack ("{s:f s:s s:o}", "timestamp", sqlite3_column_double (st, 0),
                                             "name", (const char *)sqlite3_column_text (st, 1),
                                             "context", ctx ? ctx : json_object ()));
    }
    sqlite3_finalize (st);
    return a;
}

int jobdb_list (jobdb_t *db, bool all, uint32_t userid, jobdb_list_f cb, void *arg)
{
    char sql[640];
    sqlite3_stmt *st;
    snprintf (sql, sizeof sql, "SELECT %s FROM jobs WHERE (?1 OR state <> 'INACTIVE')"
              " AND (?2 = 4294967295 OR userid = ?2) ORDER BY " UNSIGNED_ORDER, cols);
    if (sqlite3_prepare_v2 (db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int (st, 1, all ? 1 : 0);
    sqlite3_bind_int64 (st, 2, userid);
    int n = 0, rc;
    while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
        jobdb_job_t j;
        row_to_job (st, &j);
        n++;
        int stop = cb ? cb (&j, arg) : 0;
        jobdb_job_clear (&j);
        if (stop)
            break;
    }
    sqlite3_finalize (st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : -1;
}

static uint64_t scalar_id (jobdb_t *db, const char *sql, uint32_t userid)
{
    sqlite3_stmt *st;
    uint64_t id = 0;
    if (sqlite3_prepare_v2 (db->db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    if (sqlite3_bind_parameter_count (st) > 0)
        sqlite3_bind_int64 (st, 1, userid);
    if (sqlite3_step (st) == SQLITE_ROW && sqlite3_column_type (st, 0) != SQLITE_NULL)
        id = (uint64_t)sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    return id;
}

uint64_t jobdb_last (jobdb_t *db, uint32_t userid)
{
    return scalar_id (db, "SELECT id FROM jobs WHERE ?1 = 4294967295 OR userid = ?1"
                      " ORDER BY " UNSIGNED_ORDER_DESC " LIMIT 1", userid);
}

uint64_t jobdb_max_id (jobdb_t *db)
{
    return scalar_id (db, "SELECT id FROM jobs ORDER BY " UNSIGNED_ORDER_DESC " LIMIT 1", 0);
}

int jobdb_output_append (jobdb_t *db, uint64_t id, const char *stream, int rank, const void *data, size_t len)
{
    sqlite3_stmt *st;
    if (!stream || (!data && len))
        return -1;
    if (sqlite3_prepare_v2 (db->db, "INSERT INTO output (id, stream, rank, data) VALUES (?,?,?,?)",
                            -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64 (st, 1, (sqlite3_int64)id);
    sqlite3_bind_text (st, 2, stream, -1, SQLITE_STATIC);
    sqlite3_bind_int (st, 3, rank);
    sqlite3_bind_blob (st, 4, len ? data : "", (int)len, SQLITE_STATIC);
    int rc = sqlite3_step (st);
    sqlite3_finalize (st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int jobdb_output_read (jobdb_t *db, uint64_t id, int64_t after_seq, jobdb_output_f cb, void *arg)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2 (db->db, "SELECT stream, rank, data, seq FROM output WHERE id = ? AND seq > ?"
                            " ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64 (st, 1, (sqlite3_int64)id);
    sqlite3_bind_int64 (st, 2, after_seq);
    int n = 0, rc;
    while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
        n++;
        if (cb && cb ((const char *)sqlite3_column_text (st, 0), sqlite3_column_int (st, 1),
                      sqlite3_column_blob (st, 2), (size_t)sqlite3_column_bytes (st, 2),
                      sqlite3_column_int64 (st, 3), arg))
            break;
    }
    sqlite3_finalize (st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : -1;
}

int jobdb_recover (jobdb_t *db, double now, uint64_t **pending, size_t *npending, char *err, size_t errlen)
{
    *pending = NULL;
    *npending = 0;
    char sql[512];
    sqlite3_stmt *st;
    int lost = 0;
    if (exec (db, "BEGIN IMMEDIATE", err, errlen) < 0)
        return -1;
    snprintf (sql, sizeof sql, "SELECT %s FROM jobs WHERE state <> 'INACTIVE' ORDER BY " UNSIGNED_ORDER, cols);
    if (sqlite3_prepare_v2 (db->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
        jobdb_job_t j;
        row_to_job (st, &j);
        if (j.state == JOB_DEPEND || j.state == JOB_SCHED) {
            if (*npending == cap) {
                cap = cap ? cap * 2 : 64;
                *pending = xreallocarray (*pending, cap, sizeof **pending);
            }
            (*pending)[(*npending)++] = j.id;
        }
        jobdb_job_clear (&j);
    }
    sqlite3_finalize (st);
    if (rc != SQLITE_DONE)
        goto dberr;
    /* now end the jobs that were running (a second query: the first has
     * finished, so rows can be updated safely) */
    snprintf (sql, sizeof sql, "SELECT %s FROM jobs WHERE state IN ('RUN', 'CLEANUP') ORDER BY " UNSIGNED_ORDER, cols);
    if (sqlite3_prepare_v2 (db->db, sql, -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    jobdb_job_t *todo = NULL;
    size_t ntodo = 0, captodo = 0;
    while ((rc = sqlite3_step (st)) == SQLITE_ROW) {
        if (ntodo == captodo) {
            captodo = captodo ? captodo * 2 : 16;
            todo = xreallocarray (todo, captodo, sizeof *todo);
        }
        row_to_job (st, &todo[ntodo++]);
    }
    sqlite3_finalize (st);
    int bad = rc != SQLITE_DONE;
    for (size_t i = 0; i < ntodo; i++) {
        if (!bad && todo[i].state == JOB_RUN) {
            json_t *ctx = json_pack ("{s:s s:i s:s}", "type", "lost", "severity", 0, "note",
                                     "rank 0 restarted while the job was running");
            bad = event_locked (db, &todo[i], now, "exception", ctx, false, err, errlen) < 0;
            json_decref (ctx);
            if (!bad)
                lost++;
        }
        if (!bad)
            bad = event_locked (db, &todo[i], now, "clean", NULL, false, err, errlen) < 0;
        jobdb_job_clear (&todo[i]);
    }
    free (todo);
    if (bad) {
        if (!err || !err[0])
            errfail (err, errlen, "job store: recovery failed");
        goto error;
    }
    if (exec (db, "COMMIT", err, errlen) < 0)
        goto error;
    return lost;
dberr:
    errfail (err, errlen, "job store: %s", sqlite3_errmsg (db->db));
error:
    exec (db, "ROLLBACK", NULL, 0);
    free (*pending);
    *pending = NULL;
    *npending = 0;
    return -1;
}

/* -- other state of the job manager (burst pools) ----------------------- */

int jobdb_kv_put (jobdb_t *db, const char *key, const json_t *value, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    char *text = value ? json_dumps (value, JSON_COMPACT) : NULL;
    const char *sql = value ? "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)" : "DELETE FROM kv WHERE key = ?";
    if ((value && !text) || sqlite3_prepare_v2 (db->db, sql, -1, &st, NULL) != SQLITE_OK) {
        free (text);
        return errfail (err, errlen, "job store: %s", sqlite3_errmsg (db->db));
    }
    sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
    if (text)
        sqlite3_bind_text (st, 2, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step (st);
    sqlite3_finalize (st);
    free (text);
    if (rc != SQLITE_DONE)
        return errfail (err, errlen, "job store: %s", sqlite3_errmsg (db->db));
    return 0;
}

json_t *jobdb_kv_get (jobdb_t *db, const char *key)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2 (db->db, "SELECT value FROM kv WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
    json_t *v = NULL;
    if (sqlite3_step (st) == SQLITE_ROW)
        v = json_loads ((const char *)sqlite3_column_text (st, 0), 0, NULL);
    sqlite3_finalize (st);
    return v;
}
