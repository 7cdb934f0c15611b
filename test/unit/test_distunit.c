/* test_distunit.c - transfer units (doc/distribution.md, "Transfer units"):
 * the unit table (pieces, packs, mixed archives, the last short chunk, tiny
 * files, every byte covered exactly once and in order, u = 0), the choice
 * of u, and piece/pack seal + open (wrong offset, index, distribution,
 * length or hash rejected; piece nonces distinct from each other and from
 * whole chunks'). */
#include "check.h"
#include "chunkseal.h"
#include "distplan.h"
#include "distunit.h"
#include "sha256.h"
#include <stdlib.h>
#include <string.h>

/* every byte of every chunk in exactly one unit, units in manifest order,
 * packs within u and DISTUNIT_PACK_MAX, pieces of chunks > u only */
static int check_table (const distunits_t *t, const uint32_t *lens, size_t n, uint32_t u)
{
    int bad = 0;
    size_t c = 0;
    uint64_t off = 0;   /* next byte expected within chunk c */
    for (size_t j = 0; j < distunits_count (t); j++) {
        const distunit_t *d = distunits_get (t, j);
        if (d->chunk != c || d->off != off)
            bad++;
        if (d->npieces) {
            if (d->nchunks != 1 || !u || lens[c] <= u || d->len > u || d->len == 0
                || d->npieces != (lens[c] + u - 1) / u || d->piece != d->off / u)
                bad++;
            if (distunits_of_chunk (t, c) + d->piece != j || distunits_nof_chunk (t, c) != d->npieces)
                bad++;
            off += d->len;
            if (off > lens[c])
                bad++;
            if (off >= lens[c]) {
                c++;
                off = 0;
            }
        }
        else {
            uint64_t tot = 0;
            if (d->nchunks < 1 || d->nchunks > DISTUNIT_PACK_MAX || d->off || (!u && d->nchunks != 1))
                bad++;
            for (uint32_t k = 0; k < d->nchunks && c + k < n; k++) {
                tot += lens[c + k];
                if (distunits_of_chunk (t, c + k) != j || distunits_nof_chunk (t, c + k) != 1)
                    bad++;
            }
            if (tot != d->len || (u && tot > u && d->nchunks > 1) || (u && lens[c] > u))
                bad++;
            c += d->nchunks;
        }
    }
    if (c != n || off)
        bad++;
    return bad;
}

static distunits_t *table (const uint32_t *lens, size_t n, uint32_t u, const char *what)
{
    char err[256] = "";
    distunits_t *t = distunits_new (lens, n, u, err, sizeof err);
    ok (t && check_table (t, lens, n, u) == 0, "%s: every byte in one unit, in order %s", what, err);
    return t;
}

static void test_table (void)
{
    char err[256];
    /* pieces: 1 MiB chunks, the last short, u = 256 KiB */
    uint32_t big[] = { 1 << 20, 1 << 20, 300000 };
    distunits_t *t = table (big, 3, 256 << 10, "pieces");
    ok (distunits_count (t) == 4 + 4 + 2, "1 MiB chunks in 4 pieces, 300000 bytes in 2");
    const distunit_t *d = distunits_get (t, 9);
    ok (d && d->chunk == 2 && d->off == 256 << 10 && d->len == 300000 - (256 << 10) && d->piece == 1
            && d->npieces == 2, "the last short piece: offset and length");
    ok (distunits_of_chunk (t, 1) == 4 && distunits_nof_chunk (t, 1) == 4, "chunk 1 starts at unit 4");
    ok (distunits_get (t, 10) == NULL, "no unit past the table");
    distunits_destroy (&t);
    ok (t == NULL, "destroy clears");

    /* packs: 200 files of 100 bytes, u = 16 KiB: packs of 64 (the cap) */
    uint32_t small[200];
    for (int i = 0; i < 200; i++)
        small[i] = 100;
    t = table (small, 200, 16 << 10, "packs");
    ok (distunits_count (t) == 4 && distunits_get (t, 0)->nchunks == 64 && distunits_get (t, 3)->nchunks == 8,
        "200 tiny files: 3 packs of 64 and one of 8");
    distunits_destroy (&t);
    /* packs limited by bytes: 5000-byte files, u = 16 KiB: 3 per pack */
    uint32_t mid[10];
    for (int i = 0; i < 10; i++)
        mid[i] = 5000;
    t = table (mid, 10, 16 << 10, "packs by bytes");
    ok (distunits_count (t) == 4 && distunits_get (t, 0)->nchunks == 3 && distunits_get (t, 0)->len == 15000
            && distunits_get (t, 3)->nchunks == 1, "5000-byte files: packs of 3 (15000 <= 16384), then 1");
    distunits_destroy (&t);

    /* mixed: a big chunk ends a pack and starts after one; 1-byte files */
    uint32_t mix[] = { 1, 1, 70000, 1, 16384, 16385, 1, 2 };
    t = table (mix, 8, 16384, "mixed");
    ok (distunits_count (t) == 1 + 5 + 1 + 1 + 2 + 1, "mixed: pack, 5 pieces, pack, exact-u chunk, 2 pieces, pack");
    ok (distunits_get (t, 6)->chunk == 3 && distunits_get (t, 6)->nchunks == 1,
        "a pack never takes a chunk that would exceed u");
    ok (distunits_get (t, 7)->chunk == 4 && distunits_get (t, 7)->npieces == 0 && distunits_get (t, 7)->len == 16384,
        "a chunk of exactly u is a pack of one, not pieces");
    distunits_destroy (&t);

    /* u = 0: the identity (the wire of version 1) */
    t = table (mix, 8, 0, "u = 0");
    ok (distunits_count (t) == 8 && distunits_get (t, 2)->len == 70000 && distunits_get (t, 2)->npieces == 0,
        "u = 0: one unit per chunk");
    distunits_destroy (&t);

    /* empty archive (empty files have no chunks) */
    t = distunits_new (NULL, 0, 16384, err, sizeof err);
    ok (t && distunits_count (t) == 0, "no chunks: no units");
    distunits_destroy (&t);
    uint32_t zero[] = { 5, 0 };
    ok (distunits_new (zero, 2, 16384, err, sizeof err) == NULL && strstr (err, "length 0"),
        "a zero-length chunk is refused: %s", err);

    /* random archives and sizes */
    int badr = 0;
    for (int r = 0; r < 300; r++) {
        size_t n = check_rnd () % 300;
        uint32_t *l = malloc ((n ? n : 1) * sizeof *l);
        for (size_t i = 0; i < n; i++)
            l[i] = check_rnd () % 3 ? 1 + check_rnd () % 20000 : 1 + check_rnd () % (1 << 20);
        uint32_t u = (uint32_t[]){ 0, 16384, 65536, 262144, 1 << 20, 5000 }[check_rnd () % 6];
        distunits_t *x = distunits_new (l, n, u, err, sizeof err);
        if (!x || check_table (x, l, n, u))
            badr++;
        distunits_destroy (&x);
        free (l);
    }
    ok (badr == 0, "300 random archives: every byte once, in order (%d bad)", badr);
}

