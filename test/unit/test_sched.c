/* test_sched.c - the scheduler: feasibility, FCFS, EASY backfill, rank/host
 * constraints, exclusive nodes, down nodes, R output, resource list, and
 * randomized invariants (no double allocation; backfill never delays the
 * head job past its reservation). */
#include "check.h"
#include "sched.h"
#include "jobspec_build.h"
#include "idset.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static char err[256];

/* 4 nodes node0..node3, 4 cores each; node2, node3 have 2 gpus. */
static sched_t *four (void)
{
    sched_t *s = sched_new ();
    for (uint32_t r = 0; r < 4; r++) {
        char h[16];
        snprintf (h, sizeof h, "node%u", r);
        if (sched_node_add (s, r, h, 4, r >= 2 ? 2 : 0, err, sizeof err) < 0)
            printf ("# node_add: %s\n", err);
    }
    return s;
}

static sched_req_t *req (uint32_t nn, uint32_t ns, uint32_t c, uint32_t g, bool x, double d, const char *cons)
{
    json_t *cj = cons ? json_loads (cons, 0, NULL) : NULL;
    sched_req_t *r = sched_req_new (nn, ns, c, g, x, d, cj, err, sizeof err);
    json_decref (cj);
    if (!r)
        printf ("# req: %s\n", err);
    return r;
}

static int submit (sched_t *s, uint64_t id, sched_req_t *r)
{
    int rc = sched_submit (s, id, &r, err, sizeof err);
    sched_req_destroy (&r);
    return rc;
}

/* started ids as a string "1,2" for easy comparison */
static const char *run (sched_t *s, double now)
{
    static char buf[256];
    uint64_t ids[64];
    size_t n = sched_schedule (s, now, ids, 64);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        snprintf (buf + strlen (buf), sizeof buf - strlen (buf), "%s%llu", i ? "," : "", (unsigned long long)ids[i]);
    return buf;
}

static const char *Rranks (sched_t *s, uint64_t id)
{
    static char buf[128];
    json_t *R = sched_job_R (s, id);
    idset_t *all = idset_new ();
    size_t i;
    json_t *e;
    json_array_foreach (json_object_get (json_object_get (R, "execution"), "R_lite"), i, e) {
        idset_t *ids = idset_decode (json_string_value (json_object_get (e, "rank")), NULL, 0);
        for (uint32_t r = ids ? idset_first (ids) : IDSET_INVALID; r != IDSET_INVALID; r = idset_next (ids, r))
            idset_set (all, r);
        idset_destroy (&ids);
    }
    char *t = idset_encode (all);
    snprintf (buf, sizeof buf, "%s", R ? t : "(not running)");
    free (t);
    idset_destroy (&all);
    json_decref (R);
    return buf;
}

static json_int_t rl (sched_t *s, const char *state, const char *key)
{
    json_t *l = sched_resource_list (s);
    json_int_t v = json_integer_value (json_object_get (json_object_get (l, state), key));
    json_decref (l);
    return v;
}

static const char *rls (sched_t *s, const char *state, const char *key)
{
    static char buf[128];
    json_t *l = sched_resource_list (s);
    snprintf (buf, sizeof buf, "%s", json_string_value (json_object_get (json_object_get (l, state), key)));
    json_decref (l);
    return buf;
}

