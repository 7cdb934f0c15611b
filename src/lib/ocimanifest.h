/* ocimanifest.h - OCI / Docker v2 image manifests and indexes (manifest
 * lists): parse, validate (digests, sizes, media types) and choose an
 * index's entry for a platform (doc/images.md).  Pure: no I/O. */
#ifndef CANOPY_OCIMANIFEST_H
#define CANOPY_OCIMANIFEST_H
#include <stddef.h>
#include <stdint.h>

#define OCIM_MAX_MANIFEST (4u << 20)         /* a manifest or index: 4 MiB */
#define OCIM_MAX_BLOB     (1LL << 40)        /* any blob: 1 TiB */
#define OCIM_MAX_ENTRIES  4096               /* layers or index entries */

#define OCIM_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define OCIM_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define OCIM_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define OCIM_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCIM_OCI_CONFIG      "application/vnd.oci.image.config.v1+json"
#define OCIM_OCI_LAYER_TAR   "application/vnd.oci.image.layer.v1.tar"
#define OCIM_OCI_LAYER_GZIP  "application/vnd.oci.image.layer.v1.tar+gzip"
/* the Accept header a registry client sends */
#define OCIM_ACCEPT OCIM_OCI_MANIFEST ", " OCIM_OCI_INDEX ", " OCIM_DOCKER_MANIFEST ", " OCIM_DOCKER_LIST

enum ocim_kind { OCIM_MANIFEST = 1, OCIM_INDEX = 2 };

typedef struct ocim_desc {
    char media_type[128];
    char digest[80];
    int64_t size;
    char os[32], arch[32], variant[32];   /* index entries; "" if absent */
} ocim_desc_t;

typedef struct ocim {
    int kind;
    char media_type[128];
    ocim_desc_t config;          /* manifests */
    ocim_desc_t *layers;         /* manifests */
    size_t nlayers;
    ocim_desc_t *manifests;      /* indexes */
    size_t nmanifests;
} ocim_t;

/* Parse a manifest or index.  content_type (may be NULL or generic, e.g.
 * "application/json") is the HTTP Content-Type; the body's mediaType is used
 * when it is absent, and they must agree when both are known.  NULL with a
 * one-line message in err on anything malformed or of an unknown type. */
ocim_t *ocim_parse (const char *data, size_t len, const char *content_type, char *err, size_t errlen);
void ocim_destroy (ocim_t **p);

/* 1 if media_type is one of the two manifest types, 2 one of the two index
 * types, 0 otherwise (parameters after ';' ignored). */
int ocim_type_kind (const char *media_type);

/* Parse "os/arch[/variant]".  0 or -1 with err. */
int ocim_platform_parse (const char *s, char *os, size_t oslen, char *arch, size_t archlen, char *variant,
                         size_t varlen, char *err, size_t errlen);
/* This build's platform ("linux", "amd64"/"arm64"/..., variant ""). */
void ocim_host_platform (const char **os, const char **arch, const char **variant);

/* The index entry for os/arch (and variant if non-empty); NULL with a
 * message listing the platforms offered. */
const ocim_desc_t *ocim_select (const ocim_t *index, const char *os, const char *arch, const char *variant,
                                char *err, size_t errlen);

/* A new OCI manifest (schemaVersion 2) of config + layers, as JSON text
 * (malloc'd, *len set). */
char *ocim_build_manifest (const ocim_desc_t *config, const ocim_desc_t *layers, size_t nlayers, size_t *len);

#endif
