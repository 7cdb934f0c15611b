/* cstore_walk.c - walking the paths of an archive create: lstat every
 * file, directory and symlink (never followed) in a stable order, record
 * implied parents, turn further names of a file into hard links, count and
 * name the special files skipped.  No hashing here (cstore_pool.c). */
#define _GNU_SOURCE
#include "cstore_int.h"
#include "errquote.h"
#include "xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <limits.h>
#include "fnv.h"

static int walk_add (struct walk *w, const char *rel, const char *abs, bool recurse);

static int cmpstr (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

static bool seen_has (const struct walk *w, const char *rel)
{
    if (!w->seencap)
        return false;
    for (size_t s = fnv1a_str (rel) & (w->seencap - 1); w->seen[s]; s = (s + 1) & (w->seencap - 1))
        if (!strcmp (w->items[w->seen[s] - 1].rel, rel))
            return true;
    return false;
}

/* Record items[w->n] (already filled) in the set.  -1 on ENOMEM. */
static int seen_add (struct walk *w)
{
    if ((w->n + 1) * 2 > w->seencap) {
        size_t ncap = w->seencap ? w->seencap * 2 : 64;
        uint32_t *ns = xcalloc (ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < w->n; i++) {
            size_t s = fnv1a_str (w->items[i].rel) & (ncap - 1);
            while (ns[s])
                s = (s + 1) & (ncap - 1);
            ns[s] = i + 1;
        }
        free (w->seen);
        w->seen = ns;
        w->seencap = ncap;
    }
    size_t s = fnv1a_str (w->items[w->n].rel) & (w->seencap - 1);
    while (w->seen[s])
        s = (s + 1) & (w->seencap - 1);
    w->seen[s] = w->n + 1;
    return 0;
}

/* The item that first named inode (dev, ino), recording item if none did.
 * (size_t)-1 on ENOMEM. */
static size_t inode_find_add (struct walk *w, dev_t dev, ino_t ino, size_t item)
{
    if ((w->ninodes + 1) * 2 > w->inodecap) {
        size_t ncap = w->inodecap ? w->inodecap * 2 : 64;
        struct inode *ni = xcalloc (ncap, sizeof *ni);
        if (!ni)
            return (size_t)-1;
        for (size_t i = 0; i < w->inodecap; i++)
            if (w->inodes[i].item) {
                size_t s = (w->inodes[i].ino * 11400714819323198485ull + w->inodes[i].dev) & (ncap - 1);
                while (ni[s].item)
                    s = (s + 1) & (ncap - 1);
                ni[s] = w->inodes[i];
            }
        free (w->inodes);
        w->inodes = ni;
        w->inodecap = ncap;
    }
    size_t s = (ino * 11400714819323198485ull + dev) & (w->inodecap - 1);
    for (; w->inodes[s].item; s = (s + 1) & (w->inodecap - 1))
        if (w->inodes[s].dev == dev && w->inodes[s].ino == ino)
            return w->inodes[s].item - 1;
    w->inodes[s] = (struct inode){dev, ino, item + 1};
    w->ninodes++;
    return item;
}

static int walk_dir (struct walk *w, const char *rel, const char *abs)
{
    DIR *d = opendir (abs);
    if (!d) {
        seterr (w->err, w->errlen, "%s: %s", abs, strerror (errno));
        return -1;
    }
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    errno = 0;
    while ((e = readdir (d))) {
        if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, ".."))
            continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 32;
            char **nv = xrealloc (names, cap * sizeof *nv);
            if (!nv) {
                rc = -1;
                break;
            }
            names = nv;
        }
        if (!(names[nn] = xstrdup (e->d_name))) {
            rc = -1;
            break;
        }
        nn++;
        errno = 0;
    }
    int rderr = rc < 0 ? ENOMEM : errno;
    closedir (d);
    if (rderr) {
        seterr (w->err, w->errlen, "%s: %s", abs, strerror (rderr));
        rc = -1;
    }
    if (rc == 0)
        qsort (names, nn, sizeof *names, cmpstr);
    for (size_t i = 0; i < nn && rc >= 0; i++) {
        char *crel = rel[0] ? xasprintf ("%s/%s", rel, names[i]) : xstrdup (names[i]);
        char *cabs = xasprintf ("%s/%s", abs, names[i]);
        if (!crel || !cabs) {
            seterr (w->err, w->errlen, "out of memory");
            rc = -1;
        } else if (walk_add (w, crel, cabs, true) < 0)
            rc = -1;
        free (crel);
        free (cabs);
    }
    for (size_t i = 0; i < nn; i++)
        free (names[i]);
    free (names);
    return rc;
}

