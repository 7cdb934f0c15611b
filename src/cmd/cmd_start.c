/* cmd_start.c - canopy start: N brokers on this machine, a command in them.
 *
 * Makes a private directory, a certificate and a config with ipc://
 * endpoints, starts the brokers (each in its own process group, so a
 * terminal Ctrl-C reaches only the command, and with a parent-death signal,
 * so none outlives us even if we are killed), waits until all are online,
 * runs CMD with CANOPY_URI set, then stops every broker and returns CMD's
 * exit code.  --burst local:M adds a burst pool of M nodes whose brokers
 * rank 0 starts on demand (doc/bursting.md).
 */
#define _GNU_SOURCE
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cmd.h"
#include "burstpool.h"
#include "hwres.h"
#include "privdir.h"
#include "topo.h"
#include "xalloc.h"

static pid_t *brokers;
static long nbrokers;
static volatile sig_atomic_t got_signal;
static pid_t cmd_pid;

static void on_sig (int sig)
{
    got_signal = sig;
    if (cmd_pid > 0 && sig != SIGINT)
        kill (cmd_pid, sig);
}

static char *self_dir (void)
{
    static char buf[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", buf, sizeof buf - 1);
    if (n < 0)
        return ".";
    buf[n] = '\0';
    char *slash = strrchr (buf, '/');
    if (slash)
        *slash = '\0';
    return buf;
}

static void stop_brokers (void)
{
    for (long i = 0; i < nbrokers; i++)
        if (brokers[i] > 0)
            kill (brokers[i], SIGTERM);
    for (int tries = 0; tries < 100; tries++) {
        int left = 0;
        for (long i = 0; i < nbrokers; i++) {
            if (brokers[i] <= 0)
                continue;
            if (waitpid (brokers[i], NULL, WNOHANG) == brokers[i])
                brokers[i] = 0;
            else
                left++;
        }
        if (!left)
            return;
        usleep (50000);
    }
    for (long i = 0; i < nbrokers; i++)
        if (brokers[i] > 0) {
            kill (brokers[i], SIGKILL);
            waitpid (brokers[i], NULL, 0);
            brokers[i] = 0;
        }
}

static void rmtree (const char *dir)
{
    pid_t p = fork ();
    if (p == 0) {
        execlp ("rm", "rm", "-rf", dir, (char *)NULL);
        _exit (127);
    }
    if (p > 0)
        waitpid (p, NULL, 0);
}

static void show_log_tail (const char *dir, long rank)
{
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/broker-%ld.log", dir, rank);
    FILE *f = fopen (path, "r");
    if (!f)
        return;
    char line[1024];
    while (fgets (line, sizeof line, f))
        fprintf (stderr, "  broker %ld: %s", rank, line);
    fclose (f);
}

struct start_opts {
    long size;
    const char *topo, *rundir;
    double hb, timeout;
    bool verbose, keep;
    long burst_nodes;      /* --burst local:M: a pool of M nodes from the local provider */
    double idle_time, resume_timeout;   /* --burst local:M,idle_time=S,resume_timeout=S */
};

/* local:M[,idle_time=S][,resume_timeout=S] */
static void parse_burst (const char *arg, struct start_opts *o)
{
    char *end;
    if (strncmp (arg, "local:", 6))
        die ("start: invalid --burst '%.60s' (local:M, M nodes from the local provider)", arg);
    o->burst_nodes = strtol (arg + 6, &end, 10);
    if ((*end && *end != ',') || end == arg + 6 || o->burst_nodes < 1 || o->burst_nodes > 1024)
        die ("start: invalid --burst '%.60s' (local:M with M 1-1024)", arg);
    while (*end == ',') {
        const char *k = end + 1;
        double *v = !strncmp (k, "idle_time=", 10) ? &o->idle_time
                    : !strncmp (k, "resume_timeout=", 15) ? &o->resume_timeout : NULL;
        if (!v)
            die ("start: invalid --burst '%.60s' (after local:M only ,idle_time=S and ,resume_timeout=S)", arg);
        *v = strtod (strchr (k, '=') + 1, &end);
        if ((*end && *end != ',') || *v <= 0)
            die ("start: invalid --burst '%.60s' (seconds must be > 0)", arg);
    }
}

/* Options; returns the index of the command's first word. */
static int parse_opts (int argc, char **argv, struct start_opts *o)
{
    static struct option opts[] = {
        { "size", required_argument, 0, 'N' },   { "topo", required_argument, 0, 'T' },
        { "verbose", no_argument, 0, 'v' },      { "keep", no_argument, 0, 'k' },
        { "heartbeat", required_argument, 0, 'H' }, { "timeout", required_argument, 0, 't' },
        { "rundir", required_argument, 0, 'd' }, { "burst", required_argument, 0, 'B' },
        { "help", no_argument, 0, 'h' },         { 0, 0, 0, 0 },
    };
    *o = (struct start_opts){ .size = 1, .topo = "kary:2", .hb = 1.0, .timeout = 5.0 };
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "+N:T:vh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'N':
            o->size = strtol (optarg, &end, 10);
            if (*end || o->size < 1 || o->size > 4096)
                die ("start: invalid --size '%s' (1-4096)", optarg);
            break;
        case 'T': o->topo = optarg; break;
        case 'v': o->verbose = true; break;
        case 'k': o->keep = true; break;
        case 'H': o->hb = strtod (optarg, NULL); break;
        case 't': o->timeout = strtod (optarg, NULL); break;
        case 'd': o->rundir = optarg; break;
        case 'B': parse_burst (optarg, o); break;
        case 'h':
            printf ("Usage: canopy start [--size N] [--topo SPEC] [--burst local:M] [--verbose] [CMD ARGS...]\n");
            exit (0);
        default: exit (1);
        }
    }
    if (o->hb <= 0 || o->timeout < 2 * o->hb)
        die ("start: need heartbeat > 0 and timeout >= 2 * heartbeat");
    char terr[256];
    topo_t *t = topo_create (o->topo, o->size + o->burst_nodes, NULL, terr, sizeof terr);
    if (!t)
        die ("start: %s", terr);
    topo_destroy (&t);
    return optind;
}

