/* image.c - the image service of a broker: pull and import run in worker
 * threads (the broker's loop, and so its heartbeats, never waits on a
 * registry), list and remove answer at once (doc/images.md). */
#define _GNU_SOURCE
#include "image.h"
#include "imageimport.h"
#include "imagestore.h"
#include "registry.h"
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
};

enum { JOB_PULL, JOB_IMPORT };

struct job {
    image_svc_t *svc;
    int kind;
    cmsg_hdr_t req;
    char *ref, *path, *name, *platform, *user, *password;
    int plain_http;
    int fd[2];
    pthread_t th;
    json_t *result;
    int errnum;
    char err[512];
};

static void *job_main (void *arg)
{
    struct job *j = arg;
    if (j->kind == JOB_PULL) {
        registry_pull_opts_t o = { .plain_http = j->plain_http, .platform = j->platform, .user = j->user,
                                   .password = j->password };
        j->result = registry_pull (j->svc->st, j->ref, &o, &j->errnum, j->err, sizeof j->err);
    }
    else
        j->result = image_import (j->svc->st, j->path, j->name, j->platform, &j->errnum, j->err, sizeof j->err);
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
    const char *what = j->kind == JOB_PULL ? "pull" : "import";
    if (!j->result) {
        overlay_log (svc->ov, "image %s %s failed: %s", what, j->ref ? j->ref : j->path, j->err);
        overlay_respond_error (svc->ov, &j->req, j->errnum ? j->errnum : EIO, "%s", j->err);
    }
    else {
        if (j->kind == JOB_PULL)
            overlay_log (svc->ov, "image pull %s: %lld blobs fetched, %lld present, %lld bytes", j->ref,
                         (long long)json_integer_value (json_object_get (j->result, "fetched")),
                         (long long)json_integer_value (json_object_get (j->result, "present")),
                         (long long)json_integer_value (json_object_get (j->result, "bytes")));
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
    return s && *s ? strdup (s) : NULL;
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
    struct job *j = calloc (1, sizeof *j);
    j->kind = JOB_PULL;
    j->ref = strdup (ref);
    j->platform = dup_or_null (platform);
    j->user = dup_or_null (user);
    j->password = password ? strdup (password) : NULL;
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
    struct job *j = calloc (1, sizeof *j);
    j->kind = JOB_IMPORT;
    j->path = strdup (path);
    j->name = dup_or_null (name);
    j->platform = dup_or_null (platform);
    job_start (arg, j, msg);
}

static void image_list_request (overlay_t *ov, const cmsg_t *msg, void *arg)
{
    image_svc_t *svc = arg;
    char err[512];
    json_t *l = imagestore_list (svc->st, err, sizeof err);
    if (!l)
        overlay_respond_error (ov, &msg->hdr, EIO, "rank %u: %s", overlay_rank (ov), err);
    else
        overlay_respond (ov, &msg->hdr, json_pack ("{s:o s:I}", "images", l, "rank", (json_int_t)overlay_rank (ov)),
                         NULL, 0);
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
static const overlay_handler_t handlers[] = {
    { "image.pull", image_pull_request },
    { "image.import", image_import_request },
    { "image.list", image_list_request },
    { "image.remove", image_remove_request },
    OVERLAY_HANDLER_END,
};


image_svc_t *image_svc_new (overlay_t *ov, const char *statedir, char *err, size_t errlen)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/images", statedir);
    registry_global_init ();
    image_svc_t *svc = calloc (1, sizeof *svc);
    svc->ov = ov;
    if (!(svc->st = imagestore_open (dir, err, errlen))) {
        free (svc);
        return NULL;
    }
    svc->jobs = zlistx_new ();
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
    imagestore_close (&svc->st);
    free (svc);
    *p = NULL;
}
