/* test_proc.c - proc.c: output and exit are always reported, also when the
 * child wrote and exited before the event loop first polled its pipes.
 *
 * That case is the one that lost jobs: poll() then reports the pipe as
 * POLLIN|POLLHUP, which libzmq's zmq_poll turns into ZMQ_POLLERR, and a
 * zloop poller that is not "tolerant" gets one handler call and is then
 * removed.  If that call read the data but not yet the EOF, the pipe was
 * never closed and the exit never reported (a job stuck in RUN). */
#define _GNU_SOURCE
#include "check.h"
#include "proc.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct res {
    char out[2][1 << 20];
    size_t len[2];
    int status;
    bool exited;
    int ncalls_after_exit;
};

static void on_out (proc_t *p, int stream, const void *data, size_t len, void *arg)
{
    struct res *r = arg;
    size_t room = sizeof r->out[0] - r->len[stream - 1];
    if (len > room)
        len = room;
    memcpy (r->out[stream - 1] + r->len[stream - 1], data, len);
    r->len[stream - 1] += len;
    if (r->exited)
        r->ncalls_after_exit++;
}

static void on_exit_cb (proc_t *p, int status, void *arg)
{
    struct res *r = arg;
    r->status = status;
    r->exited = true;
}

static int on_timeout (zloop_t *loop, int id, void *arg)
{
    return -1;
}

static int on_stall (zloop_t *loop, int id, void *arg)
{
    usleep (400 * 1000);
    return 0;
}

static int on_check (zloop_t *loop, int id, void *arg)
{
    struct res *r = arg;
    return r->exited ? -1 : 0;
}

/* Run sh -c SCRIPT; delay_ms before the loop first polls (0 = at once);
 * stall_at > 0: at that many ms, a timer blocks the loop for 400 ms.
 * Returns the result; r->exited false means the exit was never reported
 * within 5 s. */
static struct res *run2 (const char *script, int delay_ms, int stall_at)
{
    struct res *r = calloc (1, sizeof *r);
    zloop_t *loop = zloop_new ();
    char *argv[] = { "sh", "-c", (char *)script, NULL };
    char err[256] = "";
    proc_t *p = proc_spawn (loop, argv, NULL, NULL, on_out, on_exit_cb, r, err, sizeof err);
    if (!p) {
        fprintf (stderr, "proc_spawn: %s\n", err);
        exit (1);
    }
    if (delay_ms)
        usleep (delay_ms * 1000);
    zloop_timer (loop, 5000, 1, on_timeout, r);
    zloop_timer (loop, 5, 0, on_check, r);
    if (stall_at > 0)
        zloop_timer (loop, stall_at, 1, on_stall, r);
    zloop_start (loop);
    proc_destroy (&p);
    zloop_destroy (&loop);
    return r;
}

static struct res *run (const char *script, int delay_ms)
{
    return run2 (script, delay_ms, 0);
}

int main (void)
{
    struct res *r;

    r = run ("echo fine", 0);
    ok (r->exited && r->status == 0, "echo: exit reported, status 0");
    ok (r->len[0] == 5 && !memcmp (r->out[0], "fine\n", 5), "echo: output");
    free (r);

    /* the child writes and exits while the loop is not polling */
    r = run ("echo fine", 300);
    ok (r->exited, "echo done before the first poll: exit reported");
    ok (r->len[0] == 5 && !memcmp (r->out[0], "fine\n", 5), "echo done before the first poll: output");
    ok (r->ncalls_after_exit == 0, "no output after the exit");
    free (r);

    r = run ("echo out; echo err >&2; exit 3", 300);
    ok (r->exited && WIFEXITED (r->status) && WEXITSTATUS (r->status) == 3,
        "both streams written before the first poll: exit 3 reported");
    ok (r->len[0] == 4 && r->len[1] == 4, "both streams: all output (%zu, %zu bytes)", r->len[0], r->len[1]);
    free (r);

    /* a full pipe (64 KiB) left behind: more than one read is needed */
    r = run ("head -c 65536 /dev/zero; head -c 65536 /dev/zero >&2", 300);
    ok (r->exited, "full pipes before the first poll: exit reported");
    ok (r->len[0] == 65536 && r->len[1] == 65536, "full pipes: all output (%zu, %zu bytes)", r->len[0], r->len[1]);
    free (r);

    /* more than a pipe holds: the writer blocks until the loop reads */
    r = run ("head -c 300000 /dev/zero", 300);
    ok (r->exited, "300 KB, loop late: exit reported");
    ok (r->len[0] == 300000, "300 KB: all output (%zu bytes)", r->len[0]);
    free (r);

    /* The race that hung a job, made deterministic.  At exit a task's fds
     * close in order, stdout before stderr; if the loop polls in between it
     * sees stdout POLLIN|POLLHUP (data and EOF) alone.  Here stderr is closed
     * first (seen at once), then while the loop is stalled the task writes
     * to stdout and closes it, and lives on a while. */
    r = run2 ("exec 2>&-; sleep 0.1; echo fine; exec >&-; sleep 0.6", 0, 50);
    ok (r->exited && r->status == 0, "stdout: data and EOF seen in one poll, stderr already closed: exit reported");
    ok (r->len[0] == 5 && !memcmp (r->out[0], "fine\n", 5), "stdout: data and EOF in one poll: output");
    free (r);

    r = run2 ("exec >&-; sleep 0.1; echo err >&2; exec 2>&-; sleep 0.6", 0, 50);
    ok (r->exited && r->status == 0, "stderr: data and EOF seen in one poll, stdout already closed: exit reported");
    ok (r->len[1] == 4, "stderr: data and EOF in one poll: output");
    free (r);

    for (int i = 0; i < 50; i++) {
        r = run ("echo fine", i % 5);
        bool good = r->exited && r->len[0] == 5;
        free (r);
        if (!good) {
            ok (0, "echo, 50 runs with 0-4 ms delays: run %d lost its exit or output", i);
            return done ();
        }
    }
    ok (1, "echo, 50 runs with 0-4 ms delays: every exit and output reported");
    return done ();
}
