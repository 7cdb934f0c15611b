/* jobdb.h - the job store on rank 0: job records, event logs and output in
 * SQLite (WAL, synchronous=FULL, busy timeout).
 *
 * Event-sourced: a job's row is the fold of its event log.  The job manager
 * appends events (submit, depend, alloc, start, finish, exception, clean...)
 * with jobdb_event(); each append updates the row in the same transaction,
 * so after a crash row and log agree.  jobdb_recover() after a restart ends
 * jobs that were running as LOST and lists the pending ones to requeue.
 * The state machine itself (job_state_apply) is pure, in src/lib/jobstate.c.
 * States, events and schema: doc/jobs.md.
 */
#ifndef CANOPY_JOBDB_H
#define CANOPY_JOBDB_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "jobstate.h"

typedef struct jobdb jobdb_t;

/* Open (creating) the store at `path`.  NULL + err. */
jobdb_t *jobdb_open (const char *path, char *err, size_t errlen);
void jobdb_close (jobdb_t **p);

/* Create job `id` with its jobspec (JSON text) and log its "submit" event
 * {userid} at ts.  One transaction.  -1 + err if the id exists. */
int jobdb_submit (jobdb_t *db, uint64_t id, uint32_t userid, const char *jobspec,
                  double ts, char *err, size_t errlen);
/* Append event `name` (context may be NULL = {}) to job id's log and apply it
 * to the row, atomically.  -1 + err if the job is unknown or the event is not
 * allowed (nothing is written then). */
int jobdb_event (jobdb_t *db, uint64_t id, double ts, const char *name,
                 const json_t *context, char *err, size_t errlen);
/* Fetch a job's record into *out (clear it after).  -1 if unknown. */
int jobdb_get (jobdb_t *db, uint64_t id, jobdb_job_t *out);
/* Event log: array of {"timestamp", "name", "context"} in order, events
 * with seq > after_seq only (0 = all).  NULL if the job is unknown. */
json_t *jobdb_eventlog (jobdb_t *db, uint64_t id, int after_seq);

/* Jobs in id order (newest last); active only unless `all`; userid
 * UINT32_MAX = everyone's.  Calls cb per job (the record is valid during the
 * call only); cb returns non-zero to stop.  Returns the count visited, -1
 * on a database error. */
typedef int (*jobdb_list_f) (const jobdb_job_t *j, void *arg);
int jobdb_list (jobdb_t *db, bool all, uint32_t userid, jobdb_list_f cb, void *arg);
/* Newest job of userid (UINT32_MAX: anyone's); 0 if none (`job last`). */
uint64_t jobdb_last (jobdb_t *db, uint32_t userid);
/* Largest id ever stored (to seed the id generator after a restart). */
uint64_t jobdb_max_id (jobdb_t *db);

/* Output: append a chunk of stream ("stdout"/"stderr") from task rank. */
int jobdb_output_append (jobdb_t *db, uint64_t id, const char *stream, int rank,
                         const void *data, size_t len);
/* Chunks with seq > after_seq in order: cb(stream, rank, data, len, seq). */
typedef int (*jobdb_output_f) (const char *stream, int rank, const void *data, size_t len,
                               int64_t seq, void *arg);
int jobdb_output_read (jobdb_t *db, uint64_t id, int64_t after_seq, jobdb_output_f cb, void *arg);

/* After rank 0 restarts: every job in RUN gets exception {type "lost",
 * severity 0, note} and then "clean" (result LOST); a job in CLEANUP gets
 * "clean" (its result stands).  Writes the ids of jobs still in DEPEND or
 * SCHED, in id order, to a malloc'd *pending (caller frees) and returns the
 * number of jobs marked LOST, or -1 + err. */
int jobdb_recover (jobdb_t *db, double now, uint64_t **pending, size_t *npending,
                   char *err, size_t errlen);

/* Other state the job manager keeps with the jobs (the burst manager's
 * pools, doc/bursting.md): a JSON value by key, written in one transaction
 * (value NULL: delete).  jobdb_kv_get: new reference, NULL if absent. */
int jobdb_kv_put (jobdb_t *db, const char *key, const json_t *value, char *err, size_t errlen);
json_t *jobdb_kv_get (jobdb_t *db, const char *key);

#endif
