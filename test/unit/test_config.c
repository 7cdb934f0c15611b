/* test_config.c - instance configuration: defaults, %h/%p substitution,
 * per-host overrides, custom parents by name and rank, and one clear error
 * naming the field for each kind of malformed input. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "config.h"

static config_t *parse (const char *text, char *err, size_t errlen)
{
    err[0] = '\0';
    return config_parse (text, strlen (text), err, errlen);
}

/* must fail; the one-line error must contain both substrings */
static void bad (const char *text, const char *sub1, const char *sub2, const char *what)
{
    char err[256];
    config_t *c = parse (text, err, sizeof err);
    ok (c == NULL && strstr (err, sub1) && (!sub2 || strstr (err, sub2)) && !strchr (err, '\n')
            && !strncmp (err, "config: ", 8),
        "%s: %s", what, err);
    config_destroy (&c);
}

int main (void)
{
    char err[256];
    config_t *c;

    /* ---- defaults ---- */
    c = parse ("hosts: [{host: alpha}]\n", err, sizeof err);
    ok (c != NULL, "minimal config parses %s", err);
    if (c) {
        ok (c->nhosts == 1 && !strcmp (c->hosts[0].host, "alpha"), "one host");
        ok (!strcmp (c->hosts[0].bind, "tcp://*:8050"), "default bind tcp://*:8050 (%s)", c->hosts[0].bind);
        ok (!strcmp (c->hosts[0].connect, "tcp://alpha:8050"), "default connect tcp://%%h:%%p (%s)",
            c->hosts[0].connect);
        ok (c->hosts[0].parent == TOPO_NONE, "no parent outside custom topologies");
        ok (c->curve_cert == NULL, "no curve_cert by default");
        ok (c->topology && !strcmp (c->topology, "kary:2"), "default topology kary:2");
        ok (c->heartbeat == 1.0 && c->timeout == 5.0, "default heartbeat 1 s, timeout 5 s");
        ok (c->topo && topo_size (c->topo) == 1, "topology built for 1 host");
    }
    config_destroy (&c);
    ok (c == NULL, "config_destroy clears the pointer");
    config_destroy (&c);
    config_destroy (NULL);

    /* ---- a full config, YAML ---- */
    const char *full = "curve_cert: /etc/canopy/curve.cert\n"
                       "topology: kary:3\n"
                       "default_port: 9000\n"
                       "default_bind: \"tcp://%h-ib:%p\"\n"
                       "default_connect: \"tcp://%h-ib.cluster:%p\"\n"
                       "heartbeat: 0.5\n"
                       "timeout: 3\n"
                       "hosts:\n"
                       "  - host: node[0-3]\n"
                       "  - host: io[01-02]\n"
                       "    port: 7000\n"
                       "  - host: login\n"
                       "    bind: \"ipc:///tmp/%h-%p\"\n"
                       "    connect: tcp://10.0.0.1:%p\n"
                       "    port: 7100\n";
    c = parse (full, err, sizeof err);
    ok (c != NULL, "full config parses %s", err);
    if (c) {
        ok (c->nhosts == 7, "node[0-3] + io[01-02] + login = 7 hosts (%zu)", c->nhosts);
        ok (!strcmp (c->curve_cert, "/etc/canopy/curve.cert"), "curve_cert");
        ok (!strcmp (c->topology, "kary:3") && topo_size (c->topo) == 7
                && topo_parent (c->topo, 4) == 1 && topo_nchildren (c->topo, 0) == 3,
            "kary:3 topology over 7 ranks");
        ok (c->heartbeat == 0.5 && c->timeout == 3.0, "heartbeat 0.5, timeout 3");
        const char *hosts[7] = { "node0", "node1", "node2", "node3", "io01", "io02", "login" };
        int order = 1;
        for (int i = 0; i < 7; i++)
            order &= !strcmp (c->hosts[i].host, hosts[i]);
        ok (order, "hosts in config order, rank = index");
        ok (!strcmp (c->hosts[2].bind, "tcp://node2-ib:9000")
                && !strcmp (c->hosts[2].connect, "tcp://node2-ib.cluster:9000"),
            "default_bind/connect with %%h, default_port: %s %s", c->hosts[2].bind, c->hosts[2].connect);
        ok (!strcmp (c->hosts[5].bind, "tcp://io02-ib:7000")
                && !strcmp (c->hosts[5].connect, "tcp://io02-ib.cluster:7000"),
            "per-entry port feeds %%p: %s %s", c->hosts[5].bind, c->hosts[5].connect);
        ok (!strcmp (c->hosts[6].bind, "ipc:///tmp/login-7100")
                && !strcmp (c->hosts[6].connect, "tcp://10.0.0.1:7100"),
            "per-host bind/connect override: %s %s", c->hosts[6].bind, c->hosts[6].connect);
        ok (config_rank_of (c, "io01") == 4 && config_rank_of (c, "login") == 6
                && config_rank_of (c, "node0") == 0 && config_rank_of (c, "node") == -1
                && config_rank_of (c, "") == -1,
            "config_rank_of");
    }
    config_destroy (&c);

    /* ---- the same in JSON ---- */
    c = parse ("{\"default_port\": 8100, \"hosts\": [{\"host\": \"a,b\"}, {\"host\": \"c\", "
               "\"connect\": \"tcp://c.example:%p\"}]}",
               err, sizeof err);
    ok (c && c->nhosts == 3 && !strcmp (c->hosts[1].connect, "tcp://b:8100")
            && !strcmp (c->hosts[2].connect, "tcp://c.example:8100")
            && !strcmp (c->hosts[2].bind, "tcp://*:8100"),
        "JSON config %s", err);
    config_destroy (&c);

    /* ---- substitution details ---- */
    c = parse ("default_bind: \"100%% %h %p %x %\"\nhosts: [{host: h1, port: 1}]\n", err, sizeof err);
    ok (c && !strcmp (c->hosts[0].bind, "100% h1 1 %x %"), "%%%% is a literal %%, others kept: '%s'",
        c ? c->hosts[0].bind : err);
    config_destroy (&c);
    c = parse ("default_connect: \"%h%h%h%h%h%h%h%h:%p%p\"\n"
               "hosts: [{host: abcdefghijklmnopqrstuvwxyz, port: 65535}]\n",
               err, sizeof err);
    {
        char want[300] = "";
        for (int i = 0; i < 8; i++)
            strcat (want, "abcdefghijklmnopqrstuvwxyz");
        strcat (want, ":6553565535");
        ok (c && !strcmp (c->hosts[0].connect, want), "eight %%h and two %%p all substituted (%zu of %zu chars)",
            c ? strlen (c->hosts[0].connect) : 0, strlen (want));
    }
    config_destroy (&c);

    /* ---- several brokers on one host (a local instance) ---- */
    c = parse ("topology: flat\nhosts:\n"
               "  - {host: localhost, bind: \"tcp://127.0.0.1:%p\", port: 9001}\n"
               "  - {host: localhost, bind: \"tcp://127.0.0.1:%p\", port: 9002}\n"
               "  - {host: localhost, port: 9003}\n",
               err, sizeof err);
    ok (c && c->nhosts == 3 && config_rank_of (c, "localhost") == 0
            && !strcmp (c->hosts[1].bind, "tcp://127.0.0.1:9002")
            && !strcmp (c->hosts[2].connect, "tcp://localhost:9003") && topo_height (c->topo) == 1,
        "repeated host: rank_of gives the first; flat topology %s", err);
    config_destroy (&c);

    /* ---- custom topology ---- */
    c = parse ("topology: custom\nhosts:\n"
               "  - host: root\n"
               "  - host: agg[1-2]\n    parent: root\n"
               "  - host: leaf1\n    parent: agg2\n"
               "  - host: leaf2\n    parent: 1\n",
               err, sizeof err);
    ok (c != NULL, "custom topology with parents by name and rank %s", err);
    if (c) {
        ok (c->hosts[1].parent == 0 && c->hosts[2].parent == 0 && c->hosts[3].parent == 2
                && c->hosts[4].parent == 1,
            "parents resolved: agg1,agg2 -> root; leaf1 -> agg2; leaf2 -> rank 1");
        ok (topo_parent (c->topo, 3) == 2 && topo_parent (c->topo, 4) == 1 && topo_height (c->topo) == 2
                && !strcmp (topo_spec (c->topo), "custom"),
            "topology follows the parents");
        ok (topo_next_hop (c->topo, 3, 4) == 2 && topo_next_hop (c->topo, 0, 4) == 1,
            "routing in the custom tree");
    }
    config_destroy (&c);

    /* ---- errors, each naming its field ---- */
    bad ("hosts: [{host: a}]\nhostz: 1\n", "unknown key 'hostz'", NULL, "unknown top-level key");
    bad ("hosts: [{host: a, prot: 1}]\n", "hosts[0]", "unknown key 'prot'", "unknown host key");
    bad ("default_port: 0\nhosts: [{host: a}]\n", "default_port", NULL, "default_port 0");
    bad ("default_port: 65536\nhosts: [{host: a}]\n", "default_port", NULL, "default_port 65536");
    bad ("default_port: \"8050\"\nhosts: [{host: a}]\n", "default_port", NULL, "quoted default_port");
    bad ("default_port: 80.5\nhosts: [{host: a}]\n", "default_port", NULL, "real default_port");
    bad ("hosts: [{host: a}, {host: b, port: 70000}]\n", "hosts[1]", "port", "host port 70000");
    bad ("hosts: [{host: a, port: -1}]\n", "hosts[0]", "port", "host port -1");
    bad ("hosts: [{host: a, port: x}]\n", "hosts[0]", "port", "host port x");
    bad ("hosts: a\n", "hosts must be a non-empty list", NULL, "hosts a string");
    bad ("hosts: {host: a}\n", "hosts must be a non-empty list", NULL, "hosts a mapping");
    bad ("hosts: []\n", "hosts must be a non-empty list", NULL, "hosts empty");
    bad ("topology: flat\n", "hosts", NULL, "hosts missing");
    bad ("hosts: [a]\n", "hosts[0] must be a mapping", NULL, "host entry a string");
    bad ("hosts: [{host: a}, 5]\n", "hosts[1] must be a mapping", NULL, "second host entry a number");
    bad ("hosts: [{port: 1}]\n", "hosts[0]", "host", "host missing");
    bad ("hosts: [{host: 5}]\n", "hosts[0]", "host", "host a number");
    bad ("hosts: [{host: a, bind: [x]}]\n", "hosts[0]", "bind", "bind a list");
    bad ("hosts: [{host: \"n[0-\"}]\n", "hosts[0]", "hostlist", "bad hostlist");
    bad ("hosts: [{host: \"a,,b\"}]\n", "hosts[0]", "hostlist", "empty hostlist term");
    bad ("hosts: [{host: \"n[0-1]\", bind: \"tcp://*:1\"}]\n", "hosts[0]", "single host",
         "bind override on a hostlist");
    bad ("topology: custom\nhosts: [{host: a}, {host: b, parent: nosuch}]\n", "unknown parent 'nosuch'",
         "host b", "unknown parent name");
    bad ("topology: custom\nhosts: [{host: a}, {host: b}]\n", "host b", "no parent", "custom without parent");
    bad ("topology: custom\nhosts: [{host: a}, {host: b, parent: 7}]\n", "topology", "parent",
         "parent rank out of range");
    bad ("topology: custom\nhosts: [{host: a}, {host: b, parent: c}, {host: c, parent: b}]\n",
         "topology", "not a tree", "parent cycle");
    bad ("topology: custom\nhosts: [{host: a}, {host: b, parent: [a]}]\n", "hosts[1]", "parent",
         "parent a list");
    bad ("topology: custom\nhosts: [{host: a}, {host: b, parent: -1}]\n", "hosts[1]", "parent",
         "parent -1");
    bad ("topology: custom\nhosts: [{host: a}, {host: b, parent: 4294967296}]\n", "parent", NULL,
         "parent 2^32 (must not wrap to rank 0)");
    bad ("topology: kary:x\nhosts: [{host: a}]\n", "topology", "kary", "bad kary");
    bad ("topology: ring\nhosts: [{host: a}]\n", "topology", "ring", "unknown topology");
    bad ("topology: 2\nhosts: [{host: a}]\n", "topology", NULL, "topology a number");
    bad ("curve_cert: [a]\nhosts: [{host: a}]\n", "curve_cert", NULL, "curve_cert a list");
    bad ("default_bind: 5\nhosts: [{host: a}]\n", "default_bind", NULL, "default_bind a number");
    bad ("default_connect: {}\nhosts: [{host: a}]\n", "default_connect", NULL, "default_connect a map");
    bad ("heartbeat: 0\nhosts: [{host: a}]\n", "heartbeat", NULL, "heartbeat 0");
    bad ("heartbeat: -1\nhosts: [{host: a}]\n", "heartbeat", NULL, "heartbeat -1");
    bad ("heartbeat: fast\nhosts: [{host: a}]\n", "heartbeat", NULL, "heartbeat a word");
    bad ("timeout: 0\nhosts: [{host: a}]\n", "timeout", NULL, "timeout 0");
    bad ("timeout: 1e9\nhosts: [{host: a}]\n", "timeout", NULL, "timeout 1e9");
    bad ("heartbeat: 2\ntimeout: 3\nhosts: [{host: a}]\n", "timeout", "twice the heartbeat",
         "timeout < 2*heartbeat");
    bad ("heartbeat: 3\nhosts: [{host: a}]\n", "timeout", "twice the heartbeat",
         "default timeout 5 < 2*3");
    bad ("hosts: [{host: a}\n", "config: line", NULL, "bad YAML");
    bad ("hosts: [{host: a}]\nhosts: [{host: b}]\n", "duplicate key 'hosts'", NULL, "duplicate key");
    bad ("a: &x 1\n", "anchors", NULL, "anchor");
    bad ("- host: a\n", "top level must be a mapping", NULL, "top level a list");
    /* input echoed in an error must not break it over lines */
    bad ("\"bad\\nkey\": 1\nhosts: [{host: a}]\n", "unknown key", NULL, "unknown key holding a newline");
    bad ("hosts: [{host: \"loc\\nhost\"}]\n", "hosts[0]", "hostlist", "host holding a newline");
    bad ("topology: custom\nhosts: [{host: a}, {host: b, parent: \"x\\ny\"}]\n", "unknown parent", NULL,
         "parent name holding a newline");
    bad ("topology: \"kary:1\\n\"\nhosts: [{host: a}]\n", "topology", NULL, "topology holding a newline");
    bad ("", "empty", NULL, "empty text");

    /* the same host twice with the same endpoints: two brokers cannot both run */
    bad ("hosts: [{host: a}, {host: b}, {host: a}]\n", "host a appears twice (ranks 0 and 2)",
         "same bind endpoint tcp://*:8050", "duplicate host");
    bad ("hosts: [{host: \"n[1-3]\"}, {host: n2}]\n", "host n2 appears twice (ranks 1 and 3)", NULL,
         "duplicate host through a hostlist");
    bad ("hosts: [{host: a, bind: \"ipc:///x/0\", connect: \"ipc:///x/0\"},\n"
         "        {host: a, bind: \"ipc:///x/1\", connect: \"ipc:///x/0\"}]\n",
         "host a appears twice", "same connect endpoint ipc:///x/0", "duplicate host, one connect endpoint");
    /* ... but one host with endpoints of its own per broker is a local instance */
    c = parse ("hosts: [{host: a, bind: \"ipc:///x/0\", connect: \"ipc:///x/0\"},\n"
               "        {host: a, bind: \"ipc:///x/1\", connect: \"ipc:///x/1\"},\n"
               "        {host: a, port: 8051}]\n", err, sizeof err);
    ok (c && c->nhosts == 3, "one host with its own endpoints per broker is accepted %s", err);
    config_destroy (&c);
    /* parent: outside a custom topology */
    bad ("hosts: [{host: a}, {host: b, parent: a}]\n", "hosts[1]",
         "parent is only for 'topology: custom' (the topology is 'kary:2')", "parent without custom");
    bad ("topology: binomial\nhosts: [{host: a}, {host: b, parent: 0}]\n", "hosts[1]",
         "the topology is 'binomial'", "parent rank in a binomial topology");

    /* edge values that are fine */
    c = parse ("heartbeat: 0.5\ntimeout: 1\ndefault_port: 65535\nhosts: [{host: a, port: 1}]\n", err,
               sizeof err);
    ok (c && c->timeout == 1.0 && !strcmp (c->hosts[0].bind, "tcp://*:1"),
        "timeout == 2*heartbeat and port 1 accepted %s", err);
    config_destroy (&c);
    /* ---- size: free ranks for hosts that join ---- */
    c = parse ("size: 8\ndefault_connect: tcp://%h:%p\ndefault_port: 9000\nhosts: [{host: lead}]\n", err, sizeof err);
    ok (c && c->nhosts == 1 && c->size == 8 && topo_size (c->topo) == 8, "size 8 with one listed host: %s", err);
    if (c) {
        char *b = NULL, *cn = NULL;
        ok (config_host_endpoints (c, "n5", &b, &cn) == 0 && !strcmp (b, "tcp://*:9000")
                && !strcmp (cn, "tcp://n5:9000"),
            "endpoints of an unlisted host from the defaults (%s, %s)", b, cn);
        free (b);
        free (cn);
    }
    config_destroy (&c);
    c = parse ("hosts: [{host: a}, {host: b}]\n", err, sizeof err);
    ok (c && c->size == 2, "size defaults to the number of hosts");
    config_destroy (&c);
    bad ("size: 1\nhosts: [{host: a}, {host: b}]\n", "size must be an integer from the number of hosts (2)", NULL,
         "size below the host count");
    bad ("size: two\nhosts: [{host: a}]\n", "size must be an integer", NULL, "size not an integer");
    bad ("size: 4\ntopology: custom\nhosts: [{host: a}, {host: b, parent: a}]\n",
         "custom topology cannot have ranks without hosts", NULL, "size with custom");
    /* ---- burst pools: their ranks follow the instance's size ---- */
    c = parse ("hosts: [{host: a}, {host: b}]\nsize: 3\nburst:\n  - {name: cloud, size: 2, provider: local}\n"
               "  - {name: more, size: 4, cores: 8, provider: local}\n", err, sizeof err);
    ok (c && c->base_size == 3 && c->size == 9 && c->burst.n == 2 && c->burst.v[0].first_rank == 3
            && c->burst.v[1].first_rank == 5 && topo_size (c->topo) == 9,
        "burst pools: ranks 3-4 and 5-8 after size 3, the tree over all 9 %s", err);
    config_destroy (&c);
    bad ("hosts: [{host: a}]\nburst: [{name: x, size: 0, provider: local}]\n", "burst pool x", "size", "a pool of size 0");
    bad ("hosts: [{host: a}]\nburst: {name: x}\n", "burst must be a list", NULL, "burst not a list");
    return done ();
}
