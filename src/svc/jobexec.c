/* jobexec.c - start a job's tasks on this broker, relay output and status
 * to the job manager.  See jobexec.h for the protocol. */
#define _GNU_SOURCE
#include "jobexec.h"
#include "xalloc.h"
#include "exec.h"
#include "proc.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct task;

struct shell {
    jobexec_t *je;
    cmsg_hdr_t req;
    char *id;
    int ntasks, left;
    struct task *tasks;
};

struct task {
    struct shell *sh;
    int rank;
    proc_t *proc;
};

struct jobexec {
    overlay_t *ov;
    zlistx_t *shells;
};

static void shell_free (struct shell *sh)
{
    for (int i = 0; i < sh->ntasks; i++)
        proc_destroy (&sh->tasks[i].proc);
    free (sh->tasks);
    free (sh->id);
    free (sh);
}

static void on_out (proc_t *p, int stream, const void *data, size_t len, void *arg)
{
    struct task *t = arg;
    overlay_respond (t->sh->je->ov, &t->sh->req,
                     json_pack ("{s:s s:i}", "stream", stream == 1 ? "stdout" : "stderr", "task", t->rank),
                     data, len);
}

static void on_exit_cb (proc_t *p, int status, void *arg)
{
    struct task *t = arg;
    struct shell *sh = t->sh;
    jobexec_t *je = sh->je;
    overlay_respond (je->ov, &sh->req, json_pack ("{s:i s:i}", "task", t->rank, "status", status), NULL, 0);
    if (--sh->left > 0)
        return;
    overlay_respond_error (je->ov, &sh->req, ENODATA, NULL);
    void *h = zlistx_find (je->shells, sh);
    if (h)
        zlistx_detach (je->shells, h);
    /* we are inside a callback of one of these procs: free them later */
    for (int i = 0; i < sh->ntasks; i++) {
        if (sh->tasks[i].proc == p)
            continue;
        proc_destroy (&sh->tasks[i].proc);
    }
    /* proc_destroy on the calling proc is safe here: proc.c calls ex as its
     * last action and touches nothing after it */
    proc_destroy (&t->proc);
    free (sh->tasks);
    free (sh->id);
    free (sh);
}

