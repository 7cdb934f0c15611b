/* test_cstore.c - content store: create (copy and reference), read back with
 * verification, dedup, replace/remove/purge, persistence, bad input. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "cstore.h"
#include <sqlite3.h>

static char err[512];
static char root[256];

static void put_file (const char *rel, const void *data, size_t len, mode_t mode)
{
    char p[512];
    snprintf (p, sizeof p, "%s/%s", root, rel);
    int fd = open (p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write (fd, data, len) != (ssize_t)len) {
        perror (p);
        exit (1);
    }
    fchmod (fd, mode);
    close (fd);
}

static void mk (const char *rel, mode_t mode)
{
    char p[512];
    snprintf (p, sizeof p, "%s/%s", root, rel);
    mkdir (p, mode);
    chmod (p, mode);
}

static int count_files (const char *dir)
{
    DIR *d = opendir (dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[1024];
        struct stat sb;
        snprintf (p, sizeof p, "%s/%s", dir, e->d_name);
        if (lstat (p, &sb) == 0 && S_ISDIR (sb.st_mode))
            n += count_files (p);
        else
            n++;
    }
    if (d)
        closedir (d);
    return n;
}

/* Read every chunk of archive and compare with the bytes of the source files. */
static int check_all_chunks (cstore_t *cs, const char *name, const char *srcroot)
{
    const manifest_t *m = cstore_archive_get (cs, name, err, sizeof err);
    if (!m)
        return -1;
    uint8_t *buf = malloc (m->chunk_size), *want = malloc (m->chunk_size);
    int bad = 0;
    for (size_t i = 0; i < m->nentries; i++) {
        const manifest_entry_t *e = &m->entries[i];
        if (e->type != MANIFEST_FILE)
            continue;
        char p[1024];
        snprintf (p, sizeof p, "%s/%s", srcroot, e->path);
        int fd = open (p, O_RDONLY);
        for (uint32_t k = 0; k < e->nchunks; k++) {
            uint32_t c = e->chunks[k];
            ssize_t n = cstore_chunk_read (cs, name, c, buf, m->chunk_size, err, sizeof err);
            ssize_t w = pread (fd, want, m->chunks[c].len, (off_t)k * m->chunk_size);
            if (n != (ssize_t)m->chunks[c].len || w != n || memcmp (buf, want, n))
                bad++;
        }
        close (fd);
    }
    free (buf);
    free (want);
    return bad;
}

