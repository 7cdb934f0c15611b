/* extract.c - the extract sink: verified chunks in, an archive's tree out.
 * Contents go to temporary files in DESTDIR/.canopy-extract.NAME/ and are
 * renamed into place when complete; a state file there (one byte per chunk
 * and per entry) makes a later run resume.  See doc/archive.md. */
#define _GNU_SOURCE
#include "xalloc.h"
#include "errquote.h"
#include "extract.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cstore.h"

#define STATE_MAGIC    "canopy-extract 1"
#define STATE_HDR      256
#define ENT_DONE       0x1   /* file/symlink renamed into place */
#define ENT_CREATED    0x2   /* directory made by this extraction */
#define ENT_SAVED      0x4   /* the file that was at this path is kept as o<entry> in the
                              * state directory until extract_done (abort puts it back) */
#define ENT_KEPT       0x8   /* an identical file was there already (EXTRACT_KEEP_SAME) */
#define ENT_BITS       (ENT_DONE | ENT_CREATED | ENT_SAVED | ENT_KEPT)

struct use {
    uint32_t entry;
    uint32_t pos;
};

struct extract {
    manifest_t *m;
    char *destdir;
    int destfd;
    char statename[MANIFEST_NAME_MAX + 32];
    int statedirfd;
    int statefd;
    int flags;
    bool destcreated;
    uint8_t digest[SHA256_LEN];
    uint8_t *have;        /* nchunks */
    uint8_t *ent;         /* nentries: ENT_* */
    uint32_t *remaining;  /* nentries: positions still missing (files) */
    uint32_t *use_start;  /* nchunks + 1: CSR index into uses */
    struct use *uses;
    size_t nmissing;
    size_t nkept;                   /* EXTRACT_KEEP_SAME: entries found in place */
    size_t nsetid;                  /* files whose setuid/setgid bits were dropped */
    uint32_t *links;                /* nentries: first hard link to this file + 1, and
                                     * for a hard link, the next one to the same file + 1 */
    int cur_entry, cur_fd;          /* one open temporary file */
    char *par_path;                 /* one open parent directory */
    int par_fd;
};

#define seterr errfmt /* one-line errors: src/lib/errquote.h */

static void tmpname (char *buf, size_t len, char kind, uint32_t e)
{
    snprintf (buf, len, "%c%" PRIu32, kind, e);
}

static const char *base_name (const char *path)
{
    const char *s = strrchr (path, '/');
    return s ? s + 1 : path;
}

/* --- directories ------------------------------------------------------- */

static void par_close (extract_t *self)
{
    if (self->par_fd >= 0)
        close (self->par_fd);
    self->par_fd = -1;
    free (self->par_path);
    self->par_path = NULL;
}

/* fd of the directory holding path, reached from destdir without following
 * any symlink.  Borrowed (cached); -1 + errno. */
