/* ociref.h - container image references ("busybox", "127.0.0.1:5000/app:v1",
 * "ghcr.io/x/y@sha256:...") parsed and normalised as the distribution
 * project does (doc/images.md).  Pure: no I/O. */
#ifndef CANOPY_OCIREF_H
#define CANOPY_OCIREF_H
#include <stddef.h>

#define OCIREF_MAX 256

typedef struct ociref {
    char domain[OCIREF_MAX];  /* "docker.io", "127.0.0.1:5000" */
    char path[OCIREF_MAX];    /* "library/busybox" */
    char tag[OCIREF_MAX];     /* "" if only a digest was given */
    char digest[80];          /* "sha256:HEX" or "" */
} ociref_t;

/* Parse s into r, defaulting domain docker.io (+ library/) and tag latest.
 * 0, or -1 with a one-line message in err. */
int ociref_parse (const char *s, ociref_t *r, char *err, size_t errlen);

/* The full normalised name: DOMAIN/PATH[:TAG][@DIGEST].  Returns buf. */
char *ociref_format (const ociref_t *r, char *buf, size_t len);
/* DOMAIN/PATH only.  Returns buf. */
char *ociref_repo (const ociref_t *r, char *buf, size_t len);
/* The host:port to talk to (registry-1.docker.io for docker.io). */
const char *ociref_registry_host (const ociref_t *r);
/* What to ask the registry for: the digest if given, else the tag. */
const char *ociref_object (const ociref_t *r);

/* True if s is "sha256:" + 64 lower-case hex digits. */
int ociref_digest_valid (const char *s);
/* True if s is a valid tag. */
int ociref_tag_valid (const char *s);

#endif
