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

static void usage (FILE *f)
{
    fprintf (f,
             "Usage: canopy image pull REF [--plain-http] [--platform OS/ARCH[/VARIANT]]\n"
             "                         [--user USER:PASS | --authfile FILE] [--rank R] [--json]\n"
             "       canopy image import FILE|DIR [--name REF] [--platform OS/ARCH] [--rank R] [--json]\n"
             "       canopy image list [--rank R] [--json]\n"
             "       canopy image remove REF [--rank R]\n"
             "REF is [REGISTRY/]REPO[:TAG][@sha256:HEX] (docker.io, library/ and :latest by default).\n"
             "pull fetches from a registry (TLS verified; --plain-http for a registry on http://);\n"
             "import reads an OCI layout directory, an oci-archive or a docker-archive.\n"
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

enum { O_PLAIN = 1000, O_PLATFORM, O_USER, O_AUTHFILE, O_NAME, O_RANK, O_JSON, O_HELP };

static struct option opts[] = {
    { "plain-http", no_argument, 0, O_PLAIN },      { "platform", required_argument, 0, O_PLATFORM },
    { "user", required_argument, 0, O_USER },       { "authfile", required_argument, 0, O_AUTHFILE },
    { "name", required_argument, 0, O_NAME },       { "rank", required_argument, 0, O_RANK },
    { "json", no_argument, 0, O_JSON },             { "help", no_argument, 0, O_HELP },
    { 0, 0, 0, 0 },
};

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
    if (strcmp (verb, "pull") && strcmp (verb, "import") && strcmp (verb, "list") && strcmp (verb, "remove"))
        die ("image: unknown verb '%s' (pull, import, list, remove; see canopy image --help)", verb);
    int plain = 0, json = 0;
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
        if (json)
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
