/* cmd.h - subcommands of the canopy command line and their shared helpers. */
#ifndef CANOPY_CMD_H
#define CANOPY_CMD_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "client.h"
#include "idset.h"

int cmd_keygen (int argc, char **argv);
int cmd_topo (int argc, char **argv);
int cmd_start (int argc, char **argv);
int cmd_overlay (int argc, char **argv);
int cmd_exec (int argc, char **argv);
int cmd_ping (int argc, char **argv);
int cmd_match (int argc, char **argv);
int cmd_archive (int argc, char **argv);
int cmd_image (int argc, char **argv);
int cmd_submit (int argc, char **argv);
int cmd_run (int argc, char **argv);
int cmd_jobs (int argc, char **argv);
int cmd_job (int argc, char **argv);
int cmd_cancel (int argc, char **argv);
int cmd_resource (int argc, char **argv);
int cmd_burst (int argc, char **argv);
int cmd_kube (int argc, char **argv);
/* follow a job's output (job.attach) until it ends; returns its exit code */
int cmd_job_watch (client_t *c, const char *id);

/* true if argv[1..] (up to a "--") holds -h or --help: for subcommands
 * that take no command line of another program after their own */
bool cmd_help_asked (int argc, char **argv);
/* print "canopy: <msg>" to stderr and exit(1) */
void die (const char *fmt, ...) __attribute__ ((noreturn, format (printf, 1, 2)));
/* connect to $CANOPY_URI or die */
client_t *cmd_connect (void);
/* client_send without data; returns the matchtag, or dies */
uint32_t cmd_send (client_t *c, uint32_t rank, const char *topic, json_t *json, int flags);
/* "all" or an idset, checked against size; dies on bad input */
idset_t *cmd_ranks (const char *spec, uint32_t size);
/* size of the instance (overlay.status on rank 0 via the local broker) */
uint32_t cmd_instance_size (client_t *c);
char *cmd_read_file (const char *path, size_t *len);
double cmd_now (void);
/* parse "64K", "1M", "2G", "100" */
int cmd_parse_size (const char *s, uint64_t *out);
/* draws one progress message of a stream on stderr; t0: cmd_now () when the request went out */
typedef void cmd_progress_fn (json_t *p, double t0);
/* Send archive.distribute (req stolen) to rank src and follow its stream to the result, which is
 * returned.  progress NULL: quiet; else it draws each progress message, and the line is ended after
 * the stream.  Dies with "WHAT: ..." on errors. */
json_t *cmd_follow_distribute (client_t *cl, uint32_t src, json_t *req, const char *what, cmd_progress_fn *progress);

#endif
