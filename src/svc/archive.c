/* archive.c - the archive service of a broker: its handler table, the
 * local verbs (create, list, remove, purge, extract) and the background
 * threads that run long local work (create, local extract) so heartbeats
 * and forwarding never stop.  Distribution between brokers
 * (doc/distribution.md) has two more roles, each in its own file: the
 * target side of a transfer (archive_target.c) and the controller
 * (archive_ctl.c); archive_int.h is what they share.
 */
#define _GNU_SOURCE
#include "archive_int.h"
#include "clock.h"
#include "destsubst.h"
#include "xalloc.h"
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static void free_str (void **p)
{
    free (*p);
    *p = NULL;
}


/* mkdir -p; 0 or -1 with errno */
int archive_mkdir_p (const char *path)
{
    char *p = xstrdup (path);
    for (char *s = p + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir (p, 0755) < 0 && errno != EEXIST) {
                free (p);
                return -1;
            }
            *s = '/';
        }
    }
    int rc = mkdir (p, 0755) < 0 && errno != EEXIST ? -1 : 0;
    free (p);
    return rc;
}

/* A transfer's manifest copies, decode buffers and chunk messages are freed
 * at its end, but glibc keeps freed heap (the broker sets a high
 * M_TRIM_THRESHOLD so chunk buffers are reused): give it back to the
 * system once a transfer, distribution or background job is over. */
void archive_release_memory (void)
{
    malloc_trim (0);
}

static void *bg_main (void *arg)
{
    struct bgjob *b = arg;
    cstore_t *cs = cstore_new (b->svc->statedir, b->err, sizeof b->err);
    if (!cs) {
        b->rc = -1;
        goto out;
    }
    if (b->m)
        cstore_archive_share (cs, b->m);   /* no second copy in this thread */
    if (b->kind == BG_CREATE) {
        const manifest_t *m = cstore_archive_create (cs, b->name, b->dir, (const char *const *)b->paths,
                                                     b->npaths, b->flags, b->chunk_size, b->err,
                                                     sizeof b->err);
        if (!m)
            b->rc = -1;
        else {
            size_t files = 0;
            for (size_t i = 0; i < m->nentries; i++)
                if (m->entries[i].type == MANIFEST_FILE)
                    files++;
            b->result = json_pack ("{s:s s:I s:I s:I s:I}", "name", b->name, "entries",
                                   (json_int_t)m->nentries, "files", (json_int_t)files, "bytes",
                                   (json_int_t)m->total_size, "chunks", (json_int_t)m->nchunks);
            if (cstore_warning (cs))
                json_object_set_new (b->result, "warning", json_string (cstore_warning (cs)));
        }
    }
    else {
        const manifest_t *m = cstore_archive_get (cs, b->name, b->err, sizeof b->err);
        if (m && archive_mkdir_p (b->dest) < 0) {
            snprintf (b->err, sizeof b->err, "cannot create %s: %s", b->dest, strerror (errno));
            b->rc = -1;
        }
        else if (!m || extract_archive (cs, b->name, b->dest, EXTRACT_KEEP_SAME, b->err, sizeof b->err) < 0)
            b->rc = -1;
        else
            b->result = json_pack ("{s:s s:I s:s}", "name", b->name, "bytes", (json_int_t)m->total_size,
                                   "dest", b->dest);
    }
    cstore_destroy (&cs);
out:
    if (write (b->fd[1], "x", 1) < 0) {
    }
    return NULL;
}

void archive_bg_free (struct bgjob *b)
{
    for (size_t i = 0; i < b->npaths; i++)
        free (b->paths[i]);
    free (b->paths);
    free (b->name);
    free (b->dir);
    free (b->dest);
    manifest_destroy (&b->m);
    json_decref (b->result);
    close (b->fd[0]);
    close (b->fd[1]);
    free (b);
}

