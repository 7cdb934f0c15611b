/* cmd_ping.c - canopy ping: round-trip time and hop count to a rank. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmd.h"
#include "xalloc.h"

int cmd_ping (int argc, char **argv)
{
    static struct option opts[] = {
        { "pad", required_argument, 0, 'p' },   { "count", required_argument, 0, 'c' },
        { "interval", required_argument, 0, 'i' }, { "quiet", no_argument, 0, 'q' },
        { "help", no_argument, 0, 'h' },        { 0, 0, 0, 0 },
    };
    uint64_t pad = 0;
    long count = 1;
    double interval = 0;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "p:c:i:qh", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'p':
            if (cmd_parse_size (optarg, &pad) < 0 || pad > (256u << 20))
                die ("ping: invalid --pad '%s' (up to 256M)", optarg);
            break;
        case 'c':
            count = strtol (optarg, &end, 10);
            if (*end || count < 1)
                die ("ping: invalid --count '%s'", optarg);
            break;
        case 'i': interval = strtod (optarg, NULL); break;
        case 'q': quiet = true; break;
        case 'h': printf ("Usage: canopy ping [--pad SIZE] [--count N] [--interval S] RANK\n"); return 0;
        default: return 1;
        }
    }
    if (optind != argc - 1)
        die ("Usage: canopy ping [--pad SIZE] [--count N] RANK");
    char *end;
    long rank = strtol (argv[optind], &end, 10);
    if (*end || rank < 0)
        die ("ping: invalid rank '%s'", argv[optind]);
    client_t *cl = cmd_connect ();
    uint32_t size = cmd_instance_size (cl);
    if (rank >= size)
        die ("ping: rank %ld is not in this instance (size %u)", rank, size);
    char *buf = pad ? xcalloc (1, pad) : NULL;
    double sum = 0, min = 1e9, max = 0;
    long hops = 0;
    for (long seq = 0; seq < count; seq++) {
        double t0 = cmd_now ();
        cmsg_t m;
        char err[256];
        uint32_t tag;
        if (client_send (cl, rank, "overlay.ping", json_pack ("{s:I}", "seq", (json_int_t)seq), buf, pad, 0, &tag,
                         err, sizeof err) < 0)
            die ("ping: %s", err);
        if (client_stream_next (cl, tag, &m, 10000, err, sizeof err) < 0)
            die ("ping: rank %ld: %s", rank, errno == ETIMEDOUT ? "no answer in 10 s" : err);
        double dt = cmd_now () - t0;
        if (m.hdr.errnum)
            die ("ping: rank %ld: %s", rank, client_errstr (&m));
        json_int_t h = 0;
        json_unpack (m.json, "{s:I}", "hops", &h);
        hops = h;
        client_msg_clear (&m);
        sum += dt;
        if (dt < min) min = dt;
        if (dt > max) max = dt;
        if (!quiet)
            printf ("rank %ld: seq=%ld pad=%llu hops=%ld time=%.3f ms\n", rank, seq,
                    (unsigned long long)pad, hops, dt * 1e3);
        if (interval > 0 && seq + 1 < count)
            usleep (interval * 1e6);
    }
    printf ("rank %ld: %ld pings, hops=%ld, rtt min/avg/max = %.3f/%.3f/%.3f ms\n", rank, count, hops,
            min * 1e3, sum / count * 1e3, max * 1e3);
    free (buf);
    client_destroy (&cl);
    return 0;
}
