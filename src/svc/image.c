/* image.c - the image service of a broker: pull and import run in worker
 * threads (the broker's loop, and so its heartbeats, never waits on a
 * registry), list and remove answer at once (doc/images.md). */
#define _GNU_SOURCE
#include "image.h"
#include "imagectr.h"
#include "imagehosts.h"
#include "imagemirror.h"
#include "imageimport.h"
#include "imagestore.h"
#include "errquote.h"
#include "ociref.h"
#include "registry.h"
#include "xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct image_svc {
    overlay_t *ov;
    imagestore_t *st;
    zlistx_t *jobs;
    imagemirror_t *mirror;
};

#define MIRROR_DEFAULT_PORT "5050"

/* the node's address: the host of this broker's tcp:// connect endpoint,
 * 127.0.0.1 for ipc:// */
static void node_address (overlay_t *ov, char *buf, size_t len)
{
    const char *ep = overlay_connect_endpoint (ov, overlay_rank (ov));
    snprintf (buf, len, "127.0.0.1");
    if (!ep || strncmp (ep, "tcp://", 6))
        return;
    const char *h = ep + 6, *colon = strrchr (h, ':');
    if (*h == '[' || !colon || colon == h || *h == '*')
        return;
    snprintf (buf, len, "%.*s", (int)(colon - h), h);
}

static int mirror_ensure (image_svc_t *svc, const char *listen, char *err, size_t errlen)
{
    if (svc->mirror)
        return 0;
    char addr[256];
    node_address (svc->ov, addr, sizeof addr);
    svc->mirror = imagemirror_start (svc->st, svc->ov, listen && *listen ? listen : MIRROR_DEFAULT_PORT, addr, err,
                                     errlen);
    return svc->mirror ? 0 : -1;
}

enum { JOB_PULL, JOB_IMPORT, JOB_MANIFEST, JOB_ADOPT };

struct job {
    image_svc_t *svc;
    int kind;
    cmsg_hdr_t req;
    char *ref, *path, *name, *platform, *user, *password;
    int plain_http;
    json_t *args;        /* manifest, adopt: the request */
    int fd[2];
    pthread_t th;
    json_t *result;
    int errnum;
    char err[512];
};

/* image.manifest: the image's blobs, each re-hashed when verify is set
 * (the source of a distribution checks what it is about to send) */
static json_t *do_manifest (image_svc_t *svc, json_t *args, int *errnum, char *err, size_t errlen)
{
    const char *ref = json_string_value (json_object_get (args, "ref"));
    int verify = json_is_true (json_object_get (args, "verify"));
    char mt[128], dg[80];
    int64_t size = 0;
    json_t *blobs = imagestore_image_blobs (svc->st, ref, mt, dg, &size, errnum, err, errlen);
    if (!blobs)
        return NULL;
    json_int_t total = 0;
    size_t i;
    json_t *b;
    json_array_foreach (blobs, i, b) {
        const char *d = json_string_value (json_object_get (b, "digest"));
        json_int_t sz = json_integer_value (json_object_get (b, "size"));
        total += sz;
        if (verify && imagestore_blob_verify (svc->st, d, sz, err, errlen) < 0) {
            *errnum = EBADMSG;
            json_decref (blobs);
            return NULL;
        }
    }
    return json_pack ("{s:s s:s s:s s:I s:o s:I s:s s:I}", "ref", ref, "digest", dg, "mediaType", mt, "size",
                      (json_int_t)size, "blobs", blobs, "total", total, "dir", imagestore_dir (svc->st), "rank",
                      (json_int_t)overlay_rank (svc->ov));
}

/* image.adopt: after a distribution put the blobs in place, check every one
 * is here at its size, point ref at the manifest, and maybe hand the image
 * to containerd */
