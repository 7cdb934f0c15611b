/* imagehosts.h - containerd's hosts.toml for a registry pointed at the
 * node's image mirror, with the previous file kept and restored. */
#ifndef CANOPY_IMAGEHOSTS_H
#define CANOPY_IMAGEHOSTS_H
#include <stddef.h>

/* 1 if r is a registry host[:port] name usable as a directory name */
int imagehosts_registry_ok (const char *r);
/* Write CONFIG_PATH/REGISTRY/hosts.toml (backing up a file canopy did not
 * write).  0 with path_out set, or -1 with err. */
int imagehosts_write (const char *config_path, const char *registry, const char *mirror_url, int plain_http,
                      char *path_out, size_t pathlen, char *err, size_t errlen);
/* Undo it: restore the backup, or remove canopy's file; another's file is
 * left alone.  0 with what saying which, or -1 with err. */
int imagehosts_remove (const char *config_path, const char *registry, char *what, size_t whatlen, char *err,
                       size_t errlen);

#endif
