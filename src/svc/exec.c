/* exec.c - exec.run / exec.kill: remote command execution for canopy exec.
 *
 * exec.run is a streaming request: the first response carries the pid, then
 * one response per chunk of output (the bytes in the data frame), then the
 * wait status, then ENODATA to end the stream.
 */
#define _GNU_SOURCE
#include "exec.h"
#include "xalloc.h"
#include "errquote.h"
#include "proc.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

struct run {
    exec_svc_t *svc;
    cmsg_hdr_t req;
    proc_t *proc;
};

struct exec_svc {
    overlay_t *ov;
    zlistx_t *runs;
};

char **exec_argv_from_json (json_t *cmd)
{
    if (!json_is_array (cmd) || json_array_size (cmd) == 0 || json_array_size (cmd) > 100000)
        return NULL;
    char **argv = xcalloc (json_array_size (cmd) + 1, sizeof (char *));
    size_t i;
    json_t *v;
    json_array_foreach (cmd, i, v) {
        if (!json_is_string (v)) {
            exec_env_free (argv);
            return NULL;
        }
        argv[i] = xstrdup (json_string_value (v));
    }
    return argv;
}

char **exec_env_from_json (json_t *env)
{
    if (!json_is_object (env))
        return NULL;
    char **e = xcalloc (json_object_size (env) + 1, sizeof (char *));
    const char *k;
    json_t *v;
    size_t n = 0;
    json_object_foreach (env, k, v) {
        if (!json_is_string (v))
            continue;
        e[n++] = xasprintf ("%s=%s", k, json_string_value (v));
    }
    return e;
}

void exec_env_free (char **env)
{
    if (!env)
        return;
    for (char **p = env; *p; p++)
        free (*p);
    free (env);
}

static void on_out (proc_t *p, int stream, const void *data, size_t len, void *arg)
{
    struct run *r = arg;
    overlay_respond (r->svc->ov, &r->req,
                     json_pack ("{s:s}", "stream", stream == 1 ? "stdout" : "stderr"), data, len);
}

static void on_exit_cb (proc_t *p, int status, void *arg)
{
    struct run *r = arg;
    exec_svc_t *svc = r->svc;
    overlay_respond (svc->ov, &r->req, json_pack ("{s:i}", "status", status), NULL, 0);
    overlay_respond_error (svc->ov, &r->req, ENODATA, NULL);
    void *h = zlistx_find (svc->runs, r);
    if (h)
        zlistx_delete (svc->runs, h);
    proc_destroy (&r->proc);
    free (r);
}

static void exec_run_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    exec_svc_t *svc = arg;
    json_t *cmd = json_object_get (msg->json, "cmd");
    json_t *env = json_object_get (msg->json, "env");
    const char *cwd = NULL;
    char err[256];
    int errnum = EINVAL;
    json_unpack (msg->json, "{s?s}", "cwd", &cwd);
    char **argv = exec_argv_from_json (cmd);
    if (!argv) {
        errfmt (err, sizeof err, "exec.run: cmd must be a non-empty list of strings");
        goto error;
    }
    if (!(msg->hdr.flags & CMSG_F_STREAMING)) {
        exec_env_free (argv);
        errnum = EPROTO;
        errfmt (err, sizeof err, "exec.run must be a streaming request");
        goto error;
    }
    json_t *envc = json_is_object (env) ? json_copy (env) : json_object ();
    if (!json_is_object (env)) {
        extern char **environ;
        for (char **e = environ; *e; e++) {
            char *eq = strchr (*e, '=');
            if (eq) {
                char *k = xstrndup (*e, eq - *e);
                json_object_set_new (envc, k, json_string (eq + 1));
                free (k);
            }
        }
    }
    char rankstr[16];
    snprintf (rankstr, sizeof rankstr, "%u", overlay_rank (ov));
    json_object_set_new (envc, "CANOPY_RANK", json_string (rankstr));
    char **envp = exec_env_from_json (envc);
    json_decref (envc);
    struct run *r = xcalloc (1, sizeof *r);
    r->svc = svc;
    r->req = msg->hdr;
    r->proc = proc_spawn (overlay_loop (ov), argv, envp, cwd, on_out, on_exit_cb, r, err, sizeof err);
    exec_env_free (argv);
    exec_env_free (envp);
    if (!r->proc) {
        free (r);
        errnum = EIO;
        goto error;
    }
    zlistx_add_end (svc->runs, r);
    overlay_respond (ov, &msg->hdr, json_pack ("{s:i}", "pid", (int)proc_pid (r->proc)), NULL, 0);
    return;
error:
    overlay_respond_error (ov, &msg->hdr, errnum, "%s", err);
}

static void exec_kill_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    exec_svc_t *svc = arg;
    int pid = 0, sig = SIGTERM;
    char err[128];
    int errnum = EINVAL;
    if (json_unpack (msg->json, "{s:i s?i}", "pid", &pid, "signal", &sig) < 0 || sig < 0 || sig > 64) {
        errfmt (err, sizeof err, "exec.kill: needs pid and a valid signal");
        goto error;
    }
    for (struct run *r = zlistx_first (svc->runs); r; r = zlistx_next (svc->runs)) {
        if (proc_pid (r->proc) == pid) {
            proc_kill (r->proc, sig);
            overlay_respond (ov, &msg->hdr, json_object (), NULL, 0);
            return;
        }
    }
    errnum = ESRCH;
    errfmt (err, sizeof err, "exec.kill: no such process %d", pid);
error:
    overlay_respond_error (ov, &msg->hdr, errnum, "%s", err);
}
static const overlay_handler_t handlers[] = {
    { "exec.run", exec_run_request },
    { "exec.kill", exec_kill_request },
    OVERLAY_HANDLER_END,
};


exec_svc_t *exec_svc_new (overlay_t *ov, char *err, size_t errlen)
{
    exec_svc_t *svc = xcalloc (1, sizeof *svc);
    svc->ov = ov;
    svc->runs = zlistx_new ();
    if (overlay_handlers_add (ov, handlers, svc, err, errlen) < 0) {
        exec_svc_destroy (&svc);
        return NULL;
    }
    return svc;
}

void exec_svc_destroy (exec_svc_t **p)
{
    if (!p || !*p)
        return;
    exec_svc_t *svc = *p;
    struct run *r;
    while ((r = zlistx_detach (svc->runs, NULL))) {
        proc_destroy (&r->proc);
        free (r);
    }
    zlistx_destroy (&svc->runs);
    free (svc);
    *p = NULL;
}
