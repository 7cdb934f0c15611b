/* cmd_image.c - canopy image pull|import|list|remove: thin front end, one
 * request to the local broker (or --rank R) per verb (doc/images.md). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmd.h"
#include "ociauth.h"
#include "ociref.h"
#include "topo.h"
#include "xalloc.h"

static void usage (FILE *f)
{
    fprintf (f,
             "Usage: canopy image pull REF [--plain-http] [--platform OS/ARCH[/VARIANT]]\n"
             "                         [--user USER:PASS | --authfile FILE] [--rank R] [--json]\n"
             "       canopy image import FILE|DIR [--name REF] [--platform OS/ARCH] [--rank R] [--json]\n"
             "       canopy image list [--rank R] [--json] [--mirror-stats]\n"
             "       canopy image remove REF [--rank R]\n"
             "       canopy image distribute REF [-r IDSET | --leaves] [--from R] [--schedule S] [--window N]\n"
             "                         [--containerd [--namespace NS] [--address SOCK]] [--json] [--no-progress]\n"
             "       canopy image mirror --containerd [--config-path DIR] [--listen [ADDR:]PORT] [--plain-http]\n"
             "                         [-r IDSET] [--remove] REGISTRY...\n"
             "REF is [REGISTRY/]REPO[:TAG][@sha256:HEX] (docker.io, library/ and :latest by default).\n"
             "pull fetches from a registry (TLS verified; --plain-http for a registry on http://);\n"
             "import reads an OCI layout directory, an oci-archive or a docker-archive.\n"
             "distribute sends the image from rank R's store (the local broker's by default) to every target's\n"
             "store through the archive distribution (blobs a target holds are not sent); --containerd also\n"
             "imports it into each target's containerd (default socket " "/run/containerd/containerd.sock" ", namespace k8s.io).\n"
             "mirror serves each selected broker's store read-only over the registry API (port 5050 by default)\n"
             "and writes containerd's DIR/REGISTRY/hosts.toml (DIR default /etc/containerd/certs.d) to use it,\n"
             "keeping a backup of the previous file; --remove puts it back.\n"
             "--authfile is Docker's config.json format ({\"auths\":{HOST:{\"auth\":base64(user:pass)}}}).\n");
}

static long parse_rank (const char *s)
{
    char *end;
    long r = strtol (s, &end, 10);
    if (*end || end == s || r < 0 || r > (long)UINT32_MAX - 1)
        die ("image: invalid rank '%s'", s);
    return r;
}

static uint32_t rank_of (long r)
{
    return r < 0 ? CANOPY_RANK_ANY : (uint32_t)r;
}

static void human (double b, char *buf, size_t len)
{
    const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    snprintf (buf, len, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

enum { O_PLAIN = 1000, O_PLATFORM, O_USER, O_AUTHFILE, O_NAME, O_RANK, O_JSON, O_HELP, O_MSTATS };

static struct option opts[] = {
    { "plain-http", no_argument, 0, O_PLAIN },      { "platform", required_argument, 0, O_PLATFORM },
    { "user", required_argument, 0, O_USER },       { "authfile", required_argument, 0, O_AUTHFILE },
    { "name", required_argument, 0, O_NAME },       { "rank", required_argument, 0, O_RANK },
    { "json", no_argument, 0, O_JSON },             { "help", no_argument, 0, O_HELP },
    { "mirror-stats", no_argument, 0, O_MSTATS },
    { 0, 0, 0, 0 },
};

static int do_distribute (int argc, char **argv);
static int do_mirror (int argc, char **argv);

int cmd_image (int argc, char **argv)
{
    if (argc < 2) {
        usage (stderr);
        return 1;
    }
    const char *verb = argv[1];
    if (!strcmp (verb, "-h") || !strcmp (verb, "--help") || !strcmp (verb, "help")) {
        usage (stdout);
        return 0;
    }
    if (!strcmp (verb, "distribute"))
        return do_distribute (argc - 1, argv + 1);
    if (!strcmp (verb, "mirror"))
        return do_mirror (argc - 1, argv + 1);
    if (strcmp (verb, "pull") && strcmp (verb, "import") && strcmp (verb, "list") && strcmp (verb, "remove"))
        die ("image: unknown verb '%s' (pull, import, list, remove, distribute; see canopy image --help)", verb);
    int plain = 0, json = 0, mstats = 0;
    const char *platform = NULL, *userpass = NULL, *authfile = NULL, *name = NULL;
    long rank = -1;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long (argc - 1, argv + 1, "r:h", opts, NULL)) != -1) {
        switch (c) {
        case O_PLAIN: plain = 1; break;
        case O_PLATFORM: platform = optarg; break;
        case O_USER: userpass = optarg; break;
        case O_AUTHFILE: authfile = optarg; break;
        case O_NAME: name = optarg; break;
        case 'r': case O_RANK: rank = parse_rank (optarg); break;
        case O_JSON: json = 1; break;
        case O_MSTATS: mstats = 1; break;
        case 'h': case O_HELP: usage (stdout); return 0;
        default:
            die ("image %s: unknown or incomplete option '%s' (see canopy image --help)", verb,
                 (argv + 1)[optind - 1 > 0 ? optind - 1 : 1]);
        }
    }
    char **args = argv + 1 + optind;
    int nargs = argc - 1 - optind;
    int want = !strcmp (verb, "list") ? 0 : 1;
    if (nargs != want)
        die ("image %s: %s", verb, want ? "needs exactly one argument (see canopy image --help)" : "takes no arguments");
    client_t *cl = cmd_connect ();
    char err[1024];
    json_t *o;
    if (!strcmp (verb, "pull")) {
        const char *ref = args[0];
        ociref_t r;
        if (ociref_parse (ref, &r, err, sizeof err) < 0)
            die ("image pull: %s", err);
        char user[512] = "", pass[512] = "";
        if (userpass) {
            const char *colon = strchr (userpass, ':');
            if (!colon || colon == userpass || (size_t)(colon - userpass) >= sizeof user || strlen (colon + 1) >= sizeof pass)
                die ("image pull: --user wants USER:PASSWORD");
            memcpy (user, userpass, colon - userpass);
            strcpy (pass, colon + 1);
        }
        else if (authfile) {
            size_t len;
            char *text = cmd_read_file (authfile, &len);
            if (!text)
                die ("image pull: cannot read %s: %s", authfile, strerror (errno));
            int f = ociauth_lookup (text, len, r.domain, user, sizeof user, pass, sizeof pass, err, sizeof err);
            free (text);
            if (f < 0)
                die ("image pull: %s: %s", authfile, err);
            if (f == 0)
                die ("image pull: %s has no credentials for %s", authfile, r.domain);
        }
        json_t *req = json_pack ("{s:s s:b}", "ref", ref, "plain_http", plain);
        if (platform)
            json_object_set_new (req, "platform", json_string (platform));
        if (user[0]) {
            json_object_set_new (req, "user", json_string (user));
            json_object_set_new (req, "password", json_string (pass));
        }
        memset (pass, 0, sizeof pass);
        o = client_call (cl, rank_of (rank), "image.pull", req, -1, err, sizeof err);
        if (!o)
            die ("image pull: %s", err);
        char sz[32], by[32];
        human (json_integer_value (json_object_get (o, "size")), sz, sizeof sz);
        human (json_integer_value (json_object_get (o, "bytes")), by, sizeof by);
        if (json)
            json_dumpf (o, stdout, JSON_INDENT (2)), putchar ('\n');
        else
            printf ("%s: %s, %s, %lld layers; %lld blobs fetched (%s), %lld already here, %.2f s\n",
                    json_string_value (json_object_get (o, "ref")), json_string_value (json_object_get (o, "digest")), sz,
                    (long long)json_integer_value (json_object_get (o, "layers")),
                    (long long)json_integer_value (json_object_get (o, "fetched")), by,
                    (long long)json_integer_value (json_object_get (o, "present")),
                    json_real_value (json_object_get (o, "seconds")));
    }
    else if (!strcmp (verb, "import")) {
        char abs[PATH_MAX];
        if (!realpath (args[0], abs))
            die ("image import: %s: %s", args[0], strerror (errno));
        json_t *req = json_pack ("{s:s}", "path", abs);
        if (name)
            json_object_set_new (req, "name", json_string (name));
        if (platform)
            json_object_set_new (req, "platform", json_string (platform));
        o = client_call (cl, rank_of (rank), "image.import", req, -1, err, sizeof err);
        if (!o)
            die ("image import: %s", err);
        if (json)
            json_dumpf (o, stdout, JSON_INDENT (2)), putchar ('\n');
        else {
            size_t i;
            json_t *e;
            json_array_foreach (json_object_get (o, "images"), i, e) {
                char sz[32];
                human (json_integer_value (json_object_get (e, "size")), sz, sizeof sz);
                printf ("imported %s: %s, %s, %lld layers\n", json_string_value (json_object_get (e, "ref")),
                        json_string_value (json_object_get (e, "digest")), sz,
                        (long long)json_integer_value (json_object_get (e, "layers")));
            }
        }
    }
    else if (!strcmp (verb, "list")) {
        o = client_call (cl, rank_of (rank), "image.list", json_object (), 30000, err, sizeof err);
        if (!o)
            die ("image list: %s", err);
        json_t *ms = json_object_get (o, "mirror");
        if (mstats && !ms)
            die ("image list: rank %lld serves no mirror (canopy image mirror starts it)",
                 (long long)json_integer_value (json_object_get (o, "rank")));
        if (mstats && json)
            json_dumpf (ms, stdout, JSON_INDENT (2)), putchar ('\n');
        else if (mstats) {
            const char *last = json_string_value (json_object_get (ms, "last_fallthrough"));
            printf ("mirror %s: %lld requests, %lld manifests and %lld blobs served (%lld bytes), %lld fell through "
                    "to the registry%s%s\n",
                    json_string_value (json_object_get (ms, "url")),
                    (long long)json_integer_value (json_object_get (ms, "requests")),
                    (long long)json_integer_value (json_object_get (ms, "manifests")),
                    (long long)json_integer_value (json_object_get (ms, "blobs")),
                    (long long)json_integer_value (json_object_get (ms, "bytes")),
                    (long long)json_integer_value (json_object_get (ms, "fallthrough")), last && *last ? " (last: " : "",
                    last && *last ? last : "");
            if (last && *last)
                printf (")\n");
        }
        else if (json)
            json_dumpf (o, stdout, JSON_INDENT (2)), putchar ('\n');
        else {
            printf ("%-50s %-19s %10s %6s\n", "REFERENCE", "DIGEST", "SIZE", "LAYERS");
            size_t i;
            json_t *e;
            json_array_foreach (json_object_get (o, "images"), i, e) {
                const char *d = json_string_value (json_object_get (e, "digest"));
                char sz[32], shortd[20];
                human (json_integer_value (json_object_get (e, "size")), sz, sizeof sz);
                snprintf (shortd, sizeof shortd, "%.19s", d ? d : "");
                printf ("%-50s %-19s %10s %6lld\n", json_string_value (json_object_get (e, "ref")), shortd, sz,
                        (long long)json_integer_value (json_object_get (e, "layers")));
            }
        }
    }
    else {
        ociref_t r;
        char full[4 * OCIREF_MAX];
        if (ociref_parse (args[0], &r, err, sizeof err) < 0)
            die ("image remove: %s", err);
        ociref_format (&r, full, sizeof full);
        o = client_call (cl, rank_of (rank), "image.remove", json_pack ("{s:s}", "ref", full), 30000, err, sizeof err);
        if (!o)
            die ("image remove: %s", err);
        printf ("removed %s (%lld blobs freed%s)\n", full,
                (long long)json_integer_value (json_object_get (o, "blobs_removed")),
                json_is_true (json_object_get (o, "gc_deferred")) ? "; collection deferred: a pull is running" : "");
    }
    json_decref (o);
    client_destroy (&cl);
    return 0;
}

/* ================= distribute ================= */

