/* test_imagestore.c - the node-local image store: verified blob writes
 * (wrong digest, truncated, oversized: nothing left behind), references
 * added, replaced, listed, removed, garbage collection and its deferral
 * while a pull holds the store busy. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "imagestore.h"
#include "ocimanifest.h"
#include "sha256.h"

static char *digest_of (const char *s, char out[80])
{
    uint8_t h[SHA256_LEN];
    char hex[65];
    sha256_hash (s, strlen (s), h);
    sha256_hex (h, hex);
    snprintf (out, 80, "sha256:%s", hex);
    return out;
}

static int count_entries (const char *dir)
{
    DIR *d = opendir (dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir (d)))
        if (e->d_name[0] != '.' || strstr (e->d_name, ".tmp-"))
            n += strcmp (e->d_name, ".") && strcmp (e->d_name, "..");
    if (d)
        closedir (d);
    return n;
}

int main (void)
{
    char tmpl[] = "/tmp/canopy-test-imagestore-XXXXXX";
    char *root = mkdtemp (tmpl);
    char dir[300], blobs[400], err[512];
    snprintf (dir, sizeof dir, "%s/images", root);
    snprintf (blobs, sizeof blobs, "%s/blobs/sha256", dir);
    imagestore_t *st = imagestore_open (dir, err, sizeof err);
    ok (st != NULL, "store opened (%s)", st ? "" : err);
    char p[600];
    snprintf (p, sizeof p, "%s/oci-layout", dir);
    ok (access (p, F_OK) == 0, "oci-layout written");

    char dc[80], dl1[80], dl2[80], dm[80], got[80];
    const char *cfg = "{\"config\":{}}", *l1 = "layer one bytes", *l2 = "layer two bytes";
    digest_of (cfg, dc);
    digest_of (l1, dl1);
    digest_of (l2, dl2);
    ok (imagestore_blob_put (st, dc, cfg, strlen (cfg), got, err, sizeof err) == 0 && !strcmp (got, dc), "config blob stored");
    ok (imagestore_has_blob (st, dc, strlen (cfg)) && !imagestore_has_blob (st, dc, 1), "has_blob checks the size");
    ok (imagestore_blob_put (st, dl1, l2, strlen (l2), NULL, err, sizeof err) < 0 && strstr (err, "digest mismatch")
            && strstr (err, dl1),
        "wrong bytes for a digest rejected, named: %s", err);
    ok (!imagestore_has_blob (st, dl1, -1), "the mismatched blob is not stored");
    imagestore_writer_t *w = imagestore_blob_begin (st, dl1, strlen (l1), err, sizeof err);
    imagestore_blob_write (w, l1, 5, err, sizeof err);
    ok (imagestore_blob_commit (w, strlen (l1), NULL, err, sizeof err) < 0 && strstr (err, "truncated: got 5 of 15"),
        "short blob rejected: %s", err);
    w = imagestore_blob_begin (st, dl1, 4, err, sizeof err);
    ok (imagestore_blob_write (w, l1, strlen (l1), err, sizeof err) < 0 && strstr (err, "larger than its 4 bytes"),
        "blob larger than its descriptor stopped");
    imagestore_blob_abort (w);
    ok (count_entries (blobs) == 1, "no temp file left behind (only the config blob)");
    imagestore_blob_put (st, dl1, l1, strlen (l1), NULL, err, sizeof err);
    imagestore_blob_put (st, dl2, l2, strlen (l2), NULL, err, sizeof err);

    ocim_desc_t c = { .media_type = OCIM_OCI_CONFIG, .size = (int64_t)strlen (cfg) };
    strcpy (c.digest, dc);
    ocim_desc_t ls[2] = { { .media_type = OCIM_OCI_LAYER_TAR, .size = (int64_t)strlen (l1) },
                          { .media_type = OCIM_OCI_LAYER_TAR, .size = (int64_t)strlen (l2) } };
    strcpy (ls[0].digest, dl1);
    strcpy (ls[1].digest, dl2);
    size_t mlen;
    char *man = ocim_build_manifest (&c, ls, 2, &mlen);
    ok (imagestore_blob_put (st, NULL, man, mlen, dm, err, sizeof err) == 0, "manifest stored, named by its digest");
    ok (imagestore_ref_set (st, "example.com/a:1", OCIM_OCI_MANIFEST, dm, mlen, err, sizeof err) == 0, "ref a:1 set");
    ok (imagestore_ref_set (st, "example.com/a:1", OCIM_OCI_MANIFEST, dm, mlen, err, sizeof err) == 0, "ref a:1 set again");
    /* a second image sharing layer 1 only */
    char *man2 = ocim_build_manifest (&c, ls, 1, &mlen);
    char dm2[80];
    imagestore_blob_put (st, NULL, man2, mlen, dm2, err, sizeof err);
    ok (imagestore_ref_set (st, "example.com/b:1", OCIM_OCI_MANIFEST, dm2, mlen, err, sizeof err) == 0, "ref b:1 set");
    json_t *l = imagestore_list (st, err, sizeof err);
    ok (l && json_array_size (l) == 2, "list: two images (a re-set replaces)");
    json_t *a = json_array_get (l, 0);
    ok (a && !strcmp (json_string_value (json_object_get (a, "ref")), "example.com/a:1")
            && json_integer_value (json_object_get (a, "layers")) == 2
            && json_integer_value (json_object_get (a, "size")) == (json_int_t)(strlen (man) + strlen (cfg) + 30),
        "list: a:1 with 2 layers and the total size");
    json_decref (l);
    char mt[128], dg[80];
    int64_t sz;
    ok (imagestore_ref_get (st, "example.com/b:1", mt, dg, &sz, err, sizeof err) == 1 && !strcmp (dg, dm2), "ref_get");

    /* what a distribution relies on */
    struct stat sb;
    char bp[PATH_MAX];
    ok (stat (imagestore_blob_path (st, dl1, bp, sizeof bp), &sb) == 0 && sb.st_mtime == IMAGESTORE_BLOB_MTIME
            && (sb.st_mode & 07777) == 0644,
        "a blob's mtime and mode are the same in every store");
    int en = 0;
    json_t *bl = imagestore_image_blobs (st, "example.com/a:1", mt, dg, &sz, &en, err, sizeof err);
    ok (bl && json_array_size (bl) == 4 && !strcmp (json_string_value (json_object_get (json_array_get (bl, 0), "digest")), dm)
            && !strcmp (json_string_value (json_object_get (json_array_get (bl, 1), "digest")), dc),
        "image_blobs: manifest, config, 2 layers");
    json_decref (bl);
    ok (!imagestore_image_blobs (st, "example.com/none:1", mt, dg, &sz, &en, err, sizeof err) && en == ENOENT
            && strstr (err, "no image example.com/none:1"),
        "image_blobs of an absent image: ENOENT, named");
    ok (imagestore_blob_verify (st, dl1, (int64_t)strlen (l1), err, sizeof err) == 0, "verify: an intact blob");
    ok (imagestore_blob_verify (st, dl1, 3, err, sizeof err) < 0 && strstr (err, "bytes, not 3"), "verify: wrong size");
    json_t *ents = imagestore_entries (st, err, sizeof err);
    ok (ents && json_array_size (ents) == 2, "entries: the two references");
    json_decref (ents);
    {
        /* same size, other bytes: damaged */
        FILE *bf = fopen (bp, "r+");
        fputc ('X', bf);
        fclose (bf);
        ok (imagestore_blob_verify (st, dl1, (int64_t)strlen (l1), err, sizeof err) < 0 && strstr (err, "is damaged"),
            "verify: a damaged blob (%s)", err);
        bf = fopen (bp, "r+");
        fputc (l1[0], bf);
        fclose (bf);
    }

    int busy = imagestore_busy_begin (st);
    ok (imagestore_ref_remove (st, "example.com/a:1", err, sizeof err) == 0, "a:1 removed");
    int removed = -1;
    ok (imagestore_gc (st, &removed, err, sizeof err) == 1, "collection deferred while a pull is busy");
    imagestore_busy_end (busy);
    ok (imagestore_gc (st, &removed, err, sizeof err) == 0 && removed == 2, "collection removes a's manifest and layer 2 (%d)",
        removed);
    ok (imagestore_has_blob (st, dl1, -1) && imagestore_has_blob (st, dc, -1) && !imagestore_has_blob (st, dl2, -1),
        "shared layer and config kept, a's own layer gone");
    ok (imagestore_ref_remove (st, "example.com/a:1", err, sizeof err) == -ENOENT && strstr (err, "no image example.com/a:1"),
        "removing an absent ref: ENOENT, named");
    imagestore_close (&st);
    /* a crashed writer's temp file is cleared on open */
    snprintf (p, sizeof p, "%s/.tmp-crashed", blobs);
    FILE *f = fopen (p, "w");
    fclose (f);
    st = imagestore_open (dir, err, sizeof err);
    ok (st && access (p, F_OK) < 0, "temp files of a crash removed on open");
    imagestore_close (&st);
    free (man);
    free (man2);
    char cmd[400];
    snprintf (cmd, sizeof cmd, "rm -rf %s", root);
    if (system (cmd)) {
    }
    return done ();
}
