/* health.c - /livez and /readyz over HTTP for probes (health.h).  The
 * server runs in libmicrohttpd's own thread; the broker's loop publishes its
 * state under a mutex, and a loop that has not reported for stale_after
 * seconds makes /livez fail (a hung loop is restarted by the kubelet). */
#define _GNU_SOURCE
#include "health.h"
#include "xalloc.h"
#include "errquote.h"
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct health {
    struct MHD_Daemon *d;
    pthread_mutex_t lock;
    double last_tick;      /* CLOCK_MONOTONIC seconds of the last update */
    double stale_after;
    bool ready;
    char why[200];
};

static double mono (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static enum MHD_Result answer (void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_len, void **state)
{
    health_t *h = cls;
    char body[300];
    unsigned status;
    if (strcmp (method, "GET") && strcmp (method, "HEAD")) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        snprintf (body, sizeof body, "only GET\n");
    } else {
        pthread_mutex_lock (&h->lock);
        bool live = mono () - h->last_tick <= h->stale_after;
        bool ready = live && h->ready;
        char why[200];
        snprintf (why, sizeof why, "%s", h->why);
        pthread_mutex_unlock (&h->lock);
        if (!strcmp (url, "/livez")) {
            status = live ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
            snprintf (body, sizeof body, live ? "ok\n" : "not live: the broker's loop has not run for %.0f s\n",
                      h->stale_after);
        } else if (!strcmp (url, "/readyz")) {
            status = ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
            if (ready)
                snprintf (body, sizeof body, "ok\n");
            else
                snprintf (body, sizeof body, "not ready: %s\n", live ? why : "the broker's loop is not running");
        } else {
            status = MHD_HTTP_NOT_FOUND;
            snprintf (body, sizeof body, "not found (/livez, /readyz)\n");
        }
    }
    struct MHD_Response *r = MHD_create_response_from_buffer (strlen (body), body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header (r, "Content-Type", "text/plain");
    enum MHD_Result rc = MHD_queue_response (c, status, r);
    MHD_destroy_response (r);
    return rc;
}

health_t *health_new (const char *listen, double stale_after, char *err, size_t errlen)
{
    char q[80];
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_ANY) };
    const char *colon = strrchr (listen, ':');
    const char *port = colon ? colon + 1 : listen;
    char *end;
    long p = strtol (port, &end, 10);
    if (*port == '\0' || *end || p < 1 || p > 65535) {
        errfmt (err, errlen, "health: '%s' is not PORT, :PORT or ADDRESS:PORT", errquote (q, sizeof q, listen, (size_t)-1));
        return NULL;
    }
    sa.sin_port = htons ((uint16_t)p);
    if (colon && colon > listen) {
        char host[64];
        snprintf (host, sizeof host, "%.*s", (int)(colon - listen), listen);
        if (inet_pton (AF_INET, host, &sa.sin_addr) != 1) {
            errfmt (err, errlen, "health: '%s' is not an IPv4 address", errquote (q, sizeof q, host, (size_t)-1));
            return NULL;
        }
    }
    health_t *h = xcalloc (1, sizeof *h);
    pthread_mutex_init (&h->lock, NULL);
    h->stale_after = stale_after;
    h->last_tick = mono ();
    snprintf (h->why, sizeof h->why, "starting");
    h->d = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, answer, h,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT,
                             (unsigned)10, MHD_OPTION_CONNECTION_LIMIT, (unsigned)32, MHD_OPTION_END);
    if (!h->d) {
        errfmt (err, errlen, "health: cannot listen on %s (in use?)", errquote (q, sizeof q, listen, (size_t)-1));
        pthread_mutex_destroy (&h->lock);
        free (h);
        return NULL;
    }
    return h;
}

void health_update (health_t *h, bool ready, const char *why)
{
    if (!h)
        return;
    pthread_mutex_lock (&h->lock);
    h->last_tick = mono ();
    h->ready = ready;
    snprintf (h->why, sizeof h->why, "%s", why ? why : "");
    pthread_mutex_unlock (&h->lock);
}

void health_destroy (health_t **p)
{
    if (!p || !*p)
        return;
    MHD_stop_daemon ((*p)->d);
    pthread_mutex_destroy (&(*p)->lock);
    free (*p);
    *p = NULL;
}