static json_t *do_adopt (image_svc_t *svc, json_t *args, int *errnum, char *err, size_t errlen)
{
    const char *ref = NULL, *mt = NULL, *dg = NULL, *addr = NULL, *ns = NULL;
    json_int_t size = 0;
    json_t *blobs = NULL, *ctr = NULL;
    *errnum = EPROTO;
    if (json_unpack (args, "{s:s s:s s:s s:I s:o s?o}", "ref", &ref, "mediaType", &mt, "digest", &dg, "size", &size,
                     "blobs", &blobs, "containerd", &ctr)
            < 0
        || !json_is_array (blobs)) {
        errfmt (err, errlen, "image.adopt: needs ref, mediaType, digest, size and blobs");
        return NULL;
    }
    if (ctr && json_unpack (ctr, "{s:s s:s}", "address", &addr, "namespace", &ns) < 0) {
        errfmt (err, errlen, "image.adopt: containerd needs address and namespace");
        return NULL;
    }
    *errnum = EIO;
    size_t i;
    json_t *b;
    json_array_foreach (blobs, i, b) {
        const char *d = json_string_value (json_object_get (b, "digest"));
        json_int_t sz = json_integer_value (json_object_get (b, "size"));
        if (!d || !imagestore_has_blob (svc->st, d, sz)) {
            errfmt (err, errlen, "rank %u: blob %s of %s is missing after the distribution", overlay_rank (svc->ov),
                    d ? d : "?", ref);
            return NULL;
        }
    }
    if (imagestore_ref_set (svc->st, ref, mt, dg, size, err, errlen) < 0)
        return NULL;
    json_t *res = json_pack ("{s:s s:s s:I}", "ref", ref, "digest", dg, "rank", (json_int_t)overlay_rank (svc->ov));
    if (ctr) {
        char e2[768];
        if (imagectr_import (svc->st, ref, mt, dg, size, blobs, addr, ns, e2, sizeof e2) < 0) {
            errfmt (err, errlen, "rank %u: %s", overlay_rank (svc->ov), e2);
            *errnum = EHOSTUNREACH;
            json_decref (res);
            return NULL;
        }
        json_object_set_new (res, "containerd", json_pack ("{s:s s:s}", "address", addr, "namespace", ns));
    }
    return res;
}

static void *job_main (void *arg)
{
    struct job *j = arg;
    if (j->kind == JOB_PULL) {
        registry_pull_opts_t o = { .plain_http = j->plain_http, .platform = j->platform, .user = j->user,
                                   .password = j->password };
        j->result = registry_pull (j->svc->st, j->ref, &o, &j->errnum, j->err, sizeof j->err);
    }
    else if (j->kind == JOB_IMPORT)
        j->result = image_import (j->svc->st, j->path, j->name, j->platform, &j->errnum, j->err, sizeof j->err);
    else if (j->kind == JOB_MANIFEST)
        j->result = do_manifest (j->svc, j->args, &j->errnum, j->err, sizeof j->err);
    else
        j->result = do_adopt (j->svc, j->args, &j->errnum, j->err, sizeof j->err);
    if (write (j->fd[1], "x", 1) < 0) {
    }
    return NULL;
}

static void job_free (struct job *j)
{
    free (j->ref);
    free (j->path);
    free (j->name);
    free (j->platform);
    if (j->password)
        memset (j->password, 0, strlen (j->password));
    free (j->user);
    free (j->password);
    json_decref (j->result);
    json_decref (j->args);
    if (j->fd[0] >= 0)
        close (j->fd[0]);
    if (j->fd[1] >= 0)
        close (j->fd[1]);
    free (j);
}

static int on_job_done (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    struct job *j = arg;
    image_svc_t *svc = j->svc;
    char c;
    if (read (j->fd[0], &c, 1) != 1)
        return 0;
    pthread_join (j->th, NULL);
    zmq_pollitem_t it = { .fd = j->fd[0] };
    zloop_poller_end (loop, &it);
    const char *what = j->kind == JOB_PULL ? "pull" : j->kind == JOB_IMPORT ? "import" : j->kind == JOB_MANIFEST ? "manifest" : "adopt";
    if (!j->result) {
        overlay_log (svc->ov, "image %s %s failed: %s", what,
                     j->ref ? j->ref : j->path ? j->path : json_string_value (json_object_get (j->args, "ref")), j->err);
        overlay_respond_error (svc->ov, &j->req, j->errnum ? j->errnum : EIO, "%s", j->err);
    }
    else {
        if (j->kind == JOB_PULL)
            overlay_log (svc->ov, "image pull %s: %lld blobs fetched, %lld present, %lld bytes", j->ref,
                         (long long)json_integer_value (json_object_get (j->result, "fetched")),
                         (long long)json_integer_value (json_object_get (j->result, "present")),
                         (long long)json_integer_value (json_object_get (j->result, "bytes")));
        else if (j->kind == JOB_ADOPT)
            overlay_log (svc->ov, "image %s: adopted from a distribution%s", json_string_value (json_object_get (j->result, "ref")),
                         json_object_get (j->result, "containerd") ? " and imported into containerd" : "");
        overlay_respond (svc->ov, &j->req, json_incref (j->result), NULL, 0);
    }
    void *h = zlistx_find (svc->jobs, j);
    if (h)
        zlistx_detach (svc->jobs, h);
    job_free (j);
    return 0;
}

