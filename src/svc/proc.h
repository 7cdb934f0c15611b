/* proc.h - start a process under the broker's event loop and relay its
 * output.  Used by exec (canopy exec) and by the job shell. */
#ifndef CANOPY_PROC_H
#define CANOPY_PROC_H
#include <czmq.h>
#include <sys/types.h>

typedef struct proc proc_t;
/* stream: 1 stdout, 2 stderr */
typedef void (*proc_output_f) (proc_t *p, int stream, const void *data, size_t len, void *arg);
/* Called once, after the process exited and both pipes reached EOF. */
typedef void (*proc_exit_f) (proc_t *p, int status, void *arg);

/* argv[0] is looked up in PATH.  env: NULL-terminated "K=V" array, or NULL
 * for the broker's environment.  cwd may be NULL.  The child gets its own
 * process group and /dev/null as stdin. */
proc_t *proc_spawn (zloop_t *loop, char *const argv[], char *const env[], const char *cwd,
                    proc_output_f out, proc_exit_f ex, void *arg, char *err, size_t errlen);
pid_t proc_pid (const proc_t *p);
bool proc_running (const proc_t *p);
/* Signal the process group. */
int proc_kill (proc_t *p, int sig);
/* Kills (SIGKILL) a process still running, and frees. */
void proc_destroy (proc_t **p);

#endif