/* the canonical form of a reference (as the store names images) */
static void canonical (const char *ref, char *out, size_t len, const char *verb)
{
    ociref_t r;
    char err[512];
    if (ociref_parse (ref, &r, err, sizeof err) < 0)
        die ("image %s: %s", verb, err);
    ociref_format (&r, out, len);
}

/* Send one request to each rank of ranks and collect the answers into
 * out[rank] (NULL for a failure, whose message goes to errs[rank]). */
static void fanout (client_t *cl, const idset_t *ranks, const char *topic, json_t *payload, json_t **out,
                    char **errs, int timeout_ms)
{
    size_t n = 0;
    for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r), n++)
        cmd_send (cl, r, topic, json_incref (payload), 0);
    json_decref (payload);
    for (size_t i = 0; i < n; i++) {
        cmsg_t m;
        int rc = client_stream_next (cl, 0, &m, timeout_ms, NULL, 0);
        if (rc == 0) {   /* the end of some stream: not an answer */
            client_msg_clear (&m);
            i--;
            continue;
        }
        if (rc < 0) {
            for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r))
                if (!out[r] && !errs[r])
                    errs[r] = xasprintf ("no answer to %s", topic);
            return;
        }
        uint32_t r = m.hdr.src;
        if (r < idset_last (ranks) + 1 && idset_test (ranks, r) && !out[r] && !errs[r]) {
            if (m.hdr.errnum)
                errs[r] = xstrdup (client_errstr (&m));
            else
                out[r] = json_incref (m.json);
        }
        else
            i--;   /* a stray answer */
        client_msg_clear (&m);
    }
}

