/* test_kubenodes.c - Node objects to host records, ranks and a config. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "config.h"
#include "kubenodes.h"

static const char *node (char *buf, size_t sz, const char *name, const char *ip, const char *ready,
                         const char *labels, const char *spec)
{
    snprintf (buf, sz,
              "{\"metadata\":{\"name\":\"%s\",\"resourceVersion\":\"7\",\"labels\":{%s}},\"spec\":{%s},"
              "\"status\":{\"addresses\":[{\"type\":\"Hostname\",\"address\":\"%s\"},"
              "{\"type\":\"InternalIP\",\"address\":\"%s\"}],"
              "\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
              name, labels, spec, name, ip, ready);
    return buf;
}

int main (void)
{
    char err[256], a[1024], b[1024], c[1024], d[1024], list[8192];
    kube_nodeset_t s = { 0 };
    char *rv, *cont;
    snprintf (list, sizeof list,
              "{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"42\","
              "\"continue\":\"abc\"},\"items\":[%s,%s,%s,%s]}",
              node (a, sizeof a, "w2", "10.0.0.3", "True", "", ""),
              node (b, sizeof b, "cp", "10.0.0.1", "True", "\"node-role.kubernetes.io/control-plane\":\"\"", ""),
              node (c, sizeof c, "w1", "10.0.0.2", "True", "", "\"unschedulable\":false"),
              node (d, sizeof d, "w0", "fd00::5", "False", "", ""));
    ok (kube_nodelist_parse (list, strlen (list), &s, &rv, &cont, err, sizeof err) == 0, "NodeList parses (%s)", err);
    ok (s.n == 4 && !strcmp (s.v[0].name, "cp") && !strcmp (s.v[3].name, "w2"), "nodes sorted by name");
    ok (rv && !strcmp (rv, "42") && cont && !strcmp (cont, "abc"), "resourceVersion and continue");
    free (rv);
    free (cont);
    const kube_node_t *n = kube_nodeset_get (&s, "w1");
    ok (n && !strcmp (n->addr, "10.0.0.2") && n->ready && !n->control_plane && !n->leaving, "InternalIP over Hostname");
    ok (kube_nodeset_get (&s, "cp")->control_plane, "control-plane label");
    ok (!kube_nodeset_get (&s, "w0")->ready, "Ready False");

    kube_render_opts_t o = { .port = 8050 };
    size_t idx[8];
    ok (kube_rank_order (&s, &o, idx, err, sizeof err) == 2 && !strcmp (s.v[idx[0]].name, "w1")
            && !strcmp (s.v[idx[1]].name, "w2"), "ranks: eligible nodes by name");
    o.include_control_plane = true;
    o.lead = "w2";
    ok (kube_rank_order (&s, &o, idx, err, sizeof err) == 3 && !strcmp (s.v[idx[0]].name, "w2")
            && !strcmp (s.v[idx[1]].name, "cp") && !strcmp (s.v[idx[2]].name, "w1"), "--lead first, then by name");
    o.lead = "w0";
    ok (kube_rank_order (&s, &o, idx, err, sizeof err) < 0 && strstr (err, "not Ready"), "a NotReady lead: %s", err);
    o.lead = NULL;
    o.size = 2;
    ok (kube_rank_order (&s, &o, idx, err, sizeof err) < 0 && strstr (err, "3 eligible nodes but the instance has 2"), "size limit: %s", err);
    o.size = 0;
    o.include_control_plane = false;
    char *yaml = kube_config_render (&s, &o, err, sizeof err);
    ok (yaml != NULL, "config renders");
    config_t *cfg = yaml ? config_parse (yaml, strlen (yaml), err, sizeof err) : NULL;
    ok (cfg && cfg->nhosts == 2 && !strcmp (cfg->hosts[0].host, "w1")
            && !strcmp (cfg->hosts[0].connect, "tcp://10.0.0.2:8050") && !strcmp (cfg->hosts[1].bind, "tcp://*:8050"),
        "the rendered config parses with config_parse (%s)", cfg ? "" : err);
    config_destroy (&cfg);
    ok (yaml && strstr (yaml, "# skipped w0: not Ready"), "skipped nodes are named");
    free (yaml);

    /* an IPv6 InternalIP is bracketed in the endpoint */
    o.lead = NULL;
    kube_nodeset_t s6 = { 0 };
    snprintf (list, sizeof list, "{\"kind\":\"NodeList\",\"items\":[%s]}",
              node (a, sizeof a, "v6", "fd00::7", "True", "", ""));
    ok (kube_nodelist_parse (list, strlen (list), &s6, &rv, &cont, err, sizeof err) == 0, "v6 list");
    yaml = kube_config_render (&s6, &o, err, sizeof err);
    ok (yaml && strstr (yaml, "tcp://[fd00::7]:8050"), "IPv6 endpoint bracketed");
    free (yaml);
    kube_nodeset_clear (&s6);

    /* hostile or wrong answers */
    static const struct {
        const char *text, *want;
    } bad[] = {
        { "{\"kind\":\"Status\",\"code\":403,\"message\":\"nodes is forbidden\"}", "API answered 403: nodes is forbidden" },
        { "{\"kind\":\"PodList\",\"items\":[]}", "expected a NodeList, got PodList" },
        { "[1,2", "not JSON" },
        { "{\"kind\":\"NodeList\",\"items\":[{\"metadata\":{}}]}", "no metadata.name" },
        { "{\"kind\":\"NodeList\",\"items\":[{\"metadata\":{\"name\":\"UPPER\"}}]}", "not a DNS subdomain" },
        { "{\"kind\":\"NodeList\",\"items\":[{\"metadata\":{\"name\":\"a\"},\"status\":{\"addresses\":"
          "[{\"type\":\"InternalIP\",\"address\":\"1.2.3.4;rm\"}]}}]}", "not an IP address" },
        { "{\"kind\":\"NodeList\",\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"a\"}}]}", "listed twice" },
        { "{\"kind\":\"NodeList\",\"items\":{}}", "not an array" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kube_nodeset_t t = { 0 };
        err[0] = '\0';
        int rc = kube_nodelist_parse (bad[i].text, strlen (bad[i].text), &t, &rv, &cont, err, sizeof err);
        ok (rc < 0 && strstr (err, bad[i].want) && !strchr (err, '\n'), "bad list %zu: %s", i, err);
        kube_nodeset_clear (&t);
    }

    /* watch events */
    kube_event_t ev;
    snprintf (list, sizeof list, "{\"type\":\"MODIFIED\",\"object\":%s}", node (a, sizeof a, "w1", "10.0.0.9", "True", "", ""));
    ok (kube_event_parse (list, strlen (list), &ev, err, sizeof err) == 0 && ev.type == KUBE_MODIFIED
            && !strcmp (ev.node.addr, "10.0.0.9") && !strcmp (ev.rv, "7"), "MODIFIED event");
    kube_event_clear (&ev);
    const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"message\":\"too old\"}}";
    ok (kube_event_parse (gone, strlen (gone), &ev, err, sizeof err) == 0 && ev.type == KUBE_ERROR && ev.code == 410,
        "ERROR 410 event");
    kube_event_clear (&ev);
    const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Node\",\"metadata\":{\"resourceVersion\":\"99\"}}}";
    ok (kube_event_parse (bm, strlen (bm), &ev, err, sizeof err) == 0 && ev.type == KUBE_BOOKMARK && !strcmp (ev.rv, "99"),
        "BOOKMARK event");
    kube_event_clear (&ev);
    const char *weird = "{\"type\":\"SYNC\",\"object\":{}}";
    ok (kube_event_parse (weird, strlen (weird), &ev, err, sizeof err) < 0 && strstr (err, "unknown watch event type SYNC"),
        "unknown event type: %s", err);
    ok (kube_nodeset_del (&s, "w1") == 1 && kube_nodeset_del (&s, "w1") == 0 && s.n == 3, "delete by name");
    kube_nodeset_clear (&s);
    return done ();
}
