/* readfile.c - read a whole small file with a size limit (readfile.h). */
#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errquote.h"
#include "xalloc.h"

char *read_file (const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errfmt (err, errlen, "%s: %s", path, strerror (errno));
        return NULL;
    }
    struct stat st;
    if (fstat (fd, &st) < 0 || S_ISDIR (st.st_mode)) {
        errfmt (err, errlen, "%s: %s", path, S_ISDIR (st.st_mode) ? "is a directory" : strerror (errno));
        close (fd);
        return NULL;
    }
    /* read to the end, not to st_size: /proc files and pipes say 0 */
    size_t cap = S_ISREG (st.st_mode) && (size_t)st.st_size < max ? (size_t)st.st_size + 1 : 4096;
    size_t n = 0;
    char *buf = xmalloc (cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > max)
                break;
            cap *= 2;
            buf = xrealloc (buf, cap + 1);
        }
        ssize_t r = read (fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            errfmt (err, errlen, "%s: %s", path, strerror (errno));
            free (buf);
            close (fd);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close (fd);
    if (n > max) {
        errfmt (err, errlen, "%s: larger than %zu bytes", path, max);
        free (buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}