/* Replace every "{rank}" in tmpl: as the archive service does. */
static char *subst_rank (const char *tmpl, uint32_t rank)
{
    char num[16];
    snprintf (num, sizeof num, "%u", rank);
    size_t cap = strlen (tmpl) * 4 + 32, o = 0;
    char *out = xmalloc (cap);
    for (const char *p = tmpl; *p;) {
        if (!strncmp (p, "{rank}", 6)) {
            o += snprintf (out + o, cap - o, "%s", num);
            p += 6;
        }
        else
            out[o++] = *p++;
    }
    out[o] = '\0';
    return out;
}

static int tmpl_fits (const char *tmpl, char **dirs, const idset_t *ranks)
{
    for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r)) {
        char *d = subst_rank (tmpl, r);
        int same = !strcmp (d, dirs[r]);
        free (d);
        if (!same)
            return 0;
    }
    return 1;
}

/* One destination for every target's store, with {rank} where the paths
 * differ by the rank (several brokers on one host); NULL if none fits. */
static char *dest_template (char **dirs, const idset_t *ranks)
{
    uint32_t r0 = idset_first (ranks);
    const char *d0 = dirs[r0];
    if (strstr (d0, "{rank}"))
        return NULL;
    if (tmpl_fits (d0, dirs, ranks))
        return xstrdup (d0);
    char num[16];
    snprintf (num, sizeof num, "%u", r0);
    size_t nl = strlen (num);
    /* the rank's digits standing alone (not inside a longer number): try
     * each occurrence, then all of them */
    const char *occ[64];
    size_t nocc = 0;
    for (const char *p = strstr (d0, num); p && nocc < 64; p = strstr (p + 1, num))
        if ((p == d0 || !(p[-1] >= '0' && p[-1] <= '9')) && !(p[nl] >= '0' && p[nl] <= '9'))
            occ[nocc++] = p;
    for (size_t k = 0; k <= nocc; k++) {
        if (k == nocc && nocc < 2)
            break;
        size_t cap = strlen (d0) + 8 * (nocc + 1), o = 0;
        char *t = xmalloc (cap);
        const char *p = d0;
        while (*p) {
            int hit = 0;
            for (size_t q = 0; q < nocc; q++)
                if (p == occ[q] && (k == nocc || q == k))
                    hit = 1;
            if (hit) {
                o += snprintf (t + o, cap - o, "{rank}");
                p += nl;
            }
            else
                t[o++] = *p++;
        }
        t[o] = '\0';
        if (tmpl_fits (t, dirs, ranks))
            return t;
        free (t);
    }
    return NULL;
}

