/* archive_int.h - what the three roles of the archive service share (not
 * an API): the service state, a target's transfer (struct xfer), a
 * controller's distribution (struct dist), background jobs, and the calls
 * from one role's file into another's.  archive.c holds the service table
 * and the local verbs, archive_target.c the target side of a transfer,
 * archive_ctl.c the controller. */
#ifndef CANOPY_ARCHIVE_INT_H
#define CANOPY_ARCHIVE_INT_H
#include "archive.h"
#include "cstore.h"
#include "dataplane.h"
#include "distunit.h"
#include "extract.h"
#include "manifest.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define DEFAULT_WINDOW 8
#define STALL_MS 5000
#define SOURCE_GIVEUP_MS 60000   /* no data from the source for this long: fail */
#define CORRUPT_MAX 3
#define PROGRESS_MS 250
#define TARGET_SILENT_MS 10000   /* loaded hosts on saturated links can be silent for seconds */
#define MAX_STRIPES 2
#define UNIT_WINDOW_MAX 256            /* unit requests outstanding per stripe, at most */
#define ASM_BYTES (64u << 20)          /* chunks assembling from pieces: at most this much */
#define ASM_MAX 64                     /* ... and this many */
#define GO_WAIT_MS 5000          /* the controller starts the data this long after archive.fetch at most */
#define HOLD_MAX_MS 15000        /* a target without archive.go starts by itself after this */

struct archive_svc {
    overlay_t *ov;
    char *statedir;
    cstore_t *cs;
    zlistx_t *xfers;
    zlistx_t *dists;
    zlistx_t *bgjobs;
    zhashx_t *failed;     /* archive name -> why its last transfer here failed */
    int tick;
    dataplane_t *dp;          /* sealed data plane (NULL: cannot bind, CURVE only) */
};

/* ---- target side (archive_target.c) ---- */

struct parked {
    cmsg_hdr_t req;
    uint32_t idx;
    int64_t since;            /* parked (or last noted) at */
};

/* one stripe of a target's transfer: the units j (doc/distribution.md,
 * "Transfer units"; chunks on the CURVE plane) with j % nstripes == this
 * stripe's number, pulled from ups[upi] */
struct stripe {
    uint32_t *ups;
    size_t nups, upi;
    uint32_t inflight;
    int64_t last_progress;    /* data, a live progress note, or a switch */
    int corrupt;
    size_t missing;           /* units of this stripe not here yet */
    size_t cursor;            /* no unit of this stripe below it is wanted */
};

struct xfer {
    archive_svc_t *svc;
    char *name, *dest;
    manifest_t *m;
    extract_t *x;
    cmsg_hdr_t req;           /* the archive.fetch request */
    struct stripe st[MAX_STRIPES];
    int nst;
    uint32_t window;          /* requests outstanding per stripe (as asked) */
    uint32_t uwindow;         /* ... in units */
    uint32_t unit;            /* the unit size u (0: one unit per chunk) */
    distunits_t *ut;          /* the unit table */
    uint8_t *requested;       /* per unit: a request is outstanding (or a rescue) */
    uint8_t *ugot;            /* per unit: its data is here (written, or assembling) */
    zhashx_t *asms;           /* chunk -> struct cbuf: a chunk assembling from pieces */
    size_t asm_max;
    zhashx_t *tags;           /* matchtag -> unit+1 */
    zhashx_t *rescues;        /* matchtag -> struct rescue: a damaged chunk asked of other ranks */
    zlistx_t *parked;
    zhashx_t *noted;          /* "downstream:stripe" -> time of its last progress note */
    uint64_t bytes_have, bytes_total;
    int64_t last_report;
    double t0;
    bool finished;            /* done or failed: serve from the store */
    uint64_t fetched_chunks, corrupt_total;
    uint64_t served_mem, served_disk;   /* chunks served downstream: on arrival, read back */
    int lockfd;               /* extract_lock on dest: one extraction per directory */
    bool waiting;             /* for another broker of this host extracting into dest */
    char *seal;               /* sealed data plane: the distribution id; NULL: CURVE peer links */
    json_t *sealreq;          /* the fetch's seal object, until the manifest is in */
    manifest_asm_t *masm;     /* loading: the manifest's pages come in (doc/archive.md) */
    bool loading;
    uint32_t page_tag;        /* the page request outstanding */
    int64_t page_sent;
    bool hold;                /* links first: no chunk requests until archive.go */
    int64_t hold_since;
    int warming;              /* dataplane pings outstanding (xfer_warm) */
    uint32_t warm_tags[2 * MAX_STRIPES];   /* each stripe's upstream and first fallback */
};