static void feasibility (void)
{
    sched_t *s = sched_new ();
    sched_req_t *r = req (0, 1, 1, 0, false, 0, NULL);
    ok (sched_feasible (s, r, err, sizeof err) == -1 && strstr (err, "no resources"), "empty instance: %s", err);
    sched_req_destroy (&r);
    ok (sched_node_add (s, 0, "", 4, 0, err, sizeof err) == -1, "empty hostname refused: %s", err);
    ok (sched_node_add (s, 0, "n", 0, 0, err, sizeof err) == -1, "0 cores refused: %s", err);
    ok (sched_node_add (s, 0, "n", 4, -1, err, sizeof err) == -1, "negative gpus refused");
    ok (sched_node_count (s) == 0, "nothing added by failed calls");
    sched_destroy (&s);
    ok (s == NULL, "destroy clears the pointer");

    s = four ();
    ok (sched_node_count (s) == 4, "4 nodes");
    struct { sched_req_t *r; const char *want; const char *what; } bad[] = {
        { req (5, 1, 1, 0, false, 0, NULL), "only 4 nodes", "-N5" },
        { req (0, 1, 8, 0, false, 0, NULL), "can hold one slot", "-c8 on 4-core nodes" },
        { req (0, 17, 1, 0, false, 0, NULL), "at most 16", "-n17" },
        { req (0, 5, 1, 1, false, 0, NULL), "at most 4", "-n5 -g1 with 4 gpus in all" },
        { req (0, 1, 1, 3, false, 0, NULL), "can hold one slot", "-g3 on 2-gpu nodes" },
        { req (3, 1, 1, 0, false, 0, "{\"ranks\":[\"1,3\"]}"), "only 2 nodes that satisfy", "-N3 rank:1,3" },
        { req (1, 1, 1, 0, false, 0, "{\"hostlist\":[\"nodeX\"]}"), "no node satisfies", "host:nodeX" },
        { req (2, 3, 2, 0, false, 0, NULL), "only 0 nodes are that large", "-N2 with 3 slots of 2 cores each" },
        { req (1, 1, 1, 1, false, 0, "{\"ranks\":[\"0-1\"]}"), "only 0 nodes that satisfy the constraints are that large",
          "gpu on gpu-less ranks" },
        { req (0, 1, 1, 1, false, 0, "{\"ranks\":[\"0-1\"]}"), "can hold one slot", "gpu slot on gpu-less ranks" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ok (bad[i].r && sched_feasible (s, bad[i].r, err, sizeof err) == -1 && strstr (err, bad[i].want)
            && !strchr (err, '\n'), "infeasible %s: %s", bad[i].what, err);
        ok (submit (s, 100 + i, bad[i].r) == -1 && sched_pending_count (s) == 0, "  ...and refused at submit");
    }
    struct { sched_req_t *r; const char *what; } good[] = {
        { req (4, 1, 4, 0, true, 0, NULL), "-N4 --exclusive" },
        { req (0, 16, 1, 0, false, 0, NULL), "-n16" },
        { req (2, 2, 1, 1, false, 0, NULL), "-N2 2 slots of 1 gpu" },
        { req (1, 1, 1, 0, false, 0, "{\"hostlist\":[\"node[2-3]\"]}"), "host:node[2-3]" },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ok (good[i].r && sched_feasible (s, good[i].r, err, sizeof err) == 0, "feasible %s", good[i].what);
        sched_req_destroy (&good[i].r);
    }
    /* down nodes still count for feasibility: they may come back */
    sched_node_set_up (s, 3, false);
    r = req (4, 1, 1, 0, false, 0, NULL);
    ok (sched_feasible (s, r, err, sizeof err) == 0, "-N4 feasible with a node down");
    sched_req_destroy (&r);
    ok (sched_node_set_up (s, 9, false) == -1, "set_up of an unknown rank fails");

    /* request construction errors */
    ok (sched_req_new (0, 0, 1, 0, false, 0, NULL, err, sizeof err) == NULL, "0 slots refused");
    ok (sched_req_new (0, 1, 0, 0, false, 0, NULL, err, sizeof err) == NULL, "0 cores refused");
    ok (sched_req_new (0, 1, 1, 0, true, 0, NULL, err, sizeof err) == NULL, "exclusive without nodes refused");
    ok (sched_req_new (0, 1, 1, 0, false, -1, NULL, err, sizeof err) == NULL, "negative duration refused");
    json_t *c = json_pack ("{s:[s]}", "colour", "blue");
    ok (sched_req_new (0, 1, 1, 0, false, 0, c, err, sizeof err) == NULL && strstr (err, "colour"),
        "unsupported constraint operator refused: %s", err);
    json_decref (c);
    /* properties: these nodes have none, so requiring one can never fit;
     * requiring its absence fits anywhere */
    r = req (1, 1, 1, 0, false, 0, "{\"properties\":[\"amd\"]}");
    ok (r && sched_feasible (s, r, err, sizeof err) == -1, "property no node has: infeasible (%s)", err);
    sched_req_destroy (&r);
    r = req (1, 1, 1, 0, false, 0, "{\"properties\":[\"^amd\"]}");
    ok (r && sched_feasible (s, r, err, sizeof err) == 0, "absent property: feasible");
    sched_req_destroy (&r);
    c = json_pack ("{s:[s]}", "ranks", "x-");
    ok (sched_req_new (0, 1, 1, 0, false, 0, c, err, sizeof err) == NULL, "bad ranks idset refused: %s", err);
    json_decref (c);
    sched_destroy (&s);
}

static void fcfs (void)
{
    sched_t *s = four ();
    ok (submit (s, 1, req (0, 16, 1, 0, false, 0, NULL)) == 0, "submit 1: all 16 cores");
    ok (submit (s, 2, req (0, 1, 1, 0, false, 0, NULL)) == 0, "submit 2: one core");
    ok (submit (s, 2, req (0, 1, 1, 0, false, 0, NULL)) == -1 && strstr (err, "already"), "duplicate id refused");
    ok (sched_queue_position (s, 1) == 0 && sched_queue_position (s, 2) == 1, "queue positions");
    ok (!strcmp (run (s, 0), "1"), "job 1 starts, 2 waits");
    ok (sched_queue_position (s, 2) == 0 && sched_pending_count (s) == 1, "job 2 now heads the queue");
    ok (rl (s, "free", "ncores") == 0 && rl (s, "allocated", "ncores") == 16, "all cores allocated");
    ok (rl (s, "free", "ngpus") == 4 && rl (s, "free", "nnodes") == 2, "gpus still free on 2 nodes");
    ok (submit (s, 1, req (0, 1, 1, 0, false, 0, NULL)) == -1, "submit of a running id refused");
    ok (sched_release (s, 1) == 0, "release 1");
    ok (sched_release (s, 1) == -1, "release again fails");
    ok (!strcmp (run (s, 1), "2"), "job 2 starts after release");
    ok (!strcmp (Rranks (s, 2), "0"), "job 2 on rank 0 (first fit)");
    sched_release (s, 2);

    /* FCFS: a big head job blocks later small jobs when durations are unknown */
    ok (submit (s, 10, req (0, 1, 1, 0, false, 0, NULL)) == 0 && !strcmp (run (s, 0), "10"), "10: one core, unlimited");
    submit (s, 11, req (0, 16, 1, 0, false, 0, NULL));
    submit (s, 12, req (0, 1, 1, 0, false, 0, NULL));
    submit (s, 13, req (0, 1, 1, 0, false, 60, NULL));
    /* 11 waits for 10, which never ends: 12 (no limit either) may not jump
     * it; 13 ends after 60 s, long before 11 could start, so it backfills */
    ok (!strcmp (run (s, 0), "13"), "11 (all cores) waits; 12 may not jump it, 13 (60 s) backfills");
    ok (sched_head_estimate (s) == 0, "head estimate unknown (10 has no duration)");
    ok (sched_cancel (s, 11) == 0 && sched_cancel (s, 11) == -1, "cancel pending 11; twice fails");
    ok (sched_cancel (s, 10) == -1, "cancel does not touch a running job");
    ok (!strcmp (run (s, 0), "12"), "with 11 gone, 12 starts");
    sched_destroy (&s);
}

static void backfill (void)
{
    sched_t *s = four ();
    /* X holds all of node0 until t=100 */
    submit (s, 1, req (1, 1, 4, 0, false, 100, "{\"ranks\":[\"0\"]}"));
    ok (!strcmp (run (s, 0), "1"), "X starts on node0 until t=100");
    /* head H needs all 4 nodes exclusively */
    submit (s, 2, req (4, 1, 1, 0, true, 50, NULL));
    submit (s, 3, req (0, 1, 1, 0, false, 50, NULL));      /* ends at 60 <= 100: backfills */
    submit (s, 4, req (0, 1, 1, 0, false, 200, NULL));     /* would run past 100 on H's nodes */
    submit (s, 5, req (0, 1, 1, 0, false, 0, NULL));       /* unlimited: same */
    ok (!strcmp (run (s, 10), "3"), "short job 3 backfills; long 4 and unlimited 5 wait");
    ok (sched_head_estimate (s) == 100, "head reservation at t=100 (%g)", sched_head_estimate (s));
    ok (!strcmp (Rranks (s, 3), "1"), "3 runs on rank 1");
    sched_release (s, 1);
    ok (!strcmp (run (s, 60), ""), "X done but 3 still holds node1: H waits, nobody jumps");
    sched_release (s, 3);
    ok (!strcmp (run (s, 61), "2"), "H starts when everything is free");
    ok (!strcmp (Rranks (s, 2), "0-3"), "H holds ranks 0-3");
    sched_destroy (&s);

    /* backfill onto resources the head does not need */
    s = four ();
    submit (s, 1, req (1, 1, 4, 0, false, 100, "{\"ranks\":[\"0\"]}"));
    run (s, 0);
    submit (s, 2, req (1, 1, 4, 0, true, 0, "{\"ranks\":[\"0\"]}"));   /* head: node0 only */
    submit (s, 3, req (0, 1, 4, 0, false, 0, NULL));                    /* unlimited, 4 cores */
    submit (s, 4, req (2, 1, 4, 0, false, 0, NULL));                    /* unlimited, 2 whole nodes */
    submit (s, 5, req (0, 1, 1, 0, false, 0, NULL));                    /* no room left */
    ok (!strcmp (run (s, 1), "3,4"), "unlimited jobs backfill off the head's node0");
    ok (!strcmp (Rranks (s, 3), "1") && !strcmp (Rranks (s, 4), "2-3"), "3 on rank 1, 4 on ranks 2-3");
    ok (sched_queue_position (s, 2) == 0 && sched_queue_position (s, 5) == 1, "head and 5 pending");
    sched_release (s, 1);
    ok (!strcmp (run (s, 100), "2"), "head starts on node0 at its reservation time");
    sched_destroy (&s);

    /* partial-node reservation: the head's share of a node is protected,
     * the rest of the node is not */
    s = four ();
    submit (s, 1, req (0, 16, 1, 0, false, 100, NULL));    /* everything until 100 */
    run (s, 0);
    submit (s, 2, req (0, 1, 1, 0, false, 10, NULL));
    sched_release (s, 1);
    submit (s, 3, req (0, 14, 1, 0, false, 0, NULL));
    ok (!strcmp (run (s, 0), "2,3"), "2 then 3 start in order");
    submit (s, 4, req (0, 2, 1, 0, false, 0, NULL));    /* head: needs 2 cores, 1 free now */
    submit (s, 5, req (0, 1, 1, 0, false, 0, NULL));    /* unlimited, 1 core: would take the head's core */
    submit (s, 6, req (0, 1, 1, 0, false, 5, NULL));    /* ends at 5 < 10: fine */
    ok (!strcmp (run (s, 0), "6"), "only the short job backfills (head reserved at t=10)");
    ok (sched_head_estimate (s) == 10, "reservation at 10 (%g)", sched_head_estimate (s));
    sched_destroy (&s);
}

static void constraints_exclusive (void)
{
    sched_t *s = four ();
    submit (s, 1, req (2, 1, 1, 0, false, 0, "{\"ranks\":[\"1,3\"]}"));
    submit (s, 2, req (1, 1, 1, 0, false, 0, "{\"hostlist\":[\"node2\"]}"));
    submit (s, 3, req (1, 1, 1, 0, false, 0, "{\"not\":[{\"ranks\":[\"0-2\"]}]}"));
    submit (s, 4, req (1, 1, 1, 0, false, 0, "{\"or\":[{\"hostlist\":[\"node0\"]},{\"ranks\":[\"2\"]}]}"));
    submit (s, 5, req (1, 1, 1, 0, false, 0, "{\"and\":[{\"ranks\":[\"1-3\"]},{\"hostlist\":[\"node[0-1]\"]}]}"));
    ok (!strcmp (run (s, 0), "1,2,3,4,5"), "all constrained jobs start");
    ok (!strcmp (Rranks (s, 1), "1,3"), "rank:1,3 -> 1,3");
    ok (!strcmp (Rranks (s, 2), "2"), "host:node2 -> 2");
    ok (!strcmp (Rranks (s, 3), "3"), "not ranks 0-2 -> 3");
    ok (!strcmp (Rranks (s, 4), "0"), "node0 or rank 2 -> 0 (first fit)");
    ok (!strcmp (Rranks (s, 5), "1"), "ranks 1-3 and node[0-1] -> 1");
    /* exclusive needs idle nodes: ranks 0-3 each have a job now */
    submit (s, 6, req (1, 1, 1, 0, true, 0, NULL));
    ok (!strcmp (run (s, 0), ""), "exclusive job waits: no idle node");
    sched_release (s, 2);
    sched_release (s, 4);
    ok (!strcmp (run (s, 0), "6"), "exclusive job starts once node0 is idle");
    json_t *R = sched_job_R (s, 6);
    json_t *e = json_array_get (json_object_get (json_object_get (R, "execution"), "R_lite"), 0);
    ok (!strcmp (json_string_value (json_object_get (e, "rank")), "0")
        && !strcmp (json_string_value (json_object_get (json_object_get (e, "children"), "core")), "0-3"),
        "exclusive job holds every core of node0");
    json_decref (R);
    submit (s, 7, req (0, 1, 1, 0, false, 0, "{\"ranks\":[\"0\"]}"));
    ok (!strcmp (run (s, 0), ""), "nothing shares an exclusive node");
    /* exclusive on a gpu node takes the gpus too */
    sched_release (s, 1);
    sched_release (s, 3);
    submit (s, 8, req (1, 1, 1, 0, true, 0, "{\"ranks\":[\"3\"]}"));
    run (s, 0);
    R = sched_job_R (s, 8);
    e = json_array_get (json_object_get (json_object_get (R, "execution"), "R_lite"), 0);
    ok (R && !strcmp (json_string_value (json_object_get (json_object_get (e, "children"), "gpu")), "0-1"),
        "exclusive node: its gpus come along");
    json_decref (R);
    ok (sched_jobs_on (s, 0, NULL, 0) == 1 && sched_jobs_on (s, 3, NULL, 0) == 1 && sched_jobs_on (s, 2, NULL, 0) == 0,
        "jobs_on counts running jobs per rank");
    uint64_t ids[4];
    ok (sched_jobs_on (s, 1, ids, 4) == 1 && ids[0] == 5, "jobs_on(1) = job 5");
    ok (sched_node_add (s, 0, "node0", 8, 0, err, sizeof err) == -1 && strstr (err, "changed"),
        "resizing a node with jobs on it is refused: %s", err);
    ok (sched_node_add (s, 2, "node2-new", 8, 1, err, sizeof err) == 0, "resizing an idle node works");
    json_t *l = sched_resource_list (s);
    ok (json_integer_value (json_object_get (json_object_get (l, "free"), "ncores")) == 3 + 8
        && json_integer_value (json_object_get (json_object_get (l, "free"), "ngpus")) == 1,
        "free after resize: rank 1's 3 cores + rank 2's 8 cores, 1 gpu (%s)",
        json_string_value (json_object_get (json_object_get (l, "free"), "nodelist")));
    json_decref (l);
    sched_destroy (&s);
}

static void slots_gpus_R (void)
{
    sched_t *s = four ();
    submit (s, 1, req (0, 6, 2, 0, false, 0, NULL));
    run (s, 0);
    json_t *R = sched_job_R (s, 1);
    json_t *lite = json_object_get (json_object_get (R, "execution"), "R_lite");
    ok (json_array_size (lite) == 1 && !strcmp (json_string_value (json_object_get (json_array_get (lite, 0), "rank")), "0-2")
        && !strcmp (json_string_value (json_object_get (json_object_get (json_array_get (lite, 0), "children"), "core")), "0-3"),
        "6 slots x 2 cores pack onto ranks 0-2, cores 0-3 (one R_lite entry)");
    ok (!strcmp (json_string_value (json_array_get (json_object_get (json_object_get (R, "execution"), "nodelist"), 0)),
                 "node[0-2]"), "nodelist node[0-2]");
    ok (json_integer_value (json_object_get (R, "version")) == 1
        && json_real_value (json_object_get (json_object_get (R, "execution"), "expiration")) == 0,
        "R version 1, no expiration without a duration");
    json_decref (R);
    submit (s, 2, req (0, 1, 1, 2, false, 30, NULL));
    submit (s, 3, req (0, 3, 1, 0, false, 0, NULL));
    ok (!strcmp (run (s, 5), "2,3"), "gpu job and 3-core job start");
    R = sched_job_R (s, 2);
    json_t *e = json_array_get (json_object_get (json_object_get (R, "execution"), "R_lite"), 0);
    ok (!strcmp (json_string_value (json_object_get (e, "rank")), "3")
        && !strcmp (json_string_value (json_object_get (json_object_get (e, "children"), "gpu")), "0-1")
        && !strcmp (json_string_value (json_object_get (json_object_get (e, "children"), "core")), "0"),
        "2-gpu slot lands on rank 3 (rank 2's cores are taken), core 0 + gpus 0-1");
    ok (json_real_value (json_object_get (json_object_get (R, "execution"), "starttime")) == 5
        && json_real_value (json_object_get (json_object_get (R, "execution"), "expiration")) == 35,
        "starttime 5, expiration 35");
    json_decref (R);
    R = sched_job_R (s, 3);
    lite = json_object_get (json_object_get (R, "execution"), "R_lite");
    ok (json_array_size (lite) == 1 && !strcmp (json_string_value (json_object_get (json_object_get (json_array_get (lite, 0), "children"), "core")), "1-3"),
        "3 cores on rank 3: 1-3");
    json_decref (R);
    ok (sched_job_R (s, 99) == NULL, "R of an unknown job is NULL");

    /* resource list */
    ok (rl (s, "free", "ncores") == 0 && rl (s, "allocated", "ncores") == 16, "cores: 0 free, 16 allocated");
    ok (rl (s, "free", "ngpus") == 2 && !strcmp (rls (s, "free", "nodelist"), "node2"),
        "free: node2's 2 gpus (%s)", rls (s, "free", "nodelist"));
    ok (rl (s, "allocated", "nnodes") == 4 && !strcmp (rls (s, "allocated", "ranks"), "0-3"), "allocated: 4 nodes");
    sched_node_set_up (s, 1, false);
    ok (rl (s, "down", "nnodes") == 1 && rl (s, "down", "ncores") == 4 && !strcmp (rls (s, "down", "nodelist"), "node1"),
        "node1 down: down 1 node, 4 cores");
    ok (rl (s, "allocated", "nnodes") == 3, "down node no longer listed allocated");
    sched_release (s, 1);
    ok (rl (s, "free", "ncores") == 8 && rl (s, "down", "ncores") == 4, "released: ranks 0,2 free; rank 1 stays down");
    submit (s, 4, req (4, 1, 1, 0, false, 0, NULL));
    submit (s, 5, req (0, 1, 1, 0, false, 0, NULL));
    ok (!strcmp (run (s, 6), "5"), "-N4 waits on the down node without blocking job 5");
    ok (sched_head_estimate (s) == 0, "no reservation for a head that needs a down node");
    sched_release (s, 3);
    ok (!strcmp (run (s, 7), ""), "rank 3 has room now, but node1 is still down");
    sched_node_set_up (s, 1, true);
    ok (!strcmp (run (s, 7), "4"), "-N4 starts once node1 is back");
    sched_node_set_up (s, 1, false);
    uint64_t ids[4];
    ok (sched_jobs_on (s, 1, ids, 4) == 1 && ids[0] == 4, "jobs_on a lost node names job 4");

    /* the instance R */
    R = sched_instance_R (s);
    lite = json_object_get (json_object_get (R, "execution"), "R_lite");
    char *t = json_dumps (lite, JSON_COMPACT);
    ok (t && !strcmp (t, "[{\"rank\":\"0-1\",\"children\":{\"core\":\"0-3\"}},"
                        "{\"rank\":\"2-3\",\"children\":{\"core\":\"0-3\",\"gpu\":\"0-1\"}}]"),
        "instance R groups ranks by children: %s", t);
    free (t);
    json_decref (R);
    sched_destroy (&s);
}

static void from_jobspec (void)
{
    const char *reqs[] = { "rank:1,3" };
    jobspec_opts_t o = { 0 };
    char *argv[] = { "true", NULL };
    o.argc = 1; o.argv = argv;
    o.nnodes = 2; o.ntasks = 4; o.cores_per_task = 2; o.gpus_per_task = 1; o.exclusive = true;
    o.requires = reqs; o.nrequires = 1; o.time_limit = "1h";
    json_t *js = jobspec_build (&o, err, sizeof err);
    sched_req_t *r = sched_req_from_jobspec (js, err, sizeof err);
    ok (r != NULL, "request from a built jobspec (%s)", r ? "" : err);
    sched_t *s = four ();
    ok (sched_feasible (s, r, err, sizeof err) == -1 && strstr (err, "2 nodes (exclusive) with 2 slots of 2 cores and 1 gpu each"),
        "read back: 2 nodes exclusive, 2 slots of 2 cores + 1 gpu; infeasible on ranks 1,3: %s", err);
    sched_req_destroy (&r);
    json_decref (js);
    reqs[0] = "host:node[2-3]";
    js = jobspec_build (&o, err, sizeof err);
    r = sched_req_from_jobspec (js, err, sizeof err);
    ok (submit (s, 1, r) == 0 && !strcmp (run (s, 0), "1") && !strcmp (Rranks (s, 1), "2-3"),
        "host:node[2-3] jobspec runs on 2-3");
    json_t *R = sched_job_R (s, 1);
    ok (json_real_value (json_object_get (json_object_get (R, "execution"), "expiration")) == 3600,
        "duration from the jobspec -> expiration 3600");
    json_decref (R);
    json_decref (js);
    o = (jobspec_opts_t){ 0 };
    o.argc = 1; o.argv = argv; o.ntasks = 3;
    js = jobspec_build (&o, err, sizeof err);
    r = sched_req_from_jobspec (js, err, sizeof err);
    ok (submit (s, 2, r) == 0 && !strcmp (run (s, 0), "2") && !strcmp (Rranks (s, 2), "0"), "-n3 on rank 0");
    json_decref (js);
    const char *foreign[] = {
        "{\"resources\":[{\"type\":\"core\",\"count\":1}]}",
        "{\"resources\":[]}",
        "{\"resources\":[{\"type\":\"slot\",\"count\":1,\"with\":[{\"type\":\"memory\",\"count\":1}]}]}",
        "{\"resources\":[{\"type\":\"slot\",\"count\":{\"min\":1},\"with\":[{\"type\":\"core\",\"count\":1}]}]}",
        "{\"resources\":[{\"type\":\"node\",\"count\":1,\"with\":[{\"type\":\"socket\",\"count\":1}]}]}",
        "{\"resources\":[{\"type\":\"slot\",\"count\":1,\"with\":[{\"type\":\"core\",\"count\":1}]}],"
        "\"attributes\":{\"system\":{\"duration\":\"1h\"}}}",
        "{\"resources\":[{\"type\":\"slot\",\"count\":1,\"with\":[{\"type\":\"core\",\"count\":0}]}]}",
        "{\"resources\":[{\"type\":\"node\",\"count\":0,\"with\":[{\"type\":\"slot\",\"count\":1,\"with\":[{\"type\":\"core\",\"count\":1}]}]}]}",
        "[]",
    };
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        json_t *f = json_loads (foreign[i], 0, NULL);
        err[0] = '\0';
        r = sched_req_from_jobspec (f, err, sizeof err);
        ok (!r && err[0], "foreign jobspec %zu refused: %s", i, err);
        sched_req_destroy (&r);
        json_decref (f);
    }
    sched_destroy (&s);
}