static void progress_line (json_t *p, double t0)
{
    json_int_t bytes = 0, total = 0, done = 0, ranks = 0;
    json_unpack (p, "{s:I s:I s:I s:I}", "bytes", &bytes, "total", &total, "done", &done, "ranks", &ranks);
    double el = cmd_now () - t0;
    fprintf (stderr, "\r%7.1f/%.1f MiB %8.1f MiB/s ranks %lld/%lld ", bytes / 1048576.0, total / 1048576.0,
             el > 0 ? bytes / el / 1048576.0 : 0.0, (long long)done, (long long)ranks);
}

static int do_distribute (int argc, char **argv)
{
    enum { D_LEAVES = 2000, D_FROM, D_SCHED, D_WINDOW, D_CTR, D_NS, D_ADDR, D_JSON, D_QUIET, D_PLANE };
    static struct option dopts[] = {
        { "rank", required_argument, 0, 'r' },        { "leaves", no_argument, 0, D_LEAVES },
        { "from", required_argument, 0, D_FROM },     { "schedule", required_argument, 0, D_SCHED },
        { "window", required_argument, 0, D_WINDOW }, { "containerd", no_argument, 0, D_CTR },
        { "namespace", required_argument, 0, D_NS },  { "address", required_argument, 0, D_ADDR },
        { "json", no_argument, 0, D_JSON },           { "no-progress", no_argument, 0, D_QUIET },
        { "data-plane", required_argument, 0, D_PLANE }, { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *rspec = NULL, *schedule = NULL, *ns = NULL, *addr = NULL, *plane = "sealed";
    bool leaves = false, ctr = false, as_json = false, quiet = false;
    long from = -1, window = 8;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long (argc, argv, "r:h", dopts, NULL)) != -1) {
        switch (c) {
        case 'r': rspec = optarg; break;
        case D_LEAVES: leaves = true; break;
        case D_FROM: from = parse_rank (optarg); break;
        case D_SCHED:
            schedule = optarg;
            if (strcmp (schedule, "chain") && strcmp (schedule, "tree") && strcmp (schedule, "flat")
                && strcmp (schedule, "twotree"))
                die ("image distribute: unknown schedule '%s' (chain, tree, flat or twotree)", schedule);
            break;
        case D_WINDOW:
            window = parse_rank (optarg);
            if (window < 1 || window > 256)
                die ("image distribute: --window must be 1-256");
            break;
        case D_CTR: ctr = true; break;
        case D_NS: ns = optarg; break;
        case D_ADDR: addr = optarg; break;
        case D_JSON: as_json = true; break;
        case D_QUIET: quiet = true; break;
        case D_PLANE:
            plane = optarg;
            if (strcmp (plane, "sealed") && strcmp (plane, "curve"))
                die ("image distribute: unknown data plane '%s' (sealed or curve)", plane);
            break;
        case 'h': usage (stdout); return 0;
        default:
            die ("image distribute: unknown or incomplete option '%s' (see canopy image --help)",
                 argv[optind - 1 > 0 ? optind - 1 : 1]);
        }
    }
    if (argc - optind != 1)
        die ("image distribute: needs exactly one image reference (see canopy image --help)");
    if ((ns || addr) && !ctr)
        die ("image distribute: --namespace and --address go with --containerd");
    if (rspec && leaves)
        die ("image distribute: use only one of -r and --leaves");
    if (ns && (!*ns || strlen (ns) > 76 || strspn (ns, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen (ns)))
        die ("image distribute: invalid containerd namespace '%s'", ns);
    if (addr && addr[0] != '/')
        die ("image distribute: --address wants the absolute path of containerd's socket");
    char ref[4 * OCIREF_MAX], err[1024];
    canonical (argv[optind], ref, sizeof ref, "distribute");
    client_t *cl = cmd_connect ();
    double t0 = cmd_now ();

    /* the instance: size, our rank, the tree (for --leaves) */
    json_t *st = client_call (cl, CANOPY_RANK_ANY, "overlay.status", json_object (), 10000, err, sizeof err);
    json_t *st0 = st ? client_call (cl, 0, "overlay.status", json_object (), 10000, err, sizeof err) : NULL;
    json_int_t me = 0, size = 0;
    const char *spec = "kary:2";
    if (!st || !st0 || json_unpack (st, "{s:I}", "rank", &me) < 0
        || json_unpack (st0, "{s:I s?s}", "size", &size, "topology", &spec) < 0 || size < 1)
        die ("image distribute: %s", err[0] ? err : "bad overlay.status");
    uint32_t src = from < 0 ? (uint32_t)me : (uint32_t)from;
    if (src >= (uint32_t)size)
        die ("image distribute: rank %u is not in this instance (size %lld)", src, (long long)size);
    idset_t *ranks;
    if (leaves) {
        json_t *parents = json_object_get (st0, "parents");
        uint32_t *par = xcalloc ((size_t)size, sizeof (uint32_t));
        for (json_int_t r = 1; r < size; r++)
            par[r] = json_integer_value (json_array_get (parents, r));
        topo_t *t = topo_create (spec, (uint32_t)size, par, err, sizeof err);
        free (par);
        if (!t)
            die ("image distribute: %s", err);
        ranks = idset_new ();
        for (uint32_t r = 1; r < (uint32_t)size; r++)
            if (topo_is_leaf (t, r))
                idset_set (ranks, r);
        topo_destroy (&t);
    }
    else
        ranks = cmd_ranks (rspec ? rspec : "all", (uint32_t)size);
    json_decref (st);
    json_decref (st0);
    /* the source has it: not a target, but with --containerd its own
     * containerd gets it too when it was named */
    bool src_ctr = ctr && idset_test (ranks, src);
    idset_clear (ranks, src);
    if (idset_count (ranks) == 0 && !src_ctr)
        die ("image distribute: no target rank other than the source (rank %u)", src);
    size_t nt = idset_count (ranks) + (src_ctr ? 1 : 0);

    /* 1. the image at the source, each blob re-hashed there */
    json_t *man = client_call (cl, src, "image.manifest", json_pack ("{s:s s:b}", "ref", ref, "verify", 1), -1, err,
                               sizeof err);
    if (!man)
        die ("image distribute: rank %u: %s", src, err);
    json_t *blobs = json_object_get (man, "blobs");
    const char *srcdir = json_string_value (json_object_get (man, "dir"));

    /* 2. what each target lacks, and where its store is */
    json_t **prep = xcalloc ((size_t)size, sizeof *prep);
    char **perr = xcalloc ((size_t)size, sizeof *perr);
    char **dirs = xcalloc ((size_t)size, sizeof *dirs);
    fanout (cl, ranks, "image.prepare", json_pack ("{s:O}", "blobs", blobs), prep, perr, 30000);
    idset_t *need = idset_new ();     /* targets missing something */
    idset_t *live = idset_new ();     /* targets that answered */
    json_t *union_missing = json_object ();
    for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r)) {
        if (!prep[r])
            continue;
        idset_set (live, r);
        dirs[r] = xstrdup (json_string_value (json_object_get (prep[r], "dir")) ?: "");
        json_t *miss = json_object_get (prep[r], "missing");
        if (json_array_size (miss))
            idset_set (need, r);
        size_t i;
        json_t *d;
        json_array_foreach (miss, i, d)
            json_object_set_new (union_missing, json_string_value (d), json_true ());
    }
    /* the blobs to send: those some target lacks, in the image's order */
    json_t *paths = json_array ();
    json_int_t send_bytes = 0, nsend = 0;
    {
        size_t i;
        json_t *b;
        json_array_foreach (blobs, i, b) {
            const char *d = json_string_value (json_object_get (b, "digest"));
            if (json_object_get (union_missing, d)) {
                json_array_append_new (paths, json_sprintf ("blobs/sha256/%s", d + 7));
                send_bytes += json_integer_value (json_object_get (b, "size"));
                nsend++;
            }
        }
    }
    json_decref (union_missing);

    /* 3. one archive of those blobs (referenced in place in the source's
     * store), distributed to the targets that lack some */
    json_t *dres = NULL;
    char aname[64] = "";
    const char *schedule_used = "none";
    if (idset_count (need) > 0) {
        char *tmpl = dest_template (dirs, need);
        if (!tmpl) {
            uint32_t a = idset_first (need), b = idset_next (need, a);
            die ("image distribute: the targets' image stores are not at one path (rank %u: %s; rank %u: %s): every "
                 "node needs the same state directory, or one differing only by its rank",
                 a, dirs[a], b, b != IDSET_INVALID ? dirs[b] : "");
        }
        const char *dg = json_string_value (json_object_get (man, "digest"));
        unsigned rnd = 0;
        FILE *ur = fopen ("/dev/urandom", "rb");
        if (!ur || fread (&rnd, sizeof rnd, 1, ur) != 1)
            rnd = (unsigned)getpid () ^ (unsigned)(cmd_now () * 1e6);
        if (ur)
            fclose (ur);
        snprintf (aname, sizeof aname, "image-%.12s-%08x", dg + 7, rnd);
        json_t *cr = client_call (cl, src, "archive.create",
                                  json_pack ("{s:s s:s s:O s:b s:b s:I}", "name", aname, "dir", srcdir, "paths",
                                             paths, "reference", 1, "replace", 1, "chunk_size", (json_int_t)0),
                                  -1, err, sizeof err);
        if (!cr)
            die ("image distribute: rank %u: cannot make the archive of the blobs: %s", src, err);
        json_decref (cr);
        json_t *targets = json_array ();
        for (uint32_t r = idset_first (need); r != IDSET_INVALID; r = idset_next (need, r))
            json_array_append_new (targets, json_integer (r));
        bool tty = isatty (2) && !quiet && !as_json;
        dres = cmd_follow_distribute (cl, src,
                                      json_pack ("{s:s s:s s:o s:s* s:I s:I s:s}", "name", aname, "dest", tmpl,
                                                 "targets", targets, "schedule", schedule, "window",
                                                 (json_int_t)window, "staged", (json_int_t)0, "data_plane", plane),
                                      "image distribute", tty ? progress_line : NULL);
        json_unpack (dres, "{s:s}", "schedule", &schedule_used);
        free (tmpl);
    }
    json_decref (paths);

    /* 4. every target that has all the blobs now records the reference
     * (and imports into containerd) */
    idset_t *adopt = idset_new ();
    json_t *drk = dres ? json_object_get (dres, "ranks") : NULL;
    char **derr = xcalloc ((size_t)size, sizeof *derr);
    double *dsecs = xcalloc ((size_t)size, sizeof *dsecs);
    for (uint32_t r = idset_first (live); r != IDSET_INVALID; r = idset_next (live, r)) {
        if (idset_test (need, r)) {
            char key[16];
            snprintf (key, sizeof key, "%u", r);
            json_t *e = json_object_get (drk, key);
            int okv = 0;
            const char *error = NULL;
            double secs = 0;
            json_unpack (e, "{s:b s?F s?s}", "ok", &okv, "seconds", &secs, "error", &error);
            dsecs[r] = secs;
            if (!okv) {
                derr[r] = xstrdup (error ? error : "distribution failed");
                continue;
            }
        }
        idset_set (adopt, r);
    }
    if (src_ctr)
        idset_set (adopt, src);
    json_t *areq = json_pack ("{s:s s:O s:O s:O s:O}", "ref", ref, "mediaType", json_object_get (man, "mediaType"),
                              "digest", json_object_get (man, "digest"), "size", json_object_get (man, "size"), "blobs",
                              blobs);
    if (ctr)
        json_object_set_new (areq, "containerd",
                             json_pack ("{s:s s:s}", "address", addr ? addr : "/run/containerd/containerd.sock",
                                        "namespace", ns ? ns : "k8s.io"));
    json_t **ares = xcalloc ((size_t)size, sizeof *ares);
    char **aerr = xcalloc ((size_t)size, sizeof *aerr);
    if (idset_count (adopt) > 0)
        fanout (cl, adopt, "image.adopt", areq, ares, aerr, 600000);
    else
        json_decref (areq);

    /* 5. drop the transfer archive everywhere it was recorded */
    if (aname[0]) {
        idset_t *rm = idset_copy (need);
        idset_set (rm, src);
        json_t **rres = xcalloc ((size_t)size, sizeof *rres);
        char **rerr = xcalloc ((size_t)size, sizeof *rerr);
        fanout (cl, rm, "archive.remove", json_pack ("{s:s}", "name", aname), rres, rerr, 30000);
        for (uint32_t r = 0; r < (uint32_t)size; r++) {
            json_decref (rres[r]);
            free (rerr[r]);
        }
        free (rres);
        free (rerr);
        idset_destroy (&rm);
    }
    double secs = cmd_now () - t0;
    if (src_ctr)
        idset_set (ranks, src);   /* reported with the targets */

    /* 6. the report */
    size_t nok = 0;
    json_t *out = json_object (), *jr = json_object ();
    for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r)) {
        const char *e = perr[r] ? perr[r] : derr[r] ? derr[r] : aerr[r];
        char key[16];
        snprintf (key, sizeof key, "%u", r);
        json_t *o = json_pack ("{s:b s:f s:I}", "ok", e == NULL, "seconds", dsecs[r], "missing",
                               (json_int_t)(prep[r] ? json_array_size (json_object_get (prep[r], "missing")) : 0));
        if (e)
            json_object_set_new (o, "error", json_string (e));
        else
            nok++;
        json_object_set_new (jr, key, o);
    }
    json_int_t total = json_integer_value (json_object_get (man, "total"));
    json_object_set_new (out, "ref", json_string (ref));
    json_object_set (out, "digest", json_object_get (man, "digest"));
    json_object_set_new (out, "source", json_integer (src));
    json_object_set_new (out, "ranks", jr);
    json_object_set_new (out, "ok", json_integer ((json_int_t)nok));
    json_object_set_new (out, "failed", json_integer ((json_int_t)(nt - nok)));
    json_object_set_new (out, "blobs", json_integer ((json_int_t)json_array_size (blobs)));
    json_object_set_new (out, "size", json_integer (total));
    json_object_set_new (out, "blobs_sent", json_integer (nsend));
    json_object_set_new (out, "bytes_sent", json_integer (send_bytes));
    json_object_set_new (out, "targets_sent", json_integer ((json_int_t)idset_count (need)));
    json_object_set_new (out, "schedule", json_string (schedule_used));
    json_object_set_new (out, "seconds", json_real (secs));
    if (ctr)
        json_object_set_new (out, "containerd", json_true ());
    if (as_json) {
        json_dumpf (out, stdout, JSON_INDENT (1));
        putchar ('\n');
    }
    else {
        printf ("%-6s %-6s %9s  %s\n", "RANK", "STATUS", "SECONDS", "NOTE");
        for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r)) {
            const char *e = perr[r] ? perr[r] : derr[r] ? derr[r] : aerr[r];
            char note[64] = "";
            if (!e && r == src)
                snprintf (note, sizeof note, "the source (imported into its containerd)");
            else if (!e && !idset_test (need, r))
                snprintf (note, sizeof note, "had every blob");
            printf ("%-6u %-6s %9.3f  %s\n", r, e ? "FAILED" : "ok", dsecs[r], e ? e : note);
        }
        char sb[32], tb[32];
        human ((double)send_bytes, sb, sizeof sb);
        human ((double)total, tb, sizeof tb);
        printf ("distributed %s (%s, %s) from rank %u to %zu of %zu ranks in %.3f s: %lld of %zu blobs sent (%s) to "
                "%zu ranks, %s%s%s\n",
                ref, json_string_value (json_object_get (man, "digest")), tb, src, nok, nt, secs, (long long)nsend,
                json_array_size (blobs), sb, idset_count (need), schedule_used,
                ctr ? ", imported into containerd" : "", nok < nt ? "; some ranks FAILED" : "");
    }
    for (uint32_t r = 0; r < (uint32_t)size; r++) {
        json_decref (prep[r]);
        json_decref (ares[r]);
        free (perr[r]);
        free (dirs[r]);
        free (derr[r]);
        free (aerr[r]);
    }
    free (prep);
    free (perr);
    free (dirs);
    free (derr);
    free (aerr);
    free (ares);
    free (dsecs);
    json_decref (out);
    json_decref (dres);
    json_decref (man);
    idset_destroy (&ranks);
    idset_destroy (&need);
    idset_destroy (&live);
    idset_destroy (&adopt);
    client_destroy (&cl);
    return nok == nt ? 0 : 1;
}

