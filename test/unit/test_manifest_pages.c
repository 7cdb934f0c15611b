/* test_manifest_pages.c - a manifest cut into a head and pages
 * (doc/archive.md, "Manifest pages") assembles back into the same manifest;
 * a page that was changed, is out of order, is missing, or a head that lies
 * about the counts is refused with a message; references share one copy. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "manifest.h"
#include "sha256.h"

/* nfiles one-chunk files (distinct contents) under ndirs >= 1 directories (or
 * nothing at all), and a
 * hard link to the first */
static manifest_t *build (size_t ndirs, size_t nfiles)
{
    char err[256], p[64];
    manifest_t *m = manifest_new ("pages", 4096, err, sizeof err);
    for (size_t d = 0; d < ndirs; d++) {
        snprintf (p, sizeof p, "d%zu", d);
        if (manifest_add_dir (m, p, 0755, 1, err, sizeof err) < 0)
            return NULL;
    }
    for (size_t i = 0; i < nfiles; i++) {
        uint8_t h[SHA256_LEN];
        snprintf (p, sizeof p, "d%zu/f%zu", ndirs ? i % ndirs : 0, i);
        sha256_hash (p, strlen (p), h);
        uint32_t idx = (uint32_t)manifest_chunk_add (m, h, 100 + i % 7);
        if (manifest_add_file (m, p, 0644, 2,
                               100 + i % 7, &idx, 1, err, sizeof err) < 0)
            return NULL;
    }
    if (nfiles && ndirs && manifest_add_hardlink (m, "d0/link", "d0/f0", err, sizeof err) < 0)
        return NULL;
    return m;
}

/* head + every page of m, assembled; NULL + err */
static manifest_t *roundtrip (const manifest_t *m, int tamper_page, char *err, size_t errlen)
{
    size_t hl;
    char *head = manifest_head_encode (m, &hl);
    manifest_asm_t *a = manifest_asm_new (head, hl, err, errlen);
    free (head);
    if (!a)
        return NULL;
    manifest_t *r = NULL;
    for (size_t i = 0; i < manifest_npages (m); i++) {
        size_t pl;
        char *pg = manifest_page_encode (m, i, &pl);
        if ((int)i == tamper_page)
            pg[pl / 2] ^= 1;
        int rc = manifest_asm_page (a, pg, pl, err, errlen);
        free (pg);
        if (rc < 0)
            goto out;
    }
    r = manifest_asm_finish (a, err, errlen);
out:
    manifest_asm_destroy (&a);
    return r;
}

struct written {
    const manifest_t *m;
    size_t n;
    int bad;
};

static int check_page (void *arg, size_t page, char *text, size_t len)
{
    struct written *w = arg;
    size_t l;
    char *want = manifest_page_encode (w->m, page, &l);
    if (!want || l != len || memcmp (want, text, len))
        w->bad++;
    w->n++;
    free (want);
    free (text);
    return 0;
}

/* manifest_pages_write gives what the one-at-a-time encoders give */
static int pages_write_agrees (const manifest_t *m)
{
    struct written w = {.m = m};
    uint8_t dg[SHA256_LEN], want[SHA256_LEN];
    size_t hl, wl;
    char *head = manifest_pages_write (m, check_page, &w, dg, &hl);
    char *whead = manifest_head_encode (m, &wl);
    manifest_digest (m, want);
    int r = head && hl == wl && !memcmp (head, whead, hl) && !memcmp (dg, want, SHA256_LEN) && !w.bad
            && w.n == manifest_npages (m);
    free (head);
    free (whead);
    return r;
}

static int same (const manifest_t *a, const manifest_t *b)
{
    size_t la, lb;
    char *ta = manifest_encode (a, &la), *tb = manifest_encode (b, &lb);
    int r = la == lb && !memcmp (ta, tb, la);
    free (ta);
    free (tb);
    return r;
}

