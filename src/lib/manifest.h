/* manifest.h - an archive's manifest: its entries (files, directories,
 * symlinks) and the global table of SHA-256-addressed chunks their contents
 * are cut into.  Build, encode/decode (JSON, doc/archive.md) and strictly
 * validate.  Pure: no I/O.
 *
 * The structs are public and read-only for callers: the network layer walks
 * m->chunks[i] ("chunk i of the archive") and m->entries directly.  Change a
 * manifest only through the manifest_add_* builders. */
#ifndef CANOPY_MANIFEST_H
#define CANOPY_MANIFEST_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "sha256.h"

#define MANIFEST_VERSION            2            /* written when there are hard links */
#define MANIFEST_VERSION_MIN        1            /* written otherwise; both are read */
#define MANIFEST_CHUNK_DEFAULT      (1u << 20)   /* 1 MiB: see doc/archive.md */
#define MANIFEST_CHUNK_MIN          4096u
#define MANIFEST_CHUNK_MAX          (64u << 20)
#define MANIFEST_NAME_MAX           128          /* [A-Za-z0-9._-], not starting with '.' */
#define MANIFEST_PATH_MAX           4095
#define MANIFEST_ENTRIES_MAX        (1u << 24)
#define MANIFEST_CHUNKS_MAX         (1u << 26)
#define MANIFEST_TOTAL_MAX          (1ull << 50)  /* 1 PiB */
#define MANIFEST_PAGE_ITEMS         2048         /* chunks or entries per manifest page */
#define MANIFEST_PAGE_MAX           (16u << 20)  /* bytes of a page or head */

typedef enum {
    MANIFEST_FILE = 0,
    MANIFEST_DIR = 1,
    MANIFEST_SYMLINK = 2,
    MANIFEST_HARDLINK = 3,   /* another name for an earlier file entry (version 2) */
} manifest_type_t;

typedef struct {
    char *path;           /* relative, '/'-separated, no "." / ".." / empty parts */
    manifest_type_t type;
    uint32_t mode;        /* permission bits, <= 07777 (0777 for symlinks) */
    int64_t mtime_ns;     /* nanoseconds since the epoch */
    uint64_t size;        /* files: byte count; 0 otherwise */
    char *target;         /* symlinks: link text; hard links: the file's path; NULL otherwise */
    uint32_t link;        /* hard links: index of that (earlier, MANIFEST_FILE) entry */
    uint32_t nchunks;     /* files: chunk positions (ceil(size / chunk_size)) */
    uint32_t *chunks;     /* files: global chunk index of each position, in order */
} manifest_entry_t;

typedef struct {
    uint8_t hash[SHA256_LEN];
    uint32_t len;         /* 1 .. chunk_size */
} manifest_chunk_t;

typedef struct manifest manifest_t;
struct manifest {
    char *name;
    uint32_t chunk_size;
    uint64_t total_size;  /* sum of file sizes */
    size_t nentries;
    manifest_entry_t *entries;
    size_t nchunks;       /* distinct chunks (identical chunks are stored once) */
    manifest_chunk_t *chunks;
    void *priv_;          /* builder state (dedup table) */
};

/* Archive names double as file names: 1..128 of [A-Za-z0-9._-], no leading '.'. */
bool manifest_name_valid (const char *name);
/* A relative path as the manifest allows it (see doc/archive.md). */
bool manifest_path_valid (const char *path);

/* --- building -------------------------------------------------------- */
/* chunk_size 0 means MANIFEST_CHUNK_DEFAULT.  NULL + err on bad name/size. */
manifest_t *manifest_new (const char *name, uint32_t chunk_size, char *err, size_t errlen);
/* Drop one reference (the last frees it); *p becomes NULL. */
void manifest_destroy (manifest_t **p);
manifest_t *manifest_dup (const manifest_t *m);
/* Another reference to m (thread-safe count): a manifest is not changed once
 * shared, so the content store, a transfer and its extraction hold one copy. */
manifest_t *manifest_ref (const manifest_t *m);

/* Add a chunk to the table, or find the identical one already there.
 * Returns its index, or -1 (bad length / table full). */
int64_t manifest_chunk_add (manifest_t *m, const uint8_t hash[SHA256_LEN], uint32_t len);
/* Entries.  Parents must be added (as directories) before their children.
 * For files, chunk_idx[0..n) are indexes returned by manifest_chunk_add and
 * must add up to size.  0, or -1 with a one-line err. */