static void test_choice (void)
{
    uint32_t M = 1 << 20;
    /* 64 hosts, 16 MiB, chain: depth 62, 4 x 62 = 248 units: 64 KiB */
    ok (distplan_unit_size (16ull << 20, 16, M, 63, "chain") == 64 << 10, "chain 63 targets 16 MiB: 64 KiB");
    ok (distplan_unit_size (64ull << 20, 64, M, 63, "chain") == 256 << 10, "chain 63 targets 64 MiB: 256 KiB");
    ok (distplan_unit_size (2ull << 20, 2, M, 63, "chain") == 16 << 10, "chain 63 targets 2 MiB: 16 KiB");
    ok (distplan_unit_size (1ull << 30, 1024, M, 63, "chain") == M, "chain 63 targets 1 GiB: 1 MiB");
    ok (distplan_unit_size (64ull << 20, 64, M, 7, "chain") == M, "chain 7 targets 64 MiB: 1 MiB");
    ok (distplan_unit_size (64ull << 20, 256, 256 << 10, 7, "chain") == 256 << 10,
        "never above the chunk size (256 KiB)");
    ok (distplan_unit_size (100, 1, M, 63, "chain") == 16 << 10, "tiny archive: never below 16 KiB");
    ok (distplan_unit_size (100, 1, 4096, 63, "chain") == 4096, "... but the chunk size bounds it");
    /* twotree 63 targets: depth 12, 2 stripes: 96 units: 16 MiB / 96 = 171 KiB: 64 KiB */
    ok (distplan_unit_size (16ull << 20, 16, M, 63, "twotree") == 64 << 10, "twotree 63 targets 16 MiB: 64 KiB");
    ok (distplan_depth ("chain", 63) == 62 && distplan_depth ("twotree", 63) == 12 && distplan_depth ("flat", 63) == 1,
        "depths");
    ok (distplan_unit_size (16ull << 20, 16, M, 1, "flat") == M, "flat: 1 MiB");
}

