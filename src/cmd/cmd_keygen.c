/* cmd_keygen.c - canopy keygen PATH: create the instance's CURVE certificate.
 * One file holds both keys; it is created mode 0600 and never overwritten
 * unless --force is given. */
#include <czmq.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include "cmd.h"

int cmd_keygen (int argc, char **argv)
{
    const char *path = NULL;
    bool force = false;
    if (cmd_help_asked (argc, argv)) {
        printf ("Usage: canopy keygen [--force] PATH\n");
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--force") || !strcmp (argv[i], "-f"))
            force = true;
        else if (argv[i][0] == '-')
            die ("keygen: unknown option %s", argv[i]);
        else if (!path)
            path = argv[i];
        else
            die ("keygen: too many arguments");
    }
    if (!path)
        die ("Usage: canopy keygen [--force] PATH");
    struct stat st;
    if (!force && stat (path, &st) == 0)
        die ("keygen: %s exists (use --force to replace it)", path);
    zsys_handler_set (NULL);
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "name", "canopy instance key");
    mode_t old = umask (077);
    unlink (path);
    int rc = zcert_save_secret (cert, path);
    umask (old);
    zcert_destroy (&cert);
    if (rc < 0)
        die ("keygen: cannot write %s: %s", path, strerror (errno));
    chmod (path, 0600);
    return 0;
}