int main (void)
{
    snprintf (root, sizeof root, "/tmp/test_cstore.XXXXXX");
    if (!mkdtemp (root))
        return 1;
    char state[300], rootsrc[300];
    snprintf (state, sizeof state, "%s/state", root);
    snprintf (rootsrc, sizeof rootsrc, "%s", root);

    /* the source tree */
    mk ("src", 0750);
    mk ("src/sub", 0700);
    mk ("src/sub/deeper", 0755);
    size_t big = 4096 * 3 + 1000;
    uint8_t *data = malloc (big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 7 + i / 4096);
    put_file ("src/big", data, big, 0640);
    put_file ("src/sub/same", data, big, 0600);     /* identical: chunks dedup */
    put_file ("src/sub/deeper/small", "hello\n", 6, 0444);
    put_file ("src/empty", "", 0, 0755);
    char p[512];
    snprintf (p, sizeof p, "%s/src/link", root);
    symlink ("sub/same", p);
    snprintf (p, sizeof p, "%s/src/fifo", root);
    mkfifo (p, 0600);                                /* skipped */
    struct timespec ts[2] = {{0, UTIME_OMIT}, {1234567890, 987654321}};
    snprintf (p, sizeof p, "%s/src/big", root);
    utimensat (AT_FDCWD, p, ts, 0);

    cstore_t *cs = cstore_new (state, err, sizeof err);
    ok (cs != NULL, "cstore_new (%s)", cs ? "ok" : err);
    cstore_set_threads (cs, 2);
    const char *paths[] = {"src"};
    const manifest_t *m = cstore_archive_create (cs, "t1", root, paths, 1, CSTORE_COPY, 4096, err,
                                                 sizeof err);
    ok (m != NULL, "create copy archive (%s)", m ? "ok" : err);
    if (!m)
        return done ();
    ok (m->nentries == 8, "8 entries (fifo skipped): %zu", m->nentries);
    ok (m->nchunks == 5, "identical files share chunks: %zu distinct", m->nchunks);
    ok (m->total_size == 2 * big + 6, "total size");
    int64_t bi = manifest_find (m, "src/big");
    ok (bi >= 0 && m->entries[bi].mode == 0640 && m->entries[bi].mtime_ns == 1234567890987654321LL
        && m->entries[bi].nchunks == 4, "file mode, ns mtime, chunks");
    int64_t li = manifest_find (m, "src/link");
    ok (li >= 0 && m->entries[li].type == MANIFEST_SYMLINK && !strcmp (m->entries[li].target, "sub/same"),
        "symlink kept, not followed");
    int64_t di = manifest_find (m, "src/sub");
    ok (di >= 0 && m->entries[di].type == MANIFEST_DIR && m->entries[di].mode == 0700, "dir mode");
    ok (manifest_find (m, "src/fifo") < 0, "fifo not archived");
    ok (manifest_validate (m, err, sizeof err) == 0, "manifest valid");
    ok (check_all_chunks (cs, "t1", root) == 0, "every chunk reads back equal to the source");
    snprintf (p, sizeof p, "%s/content/blobs", state);
    ok (count_files (p) == 5, "one blob per distinct chunk (%d)", count_files (p));

    /* copy mode survives source changes */
    put_file ("src/sub/deeper/small", "HELLO\n", 6, 0444);
    uint8_t buf[4096];
    int64_t si = manifest_find (m, "src/sub/deeper/small");
    ssize_t n = cstore_chunk_read (cs, "t1", m->entries[si].chunks[0], buf, sizeof buf, err, sizeof err);
    ok (n == 6 && !memcmp (buf, "hello\n", 6), "copy holds the old bytes after the source changed");

    /* duplicates and replace */
    ok (cstore_archive_create (cs, "t1", root, paths, 1, 0, 4096, err, sizeof err) == NULL
        && strstr (err, "exists"), "same name refused: %s", err);
    const char *p2[] = {"src/sub/deeper/small"};
    m = cstore_archive_create (cs, "t1", root, p2, 1, CSTORE_REPLACE, 4096, err, sizeof err);
    ok (m && m->nentries == 4 && manifest_find (m, "src") == 0 && manifest_find (m, "src/sub/deeper") == 2,
        "replace; parents of a deep path recorded as dirs");
    snprintf (p, sizeof p, "%s/content/blobs", state);
    ok (count_files (p) == 1, "blobs only the old archive used are gone (%d left)", count_files (p));

    /* reference mode */
    const manifest_t *r = cstore_archive_create (cs, "ref", root, paths, 1, CSTORE_REFERENCE, 4096, err,
                                                 sizeof err);
    ok (r != NULL, "create reference archive (%s)", r ? "ok" : err);
    ok (count_files (p) == 1, "reference mode copies nothing");
    ok (check_all_chunks (cs, "ref", root) == 0, "reference chunks read back");
    bi = manifest_find (r, "src/big");
    uint32_t c1 = r->entries[bi].chunks[1];
    data[5000] ^= 0xff;   /* chunk 1 of src/big and src/sub/same */
    put_file ("src/big", data, big, 0640);
    n = cstore_chunk_read (cs, "ref", c1, buf, sizeof buf, err, sizeof err);
    ok (n == 4096, "changed source: the identical chunk is served from the other file");
    put_file ("src/sub/same", data, big, 0600);
    n = cstore_chunk_read (cs, "ref", c1, buf, sizeof buf, err, sizeof err);
    ok (n == -EBADMSG && strstr (err, "changed"), "both sources changed: EBADMSG: %s", err);

    /* corrupt blob */
    m = cstore_archive_get (cs, "t1", err, sizeof err);
    char hex[65];
    sha256_hex (m->chunks[0].hash, hex);
    snprintf (p, sizeof p, "%s/content/blobs/%.2s/%s-%u", state, hex, hex, m->chunks[0].len);
    bool v = false;
    n = cstore_chunk_read_flags (cs, "t1", 0, buf, sizeof buf, CSTORE_READ_CALLER_HASHES, &v, err, sizeof err);
    ok (n == 6 && v, "a blob this create wrote is known good: a read whose caller hashes says so (%zd)", n);
    int fd = open (p, O_WRONLY);
    ok (fd >= 0 && pwrite (fd, "J", 1, 0) == 1, "corrupt a blob");
    close (fd);
    char dmg[512];
    n = cstore_chunk_read_flags (cs, "t1", 0, buf, sizeof buf, CSTORE_READ_CALLER_HASHES, &v, err, sizeof err);
    ok (n == 6 && buf[0] == 'J' && !v && !cstore_damage (cs, "t1", dmg, sizeof dmg),
        "a read whose caller hashes: the corrupt blob's bytes, unchecked, not known good, nothing marked (%zd)",
        n);
    n = cstore_chunk_read (cs, "t1", 0, buf, sizeof buf, err, sizeof err);
    ok (n == 6 && !memcmp (buf, "HELLO\n", 6), "corrupt blob: served from the reference archive's file");
    put_file ("src/sub/deeper/small", "HeLLO\n", 6, 0444);
    n = cstore_chunk_read (cs, "t1", 0, buf, sizeof buf, err, sizeof err);
    ok (n == -EBADMSG, "corrupt blob and changed reference: EBADMSG (%zd %s)", n, err);
    ok (cstore_damage (cs, "t1", dmg, sizeof dmg) && strstr (dmg, "damaged: chunk 0"),
        "... and the archive is marked damaged: %s", dmg);
    put_file ("src/sub/deeper/small", "HEL", 3, 0444);
    n = cstore_chunk_read_flags (cs, "t1", 0, buf, sizeof buf, CSTORE_READ_CALLER_HASHES, NULL, err, sizeof err);
    ok (n == -EBADMSG && strstr (err, "damaged: chunk 0"),
        "a read whose caller hashes still reports a short file as damage: %s", err);
    put_file ("src/sub/deeper/small", "HELLO\n", 6, 0444);
    n = cstore_chunk_read (cs, "t1", 0, buf, 3, err, sizeof err);
    ok (n == -EINVAL, "small buffer refused");
    n = cstore_chunk_read (cs, "t1", 99, buf, sizeof buf, err, sizeof err);
    ok (n == -ENOENT, "chunk out of range: %s", err);
    n = cstore_chunk_read (cs, "nope", 0, buf, sizeof buf, err, sizeof err);
    ok (n == -ENOENT, "unknown archive: %s", err);

    /* list, persistence */
    json_t *l = cstore_archive_list (cs, err, sizeof err);
    ok (l && json_array_size (l) == 2
        && !strcmp (json_string_value (json_object_get (json_array_get (l, 0), "name")), "ref")
        && !strcmp (json_string_value (json_object_get (json_array_get (l, 0), "mode")), "reference")
        && json_integer_value (json_object_get (json_array_get (l, 1), "entries")) == 4,
        "list");
    json_decref (l);
    cstore_destroy (&cs);
    ok (cs == NULL, "destroy");
    cs = cstore_new (state, err, sizeof err);
    m = cs ? cstore_archive_get (cs, "ref", err, sizeof err) : NULL;
    ok (m && m->nentries == 8, "archives persist across reopen");

    /* the manifest is stored as a head and pages (doc/archive.md) */
    {
        size_t hl = 0, pl = 0;
        char *head = cstore_archive_head (cs, "ref", &hl, err, sizeof err);
        ok (head && manifest_is_head (head, hl), "the index holds a manifest head (%s)", head ? "ok" : err);
        manifest_asm_t *a = head ? manifest_asm_new (head, hl, err, sizeof err) : NULL;
        int pages_ok = a != NULL;
        for (size_t i = 0; a && i < manifest_asm_npages (a) && pages_ok; i++) {
            char *pg = cstore_manifest_page (cs, "ref", i, &pl, err, sizeof err);
            pages_ok = pg && manifest_asm_page (a, pg, pl, err, sizeof err) == 0;
            free (pg);
        }
        manifest_t *r = pages_ok ? manifest_asm_finish (a, err, sizeof err) : NULL;
        size_t l1 = 0, l2 = 0;
        char *t1 = r ? manifest_encode (r, &l1) : NULL, *t2 = m ? manifest_encode (m, &l2) : NULL;
        ok (r && l1 == l2 && !memcmp (t1, t2, l1), "its pages, served from the index, assemble into the "
            "archive's manifest (%s)", r ? "ok" : err);
        ok (!cstore_manifest_page (cs, "ref", 99, &pl, err, sizeof err) && strstr (err, "no manifest page"),
            "no such page: an error (%s)", err);
        /* a row as an older broker wrote it (the whole manifest, no pages) is still read */
        char db[600], sql[200];
        snprintf (db, sizeof db, "%s/content/index.sqlite", state);
        sqlite3 *h = NULL;
        ok (t2 && sqlite3_open (db, &h) == SQLITE_OK, "open the index directly");
        sqlite3_stmt *st = NULL;
        snprintf (sql, sizeof sql, "UPDATE archives SET manifest=? WHERE name='ref'");
        sqlite3_prepare_v2 (h, sql, -1, &st, NULL);
        sqlite3_bind_text (st, 1, t2, l2, SQLITE_STATIC);
        int rc = sqlite3_step (st);
        sqlite3_finalize (st);
        rc = rc == SQLITE_DONE ? sqlite3_exec (h, "DELETE FROM mpages WHERE archive='ref'", NULL, NULL, NULL) : rc;
        sqlite3_close (h);
        cstore_destroy (&cs);
        cs = cstore_new (state, err, sizeof err);
        const manifest_t *old = cs ? cstore_archive_get (cs, "ref", err, sizeof err) : NULL;
        char *pg = old ? cstore_manifest_page (cs, "ref", 0, &pl, err, sizeof err) : NULL;
        free (head);
        head = old ? cstore_archive_head (cs, "ref", &hl, err, sizeof err) : NULL;
        ok (rc == SQLITE_OK && old && old->nentries == 8 && pg && head && manifest_is_head (head, hl),
            "an older broker's row (whole manifest) is read, and cut into a head and pages on request (%s)",
            old ? "ok" : err);
        m = old;
        free (pg);
        free (head);
        free (t1);
        free (t2);
        manifest_destroy (&r);
        manifest_asm_destroy (&a);
    }

    /* bad input */
    const char *dd[] = {"../etc"};
    ok (!cstore_archive_create (cs, "x", root, dd, 1, 0, 0, err, sizeof err) && strstr (err, ".."),
        "\"..\" refused: %s", err);
    const char *nx[] = {"no/such"};
    ok (!cstore_archive_create (cs, "x", root, nx, 1, 0, 0, err, sizeof err) && strstr (err, "No such"),
        "missing path: %s", err);
    ok (!cstore_archive_create (cs, "bad/name", root, paths, 1, 0, 0, err, sizeof err) && strstr (err, "name"),
        "bad name: %s", err);
    ok (!cstore_archive_create (cs, "x", root, paths, 1, 0, 100, err, sizeof err) && strstr (err, "chunk_size"),
        "bad chunk size: %s", err);
    const char *viasym[] = {"src/link/x"};
    ok (!cstore_archive_create (cs, "x", root, viasym, 1, 0, 0, err, sizeof err), "path through a symlink refused: %s",
        err);
    ok (!cstore_archive_get (cs, "x", err, sizeof err), "nothing recorded after failures");

    /* absolute path */
    char absp[400];
    snprintf (absp, sizeof absp, "%s/src/sub/deeper/small", root);
    const char *ap[] = {absp};
    m = cstore_archive_create (cs, "abs", NULL, ap, 1, 0, 0, err, sizeof err);
    ok (m && m->entries[m->nentries - 1].path[0] != '/' && strstr (m->entries[m->nentries - 1].path, "src/sub/deeper/small"),
        "absolute path stored relative: %s", m ? m->entries[m->nentries - 1].path : err);

    /* adopt: reference a tree extracted elsewhere */
    r = cstore_archive_get (cs, "ref", err, sizeof err);
    manifest_t *mr = manifest_dup (r);
    cstore_archive_remove (cs, "ref", err, sizeof err);
    ok (cstore_archive_adopt (cs, mr, root, 0, err, sizeof err) == 0, "adopt (%s)", err);
    bi = manifest_find (mr, "src/big");
    n = cstore_chunk_read (cs, "ref", mr->entries[bi].chunks[0], buf, sizeof buf, err, sizeof err);
    ok (n == 4096 && !memcmp (buf, data, 4096), "adopted archive reads in place");
    n = cstore_chunk_read (cs, "ref", mr->entries[bi].chunks[1], buf, sizeof buf, err, sizeof err);
    ok (n == -EBADMSG, "adopted reference verifies (source changed: %s)", err);
    manifest_destroy (&mr);

    /* adopt CSTORE_VERIFIED: reads of an unchanged file are served; a file
     * written since (new ctime) is verified again and refused if changed */
    {
        static uint8_t tv[3 * 4096];
        for (size_t i = 0; i < sizeof tv; i++)
            tv[i] = (uint8_t)((i * 131 + 17) ^ (i >> 9) ^ 0xa5);
        put_file ("src/tv", tv, sizeof tv, 0644);
        const char *tp[] = {"src/tv"};
        const manifest_t *t = cstore_archive_create (cs, "tv", root, tp, 1, CSTORE_REFERENCE, 4096, err, sizeof err);
        manifest_t *mt = t ? manifest_dup (t) : NULL;
        cstore_archive_remove (cs, "tv", err, sizeof err);
        ok (mt && cstore_archive_adopt (cs, mt, root, CSTORE_VERIFIED, err, sizeof err) == 0,
            "adopt verified (%s)", err);
        size_t ti = mt ? manifest_find (mt, "src/tv") : 0;
        bool all = mt != NULL;
        for (uint32_t k = 0; all && k < 3; k++) {
            n = cstore_chunk_read (cs, "tv", mt->entries[ti].chunks[k], buf, sizeof buf, err, sizeof err);
            all = n == 4096 && !memcmp (buf, tv + k * 4096, 4096);
        }
        ok (all, "verified adoption reads in place");
        char tpath[512];
        snprintf (tpath, sizeof tpath, "%s/src/tv", root);
        int fd = open (tpath, O_WRONLY);
        ok (fd >= 0 && pwrite (fd, "X", 1, 4096 + 5) == 1, "change one byte of the adopted file");
        if (fd >= 0)
            close (fd);
        n = mt ? cstore_chunk_read (cs, "tv", mt->entries[ti].chunks[1], buf, sizeof buf, err, sizeof err) : 0;
        ok (n == -EBADMSG, "a changed file is verified again: %s", err);
        n = mt ? cstore_chunk_read (cs, "tv", mt->entries[ti].chunks[0], buf, sizeof buf, err, sizeof err) : 0;
        ok (n == 4096 && !memcmp (buf, tv, 4096), "its unchanged chunks still verify");
        ok (cstore_archive_remove (cs, "tv", err, sizeof err) == 0, "remove verified adoption");
        manifest_destroy (&mt);
    }

    /* hashed files (doc/archive.md): a referenced file settled before the
     * create, unchanged since its hashing, is known good, here and after a
     * restart; one written just before the create is not (the margin); any
     * write, even of the same length, ends it */
    {
        put_file ("src/h1", data, big, 0644);
        usleep (60 * 1000);
        const char *hp[] = {"src/h1"};
        const manifest_t *mh = cstore_archive_create (cs, "hr", root, hp, 1, CSTORE_REFERENCE, 4096, err,
                                                      sizeof err);
        ok (mh != NULL, "create a reference archive of a settled file (%s)", mh ? "ok" : err);
        v = false;
        n = mh ? cstore_chunk_read_flags (cs, "hr", 1, buf, sizeof buf, CSTORE_READ_CALLER_HASHES, &v, err,
                                          sizeof err) : -1;
        ok (n == 4096 && v && !memcmp (buf, data + 4096, 4096), "its chunk read is known good (%zd)", n);
        cstore_destroy (&cs);
        cs = cstore_new (state, err, sizeof err);
        v = false;
        n = cs ? cstore_chunk_read_flags (cs, "hr", 1, buf, sizeof buf, CSTORE_READ_CALLER_HASHES, &v, err,
                                          sizeof err) : -1;
        ok (n == 4096 && v, "... and still after a restart (the identity is in the index)");
        usleep (30 * 1000);
        data[4100] ^= 0x55;
        snprintf (p, sizeof p, "%s/src/h1", root);
        fd = open (p, O_WRONLY);
        ok (fd >= 0 && pwrite (fd, data + 4100, 1, 4100) == 1, "change one byte of it in place");
        close (fd);
        data[4100] ^= 0x55;
        n = cstore_chunk_read_flags (cs, "hr", 1, buf, sizeof buf, CSTORE_READ_CALLER_HASHES, &v, err, sizeof err);
        ok (n == 4096 && !v, "after the write: not known good (the caller's hash must catch it)");
        n = cstore_chunk_read (cs, "hr", 1, buf, sizeof buf, err, sizeof err);
        ok (n == -EBADMSG, "and a verified read reports it: %s", err);
        /* another file put in its place (same size, mtime set back), or a
         * link planted there: another identity, so hashed again */
        put_file ("src/h1", data, big, 0644);
        snprintf (p, sizeof p, "%s/src/h1", root);
        struct stat hs;
        stat (p, &hs);
        usleep (60 * 1000);
        mh = cstore_archive_create (cs, "hr", root, hp, 1, CSTORE_REFERENCE | CSTORE_REPLACE, 4096, err, sizeof err);
        v = false;
        n = mh ? cstore_chunk_read_flags (cs, "hr", 1, buf, sizeof buf, CSTORE_READ_CALLER_HASHES, &v, err,
                                          sizeof err) : -1;
        ok (n == 4096 && v, "re-created once settled: known good again");
        char p2[600];
        snprintf (p2, sizeof p2, "%s/src/h1.new", root);
        put_file ("src/h1.new", data, big, 0644);
        struct timespec mt[2] = {{0, UTIME_OMIT}, hs.st_mtim};
        utimensat (AT_FDCWD, p2, mt, 0);
        ok (rename (p2, p) == 0, "put another file of the same size and mtime in its place");
        n = cstore_chunk_read_flags (cs, "hr", 1, buf, sizeof buf, CSTORE_READ_CALLER_HASHES, &v, err, sizeof err);
        ok (n == 4096 && !v, "... not known good (another inode)");
        snprintf (p2, sizeof p2, "%s/src/h2link", root);
        put_file ("src/h2link", data, big, 0644);
        ok (unlink (p) == 0 && symlink (p2, p) == 0, "plant a link to another file there");
        n = cstore_chunk_read_flags (cs, "hr", 1, buf, sizeof buf, CSTORE_READ_CALLER_HASHES, &v, err, sizeof err);
        ok (n == 4096 && !v, "... not known good through the link either");
        unlink (p);
        ok (cstore_archive_remove (cs, "hr", err, sizeof err) == 0, "remove it");

        put_file ("src/h2", data, big, 0644);   /* written just now: within the margin */
        const char *hp2[] = {"src/h2"};
        mh = cstore_archive_create (cs, "hr2", root, hp2, 1, CSTORE_REFERENCE, 4096, err, sizeof err);
        v = true;
        n = mh ? cstore_chunk_read_flags (cs, "hr2", 0, buf, sizeof buf, CSTORE_READ_CALLER_HASHES, &v, err,
                                          sizeof err) : -1;
        ok (n == 4096 && !v, "a file written within 20 ms of the create is not known good (%zd)", n);
        v = false;
        n = cstore_chunk_read_flags (cs, "hr2", 0, buf, sizeof buf, 0, &v, err, sizeof err);
        ok (n == 4096 && v, "a verified read of it is (it hashed the bytes)");
        ok (cstore_archive_remove (cs, "hr2", err, sizeof err) == 0, "remove it");
    }

    /* remove and purge */
    ok (cstore_archive_remove (cs, "t1", err, sizeof err) == 0, "remove");
    ok (cstore_archive_get (cs, "t1", err, sizeof err) == NULL && strstr (err, "not found"), "gone");
    ok (cstore_archive_remove (cs, "t1", err, sizeof err) == -ENOENT, "remove twice: %s", err);
    snprintf (p, sizeof p, "%s/content/blobs/ab", state);
    mkdir (p, 0700);
    snprintf (p, sizeof p, "%s/content/blobs/ab/ab00-5", state);
    close (open (p, O_CREAT | O_WRONLY, 0600));
    snprintf (p, sizeof p, "%s/content/tmp/tmp.1.1", state);
    close (open (p, O_CREAT | O_WRONLY, 0600));
    int purged = cstore_purge (cs, err, sizeof err);
    snprintf (p, sizeof p, "%s/content/tmp", state);
    ok (purged >= 1 && count_files (p) == 0, "purge removes orphans and temporaries (%d)", purged);
    m = cstore_archive_get (cs, "abs", err, sizeof err);
    ok (m && cstore_chunk_read (cs, "abs", 0, buf, sizeof buf, err, sizeof err) == 6, "purge keeps live blobs");

    cstore_destroy (&cs);
    free (data);
    char cmd[400];
    snprintf (cmd, sizeof cmd, "rm -rf %s", root);
    system (cmd);
    (void)rootsrc;
    return done ();
}