int main (void)
{
    char err[512];
    /* 5000 files in 3 dirs: 3 chunk pages, 3 entry pages */
    manifest_t *m = build (3, 5000);
    ok (m && manifest_npages (m) == 6, "5000 chunks and 5004 entries make 3 + 3 pages (%zu)",
        m ? manifest_npages (m) : 0);
    manifest_t *r = roundtrip (m, -1, err, sizeof err);
    ok (r && same (m, r), "head + pages assemble into the same manifest (%s)", r ? "" : err);
    ok (r && manifest_validate (r, err, sizeof err) == 0, "the assembled manifest is valid");
    uint8_t d1[SHA256_LEN], d2[SHA256_LEN];
    manifest_digest (m, d1);
    if (r)
        manifest_digest (r, d2);
    ok (r && !memcmp (d1, d2, SHA256_LEN), "same digest");
    ok (r && manifest_find (r, "d1/f4999") >= 0 && r->entries[r->nentries - 1].type == MANIFEST_HARDLINK,
        "paths and the hard link are found in the assembled manifest");
    manifest_destroy (&r);

    ok (pages_write_agrees (m), "manifest_pages_write: the same pages, head and digest in one pass");
    size_t pl;
    char *pg = manifest_page_encode (m, 2, &pl);
    ok (pg && !strncmp (pg, "{\"chunks\":[", 11), "page 2 holds chunks");
    free (pg);
    pg = manifest_page_encode (m, 3, &pl);
    ok (pg && !strncmp (pg, "{\"entries\":[", 12), "page 3 holds entries");
    free (pg);
    ok (!manifest_page_encode (m, 6, &pl), "no page 6");

    r = roundtrip (m, 4, err, sizeof err);
    ok (!r && strstr (err, "page 4") && strstr (err, "hash"), "a changed page is refused (%s)", err);
    manifest_destroy (&r);

    /* pages out of order: page 1 given first fails against page 0's hash */
    size_t hl;
    char *head = manifest_head_encode (m, &hl);
    manifest_asm_t *a = manifest_asm_new (head, hl, err, sizeof err);
    pg = manifest_page_encode (m, 1, &pl);
    ok (a && manifest_asm_page (a, pg, pl, err, sizeof err) < 0 && strstr (err, "page 0"),
        "a page out of order is refused (%s)", err);
    free (pg);
    manifest_asm_destroy (&a);

    /* missing pages */
    a = manifest_asm_new (head, hl, err, sizeof err);
    pg = manifest_page_encode (m, 0, &pl);
    ok (a && manifest_asm_page (a, pg, pl, err, sizeof err) == 0 && manifest_asm_next (a) == 1,
        "page 0 accepted, page 1 wanted next");
    free (pg);
    ok (a && !manifest_asm_finish (a, err, sizeof err) && strstr (err, "missing"),
        "finishing with pages missing fails (%s)", err);
    manifest_asm_destroy (&a);

    /* a head that lies: one entry more than its pages hold */
    char *lie = strstr (head, "\"nentries\":5004");
    ok (lie != NULL, "head names nentries");
    if (lie) {
        memcpy (lie, "\"nentries\":5005", 15);
        a = manifest_asm_new (head, hl, err, sizeof err);
        int bad = 0;
        for (size_t i = 0; a && i < manifest_npages (m) && !bad; i++) {
            pg = manifest_page_encode (m, i, &pl);
            bad = manifest_asm_page (a, pg, pl, err, sizeof err) < 0;
            free (pg);
        }
        ok (a && (bad || !manifest_asm_finish (a, err, sizeof err)), "a head whose counts disagree with "
            "its pages is refused (%s)", err);
        manifest_asm_destroy (&a);
        memcpy (lie, "\"nentries\":9999", 15);   /* needs 5 entry pages, lists 3 */
        a = manifest_asm_new (head, hl, err, sizeof err);
        ok (!a && strstr (err, "pages"), "a head with the wrong number of pages is refused (%s)", err);
        manifest_asm_destroy (&a);
    }
    free (head);
    ok (!manifest_asm_new ("{\"head\":1}", 10, err, sizeof err), "a head without fields is refused (%s)", err);
    ok (!manifest_asm_new ("[1,2", 4, err, sizeof err), "bad JSON is refused (%s)", err);
    ok (manifest_is_head ("{\"head\":1,", 10) && !manifest_is_head ("{\"version\":1", 12),
        "manifest_is_head tells a head from a whole manifest");

    /* empty: no pages at all */
    manifest_t *e = build (0, 0);
    r = e ? roundtrip (e, -1, err, sizeof err) : NULL;
    ok (e && manifest_npages (e) == 0 && r && r->nentries == 0, "an empty archive has no pages and assembles");
    ok (e && pages_write_agrees (e), "manifest_pages_write agrees for an empty archive");
    manifest_t *one = build (1, 1);
    ok (one && pages_write_agrees (one), "manifest_pages_write agrees for one file");
    manifest_destroy (&one);
    manifest_destroy (&r);
    manifest_destroy (&e);

    /* references: the last destroy frees (ASan checks the rest) */
    manifest_t *ref = manifest_ref (m);
    ok (ref == m, "manifest_ref returns the same manifest");
    manifest_destroy (&ref);
    ok (ref == NULL && m->nentries == 5004, "dropping a reference leaves the manifest to the other");
    manifest_destroy (&m);
    return done ();
}