/* xorshift */
static uint64_t rs = 88172645463325252ULL;
static uint32_t rnd (uint32_t n)
{
    rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
    return (uint32_t)(rs % n);
}

/* Check no core/gpu is held twice and counts agree with the resource list. */
static int check_alloc (sched_t *s, uint64_t *running, size_t nrun, int nodes, int cores, int gpus)
{
    int *cu = calloc (nodes * cores, sizeof (int)), *gu = calloc (nodes * gpus + 1, sizeof (int));
    int bad = 0;
    long long ncores = 0;
    for (size_t k = 0; k < nrun; k++) {
        json_t *R = sched_job_R (s, running[k]);
        size_t i;
        json_t *e;
        if (!R) {
            bad++;
            continue;
        }
        json_array_foreach (json_object_get (json_object_get (R, "execution"), "R_lite"), i, e) {
            idset_t *rk = idset_decode (json_string_value (json_object_get (e, "rank")), NULL, 0);
            idset_t *cs = idset_decode (json_string_value (json_object_get (json_object_get (e, "children"), "core")), NULL, 0);
            const char *gs = json_string_value (json_object_get (json_object_get (e, "children"), "gpu"));
            idset_t *gi = gs ? idset_decode (gs, NULL, 0) : idset_new ();
            for (uint32_t r = idset_first (rk); r != IDSET_INVALID; r = idset_next (rk, r)) {
                for (uint32_t c = idset_first (cs); c != IDSET_INVALID; c = idset_next (cs, c)) {
                    if ((int)c >= cores || cu[r * cores + c]++)
                        bad++;
                    ncores++;
                }
                for (uint32_t g = idset_first (gi); g != IDSET_INVALID; g = idset_next (gi, g))
                    if ((int)g >= gpus || gu[r * gpus + g]++)
                        bad++;
            }
            idset_destroy (&rk);
            idset_destroy (&cs);
            idset_destroy (&gi);
        }
        json_decref (R);
    }
    if (ncores != rl (s, "allocated", "ncores"))
        bad++;
    free (cu);
    free (gu);
    return bad;
}

