/* test_burstpool.c - burst pool config, the external cluster's name, pool
 * ranks and the burst decision (doc/bursting.md). */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "burstpool.h"

static json_t *J (const char *s) { return json_loads (s, 0, NULL); }

int main (void)
{
    char err[256];
    burst_pools_t p;
    json_t *a = J ("[{\"name\":\"cloud\",\"size\":4,\"cores\":8,\"provider\":\"local\",\"max_starting\":2},"
                   "{\"name\":\"gpu\",\"size\":2,\"cores\":4,\"gpus\":2,\"provider\":\"command\","
                   "\"settings\":{\"resume\":\"/bin/up\",\"suspend\":\"/bin/down\"}}]");
    int ra = burst_pools_parse (a, 2, &p, err, sizeof err);
    ok (ra == 0 && p.n == 2, "two pools parse (%s)", err);
    ok (p.v[0].first_rank == 2 && p.v[1].first_rank == 6 && p.total == 8, "pool ranks follow the instance's (2-5, 6-7)");
    ok (burst_pool_of_rank (&p, 5) == &p.v[0] && burst_pool_of_rank (&p, 6) == &p.v[1] && !burst_pool_of_rank (&p, 1),
        "rank to pool");
    ok (!strncmp (p.v[0].cluster, "cloud-", 6) && strlen (p.v[0].cluster) == 14, "cluster name <pool>-<8 hex>: %s",
        p.v[0].cluster);
    ok (p.v[0].resume_timeout == 300 && p.v[0].idle_time == 600 && p.v[0].max_tries == 3, "defaults");
    /* the same config (keys in another order) gives the same name; another config another */
    burst_pools_t p2, p3;
    json_t *b = J ("[{\"provider\":\"local\",\"cores\":8,\"max_starting\":2,\"size\":4,\"name\":\"cloud\"}]");
    json_t *c = J ("[{\"name\":\"cloud\",\"size\":5,\"cores\":8,\"provider\":\"local\",\"max_starting\":2}]");
    int rb = burst_pools_parse (b, 2, &p2, err, sizeof err);
    ok (rb == 0 && !strcmp (p2.v[0].cluster, p.v[0].cluster), "the same config gives the same name (%s)",
        rb == 0 ? p2.v[0].cluster : err);
    int rc = burst_pools_parse (c, 2, &p3, err, sizeof err);
    ok (rc == 0 && strcmp (p3.v[0].cluster, p.v[0].cluster), "another config another name (%s)",
        rc == 0 ? p3.v[0].cluster : err);
    burst_pools_clear (&p2);
    burst_pools_clear (&p3);

    /* decisions: 2 local nodes, pool cloud of 4 (max 2 starting at once) */
    uint32_t pfree[2] = { 0, 0 }, pstart[2] = { 0, 0 }, pidle[2] = { 4, 2 };
    burst_state_t st = { .local_total = 2, .local_free = 2, .pool_free = pfree, .pool_starting = pstart, .pool_idle = pidle };
    burst_decision_t d;
    burst_need_t n2 = { 2, 1, 0 }, n4 = { 4, 1, 0 }, n5 = { 7, 8, 0 }, n9 = { 9, 1, 0 };
    burst_decide (&p, &n2, true, &st, &d);
    ok (d.verdict == BURST_RUN, "2 nodes fit the local ones: run");
    burst_decide (&p, &n4, true, &st, &d);
    ok (d.verdict == BURST_WAIT && d.pool == 0 && d.start == 2 && !strcmp (d.reason, "waiting for burst (pool cloud: 2 nodes starting)"),
        "4 burstable nodes: start 2 in cloud (%s)", d.reason);
    burst_decide (&p, &n4, false, &st, &d);
    ok (d.verdict == BURST_REJECT && strstr (d.reason, "needs 4 nodes; the instance has 2 (pool nodes only for burstable jobs)"),
        "4 non-burstable nodes: rejected (%s)", d.reason);
    burst_decide (&p, &n9, true, &st, &d);
    ok (d.verdict == BURST_REJECT && !strcmp (d.reason, "needs 9 nodes; the instance has 2 and its pools 6"),
        "9 burstable nodes: more than local + pools (%s)", d.reason);
    burst_decide (&p, &n5, true, &st, &d);
    ok (d.verdict == BURST_REJECT && strstr (d.reason, "its pools 4"), "8-core nodes: only cloud fits (%s)", d.reason);
    pstart[0] = 2;
    pidle[0] = 2;
    burst_decide (&p, &n4, true, &st, &d);
    ok (d.verdict == BURST_WAIT && d.start == 0 && strstr (d.reason, "cloud: 2 nodes starting"),
        "2 starting cover it: start no more (%s)", d.reason);
    n4.nodes = 6;
    pstart[0] = 2;
    burst_decide (&p, &n4, true, &st, &d);
    ok (d.verdict == BURST_WAIT && d.pool == 1 && d.start == 2,
        "cloud at max_starting: the next pool that fits starts the rest (pool %d, %u)", d.pool, d.start);
    pstart[0] = 0;
    pfree[0] = 2;
    pidle[0] = 2;
    n4.nodes = 4;
    burst_decide (&p, &n4, true, &st, &d);
    ok (d.verdict == BURST_RUN, "pool nodes already up and free: run");
    st.local_free = 0;
    pfree[0] = 0;
    burst_decide (&p, &n2, false, &st, &d);
    ok (d.verdict == BURST_WAIT && d.start == 0, "a non-burstable job that fits the local nodes waits for them");
    burst_pools_clear (&p);

    static const struct { const char *text, *want; } bad[] = {
        { "[{\"name\":\"Cloud\",\"size\":1,\"provider\":\"local\"}]", "name must be" },
        { "[{\"name\":\"a\",\"size\":0,\"provider\":\"local\"}]", "size must be an integer 1-" },
        { "[{\"name\":\"a\",\"size\":1,\"provider\":\"ec2\"}]", "provider must be local, command or kubernetes" },
        { "[{\"name\":\"a\",\"size\":1,\"provider\":\"command\"}]", "needs settings resume and suspend" },
        { "[{\"name\":\"a\",\"size\":1,\"provider\":\"kubernetes\",\"settings\":{}}]", "needs settings kubeconfig" },
        { "[{\"name\":\"a\",\"size\":1,\"provider\":\"local\",\"idle\":3}]", "unknown key 'idle'" },
        { "[{\"name\":\"a\",\"size\":1,\"provider\":\"local\"},{\"name\":\"a\",\"size\":1,\"provider\":\"local\"}]", "declared twice" },
        { "[{\"name\":\"a\",\"size\":1,\"provider\":\"local\",\"resume_timeout\":-1}]", "seconds > 0" },
        { "{\"name\":\"a\"}", "burst must be a list" },
        { "[{\"name\":\"a\",\"size\":1,\"provider\":\"local\",\"settings\":{\"netns\":1}}]", "netns must be true or false" },
        { "[{\"name\":\"a\",\"size\":3,\"provider\":\"local\",\"settings\":{\"subnet\":\"10.1.0.0/29\"}}]",
          "10.1.0.0/29 holds 2 nodes (a /30 each), the pool has 3" },
        { "[{\"name\":\"a\",\"size\":1,\"provider\":\"local\",\"settings\":{\"subnet\":\"10.1.0.1/24\"}}]",
          "host bits are set (the network is 10.1.0.0/24)" },
        { "[{\"name\":\"a\",\"size\":1,\"provider\":\"local\",\"settings\":{\"subnet\":\"127.0.0.0/8\"}}]", "loopback" },
        { "[{\"name\":\"a\",\"size\":1,\"provider\":\"local\",\"settings\":{\"subnet\":\"10.1.0.0/31\"}}]", "at most 30" },
        { "[{\"name\":\"a\",\"size\":1,\"provider\":\"local\",\"settings\":{\"subnet\":\"fd00::/64\"}}]", "not an IPv4 subnet" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *x = J (bad[i].text);
        burst_pools_t q;
        ok (burst_pools_parse (x, 1, &q, err, sizeof err) < 0 && strstr (err, bad[i].want) && !strchr (err, '\n'),
            "bad pool %zu: %s", i, err);
        json_decref (x);
    }
    uint32_t net = 0;
    ok (burst_subnet_parse (BURST_SUBNET_DEFAULT, 16384, &net, err, sizeof err) == 0 && net == (10u << 24 | 213u << 16),
        "the default subnet %s holds 16384 nodes", BURST_SUBNET_DEFAULT);
    ok (burst_subnet_parse (BURST_SUBNET_DEFAULT, 16385, &net, err, sizeof err) < 0, "... and no more (%s)", err);
    json_t *l = burst_pool_local_spec (2, 4, 0);
    ok (burst_pools_parse (l, 2, &p, err, sizeof err) == 0 && p.n == 1 && !strcmp (p.v[0].name, "local")
            && p.v[0].size == 2 && p.v[0].cores == 4,
        "--burst local:2 makes one local pool");
    burst_pools_clear (&p);
    json_decref (l);
    /* release from the top (a StatefulSet's pool): idle 0, 1 and 3; 2 busy */
    {
        bool held[5] = {false, false, true, false, false};
        uint32_t rel[] = {0, 1, 3};
        size_t n = burst_release_from_top (held, 5, rel, 3);
        ok (n == 1 && rel[0] == 3, "from the top: only the idle node above the busy one goes (%zu)", n);
        bool none[4] = {false, false, false, false};
        uint32_t rel2[] = {0, 2, 3};
        n = burst_release_from_top (none, 4, rel2, 3);
        ok (n == 3 && rel2[0] == 0 && rel2[2] == 3, "nothing held: every idle node goes");
        bool top[3] = {false, false, true};
        uint32_t rel3[] = {0, 1};
        ok (burst_release_from_top (top, 3, rel3, 2) == 0, "the highest node held: none goes");
    }
    json_decref (a);
    json_decref (b);
    json_decref (c);
    return done ();
}
