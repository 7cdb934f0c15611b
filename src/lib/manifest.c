/* manifest.c - archive manifests: builders with incremental validation, a
 * deterministic JSON encoding and a strict decoder for untrusted input.
 * Decoding is done through the builders, so the rules live in one place.
 * Format and rules: doc/archive.md.  Pure: no I/O. */
#include "xalloc.h"
#include "errquote.h"
#include "fnv.h"
#include "manifest.h"
#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POSITIONS_MAX (1ull << 28)   /* sum of all files' chunk positions */

/* Builder state: open-addressing tables of chunk (hash,len) -> index and of
 * path -> entry index.  Slots hold index + 1; 0 is empty. */
struct priv {
    uint32_t *cslot;
    size_t ccap;
    uint32_t *pslot;
    size_t pcap;
    size_t ecap, kcap;     /* allocated entries / chunks */
    uint64_t positions;
    /* paths, link targets and chunk lists live in blocks of an arena, never
     * moved or freed one by one (no allocation per entry) */
    struct ablock *blocks;
    size_t aused;          /* bytes used in blocks (the newest) */
    atomic_int refs;       /* references beyond the first (manifest_ref) */
    bool checked;          /* decoded, assembled or rebuilt, and not changed since */
};

#define ABLOCK (64u << 10)
struct ablock {
    struct ablock *next;
    size_t cap;
    _Alignas (8) char data[];
};

/* n bytes aligned to 8, from the arena */
static void *arena_alloc (struct priv *pv, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (n > ABLOCK / 4) {   /* a big one: a block of its own, behind the current */
        struct ablock *b = xmalloc (sizeof *b + n);
        b->cap = n;
        if (pv->blocks) {
            b->next = pv->blocks->next;
            pv->blocks->next = b;
        }
        else {
            b->next = NULL;
            pv->blocks = b;
            pv->aused = n;
        }
        return b->data;
    }
    if (!pv->blocks || pv->aused + n > pv->blocks->cap) {
        struct ablock *b = xmalloc (sizeof *b + ABLOCK);
        b->cap = ABLOCK;
        b->next = pv->blocks;
        pv->blocks = b;
        pv->aused = 0;
    }
    void *r = pv->blocks->data + pv->aused;
    pv->aused += n;
    return r;
}

static char *arena_strdup (struct priv *pv, const char *str)
{
    size_t n = strlen (str) + 1;
    char *r = arena_alloc (pv, n);
    memcpy (r, str, n);
    return r;
}

#define seterr errfmt /* one-line errors: src/lib/errquote.h */

