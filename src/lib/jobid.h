/* jobid.h - canopy job ids: 64-bit, unique, time-ordered (like Flux's FLUID).
 *
 * Layout, most significant bit first:
 *   40 bits  milliseconds since JOBID_EPOCH_MS (2024-01-01T00:00:00Z; lasts ~34.8 years)
 *   14 bits  generator id (0..16383; the broker rank that issued it, rank 0 today)
 *   10 bits  sequence within one millisecond (0..1023)
 * so numeric order is issue order for one generator.
 *
 * Text forms: f58 ("f" + base58, most significant digit first, alphabet
 * 123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz, as Flux; Flux's
 * "ƒ" U+0192 prefix is accepted on input) and decimal.  Pure: the caller
 * passes the clock in.
 */
#ifndef CANOPY_JOBID_H
#define CANOPY_JOBID_H
#include <stddef.h>
#include <stdint.h>

typedef uint64_t jobid_t;

#define JOBID_EPOCH_MS   1704067200000ULL   /* 2024-01-01T00:00:00Z in Unix ms */
#define JOBID_TS_BITS    40
#define JOBID_GEN_BITS   14
#define JOBID_SEQ_BITS   10
#define JOBID_GEN_MAX    ((1u << JOBID_GEN_BITS) - 1)
#define JOBID_SEQ_MAX    ((1u << JOBID_SEQ_BITS) - 1)
#define JOBID_TS_MAX     ((1ULL << JOBID_TS_BITS) - 1)
#define JOBID_STRLEN     24                 /* enough for any form + NUL */

typedef enum { JOBID_F58, JOBID_DEC } jobid_fmt_t;

typedef struct jobid_gen jobid_gen_t;

/* A generator for `genid`.  `last` is the largest id it (or an earlier run
 * with the same genid) ever issued, 0 if none: ids issued from now on are
 * all greater, even if the clock went backwards across a restart.
 * NULL if genid > JOBID_GEN_MAX. */
jobid_gen_t *jobid_gen_new (uint32_t genid, jobid_t last);
void jobid_gen_destroy (jobid_gen_t **p);
/* Issue the next id at wall time `now_ms` (Unix ms).  Strictly greater
 * than every id issued before.  If the 1024 ids of one millisecond are used
 * up, or the clock stepped back, the id takes the next millisecond instead
 * (never sleeps).  -1 (errno ERANGE) before the epoch or after 2058. */
int jobid_gen_next (jobid_gen_t *g, uint64_t now_ms, jobid_t *id);

/* Compose/split. */
jobid_t jobid_make (uint64_t ts_ms, uint32_t genid, uint32_t seq);
uint64_t jobid_ts (jobid_t id);          /* ms since JOBID_EPOCH_MS */
uint32_t jobid_genid (jobid_t id);
uint32_t jobid_seq (jobid_t id);
uint64_t jobid_unix_ms (jobid_t id);     /* submit time, Unix ms */

/* Write `id` into buf (>= JOBID_STRLEN bytes is always enough).  Returns
 * the length, or -1 if buf is too small. */
int jobid_encode (jobid_t id, jobid_fmt_t fmt, char *buf, size_t len);
/* Parse f58 ("fXXX" or "ƒXXX") or decimal; surrounding blanks are not
 * allowed.  -1 with a one-line message in err on bad input or overflow. */
int jobid_parse (const char *s, jobid_t *id, char *err, size_t errlen);

#endif
