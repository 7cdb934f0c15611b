/* cmd_archive.c - canopy archive create|distribute|extract|list|remove|purge.
 *
 * Thin front end: each verb is one request to a broker (doc/distribution.md).
 * distribute shows a progress bar on a terminal and prints per-rank
 * completion times (or JSON with --json).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "xalloc.h"
#include "cmd.h"
#include "topo.h"

static void usage (FILE *f)
{
    fprintf (f,
             "Usage: canopy archive create --name NAME [--dir DIR] [--reference] [--replace]\n"
             "                             [--chunk-size SIZE] PATH...\n"
             "       canopy archive distribute --name NAME -C DIR [-r IDSET | --leaves | --level N]\n"
             "                             [--staged LEVEL] [--schedule chain|tree|flat|twotree] [--from RANK]\n"
             "                             [--window N] [--data-plane sealed|curve] [--unit-size SIZE]\n"
             "                             [--json] [--no-progress]\n"
             "       canopy archive extract --name NAME -C DIR [--rank R] [--from RANK]\n"
             "       canopy archive list [--rank R] [--json]\n"
             "       canopy archive remove --name NAME [-r IDSET]\n"
             "       canopy archive purge [-r IDSET]\n"
             "In -C DIR, {rank} becomes each target's rank.\n");
}


static topo_t *instance_topo (client_t *c)
{
    char err[256];
    json_t *o = client_call (c, 0, "overlay.status", json_object (), 10000, err, sizeof err);
    if (!o)
        die ("archive: %s", err);
    json_int_t size = 0;
    const char *spec = "kary:2";
    json_unpack (o, "{s:I s:s}", "size", &size, "topology", &spec);
    json_t *parents = json_object_get (o, "parents");
    uint32_t *par = xcalloc (size ? size : 1, sizeof (uint32_t));
    for (json_int_t r = 1; r < size; r++)
        par[r] = json_integer_value (json_array_get (parents, r));
    topo_t *t = topo_create (spec, size, par, err, sizeof err);
    free (par);
    json_decref (o);
    if (!t)
        die ("archive: %s", err);
    return t;
}

/* -C DIR as the brokers need it: absolute (relative to our cwd) */
static const char *absolute (const char *dir, char *buf, size_t len, const char *verb)
{
    if (dir[0] == '/')
        return dir;
    char cwd[PATH_MAX];
    if (!getcwd (cwd, sizeof cwd))
        die ("archive %s: cannot get the current directory", verb);
    if ((size_t)snprintf (buf, len, "%s/%s", cwd, dir) >= len)
        die ("archive %s: path too long: %s", verb, dir);
    return buf;
}

static long parse_rank (const char *s, const char *what)
{
    char *end;
    long r = strtol (s, &end, 10);
    if (*end || end == s || r < 0)
        die ("archive: invalid %s '%s'", what, s);
    return r;
}

