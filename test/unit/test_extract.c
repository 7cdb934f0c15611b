/* test_extract.c - the extract sink: create -> extract round trips (bytes,
 * modes, mtimes, symlinks, dirs, empty, many small files, a sparse file over
 * 4 GiB), corrupt chunks, no partial file visible, resume, abort, symlink
 * escape, ENOSPC / read-only targets (tmpfs, when we may mount), a failed
 * extraction over the user's files leaving them as they were. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "cstore.h"
#include "extract.h"

static char err[512];
static char root[256];

static void path (char *buf, size_t len, const char *rel)
{
    snprintf (buf, len, "%s/%s", root, rel);
}

static void put_file (const char *rel, const void *data, size_t len, mode_t mode)
{
    char p[512];
    path (p, sizeof p, rel);
    int fd = open (p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write (fd, data, len) != (ssize_t)len)
        exit ((perror (p), 1));
    fchmod (fd, mode);
    close (fd);
}

static void mk (const char *rel, mode_t mode)
{
    char p[512];
    path (p, sizeof p, rel);
    mkdir (p, mode);
    chmod (p, mode);
}

static int entries_in (const char *dir)
{
    DIR *d = opendir (dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir (d)))
        if (strcmp (e->d_name, ".") && strcmp (e->d_name, ".."))
            n++;
    if (d)
        closedir (d);
    return n;
}

/* Compare the tree of manifest m under a (source) and b (extracted):
 * bytes, type, permission bits, mtimes, symlink targets.  Returns mismatches. */
static int compare_tree (const manifest_t *m, const char *a, const char *b)
{
    int bad = 0;
    char *ba = malloc (1 << 20), *bb = malloc (1 << 20);
    for (size_t i = 0; i < m->nentries; i++) {
        const manifest_entry_t *e = &m->entries[i];
        char pa[1024], pb[1024];
        snprintf (pa, sizeof pa, "%s/%s", a, e->path);
        snprintf (pb, sizeof pb, "%s/%s", b, e->path);
        struct stat sa, sb;
        if (lstat (pa, &sa) < 0 || lstat (pb, &sb) < 0 || (sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
            printf ("# %s: missing or wrong type\n", e->path);
            bad++;
            continue;
        }
        if (!S_ISLNK (sa.st_mode) && (sa.st_mode & 01777) != (sb.st_mode & 07777)) {   /* no setuid/setgid */
            printf ("# %s: mode %o vs %o\n", e->path, sa.st_mode & 07777, sb.st_mode & 07777);
            bad++;
        }
        if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec) {
            printf ("# %s: mtime differs\n", e->path);
            bad++;
        }
        if (S_ISLNK (sa.st_mode)) {
            char ta[512] = "", tb[512] = "";
            readlink (pa, ta, sizeof ta - 1);
            readlink (pb, tb, sizeof tb - 1);
            bad += strcmp (ta, tb) != 0;
        }
        if (S_ISREG (sa.st_mode)) {
            if (sa.st_size != sb.st_size) {
                bad++;
                continue;
            }
            int fa = open (pa, O_RDONLY), fb = open (pb, O_RDONLY);
            for (off_t off = 0; off < sa.st_size; off += 1 << 20) {
                /* sparse files: compare only where the source has data */
                off_t d = lseek (fa, off, SEEK_DATA);
                if (d < 0 || d >= off + (1 << 20)) {
                    ssize_t nb = pread (fb, bb, 1 << 20, off);
                    for (ssize_t k = 0; k < nb; k++)
                        if (bb[k]) {
                            bad++;
                            break;
                        }
                    continue;
                }
                ssize_t na = pread (fa, ba, 1 << 20, off), nb = pread (fb, bb, 1 << 20, off);
                if (na != nb || memcmp (ba, bb, na)) {
                    printf ("# %s: bytes differ at %lld\n", e->path, (long long)off);
                    bad++;
                    break;
                }
            }
            close (fa);
            close (fb);
        }
    }
    free (ba);
    free (bb);
    return bad;
}