static int walk_add (struct walk *w, const char *rel, const char *abs, bool recurse)
{
    struct stat sb;
    if (lstat (abs, &sb) < 0) {
        seterr (w->err, w->errlen, "%s: %s", abs, strerror (errno));
        return -1;
    }
    bool dup = rel[0] && seen_has (w, rel);
    if (!dup && rel[0]) {
        if (!S_ISREG (sb.st_mode) && !S_ISDIR (sb.st_mode) && !S_ISLNK (sb.st_mode)) {
            /* fifos, sockets, devices are not archived: counted, named in
             * the create's warning (cstore_warning) */
            size_t l = strlen (w->special);
            if (++w->nspecial <= 4 && l + strlen (rel) + 3 < sizeof w->special)
                snprintf (w->special + l, sizeof w->special - l, "%s%s", l ? ", " : "", rel);
            return 1;
        }
        if (!manifest_path_valid (rel)) {
            seterr (w->err, w->errlen, "%s: cannot be stored in an archive (path too long or odd)", abs);
            return -1;
        }
        if (w->n == w->cap) {
            size_t ncap = w->cap ? w->cap * 2 : 64;
            struct item *ni = xrealloc (w->items, ncap * sizeof *ni);
            if (!ni) {
                seterr (w->err, w->errlen, "out of memory");
                return -1;
            }
            w->items = ni;
            w->cap = ncap;
        }
        struct item *it = &w->items[w->n];
        memset (it, 0, sizeof *it);
        it->rel = xstrdup (rel);
        it->absroot = w->absroot;
        it->mode = sb.st_mode & 07777;
        it->mtime_ns = ts_ns (&sb.st_mtim);
        if (it->mtime_ns < 0)
            it->mtime_ns = 0;
        if (S_ISDIR (sb.st_mode))
            it->type = MANIFEST_DIR;
        else if (S_ISLNK (sb.st_mode)) {
            it->type = MANIFEST_SYMLINK;
            size_t cap = sb.st_size > 0 ? (size_t)sb.st_size + 1 : PATH_MAX;
            it->target = xmalloc (cap);
            ssize_t n = it->target ? readlink (abs, it->target, cap - 1) : -1;
            if (n <= 0) {
                seterr (w->err, w->errlen, "%s: readlink: %s", abs, n == 0 ? "empty" : strerror (errno));
                free (it->rel);
                free (it->target);
                return -1;
            }
            it->target[n] = '\0';
        } else {
            it->type = MANIFEST_FILE;
            it->size = sb.st_size;
            it->dev = sb.st_dev;
            it->ino = sb.st_ino;
            it->ctime_ns = ts_ns (&sb.st_ctim);
            /* a further name of a file already in: a hard link to it */
            if (sb.st_nlink > 1) {
                size_t first = inode_find_add (w, sb.st_dev, sb.st_ino, w->n);
                if (first == (size_t)-1) {
                    seterr (w->err, w->errlen, "out of memory");
                    free (it->rel);
                        return -1;
                }
                if (first != w->n) {
                    it->type = MANIFEST_HARDLINK;
                    it->size = 0;
                    it->target = xstrdup (w->items[first].rel);
                }
            }
        }
        if (!it->rel || seen_add (w) < 0) {
            free (it->rel);
            free (it->target);
            seterr (w->err, w->errlen, "out of memory");
            return -1;
        }
        w->n++;
    }
    else if (dup && !S_ISDIR (sb.st_mode))
        return 0;
    if (S_ISDIR (sb.st_mode) && recurse)
        return walk_dir (w, rel, abs);
    return 0;
}

/* Normalize a user path into rel (no "./", "//", trailing '/'); leading '/'
 * dropped.  "" means the base itself.  -1 on "..". */
static int normalize (const char *in, char **relp)
{
    size_t n = strlen (in);
    char *out = xmalloc (n + 1);
    if (!out)
        return -1;
    size_t o = 0;
    const char *p = in;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t len = e - p;
        if (len == 0)
            break;
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            free (out);
            return -1;
        }
        if (!(len == 1 && p[0] == '.')) {
            if (o)
                out[o++] = '/';
            memcpy (out + o, p, len);
            o += len;
        }
        p = e;
    }
    out[o] = '\0';
    *relp = out;
    return 0;
}

/* Add a user-given path: its parents (as directories), then itself. */
int cs_walk_top (struct walk *w, const char *base, const char *path)
{
    char *rel = NULL;
    if (normalize (path, &rel) < 0) {
        seterr (w->err, w->errlen, "%s: \"..\" not allowed in archive paths", path);
        return -1;
    }
    const char *root = path[0] == '/' ? "" : base;
    w->absroot = path[0] == '/';
    int rc = 0;
    /* implied parents */
    for (char *s = strchr (rel, '/'); s && rc >= 0; s = strchr (s + 1, '/')) {
        *s = '\0';
        char *abs = xasprintf ("%s/%s", root, rel);
        struct stat sb;
        if (!abs)
            rc = -1;
        else if (lstat (abs, &sb) < 0) {
            seterr (w->err, w->errlen, "%s: %s", abs, strerror (errno));
            rc = -1;
        } else if (!S_ISDIR (sb.st_mode)) {
            seterr (w->err, w->errlen, "%s: parent is not a directory (symlinks are not followed)", abs);
            rc = -1;
        } else
            rc = walk_add (w, rel, abs, false);
        free (abs);
        *s = '/';
    }
    if (rc >= 0) {
        char *abs = rel[0] ? xasprintf ("%s/%s", root, rel) : xasprintf ("%s", path[0] == '/' ? "/" : base);
        rc = abs ? walk_add (w, rel, abs, true) : -1;
        free (abs);
    }
    free (rel);
    return rc < 0 ? -1 : 0;
}


void cs_walk_free (struct walk *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free (w->items[i].rel);
        free (w->items[i].target);
    }
    free (w->items);
    free (w->seen);
    free (w->inodes);
    w->items = NULL;
    w->seen = NULL;
    w->inodes = NULL;
    w->n = 0;
}