static int do_create (int argc, char **argv)
{
    static struct option opts[] = {
        { "name", required_argument, 0, 'n' },  { "dir", required_argument, 0, 'd' },
        { "reference", no_argument, 0, 'R' },   { "replace", no_argument, 0, 'f' },
        { "chunk-size", required_argument, 0, 'c' }, { 0, 0, 0, 0 },
    };
    const char *name = NULL, *dir = NULL;
    bool reference = false, replace = false;
    uint64_t chunk = 0;
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "n:d:C:", opts, NULL)) != -1) {
        switch (c) {
        case 'n': name = optarg; break;
        case 'd': case 'C': dir = optarg; break;
        case 'R': reference = true; break;
        case 'f': replace = true; break;
        case 'c':
            if (cmd_parse_size (optarg, &chunk) < 0 || chunk < 4096 || chunk > (64u << 20))
                die ("archive create: invalid --chunk-size '%s' (4K-64M)", optarg);
            break;
        default: usage (stderr); return 1;
        }
    }
    if (!name)
        die ("archive create: --name is required");
    if (optind >= argc)
        die ("archive create: no PATH given");
    char cwd[PATH_MAX], absdir[PATH_MAX];
    if (!getcwd (cwd, sizeof cwd))
        die ("archive create: cannot get the current directory");
    if (!dir)
        dir = cwd;
    if (!realpath (dir, absdir))
        die ("archive create: %s: %s", dir, strerror (errno));
    json_t *paths = json_array ();
    for (int i = optind; i < argc; i++)
        json_array_append_new (paths, json_string (argv[i]));
    client_t *cl = cmd_connect ();
    char err[512];
    double t0 = cmd_now ();
    json_t *o = client_call (cl, CANOPY_RANK_ANY, "archive.create",
                             json_pack ("{s:s s:s s:o s:b s:b s:I}", "name", name, "dir", absdir, "paths",
                                        paths, "reference", reference, "replace", replace, "chunk_size",
                                        (json_int_t)chunk),
                             -1, err, sizeof err);
    if (!o)
        die ("archive create: %s", err);
    double dt = cmd_now () - t0;
    json_int_t files = 0, bytes = 0, chunks = 0;
    const char *warning = NULL;
    json_unpack (o, "{s:I s:I s:I s?s}", "files", &files, "bytes", &bytes, "chunks", &chunks,
                 "warning", &warning);
    if (warning)
        fprintf (stderr, "canopy: warning: archive %s: %s\n", name, warning);
    printf ("archive %s: %lld files, %.1f MiB, %lld chunks, created in %.3f s (%.2f GB/s)%s\n", name,
            (long long)files, bytes / 1048576.0, (long long)chunks, dt, dt > 0 ? bytes / dt / 1e9 : 0.0,
            reference ? ", referenced in place" : "");
    json_decref (o);
    client_destroy (&cl);
    return 0;
}

static int do_extract (int argc, char **argv)
{
    static struct option opts[] = {
        { "name", required_argument, 0, 'n' }, { "directory", required_argument, 0, 'C' },
        { "rank", required_argument, 0, 'r' }, { "from", required_argument, 0, 'F' },
        { 0, 0, 0, 0 },
    };
    const char *name = NULL, *dest = NULL;
    long rank = -1, from = -1;
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "n:C:r:", opts, NULL)) != -1) {
        switch (c) {
        case 'n': name = optarg; break;
        case 'C': dest = optarg; break;
        case 'r': rank = parse_rank (optarg, "rank"); break;
        case 'F': from = parse_rank (optarg, "rank"); break;
        default: usage (stderr); return 1;
        }
    }
    if (!name || !dest)
        die ("archive extract: --name and -C DIR are required");
    if (!dest[0])
        die ("archive extract: -C DIR must not be empty (use -C . for the current directory)");
    char absdest[PATH_MAX];
    dest = absolute (dest, absdest, sizeof absdest, "extract");
    client_t *cl = cmd_connect ();
    char err[512];
    json_t *o = client_call (cl, rank < 0 ? CANOPY_RANK_ANY : (uint32_t)rank, "archive.extract",
                             json_pack ("{s:s s:s}", "name", name, "dest", dest), -1, err, sizeof err);
    if (!o && strstr (err, "not found") && from != (rank < 0 ? -2 : rank)) {
        /* not in this broker's store: pull it here from the source (rank 0
         * unless --from), as flux archive extract fetches missing content */
        if (rank < 0) {
            json_t *st = client_call (cl, CANOPY_RANK_ANY, "overlay.status", json_object (), 10000, err, sizeof err);
            json_int_t me = 0;
            if (!st || json_unpack (st, "{s:I}", "rank", &me) < 0)
                die ("archive extract: %s", err);
            json_decref (st);
            rank = me;
        }
        uint32_t src = from < 0 ? 0 : (uint32_t)from;
        if (src != (uint32_t)rank) {
            json_t *result = cmd_follow_distribute (cl, src,
                                                    json_pack ("{s:s s:s s:[I] s:s}", "name", name, "dest", dest,
                                                               "targets", (json_int_t)rank, "schedule", "flat"),
                                                    "archive extract", NULL);
            json_int_t failed = 1;
            json_unpack (result, "{s:I}", "failed", &failed);
            if (failed) {
                char key[16];
                const char *e = "failed";
                snprintf (key, sizeof key, "%ld", rank);
                json_unpack (json_object_get (json_object_get (result, "ranks"), key), "{s:s}", "error", &e);
                die ("archive extract: %s", e);
            }
            json_decref (result);
            client_destroy (&cl);
            return 0;
        }
    }
    if (!o)
        die ("archive extract: %s", err);
    json_decref (o);
    client_destroy (&cl);
    return 0;
}

