/* imagehosts.c - containerd's per-registry mirror configuration
 * (CONFIG_PATH/REGISTRY/hosts.toml) written for the node's image mirror and
 * taken back: a file canopy did not write is kept as a backup and restored,
 * never lost (doc/images.md, "Mirror"). */
#define _GNU_SOURCE
#include "imagehosts.h"
#include "errquote.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARK "# written by canopy image mirror"

int imagehosts_registry_ok (const char *r)
{
    size_t n = strlen (r);
    if (n == 0 || n > 253 || !strcmp (r, ".") || !strcmp (r, "..") || r[0] == '.' || r[0] == '-')
        return 0;
    return strspn (r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") == n;
}

static const char *server_host (const char *r)
{
    return !strcmp (r, "docker.io") ? "registry-1.docker.io" : r;
}

/* 1 if path is a file canopy wrote, 0 if another file, -1 if absent */
static int ours (const char *path)
{
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -1 : 0;
    char buf[64] = "";
    ssize_t k = read (fd, buf, sizeof buf - 1);
    close (fd);
    if (k < 0)
        return 0;
    buf[k] = '\0';
    return !strncmp (buf, MARK, strlen (MARK));
}

static int check_dir (const char *config_path, char *err, size_t errlen)
{
    if (config_path[0] != '/')
        return errfail (err, errlen, "containerd config path must be absolute: %s", config_path);
    if (mkdir (config_path, 0755) < 0 && errno != EEXIST)
        return errfail (err, errlen, "cannot make %s: %s", config_path, strerror (errno));
    struct stat sb;
    if (lstat (config_path, &sb) < 0 || !S_ISDIR (sb.st_mode))
        return errfail (err, errlen, "%s is not a directory", config_path);
    return 0;
}

int imagehosts_write (const char *config_path, const char *registry, const char *mirror_url, int plain_http,
                      char *path_out, size_t pathlen, char *err, size_t errlen)
{
    char q[300];
    if (!imagehosts_registry_ok (registry))
        return errfail (err, errlen, "invalid registry name '%s' (host[:port])",
                        errquote (q, sizeof q, registry, (size_t)-1));
    if (check_dir (config_path, err, errlen) < 0)
        return -1;
    if (strlen (config_path) > PATH_MAX - 300)
        return errfail (err, errlen, "containerd config path too long");
    char dir[PATH_MAX], file[PATH_MAX + 64], bak[PATH_MAX + 64], tmp[PATH_MAX + 64];
    snprintf (dir, sizeof dir, "%s/%s", config_path, registry);
    snprintf (file, sizeof file, "%s/hosts.toml", dir);
    snprintf (bak, sizeof bak, "%s/hosts.toml.canopy-backup", dir);
    snprintf (tmp, sizeof tmp, "%s/.hosts.toml.tmp-XXXXXX", dir);
    if (mkdir (dir, 0755) < 0 && errno != EEXIST)
        return errfail (err, errlen, "cannot make %s: %s", dir, strerror (errno));
    struct stat sb;
    if (lstat (dir, &sb) < 0 || !S_ISDIR (sb.st_mode))
        return errfail (err, errlen, "%s is not a directory", dir);
    int o = ours (file);
    if (o == 0) {   /* someone else's: keep it as the backup (never overwrite one) */
        if (access (bak, F_OK) == 0)
            return errfail (err, errlen, "%s is not canopy's and %s already exists; move one of them away", file, bak);
        if (rename (file, bak) < 0)
            return errfail (err, errlen, "cannot back up %s: %s", file, strerror (errno));
    }
    char text[1024];
    int n = snprintf (text, sizeof text,
                      MARK "; the previous file is hosts.toml.canopy-backup\n"
                           "server = \"%s://%s\"\n\n[host.\"%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
                      plain_http ? "http" : "https", server_host (registry), mirror_url);
    int fd = mkostemp (tmp, O_CLOEXEC);
    if (fd < 0)
        return errfail (err, errlen, "cannot create a temp file in %s: %s", dir, strerror (errno));
    if (write (fd, text, (size_t)n) != n || fchmod (fd, 0644) < 0 || fsync (fd) < 0) {
        int e = errno;
        close (fd);
        unlink (tmp);
        return errfail (err, errlen, "cannot write %s: %s", file, strerror (e));
    }
    close (fd);
    if (rename (tmp, file) < 0) {
        int e = errno;
        unlink (tmp);
        return errfail (err, errlen, "cannot write %s: %s", file, strerror (e));
    }
    snprintf (path_out, pathlen, "%s", file);
    return 0;
}

int imagehosts_remove (const char *config_path, const char *registry, char *what, size_t whatlen, char *err,
                       size_t errlen)
{
    char q[300];
    if (!imagehosts_registry_ok (registry))
        return errfail (err, errlen, "invalid registry name '%s' (host[:port])",
                        errquote (q, sizeof q, registry, (size_t)-1));
    if (config_path[0] != '/')
        return errfail (err, errlen, "containerd config path must be absolute: %s", config_path);
    if (strlen (config_path) > PATH_MAX - 300)
        return errfail (err, errlen, "containerd config path too long");
    char file[PATH_MAX + 64], bak[PATH_MAX + 64];
    snprintf (file, sizeof file, "%s/%s/hosts.toml", config_path, registry);
    snprintf (bak, sizeof bak, "%s/%s/hosts.toml.canopy-backup", config_path, registry);
    int o = ours (file);
    if (o == 0) {
        snprintf (what, whatlen, "%s is not canopy's: left alone", file);
        return 0;
    }
    if (access (bak, F_OK) == 0) {
        if (rename (bak, file) < 0)
            return errfail (err, errlen, "cannot restore %s: %s", bak, strerror (errno));
        snprintf (what, whatlen, "%s restored from its backup", file);
        return 0;
    }
    if (o == 1) {
        if (unlink (file) < 0)
            return errfail (err, errlen, "cannot remove %s: %s", file, strerror (errno));
        snprintf (what, whatlen, "%s removed", file);
        return 0;
    }
    snprintf (what, whatlen, "%s: nothing to undo", file);
    return 0;
}