static void job_start (image_svc_t *svc, struct job *j, const cmsg_t *msg)
{
    j->svc = svc;
    j->req = msg->hdr;
    j->fd[0] = j->fd[1] = -1;
    if (pipe2 (j->fd, O_CLOEXEC) < 0) {
        overlay_respond_error (svc->ov, &msg->hdr, EIO, "image: cannot start a worker: %s", strerror (errno));
        job_free (j);
        return;
    }
    zmq_pollitem_t it = { .fd = j->fd[0], .events = ZMQ_POLLIN };
    zloop_poller (overlay_loop (svc->ov), &it, on_job_done, j);
    zlistx_add_end (svc->jobs, j);
    if (pthread_create (&j->th, NULL, job_main, j) != 0) {
        zloop_poller_end (overlay_loop (svc->ov), &it);
        zlistx_detach (svc->jobs, zlistx_find (svc->jobs, j));
        overlay_respond_error (svc->ov, &msg->hdr, EIO, "image: cannot start a worker thread");
        job_free (j);
    }
}

static char *dup_or_null (const char *s)
{
    return s && *s ? xstrdup (s) : NULL;
}

static void image_pull_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    const char *ref = NULL, *platform = NULL, *user = NULL, *password = NULL;
    int plain = 0;
    if (json_unpack (msg->json, "{s:s s?b s?s s?s s?s}", "ref", &ref, "plain_http", &plain, "platform", &platform,
                     "user", &user, "password", &password)
        < 0) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "image.pull: needs ref");
        return;
    }
    struct job *j = xcalloc (1, sizeof *j);
    j->kind = JOB_PULL;
    j->ref = xstrdup (ref);
    j->platform = dup_or_null (platform);
    j->user = dup_or_null (user);
    j->password = password ? xstrdup (password) : NULL;
    j->plain_http = plain;
    job_start (arg, j, msg);
}

static void image_import_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    const char *path = NULL, *name = NULL, *platform = NULL;
    if (json_unpack (msg->json, "{s:s s?s s?s}", "path", &path, "name", &name, "platform", &platform) < 0
        || path[0] != '/') {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "image.import: needs an absolute path");
        return;
    }
    struct job *j = xcalloc (1, sizeof *j);
    j->kind = JOB_IMPORT;
    j->path = xstrdup (path);
    j->name = dup_or_null (name);
    j->platform = dup_or_null (platform);
    job_start (arg, j, msg);
}

static void image_manifest_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    if (!json_is_string (json_object_get (msg->json, "ref"))) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "image.manifest: needs ref");
        return;
    }
    struct job *j = xcalloc (1, sizeof *j);
    j->kind = JOB_MANIFEST;
    j->args = json_incref (msg->json);
    job_start (arg, j, msg);
}

static void image_adopt_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    (void)ov;
    struct job *j = xcalloc (1, sizeof *j);
    j->kind = JOB_ADOPT;
    j->args = json_incref (msg->json);
    job_start (arg, j, msg);
}

/* image.prepare: which of these blobs this store lacks, and where it is */
static void image_prepare_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    image_svc_t *svc = arg;
    json_t *blobs = json_object_get (msg->json, "blobs");
    if (!json_is_array (blobs)) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "image.prepare: needs blobs");
        return;
    }
    json_t *missing = json_array ();
    json_int_t have = 0;
    size_t i;
    json_t *b;
    json_array_foreach (blobs, i, b) {
        const char *d = json_string_value (json_object_get (b, "digest"));
        json_int_t sz = json_integer_value (json_object_get (b, "size"));
        if (!d || !ociref_digest_valid (d)) {
            json_decref (missing);
            overlay_respond_error (ov, &msg->hdr, EPROTO, "image.prepare: blobs[%zu]: invalid digest", i);
            return;
        }
        if (imagestore_has_blob (svc->st, d, sz))
            have += sz;
        else
            json_array_append_new (missing, json_string (d));
    }
    overlay_respond (ov, &msg->hdr,
                     json_pack ("{s:s s:o s:I s:I}", "dir", imagestore_dir (svc->st), "missing", missing, "have", have,
                                "rank", (json_int_t)overlay_rank (ov)),
                     NULL, 0);
}

static void image_list_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    image_svc_t *svc = arg;
    char err[512];
    json_t *l = imagestore_list (svc->st, err, sizeof err);
    if (!l)
        overlay_respond_error (ov, &msg->hdr, EIO, "rank %u: %s", overlay_rank (ov), err);
    else {
        json_t *o = json_pack ("{s:o s:I}", "images", l, "rank", (json_int_t)overlay_rank (ov));
        if (svc->mirror)
            json_object_set_new (o, "mirror", imagemirror_stats (svc->mirror));
        overlay_respond (ov, &msg->hdr, o, NULL, 0);
    }
}