static void randomized (void)
{
    int bad_alloc = 0, late = 0, order_bad = 0, checked = 0;
    size_t total_started = 0;
    for (int round = 0; round < 40; round++) {
        sched_t *s = sched_new ();
        int nodes = 2 + rnd (6), cores = 2 + rnd (7), gpus = rnd (3);
        for (int r = 0; r < nodes; r++) {
            char h[16];
            snprintf (h, sizeof h, "n%d", r);
            sched_node_add (s, r, h, cores, gpus, err, sizeof err);
        }
        enum { NJ = 60 };
        double est[NJ + 1], startt[NJ + 1], endt[NJ + 1];
        uint64_t running[NJ];
        size_t nrun = 0;
        int submitted = 0;
        for (int i = 0; i <= NJ; i++)
            est[i] = startt[i] = -1;
        for (uint64_t id = 1; id <= NJ; id++) {
            sched_req_t *r;
            double d = 1 + rnd (100);
            if (rnd (3) == 0)
                r = req (1 + rnd (nodes), 1 + rnd (2), 1, rnd (2) && gpus ? 1 : 0, rnd (2), d, NULL);
            else
                r = req (0, 1 + rnd (cores * 2), 1 + rnd (cores), 0, false, d,
                         rnd (4) == 0 ? "{\"ranks\":[\"0-1\"]}" : NULL);
            endt[id] = d;
            if (submit (s, id, r) == 0)
                submitted++;
            else
                est[id] = -2;       /* infeasible: never starts */
        }
        double now = 0;
        for (int step = 0; step < 10000 && (sched_pending_count (s) || nrun); step++) {
            /* the head, before this pass */
            uint64_t head = 0;
            for (uint64_t id = 1; id <= NJ; id++)
                if (sched_queue_position (s, id) == 0)
                    head = id;
            uint64_t ids[NJ];
            size_t n = sched_schedule (s, now, ids, NJ);
            for (size_t k = 0; k < n; k++) {
                startt[ids[k]] = now;
                endt[ids[k]] += now;
                running[nrun++] = ids[k];
                total_started++;
            }
            if (head && startt[head] < 0 && est[head] < 0 && sched_queue_position (s, head) == 0
                && sched_head_estimate (s) > 0)
                est[head] = sched_head_estimate (s);
            bad_alloc += check_alloc (s, running, nrun, nodes, cores, gpus);
            /* advance to the next end */
            double next = INFINITY;
            for (size_t k = 0; k < nrun; k++)
                if (endt[running[k]] < next)
                    next = endt[running[k]];
            if (!isfinite (next))
                break;
            now = next;
            for (size_t k = 0; k < nrun;) {
                if (endt[running[k]] <= now) {
                    sched_release (s, running[k]);
                    running[k] = running[--nrun];
                }
                else
                    k++;
            }
        }
        for (uint64_t id = 1; id <= NJ; id++) {
            if (est[id] > 0)
                checked++;
            if (est[id] > 0 && startt[id] > est[id] + 1e-9)
                late++;
            if (est[id] != -2 && startt[id] < 0)
                order_bad++;        /* a feasible job never started */
        }
        sched_destroy (&s);
    }
    ok (bad_alloc == 0, "randomized: no core/gpu held twice, counts agree (%d bad)", bad_alloc);
    ok (late == 0 && checked > 100, "randomized: no head job started after its reservation (%d late of %d)",
        late, checked);
    ok (order_bad == 0, "randomized: every feasible job eventually ran (%d stuck), %zu starts", order_bad, total_started);
}