/* Chunk i's bytes, read from the source tree. */
static void chunk_bytes (const manifest_t *m, const char *srcroot, uint32_t c, uint8_t *buf)
{
    for (size_t i = 0; i < m->nentries; i++)
        for (uint32_t k = 0; k < m->entries[i].nchunks; k++)
            if (m->entries[i].chunks[k] == c) {
                char p[1024];
                snprintf (p, sizeof p, "%s/%s", srcroot, m->entries[i].path);
                int fd = open (p, O_RDONLY);
                pread (fd, buf, m->chunks[c].len, (off_t)k * m->chunk_size);
                close (fd);
                return;
            }
}

int main (void)
{
    snprintf (root, sizeof root, "/tmp/test_extract.XXXXXX");
    if (!mkdtemp (root))
        return 1;
    char p[1400], state[512], srcdir[512], dst[512];
    path (state, sizeof state, "state");
    path (srcdir, sizeof srcdir, "src");

    /* source tree */
    mk ("src", 0755);
    mk ("src/d", 0750);
    mk ("src/d/ro", 0555);
    mk ("src/many", 0700);
    size_t big = 3 * 65536 + 777;
    uint8_t *data = malloc (big);
    srand (42);
    for (size_t i = 0; i < big; i++)
        data[i] = rand ();
    put_file ("src/d/big", data, big, 0640);
    memset (data + 65536, 0, 65536);   /* a zero chunk in the middle */
    put_file ("src/d/holey", data, big, 0604);
    put_file ("src/empty", "", 0, 0600);
    put_file ("src/exec", "#!/bin/sh\n", 10, 04755);   /* setuid dropped */
    for (int i = 0; i < 300; i++) {
        char rel[64], txt[64];
        snprintf (rel, sizeof rel, "src/many/f%03d", i);
        int n = snprintf (txt, sizeof txt, "file %d\n", i % 250);   /* some duplicates */
        put_file (rel, txt, n, 0644);
    }
    path (p, sizeof p, "src/d/link");
    symlink ("big", p);
    path (p, sizeof p, "src/abslink");
    symlink ("/etc/passwd", p);
    path (p, sizeof p, "src/d/ro/inside");
    put_file ("src/d/ro/inside", "x", 1, 0444);
    chmod (p, 0444);
    path (p, sizeof p, "src/d/ro");
    chmod (p, 0555);
    struct timespec ts[2] = {{0, UTIME_OMIT}, {1600000000, 123456789}};
    path (p, sizeof p, "src/d");
    utimensat (AT_FDCWD, p, ts, 0);

    cstore_t *cs = cstore_new (state, err, sizeof err);
    const char *paths[] = {"src"};
    const manifest_t *m = cs ? cstore_archive_create (cs, "tree", root, paths, 1, 0, 65536, err, sizeof err)
                             : NULL;
    ok (m != NULL, "create archive (%s)", m ? "ok" : err);
    if (!m)
        return done ();

    /* 1. local extract round trip */
    path (dst, sizeof dst, "out1");
    int rc = extract_archive (cs, "tree", dst, 0, err, sizeof err);
    ok (rc == 0, "extract_archive (%s)", rc ? err : "ok");
    char dsrc[600];
    snprintf (dsrc, sizeof dsrc, "%s/src", dst);
    path (p, sizeof p, "src/exec");
    chmod (p, 0755);   /* what we expect after setuid is dropped */
    ok (compare_tree (m, root, dst) == 0, "round trip: bytes, modes, mtimes, symlinks");
    snprintf (p, sizeof p, "%s/.canopy-extract.tree", dst);
    ok (access (p, F_OK) < 0, "state directory removed when done");
    snprintf (p, sizeof p, "%s/src/d/holey", dst);
    struct stat sb;
    ok (stat (p, &sb) == 0 && sb.st_blocks * 512 < (blkcnt_t)big, "zero chunk left as a hole (%lld blocks)",
        (long long)sb.st_blocks);
    path (p, sizeof p, "src/exec");
    chmod (p, 04755);

    /* 2. the sink by hand: reverse order, corrupt chunks, partial invisibility */
    path (dst, sizeof dst, "out2");
    extract_t *x = extract_new (m, dst, 0, err, sizeof err);
    ok (x != NULL, "extract_new (%s)", x ? "ok" : err);
    ok (extract_missing (x) == m->nchunks && extract_next_missing (x, 0) == 0, "all missing at first");
    snprintf (p, sizeof p, "%s/src/empty", dst);
    ok (access (p, F_OK) == 0, "empty file created at once");
    snprintf (p, sizeof p, "%s/src/d/link", dst);
    ok (lstat (p, &sb) == 0 && S_ISLNK (sb.st_mode), "symlink created at once");
    uint8_t *buf = malloc (65536), *rb = malloc (65536);
    int64_t bi = manifest_find (m, "src/d/big");
    uint32_t c0 = m->entries[bi].chunks[0];
    chunk_bytes (m, srcdir - 0, c0, buf);   /* paths in m start with src/ */
    chunk_bytes (m, root, c0, buf);
    buf[10] ^= 1;
    ok (extract_put (x, c0, buf, m->chunks[c0].len, err, sizeof err) == EXTRACT_ECORRUPT && !extract_have (x, c0),
        "corrupt chunk rejected: %s", err);
    buf[10] ^= 1;
    ok (extract_put (x, c0, buf, 5, err, sizeof err) == EXTRACT_ECORRUPT, "wrong length rejected");
    ok (extract_put (x, m->nchunks + 3, buf, 5, err, sizeof err) == -EINVAL, "index out of range");
    ok (extract_read (x, c0, rb, 65536, err, sizeof err) == -ENOENT, "read of absent chunk");
    ok (extract_done (x, err, sizeof err) == -EAGAIN, "done refused while chunks missing: %s", err);
    for (size_t i = m->nchunks; i-- > 0;) {
        chunk_bytes (m, root, i, buf);
        if (i == c0)
            continue;
        if ((rc = extract_put (x, i, buf, m->chunks[i].len, err, sizeof err)) < 0)
            break;
    }
    ok (rc == 0, "all but one chunk delivered in reverse order (%s)", rc ? err : "ok");
    snprintf (p, sizeof p, "%s/src/d/big", dst);
    ok (access (p, F_OK) < 0, "a file missing a chunk is not visible");
    ok (extract_missing (x) == 1 && extract_next_missing (x, 0) == c0, "exactly the missing chunk reported");
    uint32_t cl = m->entries[bi].chunks[3];
    ssize_t n = extract_read (x, cl, rb, 65536, err, sizeof err);
    chunk_bytes (m, root, cl, buf);
    ok (n == (ssize_t)m->chunks[cl].len && !memcmp (rb, buf, n), "extract_read returns a received chunk");
    chunk_bytes (m, root, c0, buf);
    ok (extract_put (x, c0, buf, m->chunks[c0].len, err, sizeof err) == 0, "last chunk");
    ok (extract_put (x, c0, buf, m->chunks[c0].len, err, sizeof err) == 0, "repeat delivery accepted");
    ok (access (p, F_OK) == 0, "file visible once complete");
    ok (extract_read (x, c0, rb, 65536, err, sizeof err) == m->chunks[c0].len, "read back from the final file");
    ok (extract_done (x, err, sizeof err) == 0, "done (%s)", err);
    extract_destroy (&x);
    ok (compare_tree (m, root, dst) == 0, "by-hand extraction matches");

    /* 3. resume after a partial run, with one written chunk damaged meanwhile */
    path (dst, sizeof dst, "out3");
    x = extract_new (m, dst, 0, err, sizeof err);
    size_t half = 3;   /* chunks 0..2: the first three positions of src/d/big */
    for (size_t i = 0; i < half; i++) {
        chunk_bytes (m, root, i, buf);
        extract_put (x, i, buf, m->chunks[i].len, err, sizeof err);
    }
    extract_destroy (&x);   /* "crash": state kept */
    /* damage chunk 0 in big's temporary file */
    uint32_t hc = m->entries[bi].chunks[0];
    int damaged = 0;
    snprintf (p, sizeof p, "%s/.canopy-extract.tree/f%lld", dst, (long long)bi);
    int dfd = open (p, O_WRONLY);
    if (hc == 0 && dfd >= 0 && pwrite (dfd, "XYZ", 3, 0) == 3)
        damaged = 1;
    if (dfd >= 0)
        close (dfd);
    ok (damaged, "damaged a written chunk in a temporary file");
    x = extract_new (m, dst, 0, err, sizeof err);
    ok (x != NULL, "resume (%s)", x ? "ok" : err);
    size_t want = m->nchunks - half + damaged;
    ok (extract_missing (x) == want, "resume: %zu missing (want %zu; damaged %d)", extract_missing (x), want,
        damaged);
    ok (!damaged || !extract_have (x, hc), "the damaged chunk is fetched again");
    size_t sent = 0;
    for (size_t i = 0; i < m->nchunks; i++) {
        if (extract_have (x, i))
            continue;
        chunk_bytes (m, root, i, buf);
        extract_put (x, i, buf, m->chunks[i].len, err, sizeof err);
        sent++;
    }
    ok (sent == want && extract_done (x, err, sizeof err) == 0, "resume completes with only the missing chunks");
    extract_destroy (&x);
    ok (compare_tree (m, root, dst) == 0, "resumed extraction matches");

    /* 4. abort leaves nothing */
    path (dst, sizeof dst, "out4");
    mkdir (dst, 0755);
    snprintf (p, sizeof p, "%s/keep", dst);
    close (open (p, O_CREAT | O_WRONLY, 0644));
    x = extract_new (m, dst, 0, err, sizeof err);
    for (size_t i = 0; i < m->nchunks; i += 2) {
        chunk_bytes (m, root, i, buf);
        extract_put (x, i, buf, m->chunks[i].len, err, sizeof err);
    }
    extract_abort (&x);
    ok (x == NULL && entries_in (dst) == 1 && access (p, F_OK) == 0, "abort removes everything it made (%d left)",
        entries_in (dst));

    /* 5. a symlink planted in the destination is not followed */
    path (dst, sizeof dst, "out5");
    mkdir (dst, 0755);
    char victim[512];
    path (victim, sizeof victim, "victim");
    mkdir (victim, 0755);
    snprintf (p, sizeof p, "%s/src", dst);
    symlink (victim, p);
    x = extract_new (m, dst, 0, err, sizeof err);
    ok (x == NULL && entries_in (victim) == 0, "planted symlink refused: %s", err);

    /* 6. destination inside a file */
    path (dst, sizeof dst, "src/empty/x");
    x = extract_new (m, dst, 0, err, sizeof err);
    ok (x == NULL && strstr (err, "Not a directory") && !strchr (err, '\n'), "unusable destination: %s", err);

    /* 7. sparse file over 4 GiB, reference mode */
    {
        char sp[512];
        path (sp, sizeof sp, "sparse");
        mkdir (sp, 0755);
        path (sp, sizeof sp, "sparse/huge");
        int fd = open (sp, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        uint64_t size = (5ull << 30) + 12345;
        int okw = fd >= 0 && ftruncate (fd, size) == 0 && pwrite (fd, "head", 4, 0) == 4
                  && pwrite (fd, "past4G", 6, (4ull << 30) + 99) == 6 && pwrite (fd, "tail", 4, size - 4) == 4;
        close (fd);
        const char *sparse[] = {"sparse"};
        const manifest_t *ms = okw ? cstore_archive_create (cs, "sparse", root, sparse, 1, CSTORE_REFERENCE, 0, err,
                                                            sizeof err) : NULL;
        ok (ms && ms->total_size == size && ms->nchunks <= 5, "sparse 5 GiB archive: %zu distinct chunks",
            ms ? ms->nchunks : 0);
        path (dst, sizeof dst, "out7");
        rc = ms ? extract_archive (cs, "sparse", dst, 0, err, sizeof err) : -1;
        ok (rc == 0, "sparse extract (%s)", rc ? err : "ok");
        char dp[1100];
        snprintf (dp, sizeof dp, "%s/sparse/huge", dst);
        fd = open (dp, O_RDONLY);
        char b1[8] = "", b2[8] = "", b3[8] = "";
        pread (fd, b1, 4, 0);
        pread (fd, b2, 6, (4ull << 30) + 99);
        pread (fd, b3, 4, size - 4);
        ok (fd >= 0 && fstat (fd, &sb) == 0 && (uint64_t)sb.st_size == size && !memcmp (b1, "head", 4)
            && !memcmp (b2, "past4G", 6) && !memcmp (b3, "tail", 4), "sparse bytes at 0, 4 GiB+99, end");
        ok (sb.st_blocks < 4096 * 8, "extracted file stays sparse (%lld KiB allocated)", (long long)sb.st_blocks / 2);
        close (fd);
    }

    /* 8. ENOSPC and read-only on a tiny tmpfs */
    char mnt[400];
    path (mnt, sizeof mnt, "tiny");
    mkdir (mnt, 0755);
    if (mount ("tmpfs", mnt, "tmpfs", 0, "size=64k") == 0) {
        snprintf (dst, sizeof dst, "%s/out", mnt);
        rc = extract_archive (cs, "tree", dst, 0, err, sizeof err);
        ok (rc == -ENOSPC && strstr (err, "No space left") && !strchr (err, '\n'), "ENOSPC: %s", err);
        ok (entries_in (mnt) == 0, "nothing partial left on the full disk (%d entries)", entries_in (mnt));
        mount (NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL);
        rc = extract_archive (cs, "tree", dst, 0, err, sizeof err);
        ok (rc < 0 && strstr (err, "Read-only"), "read-only target: %s", err);
        umount (mnt);
    } else
        printf ("# skipped ENOSPC/read-only checks: cannot mount tmpfs (%s)\n", strerror (errno));

    /* 9. reserved name */
    {
        manifest_t *r = manifest_new ("t", 0, err, sizeof err);
        manifest_add_dir (r, ".canopy-extract.t", 0755, 0, err, sizeof err);
        path (dst, sizeof dst, "out9");
        x = extract_new (r, dst, 0, err, sizeof err);
        ok (x == NULL && strstr (err, "reserved"), "reserved entry name refused");
        manifest_destroy (&r);
    }

    /* 10. a failed extraction over the user's files leaves them as they were:
     * a.txt (also in the archive) and mine.txt; a.txt completes first, then
     * the big file fails (an injected EFBIG from RLIMIT_FSIZE, then a real
     * ENOSPC on a tiny tmpfs when we may mount) */
    {
        mk ("ow", 0755);
        put_file ("ow/a.txt", "archive's a\n", 12, 0644);
        put_file ("ow/zbig", data, big, 0644);
        const char *owp[] = {"a.txt", "zbig"};
        char owsrc[400];
        path (owsrc, sizeof owsrc, "ow");
        const manifest_t *mo = cstore_archive_create (cs, "ow", owsrc, owp, 2, 0, 65536, err, sizeof err);
        ok (mo && mo->entries[0].nchunks == 1 && mo->entries[0].chunks[0] == 0, "archive ow: a.txt is chunk 0");
        char cmp[1000], b[64];
        for (int pass = 0; pass < 2; pass++) {
            char mnt2[400], dd[500];
            path (mnt2, sizeof mnt2, pass ? "tiny2" : "user");
            mkdir (mnt2, 0755);
            if (pass && mount ("tmpfs", mnt2, "tmpfs", 0, "size=64k") < 0) {
                skip ("ENOSPC over the user's files: cannot mount tmpfs (%s; needs root)", strerror (errno));
                break;
            }
            snprintf (dd, sizeof dd, "%s/a.txt", mnt2);
            int fd = open (dd, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            write (fd, "the user's own a.txt\n", 21);
            close (fd);
            snprintf (dd, sizeof dd, "%s/mine.txt", mnt2);
            fd = open (dd, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            write (fd, "mine\n", 5);
            close (fd);
            struct rlimit old, lim = {.rlim_cur = 100000, .rlim_max = RLIM_INFINITY};
            void (*oldsig) (int) = signal (SIGXFSZ, SIG_IGN);
            getrlimit (RLIMIT_FSIZE, &old);
            lim.rlim_max = old.rlim_max;
            if (!pass)
                setrlimit (RLIMIT_FSIZE, &lim);   /* zbig (196 KiB) cannot be sized */
            rc = extract_archive (cs, "ow", mnt2, 0, err, sizeof err);
            if (!pass)
                setrlimit (RLIMIT_FSIZE, &old);
            signal (SIGXFSZ, oldsig);
            ok (rc == (pass ? -ENOSPC : -EFBIG), "%s: extraction fails: %s", pass ? "tmpfs" : "EFBIG", err);
            snprintf (dd, sizeof dd, "%s/a.txt", mnt2);
            memset (b, 0, sizeof b);
            fd = open (dd, O_RDONLY);
            ssize_t n = fd >= 0 ? read (fd, b, sizeof b - 1) : -1;
            struct stat asb;
            fstat (fd, &asb);
            close (fd);
            ok (n == 21 && !strcmp (b, "the user's own a.txt\n") && (asb.st_mode & 07777) == 0600,
                "%s: the user's a.txt is back as it was (%s)", pass ? "tmpfs" : "EFBIG", n < 0 ? strerror (errno) : b);
            snprintf (dd, sizeof dd, "%s/mine.txt", mnt2);
            ok (access (dd, F_OK) == 0, "mine.txt untouched");
            ok (entries_in (mnt2) == 2, "only the user's 2 files are left (%d entries)", entries_in (mnt2));
            if (pass)
                umount (mnt2);
        }
        /* success over the user's files: replaced, set-aside copies gone */
        char d3[400];
        path (d3, sizeof d3, "user");
        rc = extract_archive (cs, "ow", d3, 0, err, sizeof err);
        snprintf (cmp, sizeof cmp, "cmp -s %s/ow/a.txt %s/a.txt", root, d3);
        ok (rc == 0 && system (cmp) == 0 && entries_in (d3) == 3, "a good extraction replaces a.txt (%s)",
            rc ? err : "ok");
    }

    /* 11. hard links stay links; setuid/setgid are dropped */
    {
        mk ("hl", 0755);
        mk ("hl/a", 0755);
        mk ("hl/b", 0755);
        put_file ("hl/a/one", "linked content\n", 15, 0640);
        char p1[600], p2[600];
        path (p1, sizeof p1, "hl/a/one");
        path (p2, sizeof p2, "hl/b/two");
        link (p1, p2);
        path (p2, sizeof p2, "hl/three");
        link (p1, p2);
        put_file ("hl/suid", "#!/bin/sh\n", 10, 06755);
        char hsrc[400];
        path (hsrc, sizeof hsrc, "hl");
        const char *hp[] = {"."};
        const manifest_t *mh = cstore_archive_create (cs, "hl", hsrc, hp, 1, 0, 65536, err, sizeof err);
        size_t nlinks = 0;
        for (size_t i = 0; mh && i < mh->nentries; i++)
            nlinks += mh->entries[i].type == MANIFEST_HARDLINK;
        ok (mh && nlinks == 2, "create records 2 hard links (%s)", mh ? "ok" : err);
        path (dst, sizeof dst, "out11");
        rc = mh ? extract_archive (cs, "hl", dst, 0, err, sizeof err) : -1;
        ok (rc == 0, "extract with hard links (%s)", rc ? err : "ok");
        struct stat s1, s2, s3, s4;
        snprintf (p1, sizeof p1, "%s/a/one", dst);
        snprintf (p2, sizeof p2, "%s/b/two", dst);
        char p3[600], p4[600];
        snprintf (p3, sizeof p3, "%s/three", dst);
        snprintf (p4, sizeof p4, "%s/suid", dst);
        ok (stat (p1, &s1) == 0 && stat (p2, &s2) == 0 && stat (p3, &s3) == 0 && s1.st_ino == s2.st_ino
            && s1.st_ino == s3.st_ino && s1.st_nlink == 3 && (s1.st_mode & 07777) == 0640,
            "one file with 3 names, mode kept (nlink %d)", (int)s1.st_nlink);
        ok (stat (p4, &s4) == 0 && (s4.st_mode & 07777) == 0755, "setuid/setgid dropped (%o)", s4.st_mode & 07777);
    }

    free (buf);
    free (rb);
    free (data);
    cstore_destroy (&cs);
    char cmd[600];
    snprintf (cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", root, root);
    system (cmd);
    return done ();
}