/* The instance directory: --rundir, or a new one under $TMPDIR; private. */
static void make_dir (const struct start_opts *o, char *dir, size_t len)
{
    if (o->rundir)
        snprintf (dir, len, "%s", o->rundir);
    else {
        const char *tmp = getenv ("TMPDIR");
        snprintf (dir, len, "%s/canopy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp (dir))
            die ("start: cannot make a directory in %s: %s", tmp ? tmp : "/tmp", strerror (errno));
    }
    char perr[512];
    if (privdir_ensure (dir, perr, sizeof perr) < 0)
        die ("start: %s", perr);
}

/* The burst pool of --burst local:M as YAML: nodes like this one (the
 * cores and GPUs discovery finds, CANOPY_FAKE_RESOURCES honoured). */
static void write_burst (FILE *f, const struct start_opts *o)
{
    hwres_t h;
    char err[256];
    if (hwres_discover (&h, err, sizeof err) < 0)
        die ("start: --burst: %s", err);
    json_t *pools = burst_pool_local_spec ((uint32_t)o->burst_nodes, (uint32_t)h.ncores, (uint32_t)h.ngpus);
    json_t *p = json_array_get (pools, 0);
    if (o->idle_time > 0)
        json_object_set_new (p, "idle_time", json_real (o->idle_time));
    if (o->resume_timeout > 0)
        json_object_set_new (p, "resume_timeout", json_real (o->resume_timeout));
    char *s = json_dumps (pools, JSON_COMPACT);
    fprintf (f, "burst: %s\n", s);
    free (s);
    json_decref (pools);
}

/* A new certificate and the config (ipc:// endpoints in dir). */
static void write_config (const struct start_opts *o, const char *dir, char *cfg, size_t len)
{
    char cert[PATH_MAX + 16];
    snprintf (cert, sizeof cert, "%s/curve.cert", dir);
    snprintf (cfg, len, "%s/canopy.yaml", dir);
    zsys_handler_set (NULL);
    zcert_t *zc = zcert_new ();
    mode_t old = umask (077);
    int rc = zcert_save_secret (zc, cert);
    zcert_destroy (&zc);
    char host[256] = "localhost";
    gethostname (host, sizeof host - 1);
    FILE *f = fopen (cfg, "w");
    umask (old);
    if (rc < 0 || !f)
        die ("start: cannot write to %s", dir);
    fprintf (f, "# generated by canopy start\ncurve_cert: %s\ntopology: \"%s\"\nheartbeat: %g\ntimeout: %g\n", cert,
             o->topo, o->hb, o->timeout);
    if (o->burst_nodes) {   /* pool brokers join with their own names: endpoints by name */
        fprintf (f, "size: %ld\ndefault_bind: ipc://%s/tbon-%%h\ndefault_connect: ipc://%s/tbon-%%h\n", o->size, dir,
                 dir);
        write_burst (f, o);
    }
    fprintf (f, "hosts:\n");
    for (long r = 0; r < o->size; r++)
        fprintf (f, "  - host: %s\n    bind: ipc://%s/tbon-%ld\n    connect: ipc://%s/tbon-%ld\n", host, dir, r, dir, r);
    if (fclose (f) != 0)
        die ("start: cannot write %s", cfg);
}

static void broker_path (char *broker, size_t len)
{
    const char *benv = getenv ("CANOPY_BROKER");
    snprintf (broker, len, "%s", benv && *benv ? benv : "");
    if (!broker[0])
        snprintf (broker, len, "%s/canopy-broker", self_dir ());
    if (access (broker, X_OK) < 0)
        die ("start: cannot run %s", broker);
}

/* Fork the brokers, each in its own process group with a parent-death
 * signal and its log in dir. */
static void spawn_brokers (const char *broker, const char *cfg, const char *dir, long size)
{
    brokers = xcalloc (size, sizeof (pid_t));
    nbrokers = size;
    pid_t me = getpid ();
    struct sigaction sa = { .sa_handler = on_sig };
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGHUP, &sa, NULL);
    for (long r = 0; r < size; r++) {
        pid_t p = fork ();
        if (p < 0) {
            stop_brokers ();
            die ("start: fork: %s", strerror (errno));
        }
        if (p == 0) {
            setpgid (0, 0);
            prctl (PR_SET_PDEATHSIG, SIGTERM);
            if (getppid () != me)
                _exit (1);
            char logp[PATH_MAX + 32], rank[32], rdir[PATH_MAX + 32];
            snprintf (logp, sizeof logp, "%s/broker-%ld.log", dir, r);
            snprintf (rank, sizeof rank, "%ld", r);
            snprintf (rdir, sizeof rdir, "%s/%ld", dir, r);
            int fd = open (logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd >= 0) {
                dup2 (fd, 1);
                dup2 (fd, 2);
            }
            int nfd = open ("/dev/null", O_RDONLY);
            dup2 (nfd, 0);
            signal (SIGINT, SIG_DFL);
            signal (SIGTERM, SIG_DFL);
            signal (SIGHUP, SIG_DFL);
            execl (broker, "canopy-broker", "--config", cfg, "--rank", rank, "--rundir", rdir, (char *)NULL);
            _exit (127);
        }
        brokers[r] = p;
    }
}