static void test_seal (void)
{
    uint8_t key[32], key2[32], id[8] = { 9, 8, 7, 6, 5, 4, 3, 2 }, id2[8] = { 9, 8, 7, 6, 5, 4, 3, 3 };
    for (int i = 0; i < 32; i++)
        key[i] = key2[i] = i * 13 + 5;
    key2[0] ^= 1;
    char err[256];
    uint32_t L = 100000, u = 16384;
    uint8_t *pt = malloc (L), h[32], h2[32];
    for (uint32_t i = 0; i < L; i++)
        pt[i] = (uint8_t)(i * 2654435761u >> 11);
    sha256_hash (pt, L, h);
    memcpy (h2, h, 32);
    h2[5] ^= 1;
    chunkseal_t *s = chunkseal_new (key, id, err, sizeof err), *sk = chunkseal_new (key2, id, err, sizeof err),
                *si = chunkseal_new (key, id2, err, sizeof err);
    uint8_t ct[16384 + 16], ct2[16384 + 16], out[16384];
    /* piece 2 of chunk 7 */
    uint32_t off = 2 * u, len = u;
    ok (chunkseal_seal_piece (s, 7, off, L, h, pt + off, len, ct, err, sizeof err) == 0, "seal a piece");
    ok (chunkseal_open_piece (s, 7, off, L, h, ct, len + 16, out, err, sizeof err) == 0
            && memcmp (out, pt + off, len) == 0, "open it: the same bytes");
    ok (chunkseal_seal_piece (s, 7, off, L, h, pt + off, len, ct2, err, sizeof err) == 0
            && memcmp (ct, ct2, len + 16) == 0, "deterministic re-seal");
    ok (chunkseal_open_piece (s, 7, off + u, L, h, ct, len + 16, out, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "wrong offset rejected");
    ok (chunkseal_open_piece (s, 8, off, L, h, ct, len + 16, out, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "wrong chunk index rejected");
    ok (chunkseal_open_piece (si, 7, off, L, h, ct, len + 16, out, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "wrong distribution id rejected");
    ok (chunkseal_open_piece (sk, 7, off, L, h, ct, len + 16, out, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "wrong key rejected");
    ok (chunkseal_open_piece (s, 7, off, L, h2, ct, len + 16, out, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "another manifest hash rejected");
    ok (chunkseal_open_piece (s, 7, off, L + 1, h, ct, len + 16, out, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "another chunk length rejected");
    ok (chunkseal_open_piece (s, 7, off, L, h, ct, len + 15, out, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "a truncated piece rejected");
    ct[100] ^= 1;
    ok (chunkseal_open_piece (s, 7, off, L, h, ct, len + 16, out, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "an altered byte rejected: %s", err);
    ok (chunkseal_seal_piece (s, 7, L - 10, L, h, pt, 20, ct, err, sizeof err) < 0, "a piece past the chunk refused");
    /* a piece is not a whole chunk: opening it as one fails */
    ok (chunkseal_seal_piece (s, 7, 0, L, h, pt, u, ct, err, sizeof err) == 0
            && chunkseal_open (s, 7, h, ct, u + 16, out, 0, err, sizeof err) == CHUNKSEAL_EBADTAG,
        "a piece does not open as a whole chunk");
    /* nonces: distinct for every (off, len) and from the whole chunk's */
    uint8_t n0[12], n1[12], n2[12], n3[12];
    chunkseal_nonce (id, 7, n0);
    chunkseal_piece_nonce (id, 7, 0, L, n1);
    chunkseal_piece_nonce (id, 7, 0, u, n2);
    chunkseal_piece_nonce (id, 7, u, u, n3);
    ok (memcmp (n0, n1, 12) && memcmp (n1, n2, 12) && memcmp (n2, n3, 12) && memcmp (n0, n3, 12)
            && !memcmp (n1 + 8, n0 + 8, 4), "piece nonces differ from each other and the whole chunk's");
    int coll = 0;
    for (uint32_t o = 0; o < 64; o++)
        for (uint32_t l = 1; l < 64; l++) {
            uint8_t a[12], b[12];
            chunkseal_piece_nonce (id, 3, o << 14, l, a);
            chunkseal_piece_nonce (id, 3, l << 14, o + 1, b);
            if (!(o << 14 == l << 14 && l == o + 1) && !memcmp (a, b, 12))
                coll++;
        }
    ok (coll == 0, "no nonce collisions over (offset, length) pairs");

    /* a pack: chunks sealed whole and concatenated; each opens as a chunk */
    uint8_t c1[300], c2[500], h1[32], hh2[32], pk[300 + 16 + 500 + 16], o1[300], o2[500];
    memcpy (c1, pt, 300);
    memcpy (c2, pt + 300, 500);
    sha256_hash (c1, 300, h1);
    sha256_hash (c2, 500, hh2);
    ok (chunkseal_seal (s, 10, h1, c1, 300, pk, CHUNKSEAL_REHASH, err, sizeof err) == 0
            && chunkseal_seal (s, 11, hh2, c2, 500, pk + 316, CHUNKSEAL_REHASH, err, sizeof err) == 0,
        "seal a pack of two");
    ok (chunkseal_open (s, 10, h1, pk, 316, o1, 0, err, sizeof err) == 0
            && chunkseal_open (s, 11, hh2, pk + 316, 516, o2, 0, err, sizeof err) == 0 && !memcmp (o1, c1, 300)
            && !memcmp (o2, c2, 500), "open the pack chunk by chunk");
    ok (chunkseal_open (s, 11, hh2, pk, 316, o1, 0, err, sizeof err) != 0,
        "a pack member opened as another index fails");
    chunkseal_destroy (&s);
    chunkseal_destroy (&sk);
    chunkseal_destroy (&si);
    free (pt);
}

int main (void)
{
    test_table ();
    test_choice ();
    test_seal ();
    return done ();
}