static int on_bg_done (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    struct bgjob *b = arg;
    archive_svc_t *svc = b->svc;
    char c;
    if (read (b->fd[0], &c, 1) != 1)
        return 0;
    pthread_join (b->th, NULL);
    zmq_pollitem_t it = { .fd = b->fd[0] };
    zloop_poller_end (loop, &it);
    double secs = zclock_usecs () / 1e6 - b->t0;
    if (b->kind == BG_CREATE) {
        /* the thread wrote through its own handle: reopen ours so no stale
         * manifest stays cached */
        char err[256];
        cstore_t *fresh = cstore_new (svc->statedir, err, sizeof err);
        if (fresh) {
            cstore_destroy (&svc->cs);
            svc->cs = fresh;
        }
    }
    if (b->dist) {
        struct target *t = archive_dist_target (b->dist, overlay_rank (svc->ov));
        if (t)
            archive_target_end (b->dist, t, b->rc == 0, b->err);
    }
    else if (b->rc < 0)
        overlay_respond_error (svc->ov, &b->req, EIO, "%s", b->err);
    else {
        json_object_set_new (b->result, "seconds", json_real (secs));
        overlay_respond (svc->ov, &b->req, json_incref (b->result), NULL, 0);
    }
    void *h = zlistx_find (svc->bgjobs, b);
    if (h)
        zlistx_detach (svc->bgjobs, h);
    archive_bg_free (b);
    archive_release_memory ();
    return 0;
}

int archive_bg_start (archive_svc_t *svc, struct bgjob *b)
{
    b->svc = svc;
    b->t0 = zclock_usecs () / 1e6;
    if (pipe (b->fd) < 0)
        return -1;
    zmq_pollitem_t it = { .fd = b->fd[0], .events = ZMQ_POLLIN };
    zloop_poller (overlay_loop (svc->ov), &it, on_bg_done, b);
    zlistx_add_end (svc->bgjobs, b);
    if (pthread_create (&b->th, NULL, bg_main, b) != 0) {
        zloop_poller_end (overlay_loop (svc->ov), &it);
        return -1;
    }
    return 0;
}

/* ================= request handlers ================= */

static void archive_create_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL, *dir = NULL;
    json_t *paths = NULL;
    int reference = 0, replace = 0;
    json_int_t chunk = 0;
    if (json_unpack (msg->json, "{s:s s:s s:o s?b s?b s?I}", "name", &name, "dir", &dir, "paths", &paths,
                     "reference", &reference, "replace", &replace, "chunk_size", &chunk) < 0
        || !json_is_array (paths) || json_array_size (paths) == 0) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.create: needs name, dir and paths");
        return;
    }
    if (!manifest_name_valid (name)) {
        overlay_respond_error (ov, &msg->hdr, EINVAL,
                               "invalid archive name '%s' (1-128 of A-Z a-z 0-9 . _ -, no leading '.')", name);
        return;
    }
    for (struct bgjob *o = zlistx_first (svc->bgjobs); o; o = zlistx_next (svc->bgjobs))
        if (o->kind == BG_CREATE && !strcmp (o->name, name)) {
            overlay_respond_error (ov, &msg->hdr, EBUSY, "archive %s is being created", name);
            return;
        }
    struct bgjob *b = xcalloc (1, sizeof *b);
    b->kind = BG_CREATE;
    b->req = msg->hdr;
    b->name = xstrdup (name);
    b->dir = xstrdup (dir);
    b->npaths = json_array_size (paths);
    b->paths = xcalloc (b->npaths, sizeof (char *));
    for (size_t i = 0; i < b->npaths; i++) {
        const char *p = json_string_value (json_array_get (paths, i));
        b->paths[i] = xstrdup (p ? p : "");
    }
    b->flags = (reference ? CSTORE_REFERENCE : CSTORE_COPY) | (replace ? CSTORE_REPLACE : 0);
    b->chunk_size = chunk;
    if (archive_bg_start (svc, b) < 0) {
        overlay_respond_error (ov, &msg->hdr, EIO, "archive.create: cannot start worker");
        archive_bg_free (b);
    }
}

static void archive_extract_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL, *dest = NULL;
    if (json_unpack (msg->json, "{s:s s:s}", "name", &name, "dest", &dest) < 0) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.extract: needs name and dest");
        return;
    }
    if (!dest[0]) {
        overlay_respond_error (ov, &msg->hdr, EINVAL, "archive.extract: empty destination directory");
        return;
    }
    char err[256];
    const manifest_t *m = cstore_archive_get (svc->cs, name, err, sizeof err);
    if (!m) {
        overlay_respond_error (ov, &msg->hdr, ENOENT, "rank %u: %s", overlay_rank (ov), err);
        return;
    }
    struct bgjob *b = xcalloc (1, sizeof *b);
    b->m = manifest_ref (m);
    b->kind = BG_EXTRACT;
    b->req = msg->hdr;
    b->name = xstrdup (name);
    b->dest = archive_dest_subst (dest, overlay_rank (ov));
    if (archive_bg_start (svc, b) < 0) {
        overlay_respond_error (ov, &msg->hdr, EIO, "archive.extract: cannot start worker");
        archive_bg_free (b);
    }
}