static int do_list (int argc, char **argv)
{
    long rank = -1;
    bool as_json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--json"))
            as_json = true;
        else if ((!strcmp (argv[i], "--rank") || !strcmp (argv[i], "-r")) && i + 1 < argc)
            rank = parse_rank (argv[++i], "rank");
        else
            die ("archive list: unknown argument '%s'", argv[i]);
    }
    client_t *cl = cmd_connect ();
    char err[512];
    json_t *o = client_call (cl, rank < 0 ? CANOPY_RANK_ANY : (uint32_t)rank, "archive.list", json_object (),
                             30000, err, sizeof err);
    if (!o)
        die ("archive list: %s", err);
    json_t *l = json_object_get (o, "archives");
    if (as_json) {
        char *s = json_dumps (l, JSON_INDENT (1));
        printf ("%s\n", s);
        free (s);
    }
    else {
        printf ("%-32s %12s %8s %-9s %s\n", "NAME", "SIZE", "CHUNKS", "MODE", "STATE");
        size_t i;
        json_t *a;
        json_array_foreach (l, i, a) {
            const char *name = "?", *mode = "", *state = "ok", *damage = NULL;
            json_int_t size = 0, chunks = 0;
            json_unpack (a, "{s?s s?I s?I s?s s?s s?s}", "name", &name, "size", &size, "chunks", &chunks,
                         "mode", &mode, "state", &state, "damage", &damage);
            const char *cut = damage ? strstr (damage, " is damaged: ") : NULL;
            if (cut)
                damage = cut + strlen (" is damaged: ");
            printf ("%-32s %10.1fMi %8lld %-9s %s%s%s\n", name, size / 1048576.0, (long long)chunks, mode,
                    state, damage ? ": " : "", damage ? damage : "");
        }
    }
    json_decref (o);
    client_destroy (&cl);
    return 0;
}

/* remove / purge: the same request to every selected rank */
static int fanout (const char *verb, const char *topic, json_t *payload, const char *rspec)
{
    client_t *cl = cmd_connect ();
    uint32_t size = cmd_instance_size (cl);
    idset_t *ranks = cmd_ranks (rspec ? rspec : "all", size);
    size_t n = 0, ok = 0, absent = 0, failed = 0;
    for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r), n++)
        cmd_send (cl, r, topic, json_incref (payload), 0);
    for (size_t i = 0; i < n; i++) {
        cmsg_t m;
        if (client_stream_next (cl, 0, &m, 30000, NULL, 0) < 0) {
            fprintf (stderr, "canopy: archive %s: %zu ranks did not answer\n", verb, n - i);
            failed += n - i;
            break;
        }
        if (m.hdr.errnum == 0)
            ok++;
        else if (m.hdr.errnum == ENOENT)
            absent++;
        else {
            failed++;
            fprintf (stderr, "canopy: archive %s: rank %u: %s\n", verb, m.hdr.src, client_errstr (&m));
        }
        client_msg_clear (&m);
    }
    json_decref (payload);
    idset_destroy (&ranks);
    client_destroy (&cl);
    if (!strcmp (verb, "remove") && ok == 0 && failed == 0)
        die ("archive remove: no such archive on any selected rank");
    printf ("archive %s: %zu ranks done%s\n", verb, ok, absent ? " (absent on the others)" : "");
    return failed ? 1 : 0;
}

