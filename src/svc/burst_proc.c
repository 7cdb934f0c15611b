/* burst_proc.c - programs the burst providers run (brokers, resume and
 * suspend programs, kubectl): started without blocking the broker's loop,
 * reaped later, their exit status kept for the provider to read. */
#define _GNU_SOURCE
#include "burstprov.h"
#include "errquote.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
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
