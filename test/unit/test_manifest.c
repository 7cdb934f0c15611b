/* test_manifest.c - manifest builders, JSON round trip and strict validation. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "manifest.h"

static char err[256];

static manifest_t *sample (void)
{
    manifest_t *m = manifest_new ("sample", 4096, err, sizeof err);
    uint8_t h[SHA256_LEN];
    uint32_t idx[4];
    manifest_add_dir (m, "d", 0755, 1700000000123456789LL, err, sizeof err);
    /* big: 3 positions: A, B, C(short) */
    for (int i = 0; i < 3; i++) {
        sha256_hash (&i, sizeof i, h);
        idx[i] = manifest_chunk_add (m, h, i < 2 ? 4096 : 100);
    }
    manifest_add_file (m, "d/big", 0644, 5, 2 * 4096 + 100, idx, 3, err, sizeof err);
    /* sparse-ish: A, A, B (non-consecutive: a list) */
    uint32_t l[3] = {idx[0], idx[0], idx[1]};
    manifest_add_file (m, "d/dup", 0600, 6, 3 * 4096, l, 3, err, sizeof err);
    manifest_add_file (m, "empty", 0640, 7, 0, NULL, 0, err, sizeof err);
    manifest_add_symlink (m, "d/link", "../empty", 8, err, sizeof err);
    return m;
}

/* decode text; expect failure whose message contains `want` */
static void bad (const char *text, const char *want, const char *what)
{
    err[0] = 0;
    manifest_t *m = manifest_decode (text, strlen (text), err, sizeof err);
    ok (m == NULL && strstr (err, want) != NULL && !strchr (err, '\n'), "rejects %s: %s", what, err);
    manifest_destroy (&m);
}

static char *replace (const char *s, const char *from, const char *to)
{
    const char *p = strstr (s, from);
    if (!p)
        return strdup (s);
    size_t n = strlen (s) - strlen (from) + strlen (to) + 1;
    char *r = malloc (n);
    snprintf (r, n, "%.*s%s%s", (int)(p - s), s, to, p + strlen (from));
    return r;
}

