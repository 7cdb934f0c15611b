/* util.c - helpers shared by the canopy subcommands. */
#define _GNU_SOURCE
#include "cmd.h"
#include "readfile.h"
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void die (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    fprintf (stderr, "canopy: ");
    vfprintf (stderr, fmt, ap);
    fprintf (stderr, "\n");
    va_end (ap);
    exit (1);
}

bool cmd_help_asked (int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--"))
            break;
        if (!strcmp (argv[i], "-h") || !strcmp (argv[i], "--help"))
            return true;
    }
    return false;
}

client_t *cmd_connect (void)
{
    char err[256];
    client_t *c = client_connect (NULL, err, sizeof err);
    if (!c)
        die ("%s", err);
    return c;
}

uint32_t cmd_send (client_t *c, uint32_t rank, const char *topic, json_t *json, int flags)
{
    char err[256];
    uint32_t tag;
    if (client_send (c, rank, topic, json, NULL, 0, flags, &tag, err, sizeof err) < 0)
        die ("%s", err);
    return tag;
}

uint32_t cmd_instance_size (client_t *c)
{
    char err[256];
    json_t *o = client_call (c, CANOPY_RANK_ANY, "overlay.status", json_object (), 10000, err, sizeof err);
    if (!o)
        die ("%s", err);
    json_int_t size = 0;
    json_unpack (o, "{s:I}", "size", &size);
    json_decref (o);
    return size;
}

idset_t *cmd_ranks (const char *spec, uint32_t size)
{
    idset_t *s;
    if (!strcmp (spec, "all")) {
        s = idset_new ();
        idset_range_set (s, 0, size - 1);
        return s;
    }
    char err[128];
    if (!(s = idset_decode (spec, err, sizeof err)))
        die ("%s", err);
    uint32_t last = idset_last (s);
    if (last != IDSET_INVALID && last >= size)
        die ("rank %u is not in this instance (size %u)", last, size);
    return s;
}

char *cmd_read_file (const char *path, size_t *len)
{
    char err[512];
    char *text = read_file (path, 64u << 20, len, err, sizeof err);
    if (!text)
        die ("%s", err);
    return text;
}

double cmd_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cmd_parse_size (const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod (s, &end);
    if (end == s || errno || v < 0)
        return -1;
    uint64_t mult = 1;
    switch (toupper ((unsigned char)*end)) {
    case '\0': break;
    case 'K': mult = 1ull << 10; end++; break;
    case 'M': mult = 1ull << 20; end++; break;
    case 'G': mult = 1ull << 30; end++; break;
    case 'T': mult = 1ull << 40; end++; break;
    default: return -1;
    }
    if (*end == 'i' || *end == 'B')
        end++;
    if (*end == 'B')
        end++;
    if (*end)
        return -1;
    *out = (uint64_t)(v * mult);
    return 0;
}

json_t *cmd_follow_distribute (client_t *cl, uint32_t src, json_t *req, const char *what, cmd_progress_fn *progress)
{
    double t0 = cmd_now ();
    uint32_t tag = cmd_send (cl, src, "archive.distribute", req, CMSG_F_STREAMING);
    json_t *result = NULL;
    for (;;) {
        cmsg_t m;
        char err[256];
        int rc = client_stream_next (cl, tag, &m, -1, err, sizeof err);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            die ("%s: lost the broker: %s", what, err);
        }
        if (rc == 0) {
            client_msg_clear (&m);
            break;
        }
        if (m.hdr.errnum) {
            if (progress)
                fprintf (stderr, "\n");
            die ("%s: %s", what, client_errstr (&m));
        }
        if (json_is_object (json_object_get (m.json, "ranks"))) {
            json_decref (result);
            result = json_incref (m.json);
        }
        else if (progress)
            progress (m.json, t0);
        client_msg_clear (&m);
    }
    if (progress)
        fprintf (stderr, "\n");
    if (!result)
        die ("%s: no result from the broker", what);
    return result;
}