/* Rank 0's socket, then every broker online.  0, or -1 with the reason
 * and the logs of brokers that died on stderr. */
static int wait_online (const char *dir, long size, char *uri, size_t urilen)
{
    char sock[PATH_MAX + 32];
    snprintf (sock, sizeof sock, "%s/0/local", dir);
    snprintf (uri, urilen, "ipc://%s", sock);
    bool ready = false;
    for (int i = 0; i < 600 && !got_signal; i++) {
        struct stat st;
        if (stat (sock, &st) == 0) {
            ready = true;
            break;
        }
        int status;
        if (waitpid (brokers[0], &status, WNOHANG) == brokers[0]) {
            brokers[0] = 0;
            break;
        }
        usleep (10000);
    }
    if (!ready) {
        fprintf (stderr, "canopy: start: rank 0 did not start\n");
        show_log_tail (dir, 0);
        return -1;
    }
    char err[256];
    client_t *cl = client_connect (uri, err, sizeof err);
    if (!cl) {
        fprintf (stderr, "canopy: start: %s\n", err);
        return -1;
    }
    double wait_s = 10 + size * 0.2;
    json_t *o = got_signal ? NULL
                           : client_call (cl, 0, "overlay.wait",
                                          json_pack ("{s:I s:f}", "online", (json_int_t)size, "timeout", wait_s),
                                          (int)(wait_s * 1000) + 5000, err, sizeof err);
    client_destroy (&cl);
    if (!o) {
        fprintf (stderr, "canopy: start: brokers did not come online: %s\n", err);
        for (long r = 0; r < size; r++) {
            int status;
            if (brokers[r] > 0 && waitpid (brokers[r], &status, WNOHANG) == brokers[r]) {
                brokers[r] = 0;
                show_log_tail (dir, r);
            }
        }
        return -1;
    }
    json_decref (o);
    return 0;
}