int main (void)
{
    ok (manifest_name_valid ("a.b_c-1") && !manifest_name_valid (".x") && !manifest_name_valid ("a/b")
        && !manifest_name_valid ("") && !manifest_name_valid ("a b"), "name validation");
    ok (manifest_path_valid ("a/b/c") && !manifest_path_valid ("/a") && !manifest_path_valid ("a/../b")
        && !manifest_path_valid ("a//b") && !manifest_path_valid ("a/") && !manifest_path_valid (".")
        && !manifest_path_valid ("a/./b") && !manifest_path_valid ("..") && !manifest_path_valid ("a\nb"),
        "path validation");
    ok (manifest_new ("x", 100, err, sizeof err) == NULL && strstr (err, "chunk_size"), "tiny chunk size refused");
    manifest_t *d = manifest_new ("x", 0, err, sizeof err);
    ok (d && d->chunk_size == MANIFEST_CHUNK_DEFAULT, "chunk size 0 means default");
    manifest_destroy (&d);

    manifest_t *m = sample ();
    ok (m->nentries == 5 && m->nchunks == 3, "sample built (%zu entries, %zu chunks)", m->nentries, m->nchunks);
    ok (m->total_size == 2 * 4096 + 100 + 3 * 4096, "total size");
    uint8_t h[SHA256_LEN];
    int i0 = 0;
    sha256_hash (&i0, sizeof i0, h);
    ok (manifest_chunk_add (m, h, 4096) == 0, "identical chunk deduplicated");
    ok (manifest_find (m, "d/link") == 4 && manifest_find (m, "nope") == -1, "find");

    /* builder refusals */
    ok (manifest_add_dir (m, "d", 0755, 0, err, sizeof err) < 0 && strstr (err, "duplicate"), "duplicate path");
    ok (manifest_add_dir (m, "x/y", 0755, 0, err, sizeof err) < 0 && strstr (err, "parent"), "missing parent");
    ok (manifest_add_dir (m, "d/link/z", 0755, 0, err, sizeof err) < 0 && strstr (err, "not a directory"),
        "no entry inside a symlink");
    ok (manifest_add_dir (m, "z", 010000, 0, err, sizeof err) < 0 && strstr (err, "mode"), "mode too big");
    uint32_t one = 2;
    ok (manifest_add_file (m, "f", 0644, 0, 4096, &one, 1, err, sizeof err) < 0 && strstr (err, "length"),
        "short chunk in a full position");
    ok (manifest_add_file (m, "f", 0644, 0, 5000, &one, 1, err, sizeof err) < 0 && strstr (err, "chunks"),
        "wrong number of chunks");
    uint32_t far = 99;
    ok (manifest_add_file (m, "f", 0644, 0, 100, &far, 1, err, sizeof err) < 0, "index out of table");

    /* round trip */
    size_t len;
    char *s = manifest_encode (m, &len);
    ok (s && len == strlen (s), "encode");
    ok (strstr (s, "\"range\":[0,3]") && strstr (s, "\"chunks\":[0,0,1]"), "range and list forms");
    manifest_t *m2 = manifest_decode (s, len, err, sizeof err);
    ok (m2 != NULL, "decode own output (%s)", m2 ? "ok" : err);
    char *s2 = m2 ? manifest_encode (m2, NULL) : NULL;
    ok (s2 && !strcmp (s, s2), "re-encode is identical");
    {
        /* the streaming encoder writes exactly what dumping the whole tree
         * does (the digest, an archive's identity, must not change) */
        json_t *tree = manifest_to_json (m);
        char *whole = tree ? json_dumps (tree, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        ok (whole && !strcmp (whole, s), "streamed encoding == whole-tree encoding");
        free (whole);
        json_decref (tree);
        /* the streaming decoder: key order, whitespace, and errors */
        const char *reordered =
            " {\"chunks\" : [ [\"" "0000000000000000000000000000000000000000000000000000000000000000\", 5] ] ,"
            "\"entries\":[{\"path\":\"f\",\"type\":\"file\",\"mode\":420,\"mtime\":0,\"size\":5,\"range\":[0,1]}],"
            "\"total_size\":5,\"chunk_size\":4096,\"extra\":{\"x\":[1]},\"name\":\"r\",\"version\":1}\n";
        manifest_t *r = manifest_decode (reordered, strlen (reordered), err, sizeof err);
        ok (r && r->nentries == 1 && r->nchunks == 1, "decode: any key order, whitespace, unknown keys (%s)",
            r ? "ok" : err);
        manifest_destroy (&r);
        const char *bad[][2] = {
            {"{\"version\":1,\"version\":1}", "duplicate"},
            {"{\"version\":1,\"name\":\"r\",\"chunk_size\":4096,\"total_size\":0,\"entries\":[],\"chunks\":[]} x",
             "end of file expected"},
            {"{\"version\":1,\"name\":\"r\",\"chunk_size\":4096,\"total_size\":0,\"entries\":[{]}", "JSON error"},
            {"{\"version\":1,\"name\":\"r\",\"chunk_size\":4096,\"total_size\":0,\"entries\":[],\"chunks\":[[\"" "0000000000000000000000000000000000000000000000000000000000000000\",5] 2]}",
             "',' or ']' expected"},
            {"{\"version\":1,\"name\":\"r\",\"chunk_size\":4096,\"total_size\":0,\"entries\":{},\"chunks\":[]}", "entries: must be an array"},
            {"{\"version\":1,\"name\":\"r\",\"chunk_size\":4096,\"total_size\":0,\"entries\":[]}", "chunks: missing"},
            {"[1]", "must be a JSON object"},
            {"", "JSON error"},
            {"{\"entries\":[\"\\", "JSON error"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            err[0] = 0;
            r = manifest_decode (bad[i][0], strlen (bad[i][0]), err, sizeof err);
            ok (!r && strstr (err, bad[i][1]) && !strchr (err, '\n'), "decode rejects %s: %s", bad[i][0], err);
            manifest_destroy (&r);
        }
    }
    ok (m2 && m2->entries[1].nchunks == 3 && m2->entries[2].chunks[1] == 0
        && m2->entries[0].mtime_ns == 1700000000123456789LL && m2->entries[4].type == MANIFEST_SYMLINK
        && !strcmp (m2->entries[4].target, "../empty"), "fields survive");
    {
        /* hard links (version 2): to an earlier file only */
        char e2[256];
        manifest_t *h = manifest_new ("hl", 4096, e2, sizeof e2);
        uint8_t hh[SHA256_LEN] = {1};
        uint32_t c0 = manifest_chunk_add (h, hh, 10);
        manifest_add_dir (h, "d", 0755, 0, e2, sizeof e2);
        ok (manifest_add_hardlink (h, "d/early", "d/f", e2, sizeof e2) < 0 && strstr (e2, "not an earlier file"),
            "hard link to a later/missing entry refused: %s", e2);
        manifest_add_file (h, "d/f", 0644, 5, 10, &c0, 1, e2, sizeof e2);
        ok (manifest_add_hardlink (h, "d/l1", "d", e2, sizeof e2) < 0, "hard link to a directory refused");
        ok (manifest_add_hardlink (h, "d/l2", "../etc/passwd", e2, sizeof e2) < 0 && strstr (e2, "target"),
            "hard link outside the archive refused: %s", e2);
        ok (manifest_add_hardlink (h, "d/l3", "/etc/passwd", e2, sizeof e2) < 0, "absolute hard link target refused");
        ok (manifest_add_hardlink (h, "d/link", "d/f", e2, sizeof e2) == 0 && h->entries[2].link == 1,
            "hard link to an earlier file");
        size_t hl = 0;
        char *ht = manifest_encode (h, &hl);
        ok (ht && strstr (ht, "\"version\":2") && strstr (ht, "{\"path\":\"d/link\",\"type\":\"hardlink\",\"target\":\"d/f\"}"),
            "encoded as version 2 with a hardlink entry");
        manifest_t *h2 = ht ? manifest_decode (ht, hl, e2, sizeof e2) : NULL;
        ok (h2 && h2->entries[2].type == MANIFEST_HARDLINK && h2->entries[2].link == 1 && h2->total_size == 10,
            "hard link decodes (%s)", h2 ? "ok" : e2);
        manifest_t *h3 = h2 ? manifest_dup (h2) : NULL;
        ok (h3 && h3->entries[2].type == MANIFEST_HARDLINK, "dup keeps it");
        manifest_destroy (&h2);
        manifest_destroy (&h3);
        char *v1 = ht ? strdup (ht) : NULL;
        if (v1)
            memcpy (strstr (v1, "\"version\":2"), "\"version\":1", 11);
        h2 = v1 ? manifest_decode (v1, hl, e2, sizeof e2) : NULL;
        ok (!h2 && strstr (e2, "hard links need version 2"), "version 1 with a hard link refused: %s", e2);
        const char *fwd = "{\"version\":2,\"name\":\"x\",\"chunk_size\":4096,\"total_size\":0,\"entries\":["
                          "{\"path\":\"a\",\"type\":\"hardlink\",\"target\":\"b\"},"
                          "{\"path\":\"b\",\"type\":\"file\",\"mode\":420,\"mtime\":0,\"size\":0,\"range\":[0,0]}],\"chunks\":[]}";
        h2 = manifest_decode (fwd, strlen (fwd), e2, sizeof e2);
        ok (!h2 && strstr (e2, "entries[0]") && strstr (e2, "not an earlier file"), "decode: link to a later entry refused: %s", e2);
        free (v1);
        free (ht);
        manifest_destroy (&h);
        ok (s && strstr (s, "\"version\":1,"), "an archive without hard links stays version 1");
    }
    uint8_t d1[SHA256_LEN], d2[SHA256_LEN];
    manifest_digest (m, d1);
    manifest_digest (m2, d2);
    ok (!memcmp (d1, d2, SHA256_LEN), "digest stable");
    {
        uint8_t d3[SHA256_LEN];
        sha256_hash (s, len, d3);
        ok (!memcmp (d1, d3, SHA256_LEN), "streamed digest == SHA-256 of the encoding");
    }
    manifest_t *m3 = manifest_dup (m);
    ok (m3 && m3->nchunks == 3 && manifest_find (m3, "d/big") == 1, "dup");
    ok (manifest_validate (m, err, sizeof err) == 0, "validate good manifest");
    manifest_destroy (&m3);
    manifest_destroy (&m2);
    free (s2);

    /* mutations of the good text */
    struct { const char *from, *to, *want, *what; } cases[] = {
        {"\"version\":1", "\"version\":2", "version", "version 2"},
        {"\"name\":\"sample\"", "\"name\":\"../x\"", "name", "bad name"},
        {"\"chunk_size\":4096", "\"chunk_size\":4097", "length", "chunk size changed"},
        {"\"chunk_size\":4096", "\"chunk_size\":1e3", "chunk_size", "real chunk size"},
        {"\"path\":\"d/big\"", "\"path\":\"/etc/passwd\"", "entries[1].path: absolute", "absolute path"},
        {"\"path\":\"d/big\"", "\"path\":\"d/../../x\"", "entries[1].path: \"..\"", "dot-dot"},
        {"\"path\":\"d/big\"", "\"path\":\"d/link/x\"", "parent of", "escape through symlink"},
        {"\"path\":\"d/big\"", "\"path\":\"d\"", "duplicate", "duplicate path"},
        {"\"path\":\"d/big\"", "\"path\":\"\"", "empty", "empty path"},
        {"\"type\":\"dir\"", "\"type\":\"fifo\"", "entries[0].type", "unknown type"},
        {"\"mode\":493", "\"mode\":-1", "entries[0].mode", "negative mode"},
        {"\"mode\":493", "\"mode\":4096", "entries[0].mode", "mode > 07777"},
        {"\"mtime\":5", "\"mtime\":\"5\"", "entries[1].mtime", "string mtime"},
        {"\"range\":[0,3]", "\"range\":[1,3]", "entries[1]", "range past table"},
        {"\"range\":[0,3]", "\"range\":[0,3],\"chunks\":[0]", "exactly one", "range and chunks"},
        {"\"chunks\":[0,0,1]", "\"chunks\":[0,0,7]", "entries[2].chunks[2]", "index out of table"},
        {"\"chunks\":[0,0,1]", "\"chunks\":[0,2,1]", "length", "short chunk mid-file"},
        {"\"size\":8292", "\"size\":8293", "entries[1]", "size mismatch"},
        {"\"total_size\":20580", "\"total_size\":20581", "total_size", "total mismatch"},
        {"\"target\":\"../empty\"", "\"target\":\"\"", "target", "empty target"},
        {",100]]", ",0]]", "chunks[2]: length", "zero-length chunk"},
        {"\"version\":1,", "\"version\":1,\"version\":1,", "JSON", "duplicate key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = replace (s, cases[i].from, cases[i].to);
        ok (strcmp (t, s) != 0, "mutation applies: %s", cases[i].what);
        bad (t, cases[i].want, cases[i].what);
        free (t);
    }
    /* an unused chunk: add a 4th chunk to the table */
    {
        char *t = replace (s, ",100]]", ",100],[\"00000000000000000000000000000000000000000000000000000000000000ff\",5]]");
        bad (t, "used by no file", "unused chunk");
        free (t);
        /* duplicate chunk entry */
        char hx[65];
        sha256_hex (m->chunks[0].hash, hx);
        char rep[120];
        snprintf (rep, sizeof rep, ",100],[\"%s\",4096]]", hx);
        t = replace (s, ",100]]", rep);
        bad (t, "duplicate", "duplicate chunk");
        free (t);
    }
    bad ("", "JSON", "empty text");
    bad ("[]", "object", "array");
    bad ("{\"version\":1}", "name", "missing name");
    bad ("{\"version\":1,\"name\":\"a\",\"chunk_size\":4096,\"total_size\":0,\"entries\":{},\"chunks\":[]}",
         "entries", "entries not array");
    const char *emptyok = "{\"version\":1,\"name\":\"a\",\"chunk_size\":4096,\"total_size\":0,\"entries\":[],\"chunks\":[]}";
    manifest_t *e = manifest_decode (emptyok, strlen (emptyok), err, sizeof err);
    ok (e && e->nentries == 0, "empty archive is valid");
    manifest_destroy (&e);
    free (s);
    manifest_destroy (&m);
    return done ();
}