static void image_remove_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    image_svc_t *svc = arg;
    const char *ref = NULL;
    if (json_unpack (msg->json, "{s:s}", "ref", &ref) < 0) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "image.remove: needs ref");
        return;
    }
    char err[512];
    int rc = imagestore_ref_remove (svc->st, ref, err, sizeof err);
    if (rc < 0) {
        overlay_respond_error (ov, &msg->hdr, rc == -ENOENT ? ENOENT : EIO, "rank %u: %s", overlay_rank (ov), err);
        return;
    }
    int removed = 0;
    int g = imagestore_gc (svc->st, &removed, err, sizeof err);
    if (g < 0)
        overlay_log (ov, "image remove %s: collection failed: %s", ref, err);
    overlay_respond (ov, &msg->hdr,
                     json_pack ("{s:s s:i s:b}", "ref", ref, "blobs_removed", removed, "gc_deferred", g == 1), NULL, 0);
}
/* image.mirror: start the mirror if needed, then write (or undo)
 * containerd's hosts.toml of each registry */
static void image_mirror_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    image_svc_t *svc = arg;
    const char *listen = NULL, *cpath = NULL;
    json_t *regs = NULL;
    int plain = 0, remove = 0;
    if (json_unpack (msg->json, "{s?s s:o s:s s?b s?b}", "listen", &listen, "registries", &regs, "config_path", &cpath,
                     "plain_http", &plain, "remove", &remove)
            < 0
        || !json_is_array (regs) || json_array_size (regs) == 0) {
        overlay_respond_error (ov, &msg->hdr, EPROTO, "image.mirror: needs registries and config_path");
        return;
    }
    char err[768];
    size_t i;
    json_t *r;
    json_array_foreach (regs, i, r) {
        if (!json_is_string (r) || !imagehosts_registry_ok (json_string_value (r))) {
            char q[200];
            overlay_respond_error (ov, &msg->hdr, EINVAL, "rank %u: invalid registry name '%s' (host[:port])",
                                   overlay_rank (ov),
                                   errquote (q, sizeof q, json_is_string (r) ? json_string_value (r) : "?", (size_t)-1));
            return;
        }
    }
    if (!remove && mirror_ensure (svc, listen, err, sizeof err) < 0) {
        overlay_respond_error (ov, &msg->hdr, EADDRINUSE, "rank %u: %s", overlay_rank (ov), err);
        return;
    }
    json_t *done = json_array ();
    json_array_foreach (regs, i, r) {
        char what[PATH_MAX + 160];
        int rc = remove ? imagehosts_remove (cpath, json_string_value (r), what, sizeof what, err, sizeof err)
                        : imagehosts_write (cpath, json_string_value (r), imagemirror_url (svc->mirror), plain, what,
                                            sizeof what, err, sizeof err);
        if (rc < 0) {
            json_decref (done);
            overlay_respond_error (ov, &msg->hdr, EIO, "rank %u: %s", overlay_rank (ov), err);
            return;
        }
        overlay_log (ov, "image mirror: %s%s", remove ? "" : "wrote ", what);
        json_array_append_new (done, json_string (what));
    }
    overlay_respond (ov, &msg->hdr,
                     json_pack ("{s:s? s:o s:I}", "url", svc->mirror ? imagemirror_url (svc->mirror) : NULL,
                                remove ? "restored" : "written", done, "rank", (json_int_t)overlay_rank (ov)),
                     NULL, 0);
}

static const overlay_handler_t handlers[] = {
    { "image.pull", image_pull_request },
    { "image.import", image_import_request },
    { "image.list", image_list_request },
    { "image.remove", image_remove_request },
    { "image.manifest", image_manifest_request },
    { "image.prepare", image_prepare_request },
    { "image.adopt", image_adopt_request },
    { "image.mirror", image_mirror_request },
    OVERLAY_HANDLER_END,
};


image_svc_t *image_svc_new (overlay_t *ov, const char *statedir, char *err, size_t errlen)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/images", statedir);
    registry_global_init ();
    image_svc_t *svc = xcalloc (1, sizeof *svc);
    svc->ov = ov;
    if (!(svc->st = imagestore_open (dir, err, errlen))) {
        free (svc);
        return NULL;
    }
    svc->jobs = zlistx_new ();
    const char *ml = getenv ("CANOPY_IMAGE_MIRROR");
    if (ml && *ml && mirror_ensure (svc, ml, err, errlen) < 0) {
        image_svc_destroy (&svc);
        return NULL;
    }
    if (overlay_handlers_add (ov, handlers, svc, err, errlen) < 0) {
        image_svc_destroy (&svc);
        return NULL;
    }
    return svc;
}

void image_svc_destroy (image_svc_t **p)
{
    if (!p || !*p)
        return;
    image_svc_t *svc = *p;
    struct job *j;
    while ((j = zlistx_detach (svc->jobs, NULL))) {
        pthread_join (j->th, NULL);
        job_free (j);
    }
    zlistx_destroy (&svc->jobs);
    imagemirror_stop (&svc->mirror);
    imagestore_close (&svc->st);
    free (svc);
    *p = NULL;
}