static void progress_bar (json_t *p, double t0)
{
    json_int_t bytes = 0, total = 0, done = 0, ranks = 0, failed = 0;
    json_unpack (p, "{s:I s:I s:I s:I s:I}", "bytes", &bytes, "total", &total, "done", &done, "ranks",
                 &ranks, "failed", &failed);
    double el = cmd_now () - t0;
    double rate = el > 0 ? bytes / el : 0;
    double frac = total ? (double)bytes / total : 1;
    int w = 30, fill = frac * w;
    char bar[64];
    for (int i = 0; i < w; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[w] = '\0';
    double eta = rate > 0 ? (total - bytes) / rate : 0;
    fprintf (stderr, "\r[%s] %7.1f/%.1f MiB %8.1f MiB/s ETA %4.0fs ranks %lld/%lld%s ", bar,
             bytes / 1048576.0, total / 1048576.0, rate / 1048576.0, eta, (long long)done,
             (long long)ranks, failed ? " (failures)" : "");
}

static int do_distribute (int argc, char **argv)
{
    static struct option opts[] = {
        { "name", required_argument, 0, 'n' },     { "directory", required_argument, 0, 'C' },
        { "rank", required_argument, 0, 'r' },     { "leaves", no_argument, 0, 'L' },
        { "level", required_argument, 0, 'l' },    { "staged", required_argument, 0, 's' },
        { "schedule", required_argument, 0, 'S' }, { "from", required_argument, 0, 'F' },
        { "window", required_argument, 0, 'w' },   { "json", no_argument, 0, 'j' },
        { "no-progress", no_argument, 0, 'q' },    { "data-plane", required_argument, 0, 'D' },
        { "unit-size", required_argument, 0, 'U' }, { 0, 0, 0, 0 },
    };
    const char *name = NULL, *dest = NULL, *rspec = NULL, *schedule = NULL, *plane = "sealed";
    bool leaves = false, as_json = false, quiet = false;
    long level = -1, staged = 0, from = -1, window = 8;
    uint64_t unit = UINT64_MAX;   /* the broker chooses */
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "n:C:r:", opts, NULL)) != -1) {
        switch (c) {
        case 'n': name = optarg; break;
        case 'C': dest = optarg; break;
        case 'r': rspec = optarg; break;
        case 'L': leaves = true; break;
        case 'l': level = parse_rank (optarg, "level"); break;
        case 's':
            staged = parse_rank (optarg, "staged level");
            if (staged < 1)
                die ("archive distribute: --staged LEVEL must be at least 1");
            break;
        case 'S':
            schedule = optarg;
            if (strcmp (schedule, "chain") && strcmp (schedule, "tree") && strcmp (schedule, "flat")
                && strcmp (schedule, "twotree"))
                die ("archive distribute: unknown schedule '%s' (chain, tree, flat or twotree)", schedule);
            break;
        case 'F': from = parse_rank (optarg, "rank"); break;
        case 'w':
            window = parse_rank (optarg, "window");
            if (window < 1 || window > 256)
                die ("archive distribute: --window must be 1-256");
            break;
        case 'j': as_json = true; break;
        case 'q': quiet = true; break;
        case 'U':
            if (cmd_parse_size (optarg, &unit) < 0 || (unit && (unit < (16u << 10) || unit > (64u << 20))))
                die ("archive distribute: invalid --unit-size '%s' (0, or 16K-64M)", optarg);
            break;
        case 'D':
            plane = optarg;
            if (strcmp (plane, "sealed") && strcmp (plane, "curve"))
                die ("archive distribute: unknown data plane '%s' (sealed or curve)", plane);
            break;
        default: usage (stderr); return 1;
        }
    }
    if (!name || !dest)
        die ("archive distribute: --name and -C DIR are required");
    if (!dest[0])
        die ("archive distribute: -C DIR must not be empty (use -C . for the current directory)");
    if ((rspec != NULL) + leaves + (level >= 0) > 1)
        die ("archive distribute: use only one of -r, --leaves and --level");
    char absdest[PATH_MAX];
    dest = absolute (dest, absdest, sizeof absdest, "distribute");
    client_t *cl = cmd_connect ();
    topo_t *t = instance_topo (cl);
    uint32_t size = topo_size (t);
    if (from >= (long)size)
        die ("archive distribute: rank %ld is not in this instance (size %u)", from, size);
    if (staged > (long)topo_height (t))
        die ("archive distribute: --staged %ld: the tree has only %u levels below the root", staged,
             topo_height (t));
    idset_t *ranks;
    if (leaves || level >= 0) {
        ranks = idset_new ();
        for (uint32_t r = 0; r < size; r++)
            if (leaves ? topo_is_leaf (t, r) && r != 0 : topo_level (t, r) == (uint32_t)level)
                idset_set (ranks, r);
        if (idset_count (ranks) == 0)
            die ("archive distribute: no rank at level %ld (height %u)", level, topo_height (t));
    }
    else
        ranks = cmd_ranks (rspec ? rspec : "all", size);
    json_t *targets = json_array ();
    for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r))
        json_array_append_new (targets, json_integer (r));
    bool tty = isatty (2) && !quiet && !as_json;
    json_t *req = json_pack ("{s:s s:s s:o s:s* s:I s:I s:s}", "name", name, "dest", dest, "targets", targets,
                             "schedule", schedule, "window", (json_int_t)window, "staged", (json_int_t)staged,
                             "data_plane", plane);
    if (unit != UINT64_MAX)
        json_object_set_new (req, "unit", json_integer ((json_int_t)unit));
    json_t *result = cmd_follow_distribute (cl, from < 0 ? CANOPY_RANK_ANY : (uint32_t)from, req,
                                            "archive distribute", tty ? progress_bar : NULL);
    json_int_t okn = 0, failed = 0, bytes = 0;
    double secs = 0;
    json_unpack (result, "{s:I s:I s:I s:F}", "ok", &okn, "failed", &failed, "bytes", &bytes, "seconds", &secs);
    if (as_json) {
        char *s = json_dumps (result, JSON_INDENT (1));
        printf ("%s\n", s);
        free (s);
    }
    else {
        json_t *rk = json_object_get (result, "ranks");
        printf ("%-6s %-6s %9s  %s\n", "RANK", "STATUS", "SECONDS", "NOTE");
        for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r)) {
            char key[16];
            snprintf (key, sizeof key, "%u", r);
            json_t *e = json_object_get (rk, key);
            int okv = 0;
            double s = 0;
            const char *error = NULL;
            json_unpack (e, "{s:b s:F s?s}", "ok", &okv, "seconds", &s, "error", &error);
            printf ("%-6u %-6s %9.3f  %s\n", r, okv ? "ok" : "FAILED", s, error ? error : "");
        }
        const char *used = NULL;
        json_int_t usz = 0;
        json_unpack (result, "{s:s s?I}", "schedule", &used, "unit", &usz);
        char ustr[48] = "";
        if (usz)
            snprintf (ustr, sizeof ustr, ", units of %lld KiB", (long long)(usz >> 10));
        printf ("distributed %s (%.1f MiB%s) to %lld of %lld ranks in %.3f s (%.1f MiB/s per rank, %s)%s\n",
                name, bytes / 1048576.0, ustr, (long long)okn, (long long)(okn + failed), secs,
                secs > 0 ? bytes / secs / 1048576.0 : 0.0, used ? used : "?", failed ? "; some ranks FAILED" : "");
    }
    json_decref (result);
    idset_destroy (&ranks);
    topo_destroy (&t);
    client_destroy (&cl);
    return failed ? 1 : 0;
}

