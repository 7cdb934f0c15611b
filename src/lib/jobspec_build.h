/* jobspec_build.h - turn `canopy submit` options into an RFC 25 (V1) jobspec.
 *
 * The options struct mirrors flux submit/run: -N -n -c -g --exclusive
 * --requires --dependency --setattr --cwd --env -t --job-name.  The result is
 * a jansson tree (the job manager stores it as JSON); jobspec_yaml() renders
 * it as YAML for `canopy submit --dry-run`.  A few readers give back what the
 * job manager needs from a jobspec this file built (name, dependencies).
 * Pure: the caller passes environ/cwd in.  The shape is in doc/jobs.md.
 */
#ifndef CANOPY_JOBSPEC_BUILD_H
#define CANOPY_JOBSPEC_BUILD_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "jobid.h"

#define JOBSPEC_MAX_COUNT 1000000   /* -N/-n/-c/-g above this are refused */

typedef struct {
    int nnodes;                 /* -N: 0 = not given */
    int ntasks;                 /* -n: 0 = not given (default: nnodes, else 1) */
    int cores_per_task;         /* -c: 0 = not given (1) */
    int gpus_per_task;          /* -g: 0 = none */
    bool exclusive;             /* --exclusive: needs -N */
    const char *const *requires;    /* --requires, each "rank:IDSET" or "host:HOSTLIST" */
    size_t nrequires;
    const char *const *dependencies;/* --dependency, each "SCHEME:JOBID" */
    size_t ndependencies;
    const char *const *setattrs;    /* --setattr, each "KEY[=VAL]" */
    size_t nsetattrs;
    const char *time_limit;     /* -t: FSD "30s" "5m" "1.5h" "2d"; bare number = minutes; NULL = none */
    const char *job_name;       /* --job-name: NULL = basename of argv[0] (not stored) */
    const char *cwd;            /* --cwd, else the caller's cwd; NULL = omit */
    const char *const *environ_base; /* NULL-terminated NAME=VAL list to propagate; NULL = none */
    const char *const *env_rules;    /* --env/--env-remove in order: "NAME=VAL" set, "NAME" keep from base,
                                        "-PATTERN" remove (fnmatch glob) */
    size_t nenv_rules;
    int argc;                   /* the command: argc >= 1 */
    char *const *argv;
} jobspec_opts_t;

/* Build the jobspec.  NULL + one-line message in err on any invalid option. */
json_t *jobspec_build (const jobspec_opts_t *o, char *err, size_t errlen);

/* Render any JSON tree as block YAML (malloc'd, caller frees).  Strings that
 * a YAML reader would take for a number/bool/null are quoted, so
 * yaml_json_parse(jobspec_yaml(js)) equals js.  NULL on failure. */
char *jobspec_yaml (const json_t *js);

/* Parse a time limit as -t takes it: FSD with s/m/h/d suffix, a bare number
 * meaning minutes (as flux run -t).  0 = unlimited.  -1 + err if bad. */
int jobspec_parse_time_limit (const char *s, double *seconds, char *err, size_t errlen);

/* Job name: attributes.system.job.name, else basename of tasks[0].command[0],
 * else "?".  Borrowed from js (or a static string). */
const char *jobspec_name (const json_t *js);

/* Total task count the jobspec asks for (tasks[0].count total or
 * per_slot * slots). -1 if the shape is not one jobspec_build makes. */
int jobspec_ntasks (const json_t *js);

/* Dependencies (RFC 26: attributes.system.dependencies = [{scheme, value}]). */
typedef enum { JOBSPEC_DEP_AFTER, JOBSPEC_DEP_AFTEROK, JOBSPEC_DEP_AFTERANY,
               JOBSPEC_DEP_AFTERNOTOK } jobspec_dep_scheme_t;
typedef struct {
    jobspec_dep_scheme_t scheme;
    jobid_t id;
} jobspec_dep_t;
/* Fill *deps (malloc'd array, caller frees; NULL when none) and *n.
 * -1 + err if a dependency is malformed or has an unknown scheme. */
int jobspec_dependencies (const json_t *js, jobspec_dep_t **deps, size_t *n,
                          char *err, size_t errlen);
const char *jobspec_dep_scheme_name (jobspec_dep_scheme_t s);

#endif
