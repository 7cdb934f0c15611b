/* jobid.c - canopy job ids: FLUID-like 64-bit ids, f58 and decimal text.
 * See jobid.h for the layout. */
#include "jobid.h"
#include "xalloc.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char f58_alphabet[] =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

struct jobid_gen {
    uint32_t genid;
    uint64_t ts;        /* ms since the epoch of the last id issued */
    uint32_t seq;       /* its sequence */
    int issued;         /* ts/seq hold a real id */
};

jobid_t jobid_make (uint64_t ts_ms, uint32_t genid, uint32_t seq)
{
    return ((ts_ms & JOBID_TS_MAX) << (JOBID_GEN_BITS + JOBID_SEQ_BITS))
         | ((uint64_t)(genid & JOBID_GEN_MAX) << JOBID_SEQ_BITS)
         | (seq & JOBID_SEQ_MAX);
}

uint64_t jobid_ts (jobid_t id)
{
    return id >> (JOBID_GEN_BITS + JOBID_SEQ_BITS);
}

uint32_t jobid_genid (jobid_t id)
{
    return (id >> JOBID_SEQ_BITS) & JOBID_GEN_MAX;
}

uint32_t jobid_seq (jobid_t id)
{
    return id & JOBID_SEQ_MAX;
}

uint64_t jobid_unix_ms (jobid_t id)
{
    return jobid_ts (id) + JOBID_EPOCH_MS;
}

jobid_gen_t *jobid_gen_new (uint32_t genid, jobid_t last)
{
    if (genid > JOBID_GEN_MAX) {
        errno = EINVAL;
        return NULL;
    }
    jobid_gen_t *g = xcalloc (1, sizeof *g);
    g->genid = genid;
    if (last) {
        /* Resume after `last` whatever generator issued it: the next id
         * must compare greater, so start from its timestamp. */
        g->ts = jobid_ts (last);
        g->seq = jobid_seq (last);
        if (jobid_genid (last) > genid)
            g->seq = JOBID_SEQ_MAX;     /* our ids of that ms sort lower: skip it */
        g->issued = 1;
    }
    return g;
}

void jobid_gen_destroy (jobid_gen_t **p)
{
    if (p && *p) {
        free (*p);
        *p = NULL;
    }
}

int jobid_gen_next (jobid_gen_t *g, uint64_t now_ms, jobid_t *id)
{
    if (!g || !id || now_ms < JOBID_EPOCH_MS) {
        errno = ERANGE;
        return -1;
    }
    uint64_t ts = now_ms - JOBID_EPOCH_MS;
    uint32_t seq = 0;
    if (g->issued && ts <= g->ts) {
        /* Same millisecond, or the clock stepped back: stay on the last
         * timestamp and bump the sequence; when it is used up, borrow the
         * next millisecond. */
        ts = g->ts;
        if (g->seq < JOBID_SEQ_MAX)
            seq = g->seq + 1;
        else {
            ts = g->ts + 1;
            seq = 0;
        }
    }
    if (ts > JOBID_TS_MAX) {
        errno = ERANGE;
        return -1;
    }
    g->ts = ts;
    g->seq = seq;
    g->issued = 1;
    *id = jobid_make (ts, g->genid, seq);
    return 0;
}

int jobid_encode (jobid_t id, jobid_fmt_t fmt, char *buf, size_t len)
{
    char tmp[JOBID_STRLEN];
    int n = 0;
    if (!buf)
        return -1;
    if (fmt == JOBID_DEC)
        n = snprintf (tmp, sizeof tmp, "%llu", (unsigned long long)id);
    else if (fmt == JOBID_F58) {
        char digits[16];
        int nd = 0;
        do {
            digits[nd++] = f58_alphabet[id % 58];
            id /= 58;
        } while (id);
        tmp[n++] = 'f';
        while (nd)
            tmp[n++] = digits[--nd];
        tmp[n] = '\0';
    }
    else
        return -1;
    if ((size_t)n + 1 > len)
        return -1;
    memcpy (buf, tmp, n + 1);
    return n;
}

static int f58_value (char c)
{
    const char *p = c ? strchr (f58_alphabet, c) : NULL;
    return p ? (int)(p - f58_alphabet) : -1;
}

/* The input as it may appear in a one-line message: printable, short. */
static const char *shown (const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++)
        buf[i] = ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f) ? s[i] : '?';
    buf[i] = '\0';
    return buf;
}

int jobid_parse (const char *s, jobid_t *id, char *err, size_t errlen)
{
    char dummy[1], sb[41];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!s || !*s) {
        snprintf (err, errlen, "empty job id");
        return -1;
    }
    const char *p = NULL;
    if (s[0] == 'f')
        p = s + 1;
    else if ((unsigned char)s[0] == 0xC6 && (unsigned char)s[1] == 0x92)   /* U+0192 ƒ */
        p = s + 2;
    uint64_t v = 0;
    if (p) {
        if (!*p) {
            snprintf (err, errlen, "invalid job id '%s': no digits after the f prefix", shown (s, sb, sizeof sb));
            return -1;
        }
        for (; *p; p++) {
            int d = f58_value (*p);
            if (d < 0) {
                snprintf (err, errlen, "invalid job id '%s': '%c' is not an f58 digit",
                          shown (s, sb, sizeof sb),
                          (*p >= 0x20 && *p < 0x7f) ? *p : '?');
                return -1;
            }
            if (v > (UINT64_MAX - (uint64_t)d) / 58) {
                snprintf (err, errlen, "invalid job id '%s': too large", shown (s, sb, sizeof sb));
                return -1;
            }
            v = v * 58 + (uint64_t)d;
        }
    }
    else {
        for (p = s; *p; p++) {
            if (*p < '0' || *p > '9') {
                snprintf (err, errlen, "invalid job id '%s': expected a decimal number "
                          "or an f58 id like f2Xv9bTq", shown (s, sb, sizeof sb));
                return -1;
            }
            uint64_t d = (uint64_t)(*p - '0');
            if (v > (UINT64_MAX - d) / 10) {
                snprintf (err, errlen, "invalid job id '%s': too large", shown (s, sb, sizeof sb));
                return -1;
            }
            v = v * 10 + d;
        }
    }
    if (id)
        *id = v;
    return 0;
}