static void archive_list_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    char err[256];
    json_t *l = cstore_archive_list (svc->cs, err, sizeof err);
    if (!l)
        overlay_respond_error (ov, &msg->hdr, EIO, "%s", err);
    else
        overlay_respond (ov, &msg->hdr, json_pack ("{s:o s:I}", "archives", l, "rank", (json_int_t)overlay_rank (ov)), NULL, 0);
}

static void archive_remove_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    const char *name = NULL;
    if (json_unpack (msg->json, "{s:s}", "name", &name) < 0) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "archive.remove: needs name");
        return;
    }
    char err[256];
    int rc = cstore_archive_remove (svc->cs, name, err, sizeof err);
    if (rc < 0)
        overlay_respond_error (ov, &msg->hdr, rc == -ENOENT ? ENOENT : EIO, "%s", err);
    else
        overlay_respond (ov, &msg->hdr, json_object (), NULL, 0);
}

static void archive_purge_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    archive_svc_t *svc = arg;
    char err[256];
    int n = cstore_purge (svc->cs, err, sizeof err);
    if (n < 0)
        overlay_respond_error (ov, &msg->hdr, EIO, "%s", err);
    else
        overlay_respond (ov, &msg->hdr, json_pack ("{s:i}", "removed", n), NULL, 0);
}


static int on_tick (zloop_t *loop, int timer_id, void *arg)
{
    archive_svc_t *svc = arg;
    int64_t now = now_ms ();
    archive_target_tick (svc, now);
    archive_ctl_tick (svc, now);
    return 0;
}

static const overlay_handler_t handlers[] = {
    { "archive.create", archive_create_request },
    { "archive.extract", archive_extract_request },
    { "archive.list", archive_list_request },
    { "archive.remove", archive_remove_request },
    { "archive.purge", archive_purge_request },
    { "archive.distribute", archive_distribute_request },
    { "archive.fetch", archive_fetch_request },
    { "archive.chunk", archive_chunk_request },
    { "archive.mpage", archive_mpage_request },
    { "archive.replan", archive_replan_request },
    { "archive.go", archive_go_request },
    OVERLAY_HANDLER_END,
};


archive_svc_t *archive_svc_new (overlay_t *ov, const char *statedir, char *err, size_t errlen)
{
    archive_svc_t *svc = xcalloc (1, sizeof *svc);
    svc->ov = ov;
    svc->statedir = xstrdup (statedir);
    svc->cs = cstore_new (statedir, err, errlen);
    if (!svc->cs) {
        free (svc->statedir);
        free (svc);
        return NULL;
    }
    svc->xfers = zlistx_new ();
    svc->dists = zlistx_new ();
    svc->bgjobs = zlistx_new ();
    svc->failed = zhashx_new ();
    zhashx_set_destructor (svc->failed, free_str);
    if (overlay_handlers_add (ov, handlers, svc, err, errlen) < 0) {
        archive_svc_destroy (&svc);
        return NULL;
    }
    svc->tick = zloop_timer (overlay_loop (ov), 100, 0, on_tick, svc);
    char derr[256];
    if (!(svc->dp = dataplane_new (ov, derr, sizeof derr)))
        overlay_log (ov, "%s: sealed distributions refused", derr);
    return svc;
}

void archive_svc_destroy (archive_svc_t **p)
{
    if (!p || !*p)
        return;
    archive_svc_t *svc = *p;
    struct bgjob *b;
    while ((b = zlistx_detach (svc->bgjobs, NULL))) {
        pthread_join (b->th, NULL);
        archive_bg_free (b);
    }
    struct xfer *xf;
    while ((xf = zlistx_detach (svc->xfers, NULL)))
        archive_xfer_free (xf); /* keeps partial state for a resume */
    struct dist *d;
    while ((d = zlistx_detach (svc->dists, NULL)))
        archive_dist_free (d);
    zlistx_destroy (&svc->xfers);
    zlistx_destroy (&svc->dists);
    zlistx_destroy (&svc->bgjobs);
    zhashx_destroy (&svc->failed);
    dataplane_destroy (&svc->dp);
    cstore_destroy (&svc->cs);
    free (svc->statedir);
    free (svc);
    *p = NULL;
}
