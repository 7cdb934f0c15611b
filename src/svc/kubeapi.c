/* kubeapi.c - a client of the Kubernetes API for Node objects: paged list
 * and watch, bearer token and CA from the service account (doc/kubernetes.md).
 * libcurl does HTTP and TLS (the server's certificate is always verified);
 * what comes back is parsed by kubenodes.c. */
#define _GNU_SOURCE
#include "kubeapi.h"
#include "sbuf.h"
#include "xalloc.h"
#include "readfile.h"
#include "errquote.h"
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"
#define BODY_MAX (256u << 20)   /* a NodeList page of 500 nodes is a few MB */
#define LINE_MAX_BYTES (16u << 20)
#define PAGE_LIMIT 500

struct kubeapi {
    volatile int *abort;
    char *server;   /* https://host:port, no trailing slash */
    char *auth;     /* "Authorization: Bearer ..." */
    char *ca_path;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init (void) { curl_global_init (CURL_GLOBAL_DEFAULT); }

kubeapi_t *kubeapi_new (const char *server, const char *token, const char *ca_path, char *err,
                        size_t errlen)
{
    pthread_once (&curl_once, curl_init);
    size_t tl = strlen (token);
    while (tl && (token[tl - 1] == '\n' || token[tl - 1] == '\r' || token[tl - 1] == ' '))
        tl--;
    if (tl == 0) {
        errfmt (err, errlen, "kube: the service-account token is empty");
        return NULL;
    }
    for (size_t i = 0; i < tl; i++)
        if ((unsigned char)token[i] < 0x21 || (unsigned char)token[i] > 0x7e) {
            errfmt (err, errlen, "kube: the service-account token holds a byte that cannot go in a header");
            return NULL;
        }
    struct stat st;
    if (stat (ca_path, &st) < 0) {
        errfmt (err, errlen, "kube: CA %s: %s", ca_path, strerror (errno));
        return NULL;
    }
    kubeapi_t *k = xcalloc (1, sizeof *k);
    k->server = xstrdup (server);
    k->ca_path = xstrdup (ca_path);
    if (asprintf (&k->auth, "Authorization: Bearer %.*s", (int)tl, token) < 0) {
        k->auth = NULL;
        kubeapi_destroy (&k);
        errfmt (err, errlen, "kube: out of memory");
        return NULL;
    }
    size_t sl = strlen (k->server);
    while (sl && k->server[sl - 1] == '/')
        k->server[--sl] = '\0';
    return k;
}

kubeapi_t *kubeapi_new_incluster (char *err, size_t errlen)
{
    const char *host = getenv ("KUBERNETES_SERVICE_HOST");
    const char *port = getenv ("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port) {
        errfmt (err, errlen, "kube: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set "
                             "(not in a pod?)");
        return NULL;
    }
    const char *dir = getenv ("CANOPY_KUBE_SA_DIR");
    if (!dir || !*dir)
        dir = SA_DIR_DEFAULT;
    char path[4096], ca[4096], server[512];
    snprintf (path, sizeof path, "%s/token", dir);
    snprintf (ca, sizeof ca, "%s/ca.crt", dir);
    int v6 = strchr (host, ':') != NULL;
    snprintf (server, sizeof server, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
    char ferr[384];
    char *token = read_file (path, 65536, NULL, ferr, sizeof ferr);
    if (!token) {
        errfmt (err, errlen, "kube: token %s", ferr);
        return NULL;
    }
    kubeapi_t *k = kubeapi_new (server, token, ca, err, errlen);
    free (token);
    return k;
}

void kubeapi_destroy (kubeapi_t **p)
{
    if (!p || !*p)
        return;
    free ((*p)->server);
    free ((*p)->auth);
    free ((*p)->ca_path);
    free (*p);
    *p = NULL;
}

const char *kubeapi_server (const kubeapi_t *k) { return k->server; }

void kubeapi_set_abort (kubeapi_t *k, volatile int *flag) { k->abort = flag; }

/* libcurl calls this about once a second even on an idle stream */
static int progress_abort (void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    volatile int *flag = arg;
    return flag && *flag;
}

struct body {
    sbuf_t sb;
    size_t max;   /* more is refused */
};

static size_t body_write (char *p, size_t sz, size_t nm, void *arg)
{
    struct body *b = arg;
    size_t n = sz * nm;
    if (b->sb.len + n > b->max)
        return 0;   /* too large: abort the transfer */
    sb_addn (&b->sb, p, n);
    return n;
}

static CURL *easy (kubeapi_t *k, const char *url, struct curl_slist **hdrs, char *ebuf)
{
    CURL *c = curl_easy_init ();
    if (!c)
        return NULL;
    *hdrs = curl_slist_append (NULL, k->auth);
    *hdrs = curl_slist_append (*hdrs, "Accept: application/json");
    curl_easy_setopt (c, CURLOPT_URL, url);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt (c, CURLOPT_CAINFO, k->ca_path);
    curl_easy_setopt (c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt (c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (c, CURLOPT_ERRORBUFFER, ebuf);
    if (k->abort) {
        curl_easy_setopt (c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt (c, CURLOPT_XFERINFOFUNCTION, progress_abort);
        curl_easy_setopt (c, CURLOPT_XFERINFODATA, (void *)k->abort);
    }
    ebuf[0] = '\0';
    return c;
}

/* An error answer, with its Status message when it is one. */
static void http_error (long code, const char *body, size_t len, const char *what, char *err,
                        size_t errlen)
{
    char msg[300] = "";
    if (body)
        kube_status_message (body, len, msg, sizeof msg);
    const char *hint = code == 401 ? " (is the token valid?)"
                       : code == 403 ? " (does the service account's ClusterRole allow it?)"
                                     : "";
    errfmt (err, errlen, "kube: %s: HTTP %ld%s%s%s", what, code, *msg ? ": " : "", msg, hint);
}

static char *selector_arg (CURL *c, const char *selector)
{
    char *out = NULL;
    if (!selector || !*selector)
        return xstrdup ("");
    char *e = curl_easy_escape (c, selector, 0);
    if (e && asprintf (&out, "&labelSelector=%s", e) < 0)
        out = NULL;
    curl_free (e);
    return out;
}

int kubeapi_list_nodes (kubeapi_t *k, const char *selector, kube_nodeset_t *s, char **rv, char *err,
                        size_t errlen)
{
    char ebuf[CURL_ERROR_SIZE];
    char *cont = NULL;
    int rc = -1;
    *rv = NULL;
    CURL *tmp = curl_easy_init ();
    char *sel = tmp ? selector_arg (tmp, selector) : NULL;
    if (!sel) {
        curl_easy_cleanup (tmp);
        return errfail (err, errlen, "kube: out of memory");
    }
    for (int page = 0;; page++) {
        char *url = NULL, *ce = cont ? curl_easy_escape (tmp, cont, 0) : NULL;
        if (asprintf (&url, "%s/api/v1/nodes?limit=%d%s%s%s", k->server, PAGE_LIMIT, sel,
                      ce ? "&continue=" : "", ce ? ce : "") < 0)
            url = NULL;
        curl_free (ce);
        struct curl_slist *hdrs = NULL;
        struct body b = { .max = BODY_MAX };
        CURL *c = url ? easy (k, url, &hdrs, ebuf) : NULL;
        free (url);
        if (!c) {
            curl_slist_free_all (hdrs);
            errfail (err, errlen, "kube: out of memory");
            break;
        }
        curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, body_write);
        curl_easy_setopt (c, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt (c, CURLOPT_TIMEOUT, 120L);
        CURLcode cr = curl_easy_perform (c);
        long code = 0;
        curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_cleanup (c);
        curl_slist_free_all (hdrs);
        if (cr != CURLE_OK) {
            errfmt (err, errlen, "kube: listing nodes at %s: %s", k->server,
                    cr == CURLE_WRITE_ERROR ? "answer too large" : *ebuf ? ebuf : curl_easy_strerror (cr));
            sb_free (&b.sb);
            break;
        }
        if (code < 200 || code > 299) {
            http_error (code, b.sb.s, b.sb.len, "listing nodes", err, errlen);
            sb_free (&b.sb);
            break;
        }
        char *prv = NULL;
        free (cont);
        cont = NULL;
        int pr = kube_nodelist_parse (b.sb.s ? b.sb.s : "", b.sb.len, s, &prv, &cont, err, errlen);
        sb_free (&b.sb);
        if (pr < 0) {
            free (prv);
            break;
        }
        free (*rv);
        *rv = prv;
        if (!cont) {
            rc = 0;
            break;
        }
        if (page > 100000) {
            errfail (err, errlen, "kube: the node list does not end (continue tokens)");
            break;
        }
    }
    free (cont);
    free (sel);
    curl_easy_cleanup (tmp);
    if (rc < 0) {
        free (*rv);
        *rv = NULL;
    }
    return rc;
}

struct watch {
    CURL *c;
    struct body line;    /* the partial line */
    struct body errbody; /* a non-2xx answer's body */
    kubeapi_event_f cb;
    void *arg;
    int cbrc;
    char *err;
    size_t errlen;
    int failed;
};

static size_t watch_write (char *p, size_t sz, size_t nm, void *arg)
{
    struct watch *w = arg;
    size_t n = sz * nm;
    long code = 0;
    curl_easy_getinfo (w->c, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299)
        return body_write (p, sz, nm, &w->errbody);
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j < n && p[j] != '\n')
            j++;
        if (j > i && body_write (p + i, 1, j - i, &w->line) != j - i) {
            errfmt (w->err, w->errlen, "kube: a watch event is longer than %u bytes", LINE_MAX_BYTES);
            w->failed = 1;
            return 0;
        }
        if (j == n)
            break;
        if (w->line.sb.len) {
            kube_event_t ev;
            if (kube_event_parse (w->line.sb.s, w->line.sb.len, &ev, w->err, w->errlen) < 0) {
                w->failed = 1;
                return 0;
            }
            w->line.sb.len = 0;
            w->cbrc = w->cb (&ev, w->arg);
            kube_event_clear (&ev);
            if (w->cbrc)
                return 0;
        }
        i = j;
    }
    return n;
}

int kubeapi_watch_nodes (kubeapi_t *k, const char *selector, const char *rv, int timeout_s,
                         kubeapi_event_f cb, void *arg, char *err, size_t errlen)
{
    char ebuf[CURL_ERROR_SIZE];
    struct curl_slist *hdrs = NULL;
    CURL *tmp = curl_easy_init ();
    char *sel = tmp ? selector_arg (tmp, selector) : NULL;
    char *rve = tmp && rv ? curl_easy_escape (tmp, rv, 0) : NULL;
    char *url = NULL;
    if (!sel
        || asprintf (&url, "%s/api/v1/nodes?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d%s%s%s",
                     k->server, timeout_s > 0 ? timeout_s : 300, rve ? "&resourceVersion=" : "",
                     rve ? rve : "", sel)
               < 0)
        url = NULL;
    curl_free (rve);
    free (sel);
    curl_easy_cleanup (tmp);
    struct watch w = { .line.max = LINE_MAX_BYTES, .errbody.max = 1 << 20, .cb = cb, .arg = arg,
                       .err = err, .errlen = errlen };
    w.c = url ? easy (k, url, &hdrs, ebuf) : NULL;
    free (url);
    if (!w.c) {
        curl_slist_free_all (hdrs);
        return errfail (err, errlen, "kube: out of memory");
    }
    curl_easy_setopt (w.c, CURLOPT_WRITEFUNCTION, watch_write);
    curl_easy_setopt (w.c, CURLOPT_WRITEDATA, &w);
    if (timeout_s > 0)
        curl_easy_setopt (w.c, CURLOPT_TIMEOUT, (long)timeout_s);
    CURLcode cr = curl_easy_perform (w.c);
    long code = 0;
    curl_easy_getinfo (w.c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup (w.c);
    curl_slist_free_all (hdrs);
    int rc = 0;
    if (w.failed)
        rc = -1;
    else if (w.cbrc)
        rc = w.cbrc;
    else if (code && (code < 200 || code > 299)) {
        http_error (code, w.errbody.sb.s, w.errbody.sb.len, "watching nodes", err, errlen);
        rc = -1;
    } else if (cr == CURLE_OPERATION_TIMEDOUT && code >= 200 && code <= 299)
        rc = 0;   /* our own time limit */
    else if (cr != CURLE_OK) {
        errfmt (err, errlen, "kube: watching nodes at %s: %s", k->server,
                *ebuf ? ebuf : curl_easy_strerror (cr));
        rc = -1;
    }
    sb_free (&w.line.sb);
    sb_free (&w.errbody.sb);
    return rc;
}