int cmd_archive (int argc, char **argv)
{
    if (argc < 2) {
        usage (stderr);
        return 1;
    }
    const char *verb = argv[1];
    if (cmd_help_asked (argc, argv)) {   /* canopy archive VERB --help */
        usage (stdout);
        return 0;
    }
    if (!strcmp (verb, "create"))
        return do_create (argc - 1, argv + 1);
    if (!strcmp (verb, "extract"))
        return do_extract (argc - 1, argv + 1);
    if (!strcmp (verb, "distribute"))
        return do_distribute (argc - 1, argv + 1);
    if (!strcmp (verb, "list"))
        return do_list (argc - 1, argv + 1);
    if (!strcmp (verb, "remove") || !strcmp (verb, "purge")) {
        const char *name = NULL, *rspec = NULL;
        for (int i = 2; i < argc; i++) {
            if ((!strcmp (argv[i], "--name") || !strcmp (argv[i], "-n")) && i + 1 < argc)
                name = argv[++i];
            else if ((!strcmp (argv[i], "-r") || !strcmp (argv[i], "--rank")) && i + 1 < argc)
                rspec = argv[++i];
            else
                die ("archive %s: unknown argument '%s'", verb, argv[i]);
        }
        if (!strcmp (verb, "remove")) {
            if (!name)
                die ("archive remove: --name is required");
            return fanout ("remove", "archive.remove", json_pack ("{s:s}", "name", name), rspec);
        }
        return fanout ("purge", "archive.purge", json_object (), rspec);
    }
    if (!strcmp (verb, "-h") || !strcmp (verb, "--help")) {
        usage (stdout);
        return 0;
    }
    fprintf (stderr, "canopy: archive: unknown verb '%s'\n", verb);
    usage (stderr);
    return 1;
}