/* A job past its time limit (still being stopped) keeps its cores: the
 * head is neither started on them nor given a reservation in the past. */
static void overrun (void)
{
    sched_t *s = four ();
    ok (submit (s, 1, req (0, 16, 1, 0, false, 10, NULL)) == 0 && !strcmp (run (s, 0), "1"),
        "1: all 16 cores for 10 s");
    submit (s, 2, req (0, 16, 1, 0, false, 10, NULL));
    ok (!strcmp (run (s, 1), "") && sched_head_estimate (s) == 10, "2 waits, estimated at t=10 (got %g)",
        sched_head_estimate (s));
    ok (!strcmp (run (s, 15), ""), "t=15: 1 overran its limit but still holds the cores; 2 waits");
    ok (sched_head_estimate (s) >= 15, "2's estimate is not in the past (got %g)", sched_head_estimate (s));
    ok (sched_release (s, 1) == 0 && !strcmp (run (s, 15.5), "2"), "2 starts once 1 is released");
    json_t *R = sched_job_R (s, 2);
    ok (R && json_real_value (json_object_get (json_object_get (R, "execution"), "starttime")) == 15.5,
        "2's R starts at 15.5");
    json_decref (R);
    sched_destroy (&s);
}

int main (void)
{
    overrun ();
    feasibility ();
    fcfs ();
    backfill ();
    constraints_exclusive ();
    slots_gpus_R ();
    from_jobspec ();
    randomized ();
    return done ();
}
