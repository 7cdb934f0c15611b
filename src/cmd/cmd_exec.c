/* cmd_exec.c - canopy exec: run a command on a set of ranks.
 *
 * Sends one streaming exec.run per rank through the local broker, relays
 * stdout/stderr (optionally prefixed "RANK: " per line), forwards Ctrl-C
 * (SIGINT; a second one sends SIGKILL) and returns the highest exit code.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cmd.h"
#include "xalloc.h"

extern char **environ;
static volatile sig_atomic_t interrupts;

static void on_int (int sig)
{
    interrupts++;
}

struct target {
    uint32_t rank;
    uint32_t tag;
    int pid;
    bool done;
    int code;
    char *partial[3];   /* label mode: unfinished line per stream */
    size_t plen[3];
};

static void emit (struct target *t, int stream, const char *data, size_t len, bool label)
{
    FILE *f = stream == 1 ? stdout : stderr;
    if (!label) {
        fwrite (data, 1, len, f);
        fflush (f);
        return;
    }
    /* line-buffer per rank and stream, prefix each complete line */
    t->partial[stream] = xrealloc (t->partial[stream], t->plen[stream] + len + 1);
    memcpy (t->partial[stream] + t->plen[stream], data, len);
    t->plen[stream] += len;
    char *buf = t->partial[stream];
    size_t start = 0;
    for (size_t i = 0; i < t->plen[stream]; i++) {
        if (buf[i] == '\n') {
            fprintf (f, "%u: %.*s\n", t->rank, (int)(i - start), buf + start);
            start = i + 1;
        }
    }
    memmove (buf, buf + start, t->plen[stream] - start);
    t->plen[stream] -= start;
    fflush (f);
}

static void flush_partial (struct target *t)
{
    for (int s = 1; s <= 2; s++)
        if (t->plen[s]) {
            fprintf (s == 1 ? stdout : stderr, "%u: %.*s\n", t->rank, (int)t->plen[s], t->partial[s]);
            t->plen[s] = 0;
        }
}

int cmd_exec (int argc, char **argv)
{
    static struct option opts[] = {
        { "rank", required_argument, 0, 'r' },   { "exclude", required_argument, 0, 'x' },
        { "label-io", no_argument, 0, 'l' },     { "dir", required_argument, 0, 'd' },
        { "verbose", no_argument, 0, 'v' },      { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *rspec = "all", *xspec = NULL, *dir = NULL;
    bool label = false, verbose = false;
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "+r:x:ld:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': rspec = optarg; break;
        case 'x': xspec = optarg; break;
        case 'l': label = true; break;
        case 'd': dir = optarg; break;
        case 'v': verbose = true; break;
        case 'h':
            printf ("Usage: canopy exec [-r all|IDSET] [-x IDSET] [-l] [-d DIR] CMD...\n");
            return 0;
        default: return 1;
        }
    }
    if (optind >= argc)
        die ("exec: no command given (Usage: canopy exec [-r RANKS] CMD...)");
    client_t *cl = cmd_connect ();
    uint32_t size = cmd_instance_size (cl);
    idset_t *ranks = cmd_ranks (rspec, size);
    if (xspec) {
        idset_t *x = cmd_ranks (xspec, size);
        idset_subtract (ranks, x);
        idset_destroy (&x);
    }
    size_t n = idset_count (ranks);
    if (n == 0)
        die ("exec: no ranks selected");
    json_t *cmd = json_array ();
    for (int i = optind; i < argc; i++)
        json_array_append_new (cmd, json_string (argv[i]));
    json_t *env = json_object ();
    for (char **e = environ; *e; e++) {
        char *eq = strchr (*e, '=');
        if (!eq)
            continue;
        char *k = xstrndup (*e, eq - *e);
        json_object_set_new (env, k, json_string (eq + 1));
        free (k);
    }
    char cwd[4096];
    if (!dir && getcwd (cwd, sizeof cwd))
        dir = cwd;
    struct target *tg = xcalloc (n, sizeof *tg);
    size_t i = 0;
    for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r), i++) {
        tg[i].rank = r;
        json_t *req = json_pack ("{s:O s:O s:s}", "cmd", cmd, "env", env, "cwd", dir ? dir : "/");
        tg[i].tag = cmd_send (cl, r, "exec.run", req, CMSG_F_STREAMING);
        tg[i].pid = -1;
    }
    json_decref (cmd);
    json_decref (env);
    struct sigaction sa = { .sa_handler = on_int };
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    int seen_interrupts = 0;
    size_t left = n;
    int worst = 0;
    while (left) {
        if (interrupts != seen_interrupts) {
            int sig = interrupts > 1 ? SIGKILL : SIGINT;
            seen_interrupts = interrupts;
            if (verbose || interrupts == 1)
                fprintf (stderr, "canopy exec: forwarding %s to %zu ranks\n", sig == SIGKILL ? "SIGKILL" : "SIGINT", left);
            for (size_t k = 0; k < n; k++)
                if (!tg[k].done && tg[k].pid > 0)
                    cmd_send (cl, tg[k].rank, "exec.kill", json_pack ("{s:i s:i}", "pid", tg[k].pid, "signal", sig),
                              CMSG_F_NORESPONSE);
        }
        cmsg_t m;
        char err[256];
        int rc = client_stream_next (cl, 0, &m, 1000, err, sizeof err);
        if (rc < 0) {
            if (errno == EINTR || errno == ETIMEDOUT)
                continue;
            die ("exec: lost connection to broker: %s", err);
        }
        struct target *t = NULL;
        for (size_t k = 0; k < n; k++)
            if (tg[k].tag == m.hdr.matchtag)
                t = &tg[k];
        if (!t || t->done) {
            client_msg_clear (&m);
            continue;
        }
        if (rc == 0) {
            t->done = true;
            left--;
        }
        else if (m.hdr.errnum) {
            flush_partial (t);
            fprintf (stderr, "canopy exec: rank %u: %s\n", t->rank, client_errstr (&m));
            t->done = true;
            t->code = m.hdr.errnum == EHOSTUNREACH ? 68 : 1;
            if (t->code > worst)
                worst = t->code;
            left--;
        }
        else {
            const char *stream = NULL;
            int pid, status;
            if (json_unpack (m.json, "{s:i}", "pid", &pid) == 0) {
                t->pid = pid;
                if (interrupts)
                    cmd_send (cl, t->rank, "exec.kill",
                              json_pack ("{s:i s:i}", "pid", pid, "signal", interrupts > 1 ? SIGKILL : SIGINT),
                              CMSG_F_NORESPONSE);
            }
            else if (json_unpack (m.json, "{s:s}", "stream", &stream) == 0)
                emit (t, !strcmp (stream, "stderr") ? 2 : 1, m.data, m.data_len, label);
            else if (json_unpack (m.json, "{s:i}", "status", &status) == 0) {
                flush_partial (t);
                t->code = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
                if (t->code > worst)
                    worst = t->code;
                if (verbose)
                    fprintf (stderr, "canopy exec: rank %u: exit %d\n", t->rank, t->code);
            }
        }
        client_msg_clear (&m);
    }
    for (size_t k = 0; k < n; k++) {
        free (tg[k].partial[1]);
        free (tg[k].partial[2]);
    }
    free (tg);
    idset_destroy (&ranks);
    client_destroy (&cl);
    return worst;
}
