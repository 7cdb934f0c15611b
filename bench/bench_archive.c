/* bench_archive.c - archive create throughput from the page cache (reference
 * and copy modes) and local extract, against the raw read rate (`cat file >
 * /dev/null`) and single-core OpenSSL SHA-256; prints ratios and max RSS.
 * Usage: bench_archive [GiB (default 2)] [workdir (default /tmp)] */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "xalloc.h"
#include "cstore.h"
#include "extract.h"
#include "sha256.h"

static double now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long maxrss_mib (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

int main (int argc, char **argv)
{
    double gib = argc > 1 ? atof (argv[1]) : 2.0;
    const char *work = argc > 2 ? argv[2] : "/tmp";
    uint64_t size = (uint64_t)(gib * (1 << 30));
    size_t mb = 1 << 20;
    char dir[512], file[600], state[600], out[600], cmd[1400], err[512];
    snprintf (dir, sizeof dir, "%s/bench_archive.XXXXXX", work);
    if (!mkdtemp (dir)) {
        fprintf (stderr, "bench_archive: %s: %s\n", dir, strerror (errno));
        return 1;
    }
    snprintf (file, sizeof file, "%s/data", dir);
    snprintf (state, sizeof state, "%s/state", dir);
    snprintf (out, sizeof out, "%s/out", dir);

    /* a file of distinct 1 MiB blocks (nothing deduplicates) */
    uint8_t *buf = xmalloc (mb);
    for (size_t i = 0; i < mb; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    int fd = open (file, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    for (uint64_t off = 0; off < size; off += mb) {
        memcpy (buf, &off, sizeof off);
        if (fd < 0 || write (fd, buf, mb) != (ssize_t)mb) {
            fprintf (stderr, "bench_archive: write %s: %s\n", file, strerror (errno));
            return 1;
        }
    }
    close (fd);
    sync ();   /* the source's own writeback must not be charged to the runs */
    snprintf (cmd, sizeof cmd, "cat %s > /dev/null", file);
    if (system (cmd) != 0)   /* warm the page cache */
        return 1;
    double t = now ();
    system (cmd);
    double cat_s = now () - t;
    double gb = size / 1e9;

    /* single-core SHA-256 over a cached 1 MiB buffer, same byte count */
    uint8_t h[SHA256_LEN];
    t = now ();
    for (uint64_t off = 0; off < size; off += mb)
        sha256_hash (buf, mb, h);
    double sha_s = now () - t;

    printf ("file: %.2f GiB in page cache, chunk size 1 MiB, %ld CPUs\n", gib,
            sysconf (_SC_NPROCESSORS_ONLN));
    printf ("%-34s %8.3f s %8.2f GB/s\n", "cat file > /dev/null", cat_s, gb / cat_s);
    printf ("%-34s %8.3f s %8.2f GB/s\n", "SHA-256, one core (OpenSSL)", sha_s, gb / sha_s);

    cstore_t *cs = cstore_new (state, err, sizeof err);
    if (!cs) {
        fprintf (stderr, "bench_archive: %s\n", err);
        return 1;
    }
    const char *paths[] = {"data"};
    struct { const char *label, *name; int flags, threads; } runs[] = {
        {"create reference, 1 thread", "r1", CSTORE_REFERENCE, 1},
        {"create reference, all CPUs", "r2", CSTORE_REFERENCE, 0},
        {"create copy, all CPUs", "c2", CSTORE_COPY, 0},
    };
    double copy_s = 0;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        cstore_set_threads (cs, runs[i].threads ? runs[i].threads : (int)sysconf (_SC_NPROCESSORS_ONLN));
        sync ();
        t = now ();
        const manifest_t *m = cstore_archive_create (cs, runs[i].name, dir, paths, 1, runs[i].flags, 0, err,
                                                     sizeof err);
        double s = now () - t;
        if (!m) {
            fprintf (stderr, "bench_archive: %s\n", err);
            return 1;
        }
        printf ("%-34s %8.3f s %8.2f GB/s  %5.2fx cat  %5.2fx sha256  (%zu chunks)\n", runs[i].label, s,
                gb / s, cat_s / s, sha_s / s, m->nchunks);
        if (runs[i].flags == CSTORE_COPY)
            copy_s = s;
    }
    (void)copy_s;
    sync ();
    t = now ();
    int rc = extract_archive (cs, "c2", out, 0, err, sizeof err);
    double ex_s = now () - t;
    if (rc < 0) {
        fprintf (stderr, "bench_archive: %s\n", err);
        return 1;
    }
    printf ("%-34s %8.3f s %8.2f GB/s  %5.2fx cat\n", "extract (local, from copy)", ex_s, gb / ex_s,
            cat_s / ex_s);
    printf ("flux archive create for scale: 10-15 s per GiB (notes/distribution.md)\n");
    printf ("max RSS: %ld MiB (file %.2f GiB)\n", maxrss_mib (), gib);
    cstore_destroy (&cs);
    free (buf);
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    system (cmd);
    return 0;
}
