/* imagectr.c - hand one image of the node-local store to the node's
 * containerd: an OCI archive of it (libarchive) streamed into
 * `ctr images import -` (doc/images.md, "containerd"). */
#define _GNU_SOURCE
#include "imagectr.h"
#include "errquote.h"
#include "xalloc.h"
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int imagectr_reachable (const char *address, char *err, size_t errlen)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen (address) >= sizeof sa.sun_path)
        return errfail (err, errlen, "containerd address too long: %s", address);
    strcpy (sa.sun_path, address);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errfail (err, errlen, "cannot make a socket: %s", strerror (errno));
    int rc = connect (fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close (fd);
    if (rc < 0)
        return errfail (err, errlen, "containerd is not reachable at %s: %s", address, strerror (e));
    return 0;
}

/* the path of prog in $PATH, or NULL */
static char *find_prog (const char *prog)
{
    const char *path = getenv ("PATH");
    if (!path || !*path)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char *copy = xstrdup (path), *save = NULL;
    for (char *d = strtok_r (copy, ":", &save); d; d = strtok_r (NULL, ":", &save)) {
        char *p = xasprintf ("%s/%s", *d ? d : ".", prog);
        if (access (p, X_OK) == 0) {
            free (copy);
            return p;
        }
        free (p);
    }
    free (copy);
    return NULL;
}

struct sink {
    int fd;
};

static la_ssize_t sink_write (struct archive *a, void *arg, const void *buf, size_t len)
{
    struct sink *s = arg;
    size_t off = 0;
    while (off < len) {
        ssize_t k = write (s->fd, (const char *)buf + off, len - off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            archive_set_error (a, errno, "%s", strerror (errno));
            return -1;
        }
        off += k;
    }
    return (la_ssize_t)len;
}

static int add_mem (struct archive *a, const char *name, const char *data, size_t len)
{
    struct archive_entry *e = archive_entry_new ();
    archive_entry_set_pathname (e, name);
    archive_entry_set_filetype (e, AE_IFREG);
    archive_entry_set_perm (e, 0644);
    archive_entry_set_size (e, (la_int64_t)len);
    int rc = archive_write_header (a, e);
    archive_entry_free (e);
    if (rc != ARCHIVE_OK || (len && archive_write_data (a, data, len) != (la_ssize_t)len))
        return -1;
    return 0;
}

static int add_dir (struct archive *a, const char *name)
{
    struct archive_entry *e = archive_entry_new ();
    archive_entry_set_pathname (e, name);
    archive_entry_set_filetype (e, AE_IFDIR);
    archive_entry_set_perm (e, 0755);
    int rc = archive_write_header (a, e);
    archive_entry_free (e);
    return rc == ARCHIVE_OK ? 0 : -1;
}

static int add_blob (struct archive *a, imagestore_t *st, const char *digest, int64_t size, char *err, size_t errlen)
{
    char p[PATH_MAX], name[128];
    int fd = open (imagestore_blob_path (st, digest, p, sizeof p), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errfail (err, errlen, "blob %s is not in the store: %s", digest, strerror (errno));
    snprintf (name, sizeof name, "blobs/sha256/%s", digest + 7);
    struct archive_entry *e = archive_entry_new ();
    archive_entry_set_pathname (e, name);
    archive_entry_set_filetype (e, AE_IFREG);
    archive_entry_set_perm (e, 0644);
    archive_entry_set_size (e, (la_int64_t)size);
    int rc = archive_write_header (a, e);
    archive_entry_free (e);
    if (rc != ARCHIVE_OK) {
        close (fd);
        return errfail (err, errlen, "cannot write to ctr: %s", archive_error_string (a));
    }
    size_t cap = 1 << 20;
    char *buf = xmalloc (cap);
    int64_t n = 0;
    while (n < size) {
        ssize_t k = read (fd, buf, cap);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            close (fd);
            free (buf);
            return errfail (err, errlen, "blob %s: short read", digest);
        }
        if (n + k > size)
            k = (ssize_t)(size - n);
        if (archive_write_data (a, buf, (size_t)k) != k) {
            close (fd);
            free (buf);
            return errfail (err, errlen, "cannot write to ctr: %s", archive_error_string (a));
        }
        n += k;
    }
    close (fd);
    free (buf);
    return 0;
}

