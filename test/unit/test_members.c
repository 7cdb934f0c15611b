/* test_members.c - the rank rule for joining hosts, its persistence, and
 * routing over attachments to an ancestor. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "members.h"

static bool in_set (uint32_t r, void *arg)
{
    const char *set = arg;   /* a string of 0/1 by rank */
    return r < strlen (set) && set[r] == '1';
}

int main (void)
{
    char err[200];
    members_t *m = members_new (5);
    ok (members_fix (m, 0, "lead", "tcp://10.0.0.1:8050", err, sizeof err) == 0, "fix the lead at rank 0");
    ok (members_join (m, "a", "tcp://10.0.0.2:8050", err, sizeof err) == 1, "a new host takes the lowest free rank");
    ok (members_join (m, "b", "tcp://10.0.0.3:8050", err, sizeof err) == 2, "the next one the next");
    ok (members_join (m, "a", "tcp://10.0.0.9:8050", err, sizeof err) == 1
            && !strcmp (members_get (m, 1)->endpoint, "tcp://10.0.0.9:8050"),
        "a host that joins again keeps its rank (its new endpoint recorded)");
    ok (members_leave (m, "a") == 0 && members_get (m, 1)->state == MEMBER_FREE, "a leaves: rank 1 free");
    ok (members_join (m, "c", "tcp://10.0.0.4:8050", err, sizeof err) == 3,
        "a new host takes a never-held rank before a left host's rank");
    ok (members_join (m, "a", "tcp://10.0.0.2:8050", err, sizeof err) == 1, "a comes back: its old rank");
    ok (members_join (m, "d", "tcp://10.0.0.5:8050", err, sizeof err) == 4, "d: the last rank");
    ok (members_join (m, "e", "x", err, sizeof err) < 0 && strstr (err, "full: all 5 ranks are held"),
        "full: %s", err);
    ok (members_leave (m, "b") == 0 && members_leave (m, "c") == 0, "b then c leave");
    ok (members_join (m, "e", "tcp://10.0.0.6:8050", err, sizeof err) == 2,
        "with no never-held rank, the one released longest ago (b's)");
    ok (members_leave (m, "lead") < 0, "a fixed rank does not leave");
    members_t *local = members_new (3);
    ok (members_fix (local, 0, "vm", "ipc://t0", err, sizeof err) == 0 && members_fix (local, 1, "vm", "ipc://t1", err, sizeof err) == 0,
        "one host may hold several fixed ranks (a local instance)");
    json_t *lj = members_to_json (local);
    members_t *l2 = members_from_json (lj, err, sizeof err);
    ok (l2 != NULL, "... and such a table loads again (%s)", l2 ? "" : err);
    members_destroy (&l2);
    json_decref (lj);
    members_destroy (&local);

    json_t *j = members_to_json (m);
    members_t *m2 = members_from_json (j, err, sizeof err);
    ok (m2 != NULL, "the table round-trips through JSON (%s)", m2 ? "" : err);
    ok (m2 && members_find (m2, "e") == 2 && members_get (m2, 3)->state == MEMBER_FREE
            && !strcmp (members_get (m2, 3)->host, "c") && members_get (m2, 0)->fixed,
        "held, free-with-memory and fixed ranks survive");
    ok (m2 && members_join (m2, "c", "z", err, sizeof err) == 3, "c comes back to rank 3 after a restart of the lead");
    members_destroy (&m2);
    json_decref (j);
    const char *bad[] = {
        "{\"size\":0,\"seq\":0,\"ranks\":[]}",
        "{\"size\":2,\"seq\":1,\"ranks\":[{\"rank\":2,\"host\":\"a\",\"endpoint\":\"e\",\"state\":\"held\",\"fixed\":false,\"since\":1}]}",
        "{\"size\":2,\"seq\":1,\"ranks\":[{\"rank\":0,\"host\":\"a\",\"endpoint\":\"e\",\"state\":\"held\",\"fixed\":false,\"since\":1},"
        "{\"rank\":1,\"host\":\"a\",\"endpoint\":\"e\",\"state\":\"held\",\"fixed\":false,\"since\":1}]}",
        "{\"size\":2,\"seq\":1,\"ranks\":[{\"rank\":0,\"host\":\"a\",\"endpoint\":\"e\",\"state\":\"gone\",\"fixed\":false,\"since\":1}]}",
        "{\"size\":2,\"seq\":1,\"ranks\":[{\"rank\":0,\"host\":\"a\",\"endpoint\":\"e\",\"state\":\"held\",\"fixed\":false,\"since\":9}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = json_loads (bad[i], 0, NULL);
        members_t *x = members_from_json (b, err, sizeof err);
        ok (!x && strstr (err, "members: "), "bad table %zu refused: %s", i, err);
        members_destroy (&x);
        json_decref (b);
    }
    members_destroy (&m);

    /* routing: kary:2 over 15 ranks; 1 = {3,4}, 3 = {7,8} */
    topo_t *t = topo_create ("kary:2", 15, NULL, err, sizeof err);
    ok (members_next_hop (t, 0, 7, in_set, "01100") == 1, "all parents alive: through child 1");
    ok (members_next_hop (t, 0, 7, in_set, "0011") == 3, "1 dead, 3 attached to 0: straight to 3");
    ok (members_next_hop (t, 0, 7, in_set, "001000011") == 7, "1 and 3 dead, 7 attached to 0: to 7");
    ok (members_next_hop (t, 0, 8, in_set, "001000010") == TOPO_NONE, "8's path has nothing attached: unreachable");
    ok (members_next_hop (t, 3, 1, in_set, "") == MEMBERS_UP, "outside the subtree: up");
    ok (members_next_hop (t, 3, 3, in_set, "") == 3, "self");
    topo_destroy (&t);
    /* burst pools' ranks: reserved for their hosts */
    {
        members_t *r = members_new (5);
        members_fix (r, 0, "lead", "tcp://lead:1", err, sizeof err);
        ok (members_reserve (r, 3, "pool-0", err, sizeof err) == 0 && members_reserve (r, 4, "pool-1", err, sizeof err) == 0,
            "ranks 3 and 4 reserved for pool-0 and pool-1");
        ok (members_join (r, "x", "tcp://x:1", err, sizeof err) == 1 && members_join (r, "y", "tcp://y:1", err, sizeof err) == 2,
            "other hosts get the ranks that are not reserved");
        ok (members_join (r, "z", "tcp://z:1", err, sizeof err) == -1 && strstr (err, "full"),
            "... and never a reserved one (%s)", err);
        ok (members_join (r, "pool-1", "tcp://p1:1", err, sizeof err) == 4, "pool-1 gets its rank 4");
        ok (members_leave (r, "pool-1") == 0 && members_join (r, "z", "tcp://z:1", err, sizeof err) == -1,
            "a released pool rank stays kept for its host");
        ok (members_join (r, "pool-1", "tcp://p1:2", err, sizeof err) == 4, "... which gets it again");
        ok (members_reserve (r, 1, "pool-9", err, sizeof err) == -1 && strstr (err, "held by x"),
            "a rank another host holds cannot be reserved (%s)", err);
        ok (members_reserve (r, 0, "pool-9", err, sizeof err) == -1, "nor a fixed one");
        json_t *j = members_to_json (r);
        members_t *back = members_from_json (j, err, sizeof err);
        ok (back && members_join (back, "pool-0", "tcp://p0:1", err, sizeof err) == 3,
            "after a save and load the reserved rank still goes to its host");
        json_decref (j);
        members_destroy (&back);
        members_destroy (&r);
    }
    return done ();
}
