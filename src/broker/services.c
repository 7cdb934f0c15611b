/* services.c - start and stop the broker's services in dependency order. */
#include "services.h"
#include "xalloc.h"
#include "exec.h"
#include "archive.h"
#include "resource.h"
#include "jobexec.h"
#include "jobs.h"
#include "privdir.h"
#include "image.h"
#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

struct services {
    exec_svc_t *exec;
    archive_svc_t *archive;
    resource_svc_t *resource;
    jobexec_t *jobexec;
    jobs_svc_t *jobs;
    kube_svc_t *kube;
    image_svc_t *image;
};

int services_watch_kube (services_t *s, overlay_t *ov, const kube_svc_opts_t *o, char *err, size_t errlen)
{
    if (overlay_rank (ov) != 0)
        return 0;
    return (s->kube = kube_svc_new (ov, s->resource, o, err, errlen)) ? 0 : -1;
}

services_t *services_new (overlay_t *ov, const char *statedir, char *err, size_t errlen)
{
    services_t *s = xcalloc (1, sizeof *s);
    if (!(s->exec = exec_svc_new (ov, err, errlen))) {
        services_destroy (&s);
        return NULL;
    }
    /* checked before the job database or the content store is opened */
    char perr[480];
    if (privdir_ensure (statedir, perr, sizeof perr) < 0) {
        snprintf (err, errlen, "state directory: %s", perr);
        services_destroy (&s);
        return NULL;
    }
    if (!(s->archive = archive_svc_new (ov, statedir, err, errlen))) {
        services_destroy (&s);
        return NULL;
    }
    if (!(s->image = image_svc_new (ov, statedir, err, errlen))) {
        services_destroy (&s);
        return NULL;
    }
    if (!(s->jobexec = jobexec_new (ov, err, errlen)) || !(s->resource = resource_svc_new (ov, err, errlen))
        || (overlay_rank (ov) == 0 && !(s->jobs = jobs_svc_new (ov, s->resource, statedir, err, errlen)))) {
        services_destroy (&s);
        return NULL;
    }
    return s;
}

void services_destroy (services_t **p)
{
    if (!p || !*p)
        return;
    kube_svc_destroy (&(*p)->kube);
    image_svc_destroy (&(*p)->image);
    jobs_svc_destroy (&(*p)->jobs);
    resource_svc_destroy (&(*p)->resource);
    jobexec_destroy (&(*p)->jobexec);
    archive_svc_destroy (&(*p)->archive);
    exec_svc_destroy (&(*p)->exec);
    free (*p);
    *p = NULL;
}