/* CMD (or a shell) with CANOPY_URI, CANOPY_RUNDIR and this canopy first in
 * PATH; its exit code. */
static int run_command (char **cmd, const char *uri, const char *dir)
{
    setenv ("CANOPY_URI", uri, 1);
    const char *oldpath = getenv ("PATH");
    char *newpath = xasprintf ("%s:%s", self_dir (), oldpath ? oldpath : "/usr/bin:/bin");
    setenv ("PATH", newpath, 1);
    free (newpath);
    setenv ("CANOPY_RUNDIR", dir, 1);
    char *shell[] = { getenv ("SHELL") ? getenv ("SHELL") : "/bin/sh", NULL };
    if (!cmd[0])
        cmd = shell;
    cmd_pid = fork ();
    if (cmd_pid == 0) {
        signal (SIGINT, SIG_DFL);
        signal (SIGTERM, SIG_DFL);
        signal (SIGHUP, SIG_DFL);
        execvp (cmd[0], cmd);
        fprintf (stderr, "canopy: start: %s: %s\n", cmd[0], strerror (errno));
        _exit (127);
    }
    int status = 0;
    while (waitpid (cmd_pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

/* Pool brokers the local provider started (they run in their own session,
 * so a rank 0 restart does not stop them): stop those still alive. */
static void stop_burst_brokers (const char *dir)
{
    char path[PATH_MAX + 32];
    snprintf (path, sizeof path, "%s/0/state", dir);
    pid_t p = fork ();
    if (p == 0) {   /* their run directories hold lock files with their pids */
        execlp ("sh", "sh", "-c",
                "for l in \"$1\"/burst/*/run/lock; do [ -f \"$l\" ] && kill $(cat \"$l\") 2>/dev/null; done; exit 0",
                "sh", path, (char *)NULL);
        _exit (127);
    }
    if (p > 0)
        waitpid (p, NULL, 0);
}

int cmd_start (int argc, char **argv)
{
    struct start_opts o;
    int first = parse_opts (argc, argv, &o);
    char dir[PATH_MAX], cfg[PATH_MAX + 16], broker[PATH_MAX + 32], uri[PATH_MAX + 64];
    make_dir (&o, dir, sizeof dir);
    write_config (&o, dir, cfg, sizeof cfg);
    double t0 = cmd_now ();
    broker_path (broker, sizeof broker);
    spawn_brokers (broker, cfg, dir, o.size);
    int exitcode = 1;
    if (wait_online (dir, o.size, uri, sizeof uri) == 0) {
        if (o.verbose)
            fprintf (stderr, "canopy start: %ld brokers online in %.3f s (%s)\n", o.size, cmd_now () - t0, o.topo);
        exitcode = run_command (argv + first, uri, dir);
    }
    if (o.burst_nodes)
        stop_burst_brokers (dir);
    stop_brokers ();
    if (!o.keep)
        rmtree (dir);
    else
        fprintf (stderr, "canopy start: kept %s\n", dir);
    free (brokers);
    return exitcode;
}