static int parent_fd (extract_t *self, const char *path)
{
    const char *slash = strrchr (path, '/');
    size_t plen = slash ? (size_t)(slash - path) : 0;
    if (plen == 0)
        return self->destfd;
    if (self->par_path && strlen (self->par_path) == plen && !strncmp (self->par_path, path, plen))
        return self->par_fd;
    par_close (self);
    char *p = xstrndup (path, plen);
    if (!p)
        return -1;
    int fd = dup (self->destfd);
    char *save = NULL;
    for (char *c = strtok_r (p, "/", &save); c && fd >= 0; c = strtok_r (NULL, "/", &save)) {
        int nfd = openat (fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close (fd);
        fd = nfd;
        errno = e;
    }
    if (fd < 0) {
        free (p);
        return -1;
    }
    /* strtok_r cut p; keep the original prefix for the cache */
    free (p);
    self->par_path = xstrndup (path, plen);
    self->par_fd = fd;
    return fd;
}

/* --- state file -------------------------------------------------------- */

static int state_set_chunk (extract_t *self, uint32_t idx)
{
    self->have[idx] = 1;
    return pwrite (self->statefd, &self->have[idx], 1, STATE_HDR + idx) == 1 ? 0 : -1;
}

static int state_set_entry (extract_t *self, uint32_t e, uint8_t bits)
{
    self->ent[e] |= bits;
    return pwrite (self->statefd, &self->ent[e], 1, STATE_HDR + self->m->nchunks + e) == 1 ? 0 : -1;
}

/* Remove everything inside the state directory. */
static void state_wipe (extract_t *self)
{
    /* a new open file description: a dup() would share the read position */
    int fd = openat (self->statedirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
    struct dirent *de;
    if (!d) {
        if (fd >= 0)
            close (fd);
        return;
    }
    while ((de = readdir (d)))
        if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
            unlinkat (self->statedirfd, de->d_name, 0);
    closedir (d);
}

/* Does the state directory hold a file set aside (o<N>)? */
static bool state_holds_saved (extract_t *self)
{
    int fd = openat (self->statedirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
    struct dirent *de;
    bool found = false;
    if (!d) {
        if (fd >= 0)
            close (fd);
        return false;
    }
    while (!found && (de = readdir (d)))
        found = de->d_name[0] == 'o' && de->d_name[1] >= '0' && de->d_name[1] <= '9';
    closedir (d);
    return found;
}

static void state_remove (extract_t *self)
{
    if (self->statefd >= 0)
        close (self->statefd);
    self->statefd = -1;
    if (self->cur_fd >= 0)
        close (self->cur_fd);
    self->cur_fd = -1;
    self->cur_entry = -1;
    if (self->statedirfd >= 0) {
        state_wipe (self);
        close (self->statedirfd);
        self->statedirfd = -1;
        unlinkat (self->destfd, self->statename, AT_REMOVEDIR);
    }
}

/* Open or create the state file; loads have/ent when it matches.  Returns
 * 1 if resumed, 0 if fresh, -1 + err. */
static int state_open (extract_t *self, char *err, size_t errlen)
{
    char hdr[STATE_HDR], dhex[SHA256_HEXLEN + 1];
    sha256_hex (self->digest, dhex);
    memset (hdr, ' ', sizeof hdr);
    int n = snprintf (hdr, sizeof hdr, "%s %s %zu %zu %d", STATE_MAGIC, dhex, self->m->nchunks,
                      self->m->nentries, self->destcreated ? 1 : 0);
    hdr[n] = ' ';
    hdr[STATE_HDR - 1] = '\n';
    size_t body = self->m->nchunks + self->m->nentries;

    int fd = openat (self->statedirfd, "state", O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0 && !(self->flags & EXTRACT_NO_RESUME)) {
        char old[STATE_HDR];
        /* the destcreated digit may differ: compare up to it */
        if (pread (fd, old, STATE_HDR, 0) == STATE_HDR && !memcmp (old, hdr, n - 1)) {
            uint8_t *buf = xcalloc (1, body ? body : 1);
            ssize_t got = buf ? pread (fd, buf, body, STATE_HDR) : -1;
            if (got == (ssize_t)body) {
                for (size_t i = 0; i < self->m->nchunks; i++)
                    self->have[i] = buf[i] == 1;
                for (size_t i = 0; i < self->m->nentries; i++)
                    self->ent[i] = buf[self->m->nchunks + i] & ENT_BITS;
                self->destcreated = old[n - 1] == '1';
                free (buf);
                self->statefd = fd;
                return 1;
            }
            free (buf);
        }
    }
    if (fd >= 0)
        close (fd);
    if (state_holds_saved (self)) {
        seterr (err, errlen, "extract: %s/%s holds files set aside by an interrupted extraction of "
                "another version of %s (o<N>: the files that were in %s before): resume that "
                "extraction or move them back by hand", self->destdir, self->statename, self->m->name,
                self->destdir);
        return -1;
    }
    state_wipe (self);   /* another archive's, or unreadable: start over */
    fd = openat (self->statedirfd, "state", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                 0600);
    if (fd < 0 || pwrite (fd, hdr, STATE_HDR, 0) != STATE_HDR
        || ftruncate (fd, STATE_HDR + body) < 0) {
        seterr (err, errlen, "extract: %s/%s/state: %s", self->destdir, self->statename,
                strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    self->statefd = fd;
    return 0;
}

/* --- files ------------------------------------------------------------- */

static void cur_close (extract_t *self)
{
    if (self->cur_fd >= 0)
        close (self->cur_fd);
    self->cur_fd = -1;
    self->cur_entry = -1;
}

/* The temporary file of entry e, created (at full size, sparse) if needed.
 * Borrowed fd, or -1 + errno.  create=false: do not create. */
static int tmp_fd (extract_t *self, uint32_t e, bool create)
{
    if (self->cur_entry == (int)e)
        return self->cur_fd;
    cur_close (self);
    char name[32];
    tmpname (name, sizeof name, 'f', e);
    int fd = openat (self->statedirfd, name,
                     O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
    if (fd < 0)
        return -1;
    struct stat sb;
    if (fstat (fd, &sb) < 0
        || ((uint64_t)sb.st_size != self->m->entries[e].size
            && ftruncate (fd, self->m->entries[e].size) < 0)) {
        int en = errno;
        close (fd);
        errno = en;
        return -1;
    }
    self->cur_fd = fd;
    self->cur_entry = e;
    return fd;
}

static uint32_t file_mode (uint32_t mode)
{
    return mode & 01777;   /* no setuid/setgid from an archive */
}

static int fail_errno (char *err, size_t errlen, const extract_t *self, const char *path,
                       const char *what)
{
    int e = errno ? errno : EIO;
    seterr (err, errlen, "extract: %s/%s: %s%s%s", self->destdir, path, what ? what : "",
            what ? ": " : "", strerror (e));
    return -e;
}

/* Rename the temporary `name` (in the state directory) to entry e's path.
 * Whatever non-directory was at that path is first set aside as o<e> in the
 * state directory (ENT_SAVED, recorded before the move), so extract_abort can
 * put it back and only extract_done deletes it.  0 or -errno + err. */
static int place (extract_t *self, uint32_t e, const char *name, char *err, size_t errlen)
{
    const manifest_entry_t *en = &self->m->entries[e];
    int pfd = parent_fd (self, en->path);
    if (pfd < 0)
        return fail_errno (err, errlen, self, en->path, NULL);
    const char *b = base_name (en->path);
    struct stat sb;
    if (!(self->ent[e] & ENT_SAVED) && fstatat (pfd, b, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISDIR (sb.st_mode)) {
            seterr (err, errlen, "extract: %s/%s: exists and is a directory", self->destdir, en->path);
            return -EISDIR;
        }
        char oname[32];
        tmpname (oname, sizeof oname, 'o', e);
        if (state_set_entry (self, e, ENT_SAVED) < 0)
            return fail_errno (err, errlen, self, self->statename, "state");
        if (renameat (pfd, b, self->statedirfd, oname) < 0) {
            int rc = fail_errno (err, errlen, self, en->path, "set aside");
            self->ent[e] &= ~ENT_SAVED;
            state_set_entry (self, e, 0);
            return rc;
        }
    }
    if (renameat (self->statedirfd, name, pfd, b) < 0)
        return fail_errno (err, errlen, self, en->path, NULL);
    if (state_set_entry (self, e, ENT_DONE) < 0)
        return fail_errno (err, errlen, self, self->statename, "state");
    return 0;
}

static int links_finish (extract_t *self, uint32_t e, char *err, size_t errlen);

/* Entry e (a file with all chunks, or an empty one) into place. */
static int file_finish (extract_t *self, uint32_t e, char *err, size_t errlen)
{
    const manifest_entry_t *en = &self->m->entries[e];
    int fd = tmp_fd (self, e, true);
    if (fd < 0)
        return fail_errno (err, errlen, self, en->path, NULL);
    struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT},
                             {.tv_sec = en->mtime_ns / 1000000000LL,
                              .tv_nsec = en->mtime_ns % 1000000000LL}};
    if (fchmod (fd, file_mode (en->mode)) < 0 || futimens (fd, ts) < 0
        || ((self->flags & EXTRACT_FSYNC) && fsync (fd) < 0))
        return fail_errno (err, errlen, self, en->path, NULL);
    cur_close (self);
    char name[32];
    tmpname (name, sizeof name, 'f', e);
    int rc = place (self, e, name, err, errlen);
    if (rc == 0 && (en->mode & 06000))
        self->nsetid++;
    return rc < 0 ? rc : links_finish (self, e, err, errlen);
}

static int symlink_finish (extract_t *self, uint32_t e, char *err, size_t errlen)
{
    const manifest_entry_t *en = &self->m->entries[e];
    char name[32];
    tmpname (name, sizeof name, 's', e);
    unlinkat (self->statedirfd, name, 0);
    struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT},
                             {.tv_sec = en->mtime_ns / 1000000000LL,
                              .tv_nsec = en->mtime_ns % 1000000000LL}};
    if (symlinkat (en->target, self->statedirfd, name) < 0)
        return fail_errno (err, errlen, self, en->path, NULL);
    utimensat (self->statedirfd, name, ts, AT_SYMLINK_NOFOLLOW);   /* best effort */
    int rc = place (self, e, name, err, errlen);
    if (rc < 0)
        unlinkat (self->statedirfd, name, 0);
    return rc;
}

/* Hard link h, once its file is in place: linked under a temporary name in
 * the state directory, then placed like any other entry. */
static int link_finish (extract_t *self, uint32_t h, char *err, size_t errlen)
{
    const manifest_entry_t *en = &self->m->entries[h];
    const manifest_entry_t *te = &self->m->entries[en->link];
    if ((self->ent[h] & ENT_DONE) || !(self->ent[en->link] & ENT_DONE))
        return 0;
    char name[32];
    tmpname (name, sizeof name, 'h', h);
    unlinkat (self->statedirfd, name, 0);
    int tfd = parent_fd (self, te->path);
    if (tfd < 0 || linkat (tfd, base_name (te->path), self->statedirfd, name, 0) < 0)
        return fail_errno (err, errlen, self, en->path, "hard link");
    int rc = place (self, h, name, err, errlen);
    if (rc < 0)
        unlinkat (self->statedirfd, name, 0);
    return rc;
}

/* Every hard link to file e (now in place). */
static int links_finish (extract_t *self, uint32_t e, char *err, size_t errlen)
{
    for (uint32_t h = self->links[e]; h; h = self->links[h - 1]) {
        int rc = link_finish (self, h - 1, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int dir_make (extract_t *self, uint32_t e, char *err, size_t errlen)
{
    const manifest_entry_t *en = &self->m->entries[e];
    int pfd = parent_fd (self, en->path);
    if (pfd < 0)
        return fail_errno (err, errlen, self, en->path, NULL);
    const char *b = base_name (en->path);
    if (mkdirat (pfd, b, 0700) == 0)
        return state_set_entry (self, e, ENT_CREATED) < 0
                   ? fail_errno (err, errlen, self, self->statename, "state") : 0;
    if (errno != EEXIST)
        return fail_errno (err, errlen, self, en->path, NULL);
    struct stat sb;
    if (fstatat (pfd, b, &sb, AT_SYMLINK_NOFOLLOW) < 0)
        return fail_errno (err, errlen, self, en->path, NULL);
    if (!S_ISDIR (sb.st_mode)) {
        seterr (err, errlen, "extract: %s/%s: exists and is not a directory", self->destdir, en->path);
        return -EEXIST;
    }
    return 0;
}

/* --- reading back -------------------------------------------------------- */

/* Read position (e, pos) of a file into buf and, if verify, compare with chunk c. */
static ssize_t read_pos (extract_t *self, uint32_t e, uint32_t pos, uint32_t c, void *buf,
                         bool verify)
{
    const manifest_entry_t *en = &self->m->entries[e];
    int fd, own = -1;
    if (self->ent[e] & ENT_DONE) {
        int pfd = parent_fd (self, en->path);
        if (pfd < 0)
            return -errno;
        fd = own = openat (pfd, base_name (en->path), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    } else
        fd = tmp_fd (self, e, false);
    if (fd < 0)
        return -errno;
    uint32_t len = self->m->chunks[c].len;
    uint64_t off = (uint64_t)pos * self->m->chunk_size;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread (fd, (char *)buf + got, len - got, off + got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += n;
    }
    if (own >= 0)
        close (own);
    uint8_t h[SHA256_LEN];
    if (got != len)
        return EXTRACT_ECORRUPT;
    if (!verify)
        return len;
    sha256_hash (buf, len, h);
    return memcmp (h, self->m->chunks[c].hash, SHA256_LEN) ? EXTRACT_ECORRUPT : (ssize_t)len;
}

/* Resume: re-verify every present chunk at each place a pending file holds it. */
static int resume_verify (extract_t *self, char *err, size_t errlen)
{
    manifest_t *m = self->m;
    uint8_t *buf = xmalloc (m->chunk_size);
    if (!buf) {
        seterr (err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t e = 0; e < m->nentries; e++) {
        const manifest_entry_t *en = &m->entries[e];
        if (en->type != MANIFEST_FILE || (self->ent[e] & ENT_DONE) || !en->nchunks)
            continue;
        bool exists = tmp_fd (self, e, false) >= 0;
        for (uint32_t k = 0; k < en->nchunks; k++) {
            uint32_t c = en->chunks[k];
            if (self->have[c] && (!exists || read_pos (self, e, k, c, buf, true) < 0)) {
                self->have[c] = 0;
                pwrite (self->statefd, &self->have[c], 1, STATE_HDR + c);
            }
        }
    }
    /* a finished file must still be there */
    for (size_t e = 0; e < m->nentries; e++) {
        const manifest_entry_t *en = &m->entries[e];
        if (!(self->ent[e] & ENT_DONE) || en->type == MANIFEST_DIR)
            continue;
        int pfd = parent_fd (self, en->path);
        struct stat sb;
        if (pfd < 0 || fstatat (pfd, base_name (en->path), &sb, AT_SYMLINK_NOFOLLOW) < 0
            || (en->type == MANIFEST_FILE && (uint64_t)sb.st_size != en->size)) {
            self->ent[e] &= ~ENT_DONE;
            pwrite (self->statefd, &self->ent[e], 1, STATE_HDR + m->nchunks + e);
            for (uint32_t k = 0; k < en->nchunks; k++)
                self->have[en->chunks[k]] = 0;   /* re-fetch what it needs */
        }
    }
    free (buf);
    return 0;
}

/* EXTRACT_KEEP_SAME on a fresh extraction: mark the files and symlinks
 * already in place and identical as done and kept (ENT_DONE | ENT_KEPT), and
 * the chunks only such files use as present. */
static int keep_same (extract_t *self, char *err, size_t errlen)
{
    manifest_t *m = self->m;
    uint8_t *buf = xmalloc (m->chunk_size);
    if (!buf) {
        seterr (err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (size_t e = 0; e < m->nentries; e++) {
        const manifest_entry_t *en = &m->entries[e];
        if (en->type == MANIFEST_DIR || self->ent[e])
            continue;
        int pfd = parent_fd (self, en->path);
        struct stat sb;
        if (pfd < 0 || fstatat (pfd, base_name (en->path), &sb, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        bool same = false;
        if (en->type == MANIFEST_SYMLINK && S_ISLNK (sb.st_mode)) {
            size_t tl = strlen (en->target);
            char *t = xmalloc (tl + 2);
            ssize_t n = t ? readlinkat (pfd, base_name (en->path), t, tl + 1) : -1;
            same = n == (ssize_t)tl && !memcmp (t, en->target, tl);
            free (t);
        }
        else if (en->type == MANIFEST_FILE && S_ISREG (sb.st_mode) && (uint64_t)sb.st_size == en->size
                 && (sb.st_mode & 07777) == file_mode (en->mode)
                 && (int64_t)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec == en->mtime_ns) {
            self->ent[e] = ENT_DONE;   /* read_pos reads the file in place */
            same = true;
            for (uint32_t k = 0; k < en->nchunks && same; k++)
                same = read_pos (self, e, k, en->chunks[k], buf, true) >= 0;
            self->ent[e] = 0;
        }
        if (same) {
            if (state_set_entry (self, e, ENT_DONE | ENT_KEPT) < 0) {
                free (buf);
                return fail_errno (err, errlen, self, self->statename, "state");
            }
            self->nkept++;
        }
    }
    free (buf);
    /* a chunk is present when every file that uses it is done */
    for (size_t c = 0; c < m->nchunks; c++) {
        bool all = self->use_start[c] < self->use_start[c + 1];
        for (uint32_t u = self->use_start[c]; u < self->use_start[c + 1] && all; u++)
            all = (self->ent[self->uses[u].entry] & ENT_DONE) != 0;
        if (all && !self->have[c] && state_set_chunk (self, c) < 0)
            return fail_errno (err, errlen, self, self->statename, "state");
    }
    return 0;
}

size_t extract_kept (const extract_t *self)
{
    return self->nkept;
}

size_t extract_setid_dropped (const extract_t *self)
{
    return self->nsetid;
}

int extract_lock (const char *destdir, bool wait, char *err, size_t errlen)
{
    int fd = open (destdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        seterr (err, errlen, "extract: %s: %s", destdir, strerror (e));
        return -e;
    }
    int rc;
    while ((rc = flock (fd, LOCK_EX | (wait ? 0 : LOCK_NB))) < 0 && errno == EINTR)
        ;
    if (rc < 0) {
        int e = errno;
        close (fd);
        if (e == EWOULDBLOCK)
            return -EWOULDBLOCK;
        seterr (err, errlen, "extract: lock %s: %s", destdir, strerror (e));
        return -e;
    }
    return fd;
}

/* --- public ------------------------------------------------------------- */

extract_t *extract_new (const manifest_t *m, const char *destdir, int flags, char *err,
                        size_t errlen)
{
    extract_t *self = xcalloc (1, sizeof *self);
    char e[256];
    if (!self) {
        seterr (err, errlen, "out of memory");
        return NULL;
    }
    self->destfd = self->statedirfd = self->statefd = self->cur_fd = self->par_fd = -1;
    self->cur_entry = -1;
    self->flags = flags;
    /* a reference, not a copy (one manifest in memory per archive); a
     * decoded or assembled manifest is known valid, validate is free */
    if (!m || manifest_validate (m, e, sizeof e) < 0) {
        seterr (err, errlen, "extract: invalid manifest: %s", m ? e : "missing");
        goto fail_nothing;
    }
    m = self->m = manifest_ref (m);
    manifest_digest (m, self->digest);
    snprintf (self->statename, sizeof self->statename, ".canopy-extract.%s", m->name);
    if (manifest_find (m, self->statename) >= 0) {
        seterr (err, errlen, "extract: archive has an entry named %s (reserved)", self->statename);
        goto fail_nothing;
    }
    if (!destdir || !destdir[0]) {
        seterr (err, errlen, "extract: no destination directory");
        goto fail_nothing;
    }
    if (mkdir (destdir, 0755) == 0)
        self->destcreated = true;
    else if (errno != EEXIST) {
        seterr (err, errlen, "extract: %s: %s", destdir, strerror (errno));
        goto fail_nothing;
    }
    if (!(self->destdir = realpath (destdir, NULL))
        || (self->destfd = open (self->destdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        seterr (err, errlen, "extract: %s: %s", destdir, strerror (errno));
        goto fail;
    }
    if (mkdirat (self->destfd, self->statename, 0700) < 0 && errno != EEXIST) {
        seterr (err, errlen, "extract: %s: %s", self->destdir, strerror (errno));
        goto fail;
    }
    self->statedirfd = openat (self->destfd, self->statename,
                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    size_t nc = m->nchunks, ne = m->nentries;
    self->have = xcalloc (nc ? nc : 1, 1);
    self->ent = xcalloc (ne ? ne : 1, 1);
    self->remaining = xcalloc (ne ? ne : 1, sizeof *self->remaining);
    self->use_start = xcalloc (nc + 1, sizeof *self->use_start);
    self->links = xcalloc (ne ? ne : 1, sizeof *self->links);
    if (self->statedirfd < 0) {
        seterr (err, errlen, "extract: %s/%s: %s", self->destdir, self->statename, strerror (errno));
        goto fail;
    }
    if (!self->have || !self->ent || !self->remaining || !self->use_start || !self->links) {
        seterr (err, errlen, "out of memory");
        goto fail;
    }
    /* uses of each chunk (CSR) */
    size_t nuses = 0;
    for (size_t i = 0; i < ne; i++)
        for (uint32_t k = 0; k < m->entries[i].nchunks; k++) {
            self->use_start[m->entries[i].chunks[k] + 1]++;
            nuses++;
        }
    for (size_t c = 0; c < nc; c++)
        self->use_start[c + 1] += self->use_start[c];
    if (!(self->uses = xmalloc ((nuses ? nuses : 1) * sizeof *self->uses))) {
        seterr (err, errlen, "out of memory");
        goto fail;
    }
    {
        uint32_t *fill = xcalloc (nc ? nc : 1, sizeof *fill);
        if (!fill) {
            seterr (err, errlen, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < ne; i++)
            for (uint32_t k = 0; k < m->entries[i].nchunks; k++) {
                uint32_t c = m->entries[i].chunks[k];
                self->uses[self->use_start[c] + fill[c]++] = (struct use){i, k};
            }
        free (fill);
    }
    /* hard links: a chain per file, in entry order */
    for (size_t i = ne; i-- > 0;)
        if (m->entries[i].type == MANIFEST_HARDLINK) {
            uint32_t t = m->entries[i].link;
            self->links[i] = self->links[t];   /* next link to t */
            self->links[t] = i + 1;
        }
    int resumed = state_open (self, err, errlen);
    if (resumed < 0)
        goto fail;
    if (resumed && resume_verify (self, err, errlen) < 0)
        goto fail;
    if (!resumed && (flags & EXTRACT_KEEP_SAME) && keep_same (self, err, errlen) < 0)
        goto fail;
    /* directories, then what is complete already: empty files, symlinks */
    for (size_t i = 0; i < ne; i++) {
        const manifest_entry_t *en = &m->entries[i];
        int rc = 0;
        if (en->type == MANIFEST_DIR)
            rc = dir_make (self, i, err, errlen);
        else if (self->ent[i] & ENT_DONE)
            continue;
        else if (en->type == MANIFEST_SYMLINK)
            rc = symlink_finish (self, i, err, errlen);
        if (rc < 0)
            goto fail;
    }
    for (size_t i = 0; i < ne; i++)
        for (uint32_t k = 0; k < m->entries[i].nchunks; k++)
            if (!self->have[m->entries[i].chunks[k]])
                self->remaining[i]++;
    for (size_t c = 0; c < nc; c++)
        if (!self->have[c])
            self->nmissing++;
    for (size_t i = 0; i < ne; i++)
        if (m->entries[i].type == MANIFEST_FILE && !(self->ent[i] & ENT_DONE)
            && self->remaining[i] == 0 && file_finish (self, i, err, errlen) < 0)
            goto fail;
    /* links to files in place already (resumed, kept) */
    for (size_t i = 0; i < ne; i++)
        if (m->entries[i].type == MANIFEST_HARDLINK && link_finish (self, i, err, errlen) < 0)
            goto fail;
    return self;
fail:
    extract_abort (&self);
    return NULL;
fail_nothing:
    manifest_destroy (&self->m);
    free (self);
    return NULL;
}

static void free_self (extract_t *self)
{
    cur_close (self);
    par_close (self);
    if (self->statefd >= 0)
        close (self->statefd);
    if (self->statedirfd >= 0)
        close (self->statedirfd);
    if (self->destfd >= 0)
        close (self->destfd);
    manifest_destroy (&self->m);
    free (self->destdir);
    free (self->have);
    free (self->ent);
    free (self->remaining);
    free (self->use_start);
    free (self->uses);
    free (self->links);
    free (self);
}

void extract_destroy (extract_t **p)
{
    if (p && *p) {
        free_self (*p);
        *p = NULL;
    }
}

void extract_abort (extract_t **p)
{
    if (!p || !*p)
        return;
    extract_t *self = *p;
    if (self->destfd >= 0) {
        /* first put back what we set aside (the user's files), then remove
         * what we made; only then the state directory */
        for (size_t i = self->m ? self->m->nentries : 0; i-- > 0;) {
            const manifest_entry_t *en = &self->m->entries[i];
            if (!self->ent || !(self->ent[i] & (ENT_DONE | ENT_CREATED | ENT_SAVED))
                || (self->ent[i] & ENT_KEPT))
                continue;
            par_close (self);
            int pfd = parent_fd (self, en->path);
            if (pfd < 0)
                continue;
            char oname[32];
            tmpname (oname, sizeof oname, 'o', i);
            if ((self->ent[i] & ENT_SAVED) && self->statedirfd >= 0
                && renameat (self->statedirfd, oname, pfd, base_name (en->path)) == 0)
                continue;   /* the user's file is back (over ours, if placed) */
            if (self->ent[i] & (ENT_DONE | ENT_CREATED))
                unlinkat (pfd, base_name (en->path), en->type == MANIFEST_DIR ? AT_REMOVEDIR : 0);
        }
        state_remove (self);
        par_close (self);
        if (self->destcreated && self->destdir)
            rmdir (self->destdir);
    }
    free_self (self);
    *p = NULL;
}

const manifest_t *extract_manifest (const extract_t *self)
{
    return self->m;
}

static bool all_zero (const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy (&w, p + i, 8);
        if (w)
            return false;
    }
    for (; i < len; i++)
        if (p[i])
            return false;
    return true;
}

static int put (extract_t *self, uint32_t idx, const void *data, size_t len, bool verify,
                char *err, size_t errlen)
{
    const manifest_t *m = self->m;
    if (idx >= m->nchunks) {
        seterr (err, errlen, "extract: chunk %" PRIu32 " out of range (archive has %zu)", idx,
                m->nchunks);
        return -EINVAL;
    }
    if (self->have[idx])
        return 0;
    if (len != m->chunks[idx].len) {
        seterr (err, errlen, "extract: chunk %" PRIu32 ": %zu bytes, expected %" PRIu32, idx, len,
                m->chunks[idx].len);
        return EXTRACT_ECORRUPT;
    }
    if (verify) {
        uint8_t h[SHA256_LEN];
        sha256_hash (data, len, h);
        if (memcmp (h, m->chunks[idx].hash, SHA256_LEN)) {
            seterr (err, errlen, "extract: chunk %" PRIu32 ": SHA-256 mismatch", idx);
            return EXTRACT_ECORRUPT;
        }
    }
    bool zero = all_zero (data, len);   /* the temporary is sparse: leave the hole */
    for (uint32_t u = self->use_start[idx]; u < self->use_start[idx + 1]; u++) {
        uint32_t e = self->uses[u].entry;
        if (self->ent[e] & ENT_DONE)
            continue;
        int fd = tmp_fd (self, e, true);
        if (fd < 0)
            return fail_errno (err, errlen, self, m->entries[e].path, NULL);
        if (zero)
            continue;
        uint64_t off = (uint64_t)self->uses[u].pos * m->chunk_size;
        size_t done = 0;
        while (done < len) {
            ssize_t n = pwrite (fd, (const char *)data + done, len - done, off + done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                if (n == 0)
                    errno = ENOSPC;
                return fail_errno (err, errlen, self, m->entries[e].path, NULL);
            }
            done += n;
        }
    }
    if (state_set_chunk (self, idx) < 0)
        return fail_errno (err, errlen, self, self->statename, "state");
    self->nmissing--;
    for (uint32_t u = self->use_start[idx]; u < self->use_start[idx + 1]; u++) {
        uint32_t e = self->uses[u].entry;
        if (self->ent[e] & ENT_DONE)
            continue;
        if (--self->remaining[e] == 0) {
            int rc = file_finish (self, e, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

int extract_put (extract_t *self, uint32_t idx, const void *data, size_t len, char *err,
                 size_t errlen)
{
    return put (self, idx, data, len, true, err, errlen);
}

int extract_put_verified (extract_t *self, uint32_t idx, const void *data, size_t len,
                          char *err, size_t errlen)
{
    return put (self, idx, data, len, false, err, errlen);
}

bool extract_have (const extract_t *self, uint32_t idx)
{
    return idx < self->m->nchunks && self->have[idx];
}

const uint8_t *extract_bitmap (const extract_t *self)
{
    return self->have;
}

size_t extract_missing (const extract_t *self)
{
    return self->nmissing;
}

int64_t extract_next_missing (const extract_t *self, uint32_t from)
{
    for (size_t i = from; i < self->m->nchunks; i++)
        if (!self->have[i])
            return i;
    return -1;
}

ssize_t extract_read (extract_t *self, uint32_t idx, void *buf, size_t buflen, char *err,
                      size_t errlen)
{
    if (idx >= self->m->nchunks || !self->have[idx]) {
        seterr (err, errlen, "extract: chunk %" PRIu32 " not present", idx);
        return -ENOENT;
    }
    if (buflen < self->m->chunks[idx].len) {
        seterr (err, errlen, "extract: buffer too small for chunk %" PRIu32, idx);
        return -EINVAL;
    }
    ssize_t rc = -ENOENT;
    for (uint32_t u = self->use_start[idx]; u < self->use_start[idx + 1]; u++) {
        /* A temporary file is ours (in the 0700 state directory, written
         * only by put() after the chunk was verified): no second hash.  A
         * file renamed into place is the user's: re-verify. */
        uint32_t e = self->uses[u].entry;
        rc = read_pos (self, e, self->uses[u].pos, idx, buf, (self->ent[e] & ENT_DONE) != 0);
        if (rc >= 0)
            return rc;
    }
    seterr (err, errlen, "extract: chunk %" PRIu32 ": changed on disk since it was written", idx);
    return rc == -ENOENT ? rc : EXTRACT_ECORRUPT;
}

int extract_done (extract_t *self, char *err, size_t errlen)
{
    const manifest_t *m = self->m;
    if (self->nmissing) {
        seterr (err, errlen, "extract: %zu of %zu chunks still missing", self->nmissing, m->nchunks);
        return -EAGAIN;
    }
    /* directory modes and mtimes first, then the commit: removing the state
     * directory deletes the files set aside (ENT_SAVED); a failure before
     * that still lets extract_abort put them back */
    cur_close (self);
    par_close (self);
    for (size_t i = m->nentries; i-- > 0;) {
        const manifest_entry_t *en = &m->entries[i];
        if (en->type != MANIFEST_DIR)
            continue;
        int pfd = parent_fd (self, en->path);
        int fd = pfd < 0 ? -1 : openat (pfd, base_name (en->path),
                                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT},
                                 {.tv_sec = en->mtime_ns / 1000000000LL,
                                  .tv_nsec = en->mtime_ns % 1000000000LL}};
        if (fd < 0 || fchmod (fd, file_mode (en->mode)) < 0 || futimens (fd, ts) < 0) {
            int rc = fail_errno (err, errlen, self, en->path, NULL);
            if (fd >= 0)
                close (fd);
            return rc;
        }
        close (fd);
    }
    par_close (self);
    state_remove (self);
    return 0;
}

int extract_archive (struct cstore *cs, const char *name, const char *destdir, int flags,
                     char *err, size_t errlen)
{
    const manifest_t *m = cstore_archive_get (cs, name, err, errlen);
    if (!m)
        return -ENOENT;
    if (!destdir || !destdir[0]) {
        seterr (err, errlen, "extract: no destination directory");
        return -EINVAL;
    }
    /* one extraction per directory: wait for any other one here */
    bool made = mkdir (destdir, 0755) == 0;
    if (!made && errno != EEXIST) {
        int e = errno;
        seterr (err, errlen, "extract: %s: %s", destdir, strerror (e));
        return -e;
    }
    int lockfd = extract_lock (destdir, true, err, errlen);
    if (lockfd < 0) {
        if (made)
            rmdir (destdir);
        return lockfd;
    }
    extract_t *x = extract_new (m, destdir, flags, err, errlen);
    if (!x) {
        if (made)
            rmdir (destdir);
        close (lockfd);
        return -EIO;
    }
    x->destcreated = x->destcreated || made;
    uint8_t *buf = xmalloc (x->m->chunk_size);
    int rc = buf ? 0 : -ENOMEM;
    if (!buf)
        seterr (err, errlen, "out of memory");
    for (size_t i = 0; rc == 0 && i < x->m->nchunks; i++) {
        if (x->have[i])
            continue;
        ssize_t n = cstore_chunk_read (cs, name, i, buf, x->m->chunk_size, err, errlen);
        if (n < 0)
            rc = (int)n;
        else   /* cstore_chunk_read verified the hash already */
            rc = put (x, i, buf, n, false, err, errlen);
    }
    free (buf);
    if (rc == 0)
        rc = extract_done (x, err, errlen);
    if (rc < 0)
        extract_abort (&x);
    else
        extract_destroy (&x);
    close (lockfd);
    return rc;
}