/* archive.fetch and archive.chunk handlers */
void archive_fetch_request (overlay_t *ov, const cmsg_t *msg, void *arg);
void archive_replan_request (overlay_t *ov, const cmsg_t *msg, void *arg);
void archive_go_request (overlay_t *ov, const cmsg_t *msg, void *arg);
void archive_chunk_request (overlay_t *ov, const cmsg_t *msg, void *arg);
void archive_mpage_request (overlay_t *ov, const cmsg_t *msg, void *arg);
/* the targets' part of the service tick: progress reports, retries, stalls */
void archive_target_tick (archive_svc_t *svc, int64_t now);
/* free a transfer (its partial extraction stays on disk for a resume) */
void archive_xfer_free (struct xfer *xf);

/* ---- controller (archive_ctl.c) ---- */

struct target {
    uint32_t rank;
    uint32_t tag;
    int64_t last_heard;
    int state;             /* 0 running, 1 ok, 2 failed */
    double seconds;
    uint64_t have;
    char *error;
    json_t *upstreams;     /* stripe 0's list */
    json_t *stripes;       /* every stripe's list */
    int64_t missing[MAX_STRIPES];   /* chunks it lacks per stripe (-1: not said yet) */
    int64_t gap[MAX_STRIPES];   /* slow watch (archive_slow.c): missing - upstream's missing, last look */
    int64_t seen[MAX_STRIPES];  /* ... its missing at the last look (-1: none yet) */
    double rate[MAX_STRIPES];   /* ... units it got a look, averaged, while it ran */
    int lag_rounds;        /* ... looks in a row with a large, growing gap */
    bool suspect;          /* a downstream of it was moved for lagging */
    bool moved;            /* moved to a leaf */
    int64_t moved_for;     /* ... for lagging behind this rank (-1: for its own downstreams) */
    int64_t judge_after;   /* given a new upstream: not judged before this */
    int64_t rtt_us[8];     /* slow watch: its last round trips to the controller */
    unsigned nrtt;         /* ... how many it answered */
    bool ping_out;         /* ... one is on its way */
    bool ready;            /* its data links are up (links before data) */
};

struct dist {
    archive_svc_t *svc;
    cmsg_hdr_t req;
    char *name, *schedule;
    manifest_t *m;
    char *menc;
    size_t menclen;
    struct target *t;
    size_t n, ndone, nfailed;
    uint64_t total;        /* bytes per target */
    uint32_t unit;         /* transfer unit size (0: chunks) */
    double t0;
    int64_t last_report;
    bool local_target;     /* the source itself is a target */
    json_t *plan;          /* the remote targets' upstream lists (distplan), as now replanned */
    uint32_t *tl;          /* the remote targets, sorted (plan's order): the first nremote of t */
    size_t nremote;
    uint32_t window, chunk_size;
    int64_t last_watch, last_ping;
    size_t nmoves;
    bool hold;             /* targets wait for archive.go (sealed plane) */
    int64_t started;
};

void archive_distribute_request (overlay_t *ov, const cmsg_t *msg, void *arg);
/* the controllers' part of the service tick: lost targets, progress */
void archive_ctl_tick (archive_svc_t *svc, int64_t now);
void archive_dist_free (struct dist *d);
/* Twice a second: move a slow target out of the others' way (archive_slow.c). */
void archive_slow_watch (struct dist *d, int64_t now);
/* The target of rank in d, or NULL. */
struct target *archive_dist_target (struct dist *d, uint32_t rank);
/* Target t is over (ok, or failed with error); may end and free d. */
void archive_target_end (struct dist *d, struct target *t, bool ok, const char *error);

/* ---- background work and helpers (archive.c) ---- */

enum { BG_CREATE, BG_EXTRACT };

struct bgjob {
    archive_svc_t *svc;
    int kind;
    cmsg_hdr_t req;
    struct dist *dist;        /* local extract that is part of a distribution */
    char *name, *dir, *dest;
    manifest_t *m;            /* extract: the service's manifest, shared with the thread */
    char **paths;
    size_t npaths;
    int flags;
    uint32_t chunk_size;
    int fd[2];
    pthread_t th;
    int rc;
    char err[512];
    json_t *result;
    double t0;
};

/* Run b in a thread; its end is handled in the broker's loop.  0 or -1. */
int archive_bg_start (archive_svc_t *svc, struct bgjob *b);
void archive_bg_free (struct bgjob *b);
/* mkdir -p; 0 or -1 with errno */
int archive_mkdir_p (const char *path);
/* Give freed heap back to the system (the end of a transfer, a
 * distribution, a background job). */
void archive_release_memory (void);

#endif