/* ================= mirror ================= */

static int do_mirror (int argc, char **argv)
{
    enum { M_CTR = 3000, M_CPATH, M_LISTEN, M_PLAIN, M_REMOVE, M_JSON };
    static struct option mopts[] = {
        { "containerd", no_argument, 0, M_CTR },      { "config-path", required_argument, 0, M_CPATH },
        { "listen", required_argument, 0, M_LISTEN }, { "plain-http", no_argument, 0, M_PLAIN },
        { "rank", required_argument, 0, 'r' },        { "remove", no_argument, 0, M_REMOVE },
        { "json", no_argument, 0, M_JSON },           { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *cpath = "/etc/containerd/certs.d", *listen = NULL, *rspec = NULL;
    bool ctr = false, plain = false, remove = false, as_json = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long (argc, argv, "r:h", mopts, NULL)) != -1) {
        switch (c) {
        case M_CTR: ctr = true; break;
        case M_CPATH: cpath = optarg; break;
        case M_LISTEN: listen = optarg; break;
        case M_PLAIN: plain = true; break;
        case 'r': rspec = optarg; break;
        case M_REMOVE: remove = true; break;
        case M_JSON: as_json = true; break;
        case 'h': usage (stdout); return 0;
        default:
            die ("image mirror: unknown or incomplete option '%s' (see canopy image --help)",
                 argv[optind - 1 > 0 ? optind - 1 : 1]);
        }
    }
    if (!ctr)
        die ("image mirror: --containerd is required (the only client configured so far)");
    if (optind >= argc)
        die ("image mirror: name at least one REGISTRY (host[:port], e.g. docker.io)");
    char abs[PATH_MAX];
    if (cpath[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd (cwd, sizeof cwd) || (size_t)snprintf (abs, sizeof abs, "%s/%s", cwd, cpath) >= sizeof abs)
            die ("image mirror: cannot make %s absolute", cpath);
        cpath = abs;
    }
    json_t *regs = json_array ();
    for (int i = optind; i < argc; i++)
        json_array_append_new (regs, json_string (argv[i]));
    json_t *req = json_pack ("{s:o s:s s:b s:b}", "registries", regs, "config_path", cpath, "plain_http", plain,
                             "remove", remove);
    if (listen)
        json_object_set_new (req, "listen", json_string (listen));
    client_t *cl = cmd_connect ();
    char err[1024];
    int failed = 0;
    json_t *all = json_array ();
    if (!rspec) {
        json_t *o = client_call (cl, CANOPY_RANK_ANY, "image.mirror", req, 30000, err, sizeof err);
        if (!o)
            die ("image mirror: %s", err);
        json_array_append_new (all, o);
    }
    else {
        idset_t *ranks = cmd_ranks (rspec, cmd_instance_size (cl));
        json_t **out = xcalloc ((size_t)idset_last (ranks) + 1, sizeof *out);
        char **errs = xcalloc ((size_t)idset_last (ranks) + 1, sizeof *errs);
        fanout (cl, ranks, "image.mirror", req, out, errs, 30000);
        for (uint32_t r = idset_first (ranks); r != IDSET_INVALID; r = idset_next (ranks, r)) {
            if (out[r])
                json_array_append_new (all, out[r]);
            else {
                fprintf (stderr, "canopy: image mirror: rank %u: %s\n", r, errs[r] ? errs[r] : "failed");
                failed = 1;
            }
            free (errs[r]);
        }
        free (out);
        free (errs);
        idset_destroy (&ranks);
    }
    if (as_json)
        json_dumpf (all, stdout, JSON_INDENT (1)), putchar ('\n');
    else {
        size_t i, k;
        json_t *o, *w;
        json_array_foreach (all, i, o) {
            const char *url = json_string_value (json_object_get (o, "url"));
            json_array_foreach (json_object_get (o, remove ? "restored" : "written"), k, w)
                printf ("rank %lld: %s%s%s%s\n", (long long)json_integer_value (json_object_get (o, "rank")),
                        remove ? "" : "wrote ", json_string_value (w), remove || !url ? "" : " for the mirror at ",
                        remove || !url ? "" : url);
        }
    }
    json_decref (all);
    client_destroy (&cl);
    return failed;
}
