/* burst_proc.c - programs the burst providers run (brokers, resume and
 * suspend programs, kubectl): started without blocking the broker's loop,
 * reaped later, their exit status kept for the provider to read; and short
 * ones (ip) run to their end, their first line of output kept for the
 * error. */
#define _GNU_SOURCE
#include "burstprov.h"
#include "errquote.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPROC 256

static struct {
    pid_t pid;
    bool done;
    int status;
} procs[NPROC];

static void remember (pid_t pid)
{
    for (int i = 0; i < NPROC; i++)
        if (procs[i].pid == 0 || procs[i].done) {
            procs[i].pid = pid;
            procs[i].done = false;
            return;
        }
}

void burst_proc_reap (void)
{
    for (int i = 0; i < NPROC; i++) {
        int st;
        if (procs[i].pid > 0 && !procs[i].done && waitpid (procs[i].pid, &st, WNOHANG) == procs[i].pid) {
            procs[i].done = true;
            procs[i].status = st;
        }
    }
}

int burst_proc_status (pid_t pid, char *err, size_t errlen)
{
    burst_proc_reap ();
    for (int i = 0; i < NPROC; i++)
        if (procs[i].pid == pid && procs[i].done) {
            int st = procs[i].status;
            if (WIFEXITED (st) && WEXITSTATUS (st) == 0)
                return 0;
            if (WIFEXITED (st))
                return errfail (err, errlen, "exited with status %d", WEXITSTATUS (st));
            return errfail (err, errlen, "killed by signal %d", WIFSIGNALED (st) ? WTERMSIG (st) : 0);
        }
    return 1;
}

pid_t burst_spawn (char *const argv[], char *const env[], const char *logpath, const char *stdin_path, char *err,
                   size_t errlen)
{
    int in = open (stdin_path ? stdin_path : "/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open (logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (in < 0 || out < 0) {
        int e = errno;
        if (in >= 0)
            close (in);
        if (out >= 0)
            close (out);
        return errfail (err, errlen, "%s: %s", in < 0 ? (stdin_path ? stdin_path : "/dev/null") : logpath,
                        strerror (e));
    }
    pid_t pid = fork ();
    if (pid < 0) {
        close (in);
        close (out);
        return errfail (err, errlen, "fork: %s", strerror (errno));
    }
    if (pid == 0) {
        setsid ();   /* outlives a restart of this broker, as a remote node would */
        dup2 (in, 0);
        dup2 (out, 1);
        dup2 (out, 2);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        signal (SIGPIPE, SIG_DFL);
        for (size_t i = 0; env && env[i]; i++)
            putenv (env[i]);
        execvp (argv[0], argv);
        fprintf (stderr, "burst: %s: %s\n", argv[0], strerror (errno));
        _exit (127);
    }
    close (in);
    close (out);
    remember (pid);
    return pid;
}

int burst_run (char *const argv[], char *err, size_t errlen)
{
    int fds[2];
    if (pipe2 (fds, O_CLOEXEC) < 0)
        return errfail (err, errlen, "pipe: %s", strerror (errno));
    pid_t pid = fork ();
    if (pid < 0) {
        close (fds[0]);
        close (fds[1]);
        return errfail (err, errlen, "fork: %s", strerror (errno));
    }
    if (pid == 0) {
        int in = open ("/dev/null", O_RDONLY);
        if (in >= 0)
            dup2 (in, 0);
        dup2 (fds[1], 1);
        dup2 (fds[1], 2);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        execvp (argv[0], argv);
        fprintf (stderr, "%s: %s\n", argv[0], strerror (errno));
        _exit (127);
    }
    close (fds[1]);
    /* keep the first 511 bytes; read on to the end (or 10 s) so it cannot block on a full pipe */
    char out[512];
    size_t n = 0;
    struct timespec t0;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct pollfd pfd = { fds[0], POLLIN, 0 };
        struct timespec t1;
        clock_gettime (CLOCK_MONOTONIC, &t1);
        int left = 10000 - (int)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0 || (poll (&pfd, 1, left) < 0 && errno != EINTR)) {
            kill (pid, SIGKILL);
            break;
        }
        char buf[512];
        ssize_t k = read (fds[0], buf, sizeof buf);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k <= 0)
            break;
        size_t take = (size_t)k < sizeof out - 1 - n ? (size_t)k : sizeof out - 1 - n;
        memcpy (out + n, buf, take);
        n += take;
    }
    close (fds[0]);
    out[n] = '\0';
    out[strcspn (out, "\n")] = '\0';
    int st;
    while (waitpid (pid, &st, 0) < 0)
        if (errno != EINTR)
            return errfail (err, errlen, "%s: waitpid: %s", argv[0], strerror (errno));
    if (WIFEXITED (st) && WEXITSTATUS (st) == 0)
        return 0;
    char how[64];
    if (WIFEXITED (st))
        snprintf (how, sizeof how, "exited with status %d", WEXITSTATUS (st));
    else
        snprintf (how, sizeof how, "killed by signal %d", WIFSIGNALED (st) ? WTERMSIG (st) : 0);
    /* the command line, for the message */
    char cmd[256] = "";
    size_t len = 0;
    for (size_t i = 0; argv[i] && len < sizeof cmd - 1; i++)
        len += (size_t)snprintf (cmd + len, sizeof cmd - len, "%s%s", i ? " " : "", argv[i]);
    return errfail (err, errlen, "%s: %s%s%s", cmd, how, *out ? ": " : "", out);
}

void burst_handles_set_pid (burst_ref_t *nodes, size_t n, const char *key, pid_t pid)
{
    for (size_t i = 0; i < n; i++) {
        json_decref (nodes[i].handle);
        nodes[i].handle = json_pack ("{s:i}", key, (int)pid);
    }
}

int burst_check_pid (const burst_ref_t *node, const char *key, char *why, size_t whylen)
{
    pid_t pid = (pid_t)json_integer_value (json_object_get (node->handle, key));
    return pid > 0 && burst_proc_status (pid, why, whylen) < 0 ? -1 : 0;
}