static void setenv_json (json_t *env, const char *k, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
static void setenv_json (json_t *env, const char *k, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    json_object_set_new (env, k, json_string (buf));
}

static bool is_dir (const char *p)
{
    struct stat st;
    return p && stat (p, &st) == 0 && S_ISDIR (st.st_mode) && access (p, X_OK) == 0;
}

static void jobexec_start_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    jobexec_t *je = arg;
    const char *id = NULL, *cwd = NULL, *nodelist = "", *gpus = "", *cores = "";
    json_t *cmd = NULL, *env = NULL;
    int first = 0, count = 0, size = 0, nnodes = 0;
    if (!(msg->hdr.flags & CMSG_F_STREAMING)) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "jobexec.start must be a streaming request");
        return;
    }
    if (json_unpack (msg->json, "{s:s s:o s?o s?s s:i s:i s:i s:i s?s s?s s?s}", "id", &id, "cmd", &cmd,
                     "env", &env, "cwd", &cwd, "first", &first, "count", &count, "size", &size, "nnodes",
                     &nnodes, "nodelist", &nodelist, "gpus", &gpus, "cores", &cores) < 0
        || count < 1 || count > 100000 || first < 0 || size < first + count) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "jobexec.start: malformed request");
        return;
    }
    char **argv = exec_argv_from_json (cmd);
    if (!argv) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "jobexec.start: cmd must be a non-empty list of strings");
        return;
    }
    json_t *envc = json_is_object (env) ? json_copy (env) : json_object ();
    char *warning = NULL;
    const char *dir = cwd;
    if (cwd && !is_dir (cwd)) {
        const char *tmp = json_string_value (json_object_get (envc, "TMPDIR"));
        dir = is_dir (tmp) ? tmp : "/tmp";
        warning = xasprintf ("canopy-shell[%u]: warning: working directory %s: %s; using %s instead\n",
                             overlay_rank (ov), cwd, strerror (errno ? errno : ENOENT), dir);
    }
    struct shell *sh = xcalloc (1, sizeof *sh);
    sh->je = je;
    sh->req = msg->hdr;
    sh->id = xstrdup (id);
    sh->tasks = xcalloc (count, sizeof *sh->tasks);
    setenv_json (envc, "CANOPY_JOB_ID", "%s", id);
    setenv_json (envc, "CANOPY_JOB_SIZE", "%d", size);
    setenv_json (envc, "CANOPY_JOB_NNODES", "%d", nnodes);
    setenv_json (envc, "CANOPY_JOB_NODELIST", "%s", nodelist);
    setenv_json (envc, "CANOPY_RANK", "%u", overlay_rank (ov));
    setenv_json (envc, "CANOPY_URI", "%s", overlay_local_uri (ov));
    if (gpus && *gpus)
        setenv_json (envc, "CUDA_VISIBLE_DEVICES", "%s", gpus);
    else
        json_object_del (envc, "CUDA_VISIBLE_DEVICES");
    overlay_respond (ov, &msg->hdr, json_pack ("{s:i s:s}", "started", count, "cwd", dir ? dir : ""), NULL, 0);
    if (warning) {
        overlay_respond (ov, &msg->hdr, json_pack ("{s:s s:i}", "stream", "stderr", "task", first), warning,
                         strlen (warning));
        free (warning);
    }
    zlistx_add_end (je->shells, sh);
    int started = 0;
    for (int i = 0; i < count; i++) {
        struct task *t = &sh->tasks[i];
        t->sh = sh;
        t->rank = first + i;
        setenv_json (envc, "CANOPY_TASK_RANK", "%d", t->rank);
        setenv_json (envc, "CANOPY_TASK_LOCAL_ID", "%d", i);
        char **envp = exec_env_from_json (envc);
        char err[256];
        t->proc = proc_spawn (overlay_loop (ov), argv, envp, dir, on_out, on_exit_cb, t, err, sizeof err);
        exec_env_free (envp);
        if (!t->proc) {
            char line[400];
            int n = snprintf (line, sizeof line, "canopy-shell[%u]: task %d: %s\n", overlay_rank (ov), t->rank, err);
            overlay_respond (ov, &msg->hdr, json_pack ("{s:s s:i}", "stream", "stderr", "task", t->rank), line,
                             (size_t)n);
            overlay_respond (ov, &msg->hdr, json_pack ("{s:i s:i}", "task", t->rank, "status", 127 << 8), NULL, 0);
            continue;
        }
        started++;
    }
    sh->ntasks = count;
    sh->left = started;
    exec_env_free (argv);
    json_decref (envc);
    if (started == 0) {
        overlay_respond_error (ov, &msg->hdr, ENODATA, NULL);
        zlistx_detach (je->shells, zlistx_find (je->shells, sh));
        shell_free (sh);
    }
}

static void jobexec_kill_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    jobexec_t *je = arg;
    const char *id = NULL;
    int sig = SIGTERM, n = 0;
    if (json_unpack (msg->json, "{s:s s?i}", "id", &id, "signal", &sig) < 0 || sig < 1 || sig > 64) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "jobexec.kill: needs id and a valid signal");
        return;
    }
    for (struct shell *sh = zlistx_first (je->shells); sh; sh = zlistx_next (je->shells))
        if (!strcmp (sh->id, id))
            for (int i = 0; i < sh->ntasks; i++)
                if (sh->tasks[i].proc && proc_running (sh->tasks[i].proc)) {
                    proc_kill (sh->tasks[i].proc, sig);
                    n++;
                }
    overlay_respond (ov, &msg->hdr, json_pack ("{s:i}", "signaled", n), NULL, 0);
}
static const overlay_handler_t handlers[] = {
    { "jobexec.start", jobexec_start_request },
    { "jobexec.kill", jobexec_kill_request },
    OVERLAY_HANDLER_END,
};


jobexec_t *jobexec_new (overlay_t *ov, char *err, size_t errlen)
{
    jobexec_t *je = xcalloc (1, sizeof *je);
    je->ov = ov;
    je->shells = zlistx_new ();
    if (overlay_handlers_add (ov, handlers, je, err, errlen) < 0) {
        jobexec_destroy (&je);
        return NULL;
    }
    return je;
}

void jobexec_destroy (jobexec_t **p)
{
    if (!p || !*p)
        return;
    jobexec_t *je = *p;
    struct shell *sh;
    while ((sh = zlistx_detach (je->shells, NULL)))
        shell_free (sh);
    zlistx_destroy (&je->shells);
    free (je);
    *p = NULL;
}