int manifest_add_dir (manifest_t *m, const char *path, uint32_t mode, int64_t mtime_ns,
                      char *err, size_t errlen);
int manifest_add_symlink (manifest_t *m, const char *path, const char *target,
                          int64_t mtime_ns, char *err, size_t errlen);
/* A hard link: path is another name for target, the path of an earlier
 * file entry (the file's mode, mtime and contents are the target's). */
int manifest_add_hardlink (manifest_t *m, const char *path, const char *target,
                           char *err, size_t errlen);
int manifest_add_file (manifest_t *m, const char *path, uint32_t mode, int64_t mtime_ns,
                       uint64_t size, const uint32_t *chunk_idx, uint32_t n,
                       char *err, size_t errlen);
/* Is there an entry at path?  Its index, or -1. */
int64_t manifest_find (const manifest_t *m, const char *path);

/* --- encoding -------------------------------------------------------- */
json_t *manifest_to_json (const manifest_t *m);
/* Compact JSON text, malloc'd (free()).  Deterministic for a given manifest. */
char *manifest_encode (const manifest_t *m, size_t *lenp);
/* Decode + validate untrusted input.  NULL + one-line err naming the field. */
manifest_t *manifest_from_json (const json_t *o, char *err, size_t errlen);
manifest_t *manifest_decode (const char *text, size_t len, char *err, size_t errlen);
/* Check every invariant of doc/archive.md.  0, or -1 + err.  A manifest
 * that came from manifest_decode, manifest_asm_finish or manifest_dup and was
 * not changed by a builder since is known valid (no second pass). */
int manifest_validate (const manifest_t *m, char *err, size_t errlen);
/* SHA-256 of manifest_encode(): the archive's identity. */
void manifest_digest (const manifest_t *m, uint8_t out[SHA256_LEN]);

/* --- pages (doc/archive.md, "Manifest pages") ------------------------
 * A manifest is stored and sent as a small head plus pages of at most
 * MANIFEST_PAGE_ITEMS chunks or entries, each named by its SHA-256 in the
 * head, so no broker holds the whole manifest as text. */
size_t manifest_npages (const manifest_t *m);
/* Page i's text (malloc'd), or NULL if there is no page i. */
char *manifest_page_encode (const manifest_t *m, size_t page, size_t *lenp);
/* The head: counts, digest, each page's hash and length (malloc'd JSON). */
char *manifest_head_encode (const manifest_t *m, size_t *lenp);
/* Every page at once, for storing: each page's text (malloc'd; fn owns it)
 * goes to fn(arg, page, text, len), in no particular order, each encoded
 * once; the head (as manifest_head_encode) is returned and the manifest's
 * digest (as manifest_digest) put in digest.  If fn returns non-zero the
 * walk stops and NULL is returned. */
typedef int (*manifest_page_fn) (void *arg, size_t page, char *text, size_t len);
char *manifest_pages_write (const manifest_t *m, manifest_page_fn fn, void *arg, uint8_t digest[SHA256_LEN],
                            size_t *lenp);
/* Does text look like a head (rather than a whole manifest)? */
bool manifest_is_head (const char *text, size_t len);

/* Assembling a manifest from an untrusted head and its pages, in order. */
typedef struct manifest_asm manifest_asm_t;
manifest_asm_t *manifest_asm_new (const char *head, size_t len, char *err, size_t errlen);
void manifest_asm_destroy (manifest_asm_t **p);
const char *manifest_asm_name (const manifest_asm_t *a);
const uint8_t *manifest_asm_digest (const manifest_asm_t *a);
size_t manifest_asm_npages (const manifest_asm_t *a);
/* The page wanted next (== npages: all in). */
size_t manifest_asm_next (const manifest_asm_t *a);
/* Add page manifest_asm_next(): checked against its hash, decoded through
 * the builders.  0, or -1 + err (the assembly is then of no further use). */
int manifest_asm_page (manifest_asm_t *a, const char *text, size_t len, char *err, size_t errlen);
/* Every page in: the whole-manifest rules and the digest.  The manifest
 * (the caller's), or NULL + err. */
manifest_t *manifest_asm_finish (manifest_asm_t *a, char *err, size_t errlen);

#endif