/* last non-empty line of s, trimmed (in place) */
static const char *last_line (char *s)
{
    size_t n = strlen (s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
    char *nl = strrchr (s, '\n');
    return nl ? nl + 1 : s;
}

int imagectr_import (imagestore_t *st, const char *ref, const char *media_type, const char *digest, int64_t size,
                     json_t *blobs, const char *address, const char *ns, char *err, size_t errlen)
{
    if (imagectr_reachable (address, err, errlen) < 0)
        return -1;
    char *ctr = find_prog ("ctr");
    if (!ctr)
        return errfail (err, errlen, "ctr (containerd's client) is not in PATH");
    int in[2], out[2];
    if (pipe2 (in, O_CLOEXEC) < 0) {
        free (ctr);
        return errfail (err, errlen, "pipe: %s", strerror (errno));
    }
    if (pipe2 (out, O_CLOEXEC) < 0) {
        close (in[0]);
        close (in[1]);
        free (ctr);
        return errfail (err, errlen, "pipe: %s", strerror (errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_adddup2 (&fa, in[0], 0);
    posix_spawn_file_actions_adddup2 (&fa, out[1], 1);
    posix_spawn_file_actions_adddup2 (&fa, out[1], 2);
    char *argv[] = { ctr, "--address", (char *)address, "--namespace", (char *)ns, "images", "import", "-", NULL };
    pid_t pid;
    int rc = posix_spawn (&pid, ctr, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    close (in[0]);
    close (out[1]);
    free (ctr);
    if (rc != 0) {
        close (in[1]);
        close (out[0]);
        return errfail (err, errlen, "cannot run ctr: %s", strerror (rc));
    }
    /* ctr's output is small; read it in a second pass (a pipe holds 64 KiB,
     * and ctr prints a line or two while it reads) */
    fcntl (out[0], F_SETFL, O_NONBLOCK);
    struct archive *a = archive_write_new ();
    archive_write_set_format_pax_restricted (a);
    archive_write_set_bytes_per_block (a, 0);
    struct sink s = { .fd = in[1] };
    char werr[512] = "";
    int bad = 0;
    if (archive_write_open (a, &s, NULL, sink_write, NULL) != ARCHIVE_OK) {
        snprintf (werr, sizeof werr, "cannot write to ctr: %s", archive_error_string (a));
        bad = 1;
    }
    if (!bad) {
        const char *layout = "{\"imageLayoutVersion\":\"1.0.0\"}";
        json_t *idx = json_pack ("{s:i s:s s:[{s:s s:s s:I s:{s:s}}]}", "schemaVersion", 2, "mediaType",
                                 "application/vnd.oci.image.index.v1+json", "manifests", "mediaType", media_type,
                                 "digest", digest, "size", (json_int_t)size, "annotations",
                                 "org.opencontainers.image.ref.name", ref);
        char *itext = json_dumps (idx, JSON_COMPACT);
        json_decref (idx);
        if (add_mem (a, "oci-layout", layout, strlen (layout)) < 0 || add_mem (a, "index.json", itext, strlen (itext)) < 0
            || add_dir (a, "blobs") < 0 || add_dir (a, "blobs/sha256") < 0) {
            snprintf (werr, sizeof werr, "cannot write to ctr: %s", archive_error_string (a));
            bad = 1;
        }
        free (itext);
        size_t i;
        json_t *b;
        json_array_foreach (blobs, i, b) {
            if (bad)
                break;
            if (add_blob (a, st, json_string_value (json_object_get (b, "digest")),
                          json_integer_value (json_object_get (b, "size")), werr, sizeof werr)
                < 0)
                bad = 1;
        }
    }
    if (!bad && archive_write_close (a) != ARCHIVE_OK) {
        snprintf (werr, sizeof werr, "cannot write to ctr: %s", archive_error_string (a));
        bad = 1;
    }
    archive_write_free (a);
    close (in[1]);
    /* collect ctr's output until it exits */
    char outbuf[8192];
    size_t on = 0;
    int status = 0;
    for (;;) {
        struct pollfd p = { .fd = out[0], .events = POLLIN };
        poll (&p, 1, 200);
        ssize_t k = read (out[0], outbuf + on, sizeof outbuf - 1 - on);
        if (k > 0) {
            on += (size_t)k;
            if (on >= sizeof outbuf - 1) {   /* keep the tail */
                memmove (outbuf, outbuf + on / 2, on - on / 2);
                on -= on / 2;
            }
            continue;
        }
        if (k == 0)
            break;
        if (errno != EAGAIN && errno != EINTR)
            break;
    }
    outbuf[on] = '\0';
    close (out[0]);
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        char line[600];
        errline (line, sizeof line, last_line (outbuf));
        return errfail (err, errlen, "ctr images import into containerd at %s (namespace %s) failed: %s", address, ns,
                        line[0] ? line : (bad ? werr : "exit status non-zero"));
    }
    if (bad)
        return errfail (err, errlen, "%s", werr);
    return 0;
}
