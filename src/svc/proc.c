/* proc.c - fork/exec with pipes, watched through pidfds in a zloop.
 *
 * A pidfd (Linux >= 5.3) turns "child exited" into a readable fd, so the
 * broker needs no SIGCHLD handler and no polling.  Exit is reported only
 * after both output pipes are drained, so no output trails the status.
 *
 * Every poller here is made "tolerant".  A pipe whose writer has closed
 * polls as POLLHUP, which zmq_poll reports as ZMQ_POLLERR; czmq's zloop
 * gives a non-tolerant poller in error one handler call and removes it on
 * the next consecutive error.  When the first poll that sees the hangup
 * also has data (the task wrote and closed between two polls), that one
 * call reads the data, the poller is then dropped before EOF is read, the
 * stream never closes and the exit is never reported: a job stuck in RUN.
 * test/unit/test_proc.c reproduces it.
 */
#define _GNU_SOURCE
#include "proc.h"
#include "xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct proc {
    zloop_t *loop;
    pid_t pid;
    int pidfd;
    int fds[3];          /* [1] stdout, [2] stderr read ends; -1 when closed */
    bool exited;
    int status;
    bool reported;
    proc_output_f out;
    proc_exit_f ex;
    void *arg;
};

static void maybe_report (proc_t *p)
{
    if (p->exited && p->fds[1] < 0 && p->fds[2] < 0 && !p->reported) {
        p->reported = true;
        if (p->ex)
            p->ex (p, p->status, p->arg);
    }
}

static void close_stream (proc_t *p, int s)
{
    zmq_pollitem_t item = { .fd = p->fds[s] };
    zloop_poller_end (p->loop, &item);
    close (p->fds[s]);
    p->fds[s] = -1;
}

/* Read what the pipe holds, up to 16 reads a wakeup (fair to the other
 * work of the loop); EOF (or an error) closes the stream. */
static int on_output (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    proc_t *p = arg;
    int s = item->fd == p->fds[1] ? 1 : 2;
    char buf[65536];
    for (int k = 0; k < 16; k++) {
        ssize_t n = read (p->fds[s], buf, sizeof buf);
        if (n > 0) {
            if (p->out)
                p->out (p, s, buf, n, p->arg);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        close_stream (p, s);
        maybe_report (p);   /* may free p */
        return 0;
    }
    return 0;
}

static int on_exit_fd (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    proc_t *p = arg;
    int status;
    if (waitpid (p->pid, &status, WNOHANG) != p->pid)
        return 0;
    zmq_pollitem_t it = { .fd = p->pidfd };
    zloop_poller_end (p->loop, &it);
    close (p->pidfd);
    p->pidfd = -1;
    p->exited = true;
    p->status = status;
    maybe_report (p);
    return 0;
}

proc_t *proc_spawn (zloop_t *loop, char *const argv[], char *const env[], const char *cwd,
                    proc_output_f out, proc_exit_f ex, void *arg, char *err, size_t errlen)
{
    int po[2], pe[2];
    if (!argv || !argv[0]) {
        snprintf (err, errlen, "no command given");
        return NULL;
    }
    if (pipe2 (po, O_CLOEXEC) < 0) {
        snprintf (err, errlen, "pipe: %s", strerror (errno));
        return NULL;
    }
    if (pipe2 (pe, O_CLOEXEC) < 0) {
        snprintf (err, errlen, "pipe: %s", strerror (errno));
        close (po[0]);
        close (po[1]);
        return NULL;
    }
    pid_t pid = fork ();
    if (pid < 0) {
        snprintf (err, errlen, "fork: %s", strerror (errno));
        close (po[0]); close (po[1]); close (pe[0]); close (pe[1]);
        return NULL;
    }
    if (pid == 0) {
        setpgid (0, 0);
        /* a broker killed outright must not leave its tasks running */
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        signal (SIGPIPE, SIG_DFL);
        int devnull = open ("/dev/null", O_RDONLY);
        dup2 (devnull, 0);
        dup2 (po[1], 1);
        dup2 (pe[1], 2);
        if (cwd && chdir (cwd) < 0) {
            dprintf (2, "canopy: cannot chdir to %s: %s\n", cwd, strerror (errno));
            _exit (126);
        }
        if (env)
            execvpe (argv[0], argv, env);
        else
            execvp (argv[0], argv);
        dprintf (2, "canopy: %s: %s\n", argv[0], strerror (errno));
        _exit (errno == ENOENT ? 127 : 126);
    }
    setpgid (pid, pid);
    close (po[1]);
    close (pe[1]);
    proc_t *p = xcalloc (1, sizeof *p);
    p->loop = loop;
    p->pid = pid;
    p->fds[1] = po[0];
    p->fds[2] = pe[0];
    p->out = out;
    p->ex = ex;
    p->arg = arg;
    fcntl (po[0], F_SETFL, O_NONBLOCK);
    fcntl (pe[0], F_SETFL, O_NONBLOCK);
    p->pidfd = syscall (SYS_pidfd_open, pid, 0);    /* always close-on-exec */
    if (p->pidfd < 0) {
        /* without it the exit would never be seen: give the task up */
        snprintf (err, errlen, "pidfd_open: %s", strerror (errno));
        kill (-pid, SIGKILL);
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
        close (po[0]);
        close (pe[0]);
        free (p);
        return NULL;
    }
    zmq_pollitem_t i1 = { .fd = po[0], .events = ZMQ_POLLIN };
    zmq_pollitem_t i2 = { .fd = pe[0], .events = ZMQ_POLLIN };
    zmq_pollitem_t i3 = { .fd = p->pidfd, .events = ZMQ_POLLIN };
    zloop_poller (loop, &i1, on_output, p);
    zloop_poller_set_tolerant (loop, &i1);
    zloop_poller (loop, &i2, on_output, p);
    zloop_poller_set_tolerant (loop, &i2);
    zloop_poller (loop, &i3, on_exit_fd, p);
    zloop_poller_set_tolerant (loop, &i3);
    return p;
}

pid_t proc_pid (const proc_t *p) { return p->pid; }
bool proc_running (const proc_t *p) { return !p->exited; }

int proc_kill (proc_t *p, int sig)
{
    if (p->exited)
        return 0;
    return kill (-p->pid, sig) < 0 ? kill (p->pid, sig) : 0;
}

void proc_destroy (proc_t **pp)
{
    if (!pp || !*pp)
        return;
    proc_t *p = *pp;
    p->ex = NULL;
    p->out = NULL;
    if (!p->exited) {
        kill (-p->pid, SIGKILL);
        kill (p->pid, SIGKILL);
        waitpid (p->pid, NULL, 0);
    }
    for (int s = 1; s <= 2; s++)
        if (p->fds[s] >= 0)
            close_stream (p, s);
    if (p->pidfd >= 0) {
        zmq_pollitem_t it = { .fd = p->pidfd };
        zloop_poller_end (p->loop, &it);
        close (p->pidfd);
    }
    free (p);
    *pp = NULL;
}
