/* cmd_start.c - canopy start: N brokers on this machine, a command in them.
 *
 * Makes a private directory, a certificate and a config with ipc://
 * endpoints, starts the brokers (each in its own process group, so a
 * terminal Ctrl-C reaches only the command, and with a parent-death signal,
 * so none outlives us even if we are killed), waits until all are online,
 * runs CMD with CANOPY_URI set, then stops every broker and returns CMD's
 * exit code.
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
#include "privdir.h"
#include "topo.h"

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

int cmd_start (int argc, char **argv)
{
    static struct option opts[] = {
        { "size", required_argument, 0, 'N' },   { "topo", required_argument, 0, 'T' },
        { "verbose", no_argument, 0, 'v' },      { "keep", no_argument, 0, 'k' },
        { "heartbeat", required_argument, 0, 'H' }, { "timeout", required_argument, 0, 't' },
        { "rundir", required_argument, 0, 'd' }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    long size = 1;
    const char *topo = "kary:2", *rundir_opt = NULL;
    double hb = 1.0, timeout = 5.0;
    bool verbose = false, keep = false;
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "+N:T:vh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'N':
            size = strtol (optarg, &end, 10);
            if (*end || size < 1 || size > 4096)
                die ("start: invalid --size '%s' (1-4096)", optarg);
            break;
        case 'T': topo = optarg; break;
        case 'v': verbose = true; break;
        case 'k': keep = true; break;
        case 'H': hb = strtod (optarg, NULL); break;
        case 't': timeout = strtod (optarg, NULL); break;
        case 'd': rundir_opt = optarg; break;
        case 'h':
            printf ("Usage: canopy start [--size N] [--topo SPEC] [--verbose] [CMD ARGS...]\n");
            return 0;
        default: return 1;
        }
    }
    if (hb <= 0 || timeout < 2 * hb)
        die ("start: need heartbeat > 0 and timeout >= 2 * heartbeat");
    char terr[256];
    topo_t *t = topo_create (topo, size, NULL, terr, sizeof terr);
    if (!t)
        die ("start: %s", terr);
    topo_destroy (&t);

    char dir[PATH_MAX];
    if (rundir_opt) {
        snprintf (dir, sizeof dir, "%s", rundir_opt);
    }
    else {
        const char *tmp = getenv ("TMPDIR");
        snprintf (dir, sizeof dir, "%s/canopy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp (dir))
            die ("start: cannot make a directory in %s: %s", tmp ? tmp : "/tmp", strerror (errno));
    }
    /* the brokers' run directories, certificate and config go in here */
    char perr[512];
    if (privdir_ensure (dir, perr, sizeof perr) < 0)
        die ("start: %s", perr);
    /* certificate */
    char cert[PATH_MAX + 16], cfg[PATH_MAX + 16];
    snprintf (cert, sizeof cert, "%s/curve.cert", dir);
    snprintf (cfg, sizeof cfg, "%s/canopy.yaml", dir);
    zsys_handler_set (NULL);
    zcert_t *zc = zcert_new ();
    mode_t old = umask (077);
    int rc = zcert_save_secret (zc, cert);
    zcert_destroy (&zc);
    /* config */
    char host[256] = "localhost";
    gethostname (host, sizeof host - 1);
    FILE *f = fopen (cfg, "w");
    umask (old);
    if (rc < 0 || !f)
        die ("start: cannot write to %s", dir);
    fprintf (f, "# generated by canopy start\ncurve_cert: %s\ntopology: \"%s\"\nheartbeat: %g\ntimeout: %g\nhosts:\n",
             cert, topo, hb, timeout);
    for (long r = 0; r < size; r++)
        fprintf (f, "  - host: %s\n    bind: ipc://%s/tbon-%ld\n    connect: ipc://%s/tbon-%ld\n", host,
                 dir, r, dir, r);
    fclose (f);

    double t0 = cmd_now ();
    char broker[PATH_MAX + 32];
    const char *benv = getenv ("CANOPY_BROKER");
    snprintf (broker, sizeof broker, "%s", benv && *benv ? benv : "");
    if (!broker[0])
        snprintf (broker, sizeof broker, "%s/canopy-broker", self_dir ());
    if (access (broker, X_OK) < 0)
        die ("start: cannot run %s", broker);
    brokers = calloc (size, sizeof (pid_t));
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
            execl (broker, "canopy-broker", "--config", cfg, "--rank", rank, "--rundir", rdir,
                   (char *)NULL);
            _exit (127);
        }
        brokers[r] = p;
    }
    /* wait for rank 0's socket, then for all brokers online */
    char uri[PATH_MAX + 64], sock[PATH_MAX + 32];
    snprintf (sock, sizeof sock, "%s/0/local", dir);
    snprintf (uri, sizeof uri, "ipc://%s", sock);
    int exitcode = 1;
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
        goto out;
    }
    char err[256];
    client_t *cl = client_connect (uri, err, sizeof err);
    if (!cl) {
        fprintf (stderr, "canopy: start: %s\n", err);
        goto out;
    }
    double wait_s = 10 + size * 0.2;
    json_t *o = got_signal ? NULL
                           : client_call (cl, 0, "overlay.wait",
                                          json_pack ("{s:I s:f}", "online", (json_int_t)size,
                                                     "timeout", wait_s),
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
        goto out;
    }
    json_decref (o);
    if (verbose)
        fprintf (stderr, "canopy start: %ld brokers online in %.3f s (%s)\n", size, cmd_now () - t0,
                 topo);
    setenv ("CANOPY_URI", uri, 1);
    /* like flux start: the command finds this canopy first in PATH */
    const char *oldpath = getenv ("PATH");
    char *newpath;
    if (asprintf (&newpath, "%s:%s", self_dir (), oldpath ? oldpath : "/usr/bin:/bin") >= 0) {
        setenv ("PATH", newpath, 1);
        free (newpath);
    }
    setenv ("CANOPY_RUNDIR", dir, 1);
    char **cmd = argv + optind;
    char *shell[] = { getenv ("SHELL") ? getenv ("SHELL") : "/bin/sh", NULL };
    if (optind >= argc)
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
    exitcode = WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
out:
    stop_brokers ();
    if (!keep)
        rmtree (dir);
    else
        fprintf (stderr, "canopy start: kept %s\n", dir);
    free (brokers);
    return exitcode;
}