bool manifest_name_valid (const char *name)
{
    if (!name || !name[0] || name[0] == '.' || strlen (name) > MANIFEST_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* NULL if valid, else why not. */
static const char *path_problem (const char *path)
{
    if (!path || !path[0])
        return "empty path";
    size_t len = strlen (path);
    if (len > MANIFEST_PATH_MAX)
        return "path too long";
    if (path[0] == '/')
        return "absolute path not allowed";
    if (path[len - 1] == '/')
        return "trailing '/' not allowed";
    const char *p = path;
    while (*p) {
        const char *e = strchr (p, '/');
        size_t n = e ? (size_t)(e - p) : strlen (p);
        if (n == 0)
            return "empty component not allowed";
        if (n > 255)
            return "component longer than 255 bytes";
        if (n == 1 && p[0] == '.')
            return "\".\" component not allowed";
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return "\"..\" component not allowed";
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                return "control character in path";
        p += n;
        if (*p == '/')
            p++;
    }
    return NULL;
}

bool manifest_path_valid (const char *path)
{
    return path_problem (path) == NULL;
}

static uint64_t chunk_key (const uint8_t *hash, uint32_t len)
{
    uint64_t h;
    memcpy (&h, hash, sizeof h);
    return h ^ ((uint64_t)len * 0x9e3779b97f4a7c15ull);
}

/* --- tables ---------------------------------------------------------- */

static int ctab_grow (manifest_t *m)
{
    struct priv *pv = m->priv_;
    size_t ncap = pv->ccap ? pv->ccap * 2 : 64;
    uint32_t *ns = xcalloc (ncap, sizeof *ns);
    for (size_t i = 0; i < m->nchunks; i++) {
        size_t s = chunk_key (m->chunks[i].hash, m->chunks[i].len) & (ncap - 1);
        while (ns[s])
            s = (s + 1) & (ncap - 1);
        ns[s] = i + 1;
    }
    free (pv->cslot);
    pv->cslot = ns;
    pv->ccap = ncap;
    return 0;
}

static int ptab_grow (manifest_t *m)
{
    struct priv *pv = m->priv_;
    size_t ncap = pv->pcap ? pv->pcap * 2 : 64;
    uint32_t *ns = xcalloc (ncap, sizeof *ns);
    for (size_t i = 0; i < m->nentries; i++) {
        const char *p = m->entries[i].path;
        size_t s = fnv1a (p, strlen (p)) & (ncap - 1);
        while (ns[s])
            s = (s + 1) & (ncap - 1);
        ns[s] = i + 1;
    }
    free (pv->pslot);
    pv->pslot = ns;
    pv->pcap = ncap;
    return 0;
}

/* Entry index of path[0..n), or -1. */
static int64_t ptab_find (const manifest_t *m, const char *path, size_t n)
{
    const struct priv *pv = m->priv_;
    if (!pv || !pv->pcap)
        return -1;
    size_t s = fnv1a (path, n) & (pv->pcap - 1);
    while (pv->pslot[s]) {
        const char *q = m->entries[pv->pslot[s] - 1].path;
        if (strncmp (q, path, n) == 0 && q[n] == '\0')
            return pv->pslot[s] - 1;
        s = (s + 1) & (pv->pcap - 1);
    }
    return -1;
}

int64_t manifest_find (const manifest_t *m, const char *path)
{
    return path ? ptab_find (m, path, strlen (path)) : -1;
}

/* --- building -------------------------------------------------------- */

manifest_t *manifest_new (const char *name, uint32_t chunk_size, char *err, size_t errlen)
{
    if (!manifest_name_valid (name)) {
        seterr (err, errlen, "name: invalid archive name (1-%d of [A-Za-z0-9._-], not starting with '.')",
                MANIFEST_NAME_MAX);
        return NULL;
    }
    if (chunk_size == 0)
        chunk_size = MANIFEST_CHUNK_DEFAULT;
    if (chunk_size < MANIFEST_CHUNK_MIN || chunk_size > MANIFEST_CHUNK_MAX) {
        seterr (err, errlen, "chunk_size: %" PRIu32 " out of range %u..%u", chunk_size,
                MANIFEST_CHUNK_MIN, MANIFEST_CHUNK_MAX);
        return NULL;
    }
    manifest_t *m = xcalloc (1, sizeof *m);
    struct priv *pv = xcalloc (1, sizeof *pv);
    m->name = xstrdup (name);
    m->chunk_size = chunk_size;
    m->priv_ = pv;
    return m;
}

void manifest_destroy (manifest_t **p)
{
    if (!p || !*p)
        return;
    manifest_t *m = *p;
    *p = NULL;
    struct priv *pv = m->priv_;
    if (pv && atomic_fetch_sub (&pv->refs, 1) > 0)
        return;   /* another reference holds it */
    free (m->entries);
    free (m->chunks);
    if (pv) {
        free (pv->cslot);
        free (pv->pslot);
        while (pv->blocks) {
            struct ablock *b = pv->blocks;
            pv->blocks = b->next;
            free (b);
        }
        free (pv);
    }
    free (m->name);
    free (m);
}

manifest_t *manifest_ref (const manifest_t *m)
{
    manifest_t *w = (manifest_t *)m;
    if (w)
        atomic_fetch_add (&((struct priv *)w->priv_)->refs, 1);
    return w;
}

/* The chunk dedup table is needed while building only: a later
 * manifest_chunk_add rebuilds it (ctab_grow starts from m->chunks). */
static void drop_ctab (manifest_t *m)
{
    struct priv *pv = m->priv_;
    free (pv->cslot);
    pv->cslot = NULL;
    pv->ccap = 0;
}

/* Room for nent entries and nchunks chunks in all (counts known ahead:
 * no doubling slack). */
static void reserve (manifest_t *m, size_t nent, size_t nchunks)
{
    struct priv *pv = m->priv_;
    if (nent > pv->ecap) {
        m->entries = xreallocarray (m->entries, nent, sizeof *m->entries);
        pv->ecap = nent;
    }
    if (nchunks > pv->kcap) {
        m->chunks = xreallocarray (m->chunks, nchunks, sizeof *m->chunks);
        pv->kcap = nchunks;
    }
}

int64_t manifest_chunk_add (manifest_t *m, const uint8_t hash[SHA256_LEN], uint32_t len)
{
    struct priv *pv = m->priv_;
    if (len == 0 || len > m->chunk_size)
        return -1;
    if ((m->nchunks + 1) * 2 > pv->ccap && ctab_grow (m) < 0)
        return -1;
    size_t s = chunk_key (hash, len) & (pv->ccap - 1);
    while (pv->cslot[s]) {
        const manifest_chunk_t *c = &m->chunks[pv->cslot[s] - 1];
        if (c->len == len && memcmp (c->hash, hash, SHA256_LEN) == 0)
            return pv->cslot[s] - 1;
        s = (s + 1) & (pv->ccap - 1);
    }
    if (m->nchunks >= MANIFEST_CHUNKS_MAX)
        return -1;
    if (m->nchunks == pv->kcap) {
        size_t ncap = pv->kcap ? pv->kcap * 2 : 64;
        m->chunks = xrealloc (m->chunks, ncap * sizeof *m->chunks);
        pv->kcap = ncap;
    }
    memcpy (m->chunks[m->nchunks].hash, hash, SHA256_LEN);
    m->chunks[m->nchunks].len = len;
    pv->checked = false;
    pv->cslot[s] = m->nchunks + 1;
    return m->nchunks++;
}

/* Common part of the add functions: path checks, then a new entry slot. */
static manifest_entry_t *entry_add (manifest_t *m, const char *path, manifest_type_t type,
                                    char *err, size_t errlen)
{
    struct priv *pv = m->priv_;
    const char *why = path_problem (path);
    if (why) {
        seterr (err, errlen, "path: %s", why);
        return NULL;
    }
    if (m->nentries >= MANIFEST_ENTRIES_MAX) {
        seterr (err, errlen, "entries: more than %u", MANIFEST_ENTRIES_MAX);
        return NULL;
    }
    size_t len = strlen (path);
    if (ptab_find (m, path, len) >= 0) {
        seterr (err, errlen, "path: duplicate \"%.200s\"", path);
        return NULL;
    }
    const char *slash = strrchr (path, '/');
    if (slash) {
        int64_t pi = ptab_find (m, path, slash - path);
        if (pi < 0) {
            seterr (err, errlen, "path: parent of \"%.200s\" is not an earlier entry", path);
            return NULL;
        }
        if (m->entries[pi].type != MANIFEST_DIR) {
            seterr (err, errlen, "path: parent of \"%.200s\" is not a directory", path);
            return NULL;
        }
    }
    if ((m->nentries + 1) * 2 > pv->pcap && ptab_grow (m) < 0)
        goto nomem;
    if (m->nentries == pv->ecap) {
        size_t ncap = pv->ecap ? pv->ecap * 2 : 16;
        m->entries = xrealloc (m->entries, ncap * sizeof *m->entries);
        pv->ecap = ncap;
    }
    manifest_entry_t *e = &m->entries[m->nentries];
    memset (e, 0, sizeof *e);
    e->path = arena_strdup (pv, path);
    e->type = type;
    pv->checked = false;
    return e;
nomem:
    seterr (err, errlen, "out of memory");
    return NULL;
}

/* Make entry nentries (filled by the caller) visible. */
static void entry_commit (manifest_t *m)
{
    struct priv *pv = m->priv_;
    const char *p = m->entries[m->nentries].path;
    size_t s = fnv1a (p, strlen (p)) & (pv->pcap - 1);
    while (pv->pslot[s])
        s = (s + 1) & (pv->pcap - 1);
    pv->pslot[s] = m->nentries + 1;
    m->nentries++;
}

static int check_mode_mtime (uint32_t mode, int64_t mtime_ns, char *err, size_t errlen)
{
    if (mode > 07777) {
        seterr (err, errlen, "mode: %#" PRIo32 " has bits beyond 07777", mode);
        return -1;
    }
    if (mtime_ns < 0) {
        seterr (err, errlen, "mtime: negative");
        return -1;
    }
    return 0;
}

int manifest_add_dir (manifest_t *m, const char *path, uint32_t mode, int64_t mtime_ns,
                      char *err, size_t errlen)
{
    if (check_mode_mtime (mode, mtime_ns, err, errlen) < 0)
        return -1;
    manifest_entry_t *e = entry_add (m, path, MANIFEST_DIR, err, errlen);
    if (!e)
        return -1;
    e->mode = mode;
    e->mtime_ns = mtime_ns;
    entry_commit (m);
    return 0;
}

int manifest_add_symlink (manifest_t *m, const char *path, const char *target,
                          int64_t mtime_ns, char *err, size_t errlen)
{
    if (check_mode_mtime (0777, mtime_ns, err, errlen) < 0)
        return -1;
    if (!target || !target[0] || strlen (target) > MANIFEST_PATH_MAX) {
        seterr (err, errlen, "target: %s", target && target[0] ? "too long" : "empty");
        return -1;
    }
    manifest_entry_t *e = entry_add (m, path, MANIFEST_SYMLINK, err, errlen);
    if (!e)
        return -1;
    e->target = arena_strdup (m->priv_, target);
    e->mode = 0777;
    e->mtime_ns = mtime_ns;
    entry_commit (m);
    return 0;
}

int manifest_add_hardlink (manifest_t *m, const char *path, const char *target,
                           char *err, size_t errlen)
{
    if (!target || path_problem (target)) {
        seterr (err, errlen, "target: %s", target ? path_problem (target) : "missing");
        return -1;
    }
    int64_t t = ptab_find (m, target, strlen (target));
    if (t < 0 || m->entries[t].type != MANIFEST_FILE) {
        seterr (err, errlen, "target: \"%.200s\" is not an earlier file entry", target);
        return -1;
    }
    manifest_entry_t *e = entry_add (m, path, MANIFEST_HARDLINK, err, errlen);
    if (!e)
        return -1;
    e->target = arena_strdup (m->priv_, target);
    e->link = t;
    e->mode = m->entries[t].mode;
    e->mtime_ns = m->entries[t].mtime_ns;
    entry_commit (m);
    return 0;
}

int manifest_add_file (manifest_t *m, const char *path, uint32_t mode, int64_t mtime_ns,
                       uint64_t size, const uint32_t *chunk_idx, uint32_t n,
                       char *err, size_t errlen)
{
    struct priv *pv = m->priv_;
    if (check_mode_mtime (mode, mtime_ns, err, errlen) < 0)
        return -1;
    if (size > MANIFEST_TOTAL_MAX || m->total_size + size > MANIFEST_TOTAL_MAX) {
        seterr (err, errlen, "size: total archive size beyond %llu bytes",
                (unsigned long long)MANIFEST_TOTAL_MAX);
        return -1;
    }
    uint64_t want = (size + m->chunk_size - 1) / m->chunk_size;
    if (n != want) {
        seterr (err, errlen, "chunks: %" PRIu32 " chunks for size %" PRIu64 " (want %" PRIu64 ")",
                n, size, want);
        return -1;
    }
    if (pv->positions + n > POSITIONS_MAX) {
        seterr (err, errlen, "chunks: more than %llu chunk positions in all",
                (unsigned long long)POSITIONS_MAX);
        return -1;
    }
    for (uint32_t k = 0; k < n; k++) {
        if (chunk_idx[k] >= m->nchunks) {
            seterr (err, errlen, "chunks[%" PRIu32 "]: index %" PRIu32 " not in chunk table (%zu)",
                    k, chunk_idx[k], m->nchunks);
            return -1;
        }
        uint32_t len = m->chunks[chunk_idx[k]].len;
        uint64_t expect = k + 1 < n ? m->chunk_size : size - (uint64_t)k * m->chunk_size;
        if (len != expect) {
            seterr (err, errlen, "chunks[%" PRIu32 "]: chunk %" PRIu32 " has length %" PRIu32
                    ", position needs %" PRIu64, k, chunk_idx[k], len, expect);
            return -1;
        }
    }
    manifest_entry_t *e = entry_add (m, path, MANIFEST_FILE, err, errlen);
    if (!e)
        return -1;
    if (n)
        e->chunks = arena_alloc (pv, n * sizeof *e->chunks);
    if (n)
        memcpy (e->chunks, chunk_idx, n * sizeof *e->chunks);
    e->nchunks = n;
    e->mode = mode;
    e->mtime_ns = mtime_ns;
    e->size = size;
    m->total_size += size;
    pv->positions += n;
    entry_commit (m);
    return 0;
}

/* --- encoding -------------------------------------------------------- */

static const char *type_name (manifest_type_t t)
{
    return t == MANIFEST_DIR ? "dir" : t == MANIFEST_SYMLINK ? "symlink"
         : t == MANIFEST_HARDLINK ? "hardlink" : "file";
}

/* Version 2 only when it is needed, so archives without hard links stay
 * readable by version-1 readers (and keep their digest). */
static int version_of (const manifest_t *m)
{
    for (size_t i = 0; i < m->nentries; i++)
        if (m->entries[i].type == MANIFEST_HARDLINK)
            return MANIFEST_VERSION;
    return MANIFEST_VERSION_MIN;
}

/* One entry as its JSON object (the encoding's key order). */
static json_t *entry_to_json (const manifest_entry_t *e)
{
    json_t *je = json_object ();
    if (!je)
        return NULL;
    json_object_set_new (je, "path", json_string (e->path));
    json_object_set_new (je, "type", json_string (type_name (e->type)));
    if (e->type == MANIFEST_HARDLINK) {
        json_object_set_new (je, "target", json_string (e->target));
        return je;
    }
    if (e->type != MANIFEST_SYMLINK)
        json_object_set_new (je, "mode", json_integer (e->mode));
    json_object_set_new (je, "mtime", json_integer (e->mtime_ns));
    if (e->type == MANIFEST_FILE) {
        json_object_set_new (je, "size", json_integer ((json_int_t)e->size));
        bool consecutive = true;
        for (uint32_t k = 1; k < e->nchunks && consecutive; k++)
            consecutive = e->chunks[k] == e->chunks[0] + k;
        if (consecutive) {
            json_object_set_new (je, "range",
                                 json_pack ("[II]", (json_int_t)(e->nchunks ? e->chunks[0] : 0),
                                            (json_int_t)e->nchunks));
        } else {
            json_t *l = json_array ();
            for (uint32_t k = 0; k < e->nchunks; k++)
                json_array_append_new (l, json_integer (e->chunks[k]));
            json_object_set_new (je, "chunks", l);
        }
    }
    else if (e->type == MANIFEST_SYMLINK)
        json_object_set_new (je, "target", json_string (e->target));
    return je;
}

json_t *manifest_to_json (const manifest_t *m)
{
    json_t *o = json_object ();
    json_t *ents = json_array ();
    json_t *chunks = json_array ();
    if (!o || !ents || !chunks)
        goto fail;
    json_object_set_new (o, "version", json_integer (version_of (m)));
    json_object_set_new (o, "name", json_string (m->name));
    json_object_set_new (o, "chunk_size", json_integer (m->chunk_size));
    json_object_set_new (o, "total_size", json_integer ((json_int_t)m->total_size));
    for (size_t i = 0; i < m->nentries; i++) {
        json_t *je = entry_to_json (&m->entries[i]);
        if (!je || json_array_append_new (ents, je) < 0)
            goto fail;
    }
    for (size_t i = 0; i < m->nchunks; i++) {
        char hex[SHA256_HEXLEN + 1];
        sha256_hex (m->chunks[i].hash, hex);
        if (json_array_append_new (chunks, json_pack ("[sI]", hex, (json_int_t)m->chunks[i].len)) < 0)
            goto fail;
    }
    json_object_set_new (o, "entries", ents);
    json_object_set_new (o, "chunks", chunks);
    return o;
fail:
    json_decref (o);
    json_decref (ents);
    json_decref (chunks);
    return NULL;
}

/* Where the streaming encoder's bytes go: a growing text buffer, or (sha
 * set) straight into a SHA-256 (manifest_digest: no text at all). */
struct tbuf {
    char *s;
    size_t n, cap;
    bool oom;
    sha256_ctx_t *sha;
};

static void tb_add (struct tbuf *b, const char *p, size_t n)
{
    if (b->oom)
        return;
    if (b->sha) {
        sha256_ctx_update (b->sha, p, n);
        b->n += n;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        b->s = xrealloc (b->s, cap);
        b->cap = cap;
    }
    memcpy (b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void tb_str (struct tbuf *b, const char *p)
{
    tb_add (b, p, strlen (p));
}

/* The same bytes as json_dumps (manifest_to_json (m), JSON_COMPACT |
 * JSON_PRESERVE_ORDER), without building the whole tree: one entry's tree
 * at a time, so memory is the text plus one entry. */
static void encode_to (const manifest_t *m, struct tbuf *b);

char *manifest_encode (const manifest_t *m, size_t *lenp)
{
    struct tbuf b = {0};
    encode_to (m, &b);
    if (b.oom || !b.s) {
        free (b.s);
        return NULL;
    }
    if (lenp)
        *lenp = b.n;
    return b.s;
}

static void encode_to (const manifest_t *m, struct tbuf *bp)
{
    struct tbuf b = *bp;
    char num[96];
    json_t *js = json_string (m->name);
    char *name = js ? json_dumps (js, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref (js);
    if (!name) {
        bp->oom = true;
        return;
    }
    snprintf (num, sizeof num, "{\"version\":%d,\"name\":", version_of (m));
    tb_str (&b, num);
    tb_str (&b, name);
    free (name);
    snprintf (num, sizeof num, ",\"chunk_size\":%" PRIu32 ",\"total_size\":%" PRIu64 ",\"entries\":[",
              m->chunk_size, m->total_size);
    tb_str (&b, num);
    for (size_t i = 0; i < m->nentries && !b.oom; i++) {
        json_t *je = entry_to_json (&m->entries[i]);
        char *t = je ? json_dumps (je, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref (je);
        if (!t) {
            b.oom = true;
            break;
        }
        if (i)
            tb_add (&b, ",", 1);
        tb_str (&b, t);
        free (t);
    }
    tb_str (&b, "],\"chunks\":[");
    for (size_t i = 0; i < m->nchunks && !b.oom; i++) {
        char hex[SHA256_HEXLEN + 1];
        sha256_hex (m->chunks[i].hash, hex);
        snprintf (num, sizeof num, "%s[\"%s\",%" PRIu32 "]", i ? "," : "", hex, m->chunks[i].len);
        tb_str (&b, num);
    }
    tb_str (&b, "]}");
    *bp = b;
}

void manifest_digest (const manifest_t *m, uint8_t out[SHA256_LEN])
{
    struct tbuf b = {.sha = sha256_ctx_new ()};
    if (!b.sha) {
        sha256_hash ("", 0, out);
        return;
    }
    encode_to (m, &b);
    sha256_ctx_final (b.sha, out);
    sha256_ctx_destroy (&b.sha);
}

/* --- decoding -------------------------------------------------------- */

/* Non-negative integer field (required).  0 or -1 + err. */
static int get_uint (const json_t *o, const char *key, const char *where, uint64_t max,
                     uint64_t *out, char *err, size_t errlen)
{
    json_t *v = json_object_get (o, key);
    if (!v) {
        seterr (err, errlen, "%s%s: missing", where, key);
        return -1;
    }
    if (!json_is_integer (v) || json_integer_value (v) < 0
        || (uint64_t)json_integer_value (v) > max) {
        seterr (err, errlen, "%s%s: must be an integer in 0..%llu", where, key,
                (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)json_integer_value (v);
    return 0;
}

static const char *get_str (const json_t *o, const char *key, const char *where,
                            char *err, size_t errlen)
{
    json_t *v = json_object_get (o, key);
    if (!v || !json_is_string (v)) {
        seterr (err, errlen, "%s%s: %s", where, key, v ? "must be a string" : "missing");
        return NULL;
    }
    return json_string_value (v);
}

static int decode_entry (manifest_t *m, const json_t *je, size_t i, char *err, size_t errlen)
{
    char where[48], sub[200];
    snprintf (where, sizeof where, "entries[%zu].", i);
    if (!json_is_object (je)) {
        seterr (err, errlen, "entries[%zu]: must be an object", i);
        return -1;
    }
    const char *path = get_str (je, "path", where, err, errlen);
    const char *type = path ? get_str (je, "type", where, err, errlen) : NULL;
    if (!type)
        return -1;
    uint64_t mode = 0, mtime = 0, size = 0;
    int rc;
    if (!strcmp (type, "hardlink")) {
        const char *target = get_str (je, "target", where, err, errlen);
        if (!target)
            return -1;
        rc = manifest_add_hardlink (m, path, target, sub, sizeof sub);
        if (rc < 0) {
            seterr (err, errlen, "%s%s", where, sub);
            return -1;
        }
        return 0;
    }
    if (get_uint (je, "mtime", where, INT64_MAX, &mtime, err, errlen) < 0)
        return -1;
    if (!strcmp (type, "dir")) {
        if (get_uint (je, "mode", where, 07777, &mode, err, errlen) < 0)
            return -1;
        rc = manifest_add_dir (m, path, mode, mtime, sub, sizeof sub);
    }
    else if (!strcmp (type, "symlink")) {
        const char *target = get_str (je, "target", where, err, errlen);
        if (!target)
            return -1;
        rc = manifest_add_symlink (m, path, target, mtime, sub, sizeof sub);
    }
    else if (!strcmp (type, "file")) {
        if (get_uint (je, "mode", where, 07777, &mode, err, errlen) < 0
            || get_uint (je, "size", where, MANIFEST_TOTAL_MAX, &size, err, errlen) < 0)
            return -1;
        json_t *range = json_object_get (je, "range");
        json_t *list = json_object_get (je, "chunks");
        if ((range != NULL) == (list != NULL)) {
            seterr (err, errlen, "%srange: a file needs exactly one of range, chunks", where);
            return -1;
        }
        uint32_t *idx = NULL;
        uint64_t n = 0;
        if (range) {
            json_t *f = json_array_get (range, 0), *c = json_array_get (range, 1);
            if (!json_is_array (range) || json_array_size (range) != 2 || !json_is_integer (f)
                || !json_is_integer (c) || json_integer_value (f) < 0 || json_integer_value (c) < 0
                || json_integer_value (f) > (json_int_t)m->nchunks
                || json_integer_value (c) > (json_int_t)m->nchunks - json_integer_value (f)) {
                seterr (err, errlen, "%srange: must be [first, count] within the chunk table", where);
                return -1;
            }
            n = json_integer_value (c);
            if (n && !(idx = xmalloc (n * sizeof *idx)))
                goto nomem;
            for (uint64_t k = 0; k < n; k++)
                idx[k] = json_integer_value (f) + k;
        } else {
            if (!json_is_array (list)) {
                seterr (err, errlen, "%schunks: must be an array", where);
                return -1;
            }
            n = json_array_size (list);
            if (n > POSITIONS_MAX) {
                seterr (err, errlen, "%schunks: too many", where);
                return -1;
            }
            if (n && !(idx = xmalloc (n * sizeof *idx)))
                goto nomem;
            for (uint64_t k = 0; k < n; k++) {
                json_t *v = json_array_get (list, k);
                if (!json_is_integer (v) || json_integer_value (v) < 0
                    || json_integer_value (v) >= (json_int_t)m->nchunks) {
                    seterr (err, errlen, "%schunks[%llu]: not an index into the chunk table", where,
                            (unsigned long long)k);
                    free (idx);
                    return -1;
                }
                idx[k] = json_integer_value (v);
            }
        }
        rc = manifest_add_file (m, path, mode, mtime, size, idx, n, sub, sizeof sub);
        free (idx);
    }
    else {
        seterr (err, errlen, "%stype: unknown \"%.40s\" (file, dir, symlink, hardlink)", where, type);
        return -1;
    }
    if (rc < 0) {
        seterr (err, errlen, "%s%s", where, sub);
        return -1;
    }
    return 0;
nomem:
    seterr (err, errlen, "out of memory");
    return -1;
}

/* Header fields (version, name, chunk_size, total_size) of object o: a new
 * empty manifest, or NULL + err. */
static manifest_t *decode_header (const json_t *o, uint64_t *total, uint64_t *vout, char *err,
                                  size_t errlen)
{
    uint64_t version, chunk_size;
    if (get_uint (o, "version", "", 1000, &version, err, errlen) < 0)
        return NULL;
    if (version < MANIFEST_VERSION_MIN || version > MANIFEST_VERSION) {
        seterr (err, errlen, "version: %llu not supported (want %d..%d)", (unsigned long long)version,
                MANIFEST_VERSION_MIN, MANIFEST_VERSION);
        return NULL;
    }
    if (vout)
        *vout = version;
    const char *name = get_str (o, "name", "", err, errlen);
    if (!name || get_uint (o, "chunk_size", "", MANIFEST_CHUNK_MAX, &chunk_size, err, errlen) < 0
        || get_uint (o, "total_size", "", MANIFEST_TOTAL_MAX, total, err, errlen) < 0)
        return NULL;
    if (chunk_size == 0) {
        seterr (err, errlen, "chunk_size: must not be 0");
        return NULL;
    }
    return manifest_new (name, chunk_size, err, errlen);
}

/* chunks[i] from its JSON form into m's table. */
static int decode_chunk (manifest_t *m, const json_t *c, size_t i, char *err, size_t errlen)
{
    json_t *h = json_array_get (c, 0), *l = json_array_get (c, 1);
    uint8_t hash[SHA256_LEN];
    if (i >= MANIFEST_CHUNKS_MAX) {
        seterr (err, errlen, "chunks: more than %u", MANIFEST_CHUNKS_MAX);
        return -1;
    }
    if (!json_is_array (c) || json_array_size (c) != 2 || !json_is_string (h)
        || sha256_parse_hex (json_string_value (h), hash) < 0) {
        seterr (err, errlen, "chunks[%zu]: must be [\"<64 hex digits>\", length]", i);
        return -1;
    }
    if (!json_is_integer (l) || json_integer_value (l) <= 0
        || json_integer_value (l) > (json_int_t)m->chunk_size) {
        seterr (err, errlen, "chunks[%zu]: length must be in 1..chunk_size", i);
        return -1;
    }
    int64_t idx = manifest_chunk_add (m, hash, json_integer_value (l));
    if (idx < 0) {
        seterr (err, errlen, "chunks[%zu]: out of memory", i);
        return -1;
    }
    if ((size_t)idx != i) {
        seterr (err, errlen, "chunks[%zu]: duplicate of chunks[%lld]", i, (long long)idx);
        return -1;
    }
    return 0;
}

/* What holds for the whole manifest once every entry is in. */
static int check_whole (const manifest_t *m, uint64_t total, char *err, size_t errlen)
{
    if (m->total_size != total) {
        seterr (err, errlen, "total_size: %llu but files add up to %llu", (unsigned long long)total,
                (unsigned long long)m->total_size);
        return -1;
    }
    /* every chunk must be used by some file */
    if (m->nchunks) {
        uint8_t *used = xcalloc (m->nchunks, 1);
        for (size_t i = 0; i < m->nentries; i++)
            for (uint32_t k = 0; k < m->entries[i].nchunks; k++)
                used[m->entries[i].chunks[k]] = 1;
        for (size_t i = 0; i < m->nchunks; i++)
            if (!used[i]) {
                free (used);
                seterr (err, errlen, "chunks[%zu]: used by no file", i);
                return -1;
            }
        free (used);
    }
    return 0;
}

/* The version a manifest says must be the one its content needs (so the
 * encoding, hence the digest, is unique). */
static int check_version (const manifest_t *m, uint64_t version, char *err, size_t errlen)
{
    if ((int)version != version_of (m)) {
        seterr (err, errlen, "version: %llu, but %s", (unsigned long long)version,
                version_of (m) == MANIFEST_VERSION ? "hard links need version 2"
                                                   : "an archive without hard links is version 1");
        return -1;
    }
    return 0;
}

manifest_t *manifest_from_json (const json_t *o, char *err, size_t errlen)
{
    manifest_t *m = NULL;
    uint64_t total;
    if (!json_is_object (o)) {
        seterr (err, errlen, "manifest: must be a JSON object");
        return NULL;
    }
    uint64_t version = 0;
    if (!(m = decode_header (o, &total, &version, err, errlen)))
        return NULL;
    json_t *chunks = json_object_get (o, "chunks");
    json_t *ents = json_object_get (o, "entries");
    if (!json_is_array (chunks)) {
        seterr (err, errlen, "chunks: %s", chunks ? "must be an array" : "missing");
        goto fail;
    }
    if (!json_is_array (ents)) {
        seterr (err, errlen, "entries: %s", ents ? "must be an array" : "missing");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size (chunks); i++)
        if (decode_chunk (m, json_array_get (chunks, i), i, err, errlen) < 0)
            goto fail;
    if (json_array_size (ents) > MANIFEST_ENTRIES_MAX) {
        seterr (err, errlen, "entries: more than %u", MANIFEST_ENTRIES_MAX);
        goto fail;
    }
    for (size_t i = 0; i < json_array_size (ents); i++)
        if (decode_entry (m, json_array_get (ents, i), i, err, errlen) < 0)
            goto fail;
    if (check_whole (m, total, err, errlen) < 0 || check_version (m, version, err, errlen) < 0)
        goto fail;
    return m;
fail:
    manifest_destroy (&m);
    return NULL;
}

/* --- streaming decoder ------------------------------------------------
 * The manifest text is walked at its top level by hand and each element of
 * "entries" and "chunks" is parsed on its own (jansson, JSON_DISABLE_EOF_CHECK),
 * so memory is the manifest being built plus one element's tree, never a
 * tree of the whole text (which costs several times the text). */
struct tl {
    const char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
};

static void tl_ws (struct tl *t)
{
    while (t->pos < t->len && (t->s[t->pos] == ' ' || t->s[t->pos] == '\t' || t->s[t->pos] == '\n'
                               || t->s[t->pos] == '\r'))
        t->pos++;
}

static int tl_fail (struct tl *t, size_t at, const char *what)
{
    int line = 1, col = 1;
    for (size_t i = 0; i < at && i < t->len; i++) {
        if (t->s[i] == '\n') {
            line++;
            col = 1;
        } else
            col++;
    }
    seterr (t->err, t->errlen, "manifest: JSON error at line %d column %d: %s", line, col, what);
    return -1;
}

/* One JSON value at pos (advanced past it), or NULL + err. */
static json_t *tl_value (struct tl *t)
{
    json_error_t je;
    json_t *v = json_loadb (t->s + t->pos, t->len - t->pos,
                            JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!v) {
        tl_fail (t, t->pos + (je.position > 0 ? (size_t)je.position : 0), je.text);
        return NULL;
    }
    t->pos += je.position;
    return v;
}

/* Skip an array or object at pos by its brackets (strings respected); its
 * content is checked when it is parsed.  0 or -1. */
static int tl_skip (struct tl *t)
{
    size_t start = t->pos;
    int depth = 0;
    while (t->pos < t->len) {
        char c = t->s[t->pos++];
        if (c == '"') {
            while (t->pos < t->len && t->s[t->pos] != '"')
                t->pos += t->s[t->pos] == '\\' ? 2 : 1;
            if (t->pos >= t->len)
                break;
            t->pos++;
        }
        else if (c == '[' || c == '{')
            depth++;
        else if ((c == ']' || c == '}') && --depth == 0)
            return 0;
    }
    return tl_fail (t, start, "unterminated array or object");
}

typedef int (*tl_elem_fn) (manifest_t *m, const json_t *el, size_t i, char *err, size_t errlen);

/* The array at offset off, element by element into fn.  0 or -1. */
static int tl_array_at (struct tl *t, size_t off, const char *key, manifest_t *m, size_t max,
                        size_t base, tl_elem_fn fn);
static int tl_array (struct tl *t, size_t off, const char *key, manifest_t *m, size_t max,
                     tl_elem_fn fn)
{
    return tl_array_at (t, off, key, m, max, 0, fn);
}

/* The same, element i passed as base + i. */
static int tl_array_at (struct tl *t, size_t off, const char *key, manifest_t *m, size_t max,
                        size_t base, tl_elem_fn fn)
{
    t->pos = off;
    if (t->pos >= t->len || t->s[t->pos] != '[') {
        seterr (t->err, t->errlen, "%s: must be an array", key);
        return -1;
    }
    t->pos++;
    tl_ws (t);
    if (t->pos < t->len && t->s[t->pos] == ']')
        return 0;
    for (size_t i = 0;; i++) {
        if (i >= max) {
            seterr (t->err, t->errlen, "%s: more than %zu", key, max);
            return -1;
        }
        tl_ws (t);
        json_t *el = tl_value (t);
        if (!el)
            return -1;
        int rc = fn (m, el, base + i, t->err, t->errlen);
        json_decref (el);
        if (rc < 0)
            return -1;
        tl_ws (t);
        if (t->pos < t->len && t->s[t->pos] == ',') {
            t->pos++;
            continue;
        }
        if (t->pos < t->len && t->s[t->pos] == ']')
            return 0;
        return tl_fail (t, t->pos, "',' or ']' expected");
    }
}

static int decode_entry_fn (manifest_t *m, const json_t *el, size_t i, char *err, size_t errlen)
{
    return decode_entry (m, el, i, err, errlen);
}

manifest_t *manifest_decode (const char *text, size_t len, char *err, size_t errlen)
{
    struct tl t = {.s = text, .len = len, .err = err, .errlen = errlen};
    json_t *hdr = json_object ();
    manifest_t *m = NULL;
    size_t ents_off = 0, chunks_off = 0;
    bool have_ents = false, have_chunks = false;
    if (!hdr) {
        seterr (err, errlen, "out of memory");
        return NULL;
    }
    /* pass 1: the top-level object; header fields parsed, the two big
     * arrays located */
    tl_ws (&t);
    if (t.pos >= t.len || (text[t.pos] != '{' && text[t.pos] != '[' && text[t.pos] != '"'
                           && text[t.pos] != '-' && (text[t.pos] < '0' || text[t.pos] > '9')
                           && text[t.pos] != 't' && text[t.pos] != 'f' && text[t.pos] != 'n')) {
        tl_fail (&t, t.pos, t.pos >= t.len ? "'[' or '{' expected near end of file"
                                           : "'[' or '{' expected");
        goto fail;
    }
    if (text[t.pos] != '{') {
        json_t *v = tl_value (&t);   /* valid JSON, but not an object */
        if (v)
            seterr (err, errlen, "manifest: must be a JSON object");
        json_decref (v);
        goto fail;
    }
    t.pos++;
    tl_ws (&t);
    if (t.pos < t.len && text[t.pos] == '}')
        t.pos++;
    else
        for (;;) {
            tl_ws (&t);
            if (t.pos >= t.len || text[t.pos] != '"') {
                tl_fail (&t, t.pos, "string or '}' expected");
                goto fail;
            }
            json_t *k = tl_value (&t);
            if (!k)
                goto fail;
            char key[64];
            snprintf (key, sizeof key, "%s", json_string_value (k));
            bool dup = json_object_get (hdr, json_string_value (k))
                       || (!strcmp (json_string_value (k), "entries") && have_ents)
                       || (!strcmp (json_string_value (k), "chunks") && have_chunks);
            json_decref (k);
            if (dup) {
                tl_fail (&t, t.pos, "duplicate object key");
                goto fail;
            }
            tl_ws (&t);
            if (t.pos >= t.len || text[t.pos] != ':') {
                tl_fail (&t, t.pos, "':' expected");
                goto fail;
            }
            t.pos++;
            tl_ws (&t);
            bool big = !strcmp (key, "entries") || !strcmp (key, "chunks");
            if (big && t.pos < t.len && text[t.pos] == '[') {
                if (!strcmp (key, "entries")) {
                    ents_off = t.pos;
                    have_ents = true;
                } else {
                    chunks_off = t.pos;
                    have_chunks = true;
                }
                if (tl_skip (&t) < 0)
                    goto fail;
            }
            else {
                json_t *v = tl_value (&t);
                if (!v)
                    goto fail;
                json_object_set_new (hdr, key, v);
            }
            tl_ws (&t);
            if (t.pos < t.len && text[t.pos] == ',') {
                t.pos++;
                continue;
            }
            if (t.pos < t.len && text[t.pos] == '}') {
                t.pos++;
                break;
            }
            tl_fail (&t, t.pos, "',' or '}' expected");
            goto fail;
        }
    tl_ws (&t);
    if (t.pos < t.len) {
        tl_fail (&t, t.pos, "end of file expected");
        goto fail;
    }
    /* pass 2: in the order the rules need (the chunk table before the files) */
    uint64_t total;
    uint64_t version = 0;
    if (!(m = decode_header (hdr, &total, &version, err, errlen)))
        goto fail;
    if (!have_chunks || !have_ents) {
        const char *k = !have_chunks ? "chunks" : "entries";
        seterr (err, errlen, "%s: %s", k, json_object_get (hdr, k) ? "must be an array" : "missing");
        goto fail;
    }
    if (tl_array (&t, chunks_off, "chunks", m, MANIFEST_CHUNKS_MAX, decode_chunk) < 0
        || tl_array (&t, ents_off, "entries", m, MANIFEST_ENTRIES_MAX, decode_entry_fn) < 0
        || check_whole (m, total, err, errlen) < 0 || check_version (m, version, err, errlen) < 0)
        goto fail;
    json_decref (hdr);
    drop_ctab (m);
    ((struct priv *)m->priv_)->checked = true;
    return m;
fail:
    json_decref (hdr);
    manifest_destroy (&m);
    return NULL;
}

/* Rebuild m through the builders (so every rule is checked again) without
 * going through JSON.  The copy, or NULL + err. */
static manifest_t *rebuild (const manifest_t *m, char *err, size_t errlen)
{
    if (!m) {
        seterr (err, errlen, "manifest: missing");
        return NULL;
    }
    manifest_t *n = manifest_new (m->name ? m->name : "", m->chunk_size, err, errlen);
    if (!n)
        return NULL;
    if (m->nentries <= MANIFEST_ENTRIES_MAX && m->nchunks <= MANIFEST_CHUNKS_MAX)
        reserve (n, m->nentries, m->nchunks);
    char sub[200];
    if (m->nchunks > MANIFEST_CHUNKS_MAX) {
        seterr (err, errlen, "chunks: more than %u", MANIFEST_CHUNKS_MAX);
        goto fail;
    }
    for (size_t i = 0; i < m->nchunks; i++) {
        if (m->chunks[i].len == 0 || m->chunks[i].len > m->chunk_size) {
            seterr (err, errlen, "chunks[%zu]: length must be in 1..chunk_size", i);
            goto fail;
        }
        int64_t idx = manifest_chunk_add (n, m->chunks[i].hash, m->chunks[i].len);
        if (idx < 0 || (size_t)idx != i) {
            seterr (err, errlen, "chunks[%zu]: %s", i, idx < 0 ? "out of memory" : "duplicate");
            goto fail;
        }
    }
    if (m->nentries > MANIFEST_ENTRIES_MAX) {
        seterr (err, errlen, "entries: more than %u", MANIFEST_ENTRIES_MAX);
        goto fail;
    }
    for (size_t i = 0; i < m->nentries; i++) {
        const manifest_entry_t *e = &m->entries[i];
        int rc;
        if (!e->path) {
            seterr (err, errlen, "entries[%zu].path: missing", i);
            goto fail;
        }
        if (e->type == MANIFEST_DIR)
            rc = manifest_add_dir (n, e->path, e->mode, e->mtime_ns, sub, sizeof sub);
        else if (e->type == MANIFEST_HARDLINK)
            rc = e->target ? manifest_add_hardlink (n, e->path, e->target, sub, sizeof sub)
                           : (snprintf (sub, sizeof sub, "target: missing"), -1);
        else if (e->type == MANIFEST_SYMLINK)
            rc = e->target ? manifest_add_symlink (n, e->path, e->target, e->mtime_ns, sub, sizeof sub)
                           : (snprintf (sub, sizeof sub, "target: missing"), -1);
        else if (e->type == MANIFEST_FILE) {
            for (uint32_t k = 0; k < e->nchunks; k++)
                if (e->chunks[k] >= m->nchunks) {
                    seterr (err, errlen, "entries[%zu].chunks[%u]: not an index into the chunk table",
                            i, k);
                    goto fail;
                }
            rc = manifest_add_file (n, e->path, e->mode, e->mtime_ns, e->size, e->chunks, e->nchunks,
                                    sub, sizeof sub);
        }
        else {
            snprintf (sub, sizeof sub, "type: unknown");
            rc = -1;
        }
        if (rc < 0) {
            seterr (err, errlen, "entries[%zu].%s", i, sub);
            goto fail;
        }
    }
    if (check_whole (n, m->total_size, err, errlen) < 0)
        goto fail;
    ((struct priv *)n->priv_)->checked = true;
    return n;
fail:
    manifest_destroy (&n);
    return NULL;
}

int manifest_validate (const manifest_t *m, char *err, size_t errlen)
{
    if (m && m->priv_ && ((struct priv *)m->priv_)->checked)
        return 0;   /* checked when decoded, assembled or rebuilt; not changed since */
    manifest_t *copy = rebuild (m, err, errlen);
    if (!copy)
        return -1;
    manifest_destroy (&copy);
    return 0;
}

manifest_t *manifest_dup (const manifest_t *m)
{
    return rebuild (m, NULL, 0);
}

/* --- pages (doc/archive.md, "Manifest pages") ---------------------------- */

static size_t pages_of (size_t n)
{
    return (n + MANIFEST_PAGE_ITEMS - 1) / MANIFEST_PAGE_ITEMS;
}

size_t manifest_npages (const manifest_t *m)
{
    return pages_of (m->nchunks) + pages_of (m->nentries);
}

/* page's text into b: chunk pages first, then entry pages */
static void page_to (const manifest_t *m, size_t page, struct tbuf *b)
{
    size_t ncp = pages_of (m->nchunks);
    char num[96];
    if (page < ncp) {
        size_t from = page * MANIFEST_PAGE_ITEMS, to = from + MANIFEST_PAGE_ITEMS;
        if (to > m->nchunks)
            to = m->nchunks;
        tb_str (b, "{\"chunks\":[");
        for (size_t i = from; i < to && !b->oom; i++) {
            char hex[SHA256_HEXLEN + 1];
            sha256_hex (m->chunks[i].hash, hex);
            snprintf (num, sizeof num, "%s[\"%s\",%" PRIu32 "]", i > from ? "," : "", hex, m->chunks[i].len);
            tb_str (b, num);
        }
        tb_str (b, "]}");
        return;
    }
    size_t from = (page - ncp) * MANIFEST_PAGE_ITEMS, to = from + MANIFEST_PAGE_ITEMS;
    if (to > m->nentries)
        to = m->nentries;
    tb_str (b, "{\"entries\":[");
    for (size_t i = from; i < to && !b->oom; i++) {
        json_t *je = entry_to_json (&m->entries[i]);
        char *t = je ? json_dumps (je, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref (je);
        if (!t) {
            b->oom = true;
            return;
        }
        if (i > from)
            tb_add (b, ",", 1);
        tb_str (b, t);
        free (t);
    }
    tb_str (b, "]}");
}

char *manifest_page_encode (const manifest_t *m, size_t page, size_t *lenp)
{
    if (page >= manifest_npages (m))
        return NULL;
    struct tbuf b = {0};
    page_to (m, page, &b);
    if (b.oom || !b.s) {
        free (b.s);
        return NULL;
    }
    if (lenp)
        *lenp = b.n;
    return b.s;
}

char *manifest_head_encode (const manifest_t *m, size_t *lenp)
{
    uint8_t dg[SHA256_LEN];
    char hex[SHA256_HEXLEN + 1];
    manifest_digest (m, dg);
    sha256_hex (dg, hex);
    json_t *pages = json_array ();
    size_t np = manifest_npages (m);
    for (size_t i = 0; i < np; i++) {
        struct tbuf b = {.sha = sha256_ctx_new ()};
        if (!b.sha)
            xalloc_oom (0);
        page_to (m, i, &b);
        uint8_t ph[SHA256_LEN];
        sha256_ctx_final (b.sha, ph);
        sha256_ctx_destroy (&b.sha);
        char phex[SHA256_HEXLEN + 1];
        sha256_hex (ph, phex);
        json_array_append_new (pages, json_pack ("[s I]", phex, (json_int_t)b.n));
    }
    json_t *o = json_pack ("{s:i s:i s:s s:I s:I s:I s:I s:i s:s s:o}", "head", 1, "version", version_of (m),
                           "name", m->name, "chunk_size", (json_int_t)m->chunk_size, "total_size",
                           (json_int_t)m->total_size, "nentries", (json_int_t)m->nentries, "nchunks",
                           (json_int_t)m->nchunks, "page_items", MANIFEST_PAGE_ITEMS, "digest", hex,
                           "pages", pages);
    char *t = o ? json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref (o);
    if (!t)
        xalloc_oom (0);
    if (lenp)
        *lenp = strlen (t);
    return t;
}

bool manifest_is_head (const char *text, size_t len)
{
    return len >= 9 && !memcmp (text, "{\"head\":", 8);
}

struct manifest_asm {
    manifest_t *m;
    uint64_t total, version, nentries, nchunks;
    uint8_t digest[SHA256_LEN];
    size_t npages, ncpages, next;
    uint8_t (*phash)[SHA256_LEN];
    uint32_t *plen;
};

void manifest_asm_destroy (manifest_asm_t **p)
{
    if (!p || !*p)
        return;
    manifest_asm_t *a = *p;
    manifest_destroy (&a->m);
    free (a->phash);
    free (a->plen);
    free (a);
    *p = NULL;
}

manifest_asm_t *manifest_asm_new (const char *head, size_t len, char *err, size_t errlen)
{
    if (len > MANIFEST_PAGE_MAX) {
        seterr (err, errlen, "manifest head: %zu bytes, more than %u", len, MANIFEST_PAGE_MAX);
        return NULL;
    }
    json_error_t je;
    json_t *o = json_loadb (head, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        seterr (err, errlen, "manifest head: JSON error at column %d: %s", je.column, je.text);
        return NULL;
    }
    manifest_asm_t *a = xcalloc (1, sizeof *a);
    uint64_t h = 0, items = 0;
    const char *dg;
    json_t *pages = json_object_get (o, "pages");
    if (!json_is_object (o) || get_uint (o, "head", "head.", 1, &h, err, errlen) < 0)
        goto fail;
    if (h != 1) {
        seterr (err, errlen, "manifest head: head: must be 1");
        goto fail;
    }
    if (!(a->m = decode_header (o, &a->total, &a->version, err, errlen))
        || get_uint (o, "nentries", "head.", MANIFEST_ENTRIES_MAX, &a->nentries, err, errlen) < 0
        || get_uint (o, "nchunks", "head.", MANIFEST_CHUNKS_MAX, &a->nchunks, err, errlen) < 0
        || get_uint (o, "page_items", "head.", UINT32_MAX, &items, err, errlen) < 0
        || !(dg = get_str (o, "digest", "head.", err, errlen)))
        goto fail;
    if (items != MANIFEST_PAGE_ITEMS) {
        seterr (err, errlen, "manifest head: page_items: %llu, this broker reads %u",
                (unsigned long long)items, MANIFEST_PAGE_ITEMS);
        goto fail;
    }
    if (sha256_parse_hex (dg, a->digest) < 0) {
        seterr (err, errlen, "manifest head: digest: must be 64 hex digits");
        goto fail;
    }
    a->ncpages = pages_of (a->nchunks);
    a->npages = a->ncpages + pages_of (a->nentries);
    if (!json_is_array (pages) || json_array_size (pages) != a->npages) {
        seterr (err, errlen, "manifest head: pages: must be an array of %zu [hash, length]", a->npages);
        goto fail;
    }
    a->phash = xcalloc (a->npages ? a->npages : 1, SHA256_LEN);
    a->plen = xcalloc (a->npages ? a->npages : 1, sizeof *a->plen);
    for (size_t i = 0; i < a->npages; i++) {
        json_t *pg = json_array_get (pages, i), *ph = json_array_get (pg, 0), *pl = json_array_get (pg, 1);
        if (!json_is_array (pg) || json_array_size (pg) != 2 || !json_is_string (ph)
            || sha256_parse_hex (json_string_value (ph), a->phash[i]) < 0 || !json_is_integer (pl)
            || json_integer_value (pl) < 2 || json_integer_value (pl) > MANIFEST_PAGE_MAX) {
            seterr (err, errlen, "manifest head: pages[%zu]: must be [\"<64 hex digits>\", 2..%u]", i,
                    MANIFEST_PAGE_MAX);
            goto fail;
        }
        a->plen[i] = json_integer_value (pl);
    }
    reserve (a->m, a->nentries, a->nchunks);
    json_decref (o);
    return a;
fail:
    json_decref (o);
    manifest_asm_destroy (&a);
    return NULL;
}

const char *manifest_asm_name (const manifest_asm_t *a)
{
    return a->m->name;
}

size_t manifest_asm_npages (const manifest_asm_t *a)
{
    return a->npages;
}

size_t manifest_asm_next (const manifest_asm_t *a)
{
    return a->next;
}

const uint8_t *manifest_asm_digest (const manifest_asm_t *a)
{
    return a->digest;
}

int manifest_asm_page (manifest_asm_t *a, const char *text, size_t len, char *err, size_t errlen)
{
    size_t i = a->next;
    if (i >= a->npages) {
        seterr (err, errlen, "manifest page %zu: there are only %zu", i, a->npages);
        return -1;
    }
    uint8_t h[SHA256_LEN];
    if (len == a->plen[i])
        sha256_hash (text, len, h);
    if (len != a->plen[i] || memcmp (h, a->phash[i], SHA256_LEN)) {
        seterr (err, errlen, "manifest page %zu: does not match its hash in the head", i);
        return -1;
    }
    bool chunks = i < a->ncpages;
    const char *pre = chunks ? "{\"chunks\":" : "{\"entries\":";
    size_t pl = strlen (pre);
    if (len < pl + 3 || memcmp (text, pre, pl) || text[len - 1] != '}') {
        seterr (err, errlen, "manifest page %zu: must be {\"%s\": [...]}", i, chunks ? "chunks" : "entries");
        return -1;
    }
    size_t base = (chunks ? i : i - a->ncpages) * MANIFEST_PAGE_ITEMS;
    uint64_t all = chunks ? a->nchunks : a->nentries;
    size_t want = all - base < MANIFEST_PAGE_ITEMS ? all - base : MANIFEST_PAGE_ITEMS;
    struct tl t = {.s = text, .len = len - 1, .err = err, .errlen = errlen};
    char sub[400];
    t.err = sub;
    t.errlen = sizeof sub;
    int rc = tl_array_at (&t, pl, chunks ? "chunks" : "entries", a->m, want, base,
                          chunks ? decode_chunk : decode_entry_fn);
    if (rc == 0) {
        t.pos++;   /* past ']' */
        tl_ws (&t);
        if (t.pos != t.len)
            rc = tl_fail (&t, t.pos, "'}' expected");
    }
    if (rc < 0) {
        seterr (err, errlen, "manifest page %zu: %s", i, sub);
        return -1;
    }
    size_t have = chunks ? a->m->nchunks : a->m->nentries;
    if (have != base + want) {
        seterr (err, errlen, "manifest page %zu: %zu %s, want %zu", i, have - base,
                chunks ? "chunks" : "entries", want);
        return -1;
    }
    a->next++;
    return 0;
}

manifest_t *manifest_asm_finish (manifest_asm_t *a, char *err, size_t errlen)
{
    if (a->next < a->npages) {
        seterr (err, errlen, "manifest: %zu of %zu pages missing", a->npages - a->next, a->npages);
        return NULL;
    }
    manifest_t *m = a->m;
    if (check_whole (m, a->total, err, errlen) < 0 || check_version (m, a->version, err, errlen) < 0)
        return NULL;
    uint8_t dg[SHA256_LEN];
    manifest_digest (m, dg);
    if (memcmp (dg, a->digest, SHA256_LEN)) {
        seterr (err, errlen, "manifest: assembled pages do not match the head's digest");
        return NULL;
    }
    drop_ctab (m);
    ((struct priv *)m->priv_)->checked = true;
    a->m = NULL;
    return m;
}

/* One pass: every page encoded once, handed to fn, hashed for the head; the
 * whole manifest's digest taken from the same texts (entry pages first, as
 * the whole encoding has its entries before its chunk table). */
char *manifest_pages_write (const manifest_t *m, manifest_page_fn fn, void *arg, uint8_t digest[SHA256_LEN],
                            size_t *lenp)
{
    size_t ncp = pages_of (m->nchunks), np = manifest_npages (m);
    uint8_t (*ph)[SHA256_LEN] = xcalloc (np ? np : 1, SHA256_LEN);
    size_t *pl = xcalloc (np ? np : 1, sizeof *pl);
    sha256_ctx_t *dg = sha256_ctx_new ();
    if (!dg)
        xalloc_oom (0);
    json_t *js = json_string (m->name);
    char *name = js ? json_dumps (js, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref (js);
    if (!name)
        xalloc_oom (0);
    char num[128];
    snprintf (num, sizeof num, "{\"version\":%d,\"name\":", version_of (m));
    sha256_ctx_update (dg, num, strlen (num));
    sha256_ctx_update (dg, name, strlen (name));
    free (name);
    snprintf (num, sizeof num, ",\"chunk_size\":%" PRIu32 ",\"total_size\":%" PRIu64 ",\"entries\":[",
              m->chunk_size, m->total_size);
    sha256_ctx_update (dg, num, strlen (num));
    int rc = 0;
    for (size_t k = 0; k < np && rc == 0; k++) {
        size_t i = k < np - ncp ? ncp + k : k - (np - ncp);   /* entry pages, then chunk pages */
        if (i == 0 && k > 0)
            sha256_ctx_update (dg, "],\"chunks\":[", 12);
        struct tbuf b = {0};
        page_to (m, i, &b);
        if (b.oom || !b.s)
            xalloc_oom (0);
        sha256_hash (b.s, b.n, ph[i]);
        pl[i] = b.n;
        size_t pre = i < ncp ? 11 : 12;   /* {"chunks":[ or {"entries":[ */
        bool first = i == 0 || i == ncp;
        if (!first)
            sha256_ctx_update (dg, ",", 1);
        sha256_ctx_update (dg, b.s + pre, b.n - pre - 2);
        rc = fn (arg, i, b.s, b.n);   /* fn owns the text */
    }
    if (ncp == 0)
        sha256_ctx_update (dg, "],\"chunks\":[", 12);
    sha256_ctx_update (dg, "]}", 2);
    sha256_ctx_final (dg, digest);
    sha256_ctx_destroy (&dg);
    char *t = NULL;
    if (rc == 0) {
        char hex[SHA256_HEXLEN + 1];
        sha256_hex (digest, hex);
        json_t *pages = json_array ();
        for (size_t i = 0; i < np; i++) {
            char phex[SHA256_HEXLEN + 1];
            sha256_hex (ph[i], phex);
            json_array_append_new (pages, json_pack ("[s I]", phex, (json_int_t)pl[i]));
        }
        json_t *o = json_pack ("{s:i s:i s:s s:I s:I s:I s:I s:i s:s s:o}", "head", 1, "version", version_of (m),
                               "name", m->name, "chunk_size", (json_int_t)m->chunk_size, "total_size",
                               (json_int_t)m->total_size, "nentries", (json_int_t)m->nentries, "nchunks",
                               (json_int_t)m->nchunks, "page_items", MANIFEST_PAGE_ITEMS, "digest", hex,
                               "pages", pages);
        t = o ? json_dumps (o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref (o);
        if (!t)
            xalloc_oom (0);
        if (lenp)
            *lenp = strlen (t);
    }
    free (ph);
    free (pl);
    return t;
}
