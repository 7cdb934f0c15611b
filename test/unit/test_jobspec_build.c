/* test_jobspec_build.c - submit options -> RFC 25 jobspec: shapes, defaults,
 * constraints, dependencies, setattr, env, time limits, errors, YAML. */
#include "check.h"
#include "jobspec_build.h"
#include "yaml_json.h"
#include <stdlib.h>
#include <string.h>

static char *cmd1[] = { "/bin/hostname", NULL };

static jobspec_opts_t base (void)
{
    jobspec_opts_t o = { 0 };
    o.argc = 1;
    o.argv = cmd1;
    return o;
}

static json_t *path (json_t *js, const char *p)
{
    /* "a.b.0.c": objects by key, arrays by index */
    char buf[256];
    snprintf (buf, sizeof buf, "%s", p);
    json_t *cur = js;
    for (char *tok = strtok (buf, "."); tok && cur; tok = strtok (NULL, "."))
        cur = json_is_array (cur) ? json_array_get (cur, atoi (tok)) : json_object_get (cur, tok);
    return cur;
}

static json_int_t ival (json_t *js, const char *p)
{
    json_t *v = path (js, p);
    return json_is_integer (v) ? json_integer_value (v) : -999;
}

static const char *sval (json_t *js, const char *p)
{
    const char *s = json_string_value (path (js, p));
    return s ? s : "(none)";
}

static int yaml_roundtrip (const json_t *js)
{
    char *y = jobspec_yaml (js);
    char err[128];
    if (!y)
        return 0;
    json_t *back = yaml_json_parse (y, strlen (y), err, sizeof err);
    int eq = back && json_equal (back, (json_t *)js);
    if (!eq)
        printf ("# yaml was:\n%s# parse: %s\n", y, back ? "ok" : err);
    json_decref (back);
    free (y);
    return eq;
}

/* Build must fail with a non-empty one-line message containing `want`. */
static void expect_error (const jobspec_opts_t *o, const char *want, const char *what)
{
    char err[256] = "";
    json_t *js = jobspec_build (o, err, sizeof err);
    ok (!js && err[0] && !strchr (err, '\n') && strstr (err, want), "%s -> error '%s'", what, err);
    json_decref (js);
}

int main (void)
{
    char err[256];
    json_t *js;
    jobspec_opts_t o;

    /* defaults: one task, one core, slot directly at the top */
    o = base ();
    js = jobspec_build (&o, err, sizeof err);
    ok (js != NULL, "default jobspec builds (%s)", js ? "" : err);
    ok (ival (js, "version") == 1, "version 1");
    ok (!strcmp (sval (js, "resources.0.type"), "slot") && ival (js, "resources.0.count") == 1
        && !strcmp (sval (js, "resources.0.label"), "task"), "top level is slot x1 labelled task");
    ok (!strcmp (sval (js, "resources.0.with.0.type"), "core") && ival (js, "resources.0.with.0.count") == 1
        && json_array_size (path (js, "resources.0.with")) == 1, "slot holds one core, no gpu");
    ok (!strcmp (sval (js, "tasks.0.slot"), "task") && ival (js, "tasks.0.count.per_slot") == 1,
        "tasks: per_slot 1 on slot 'task'");
    ok (!strcmp (sval (js, "tasks.0.command.0"), "/bin/hostname"), "command kept");
    ok (json_is_real (path (js, "attributes.system.duration"))
        && json_real_value (path (js, "attributes.system.duration")) == 0, "duration 0.0 = unlimited");
    ok (!path (js, "attributes.system.constraints") && !path (js, "attributes.system.dependencies"),
        "no constraints or dependencies unless asked");
    ok (json_is_object (path (js, "attributes.system.environment"))
        && json_object_size (path (js, "attributes.system.environment")) == 0, "empty environment");
    ok (!strcmp (jobspec_name (js), "hostname"), "name defaults to basename of argv[0] (%s)", jobspec_name (js));
    ok (jobspec_ntasks (js) == 1, "ntasks 1");
    ok (yaml_roundtrip (js), "YAML round trip (default)");
    json_decref (js);

    /* -N2 -n4 -c2 -g1 --exclusive */
    o = base ();
    o.nnodes = 2; o.ntasks = 4; o.cores_per_task = 2; o.gpus_per_task = 1; o.exclusive = true;
    js = jobspec_build (&o, err, sizeof err);
    ok (js && !strcmp (sval (js, "resources.0.type"), "node") && ival (js, "resources.0.count") == 2
        && path (js, "resources.0.exclusive") == json_true (), "node x2 exclusive");
    ok (!strcmp (sval (js, "resources.0.with.0.type"), "slot") && ival (js, "resources.0.with.0.count") == 2,
        "2 slots per node");
    ok (ival (js, "resources.0.with.0.with.0.count") == 2
        && !strcmp (sval (js, "resources.0.with.0.with.1.type"), "gpu")
        && ival (js, "resources.0.with.0.with.1.count") == 1, "slot = 2 cores + 1 gpu");
    ok (ival (js, "tasks.0.count.per_slot") == 1 && jobspec_ntasks (js) == 4, "4 tasks, per_slot");
    ok (yaml_roundtrip (js), "YAML round trip (-N2 -n4 -c2 -g1 --exclusive)");
    json_decref (js);

    /* uneven: -N2 -n3 -> 2 slots/node, total 3 */
    o = base ();
    o.nnodes = 2; o.ntasks = 3;
    js = jobspec_build (&o, err, sizeof err);
    ok (js && ival (js, "resources.0.with.0.count") == 2 && ival (js, "tasks.0.count.total") == 3
        && !path (js, "resources.0.exclusive"), "-N2 -n3: 2 slots per node, tasks total 3, not exclusive");
    ok (jobspec_ntasks (js) == 3, "ntasks 3");
    json_decref (js);

    /* -N3 alone: one task per node */
    o = base ();
    o.nnodes = 3;
    js = jobspec_build (&o, err, sizeof err);
    ok (js && ival (js, "resources.0.count") == 3 && ival (js, "resources.0.with.0.count") == 1
        && jobspec_ntasks (js) == 3, "-N3: one task per node");
    json_decref (js);

    /* -n8 -c2 */
    o = base ();
    o.ntasks = 8; o.cores_per_task = 2;
    js = jobspec_build (&o, err, sizeof err);
    ok (js && ival (js, "resources.0.count") == 8 && ival (js, "resources.0.with.0.count") == 2
        && jobspec_ntasks (js) == 8, "-n8 -c2: 8 slots of 2 cores");
    json_decref (js);

    /* constraints */
    const char *req1[] = { "rank:3,1,2" };
    o = base ();
    o.requires = req1; o.nrequires = 1;
    js = jobspec_build (&o, err, sizeof err);
    ok (js && !strcmp (sval (js, "attributes.system.constraints.ranks.0"), "1-3"),
        "--requires rank:3,1,2 -> {ranks: [\"1-3\"]} (%s)", sval (js, "attributes.system.constraints.ranks.0"));
    json_decref (js);
    const char *req2[] = { "rank:0-7", "host:node[1-2]" };
    o.requires = req2; o.nrequires = 2;
    js = jobspec_build (&o, err, sizeof err);
    ok (js && !strcmp (sval (js, "attributes.system.constraints.and.0.ranks.0"), "0-7")
        && !strcmp (sval (js, "attributes.system.constraints.and.1.hostlist.0"), "node[1-2]"),
        "two --requires -> and of ranks and hostlist");
    ok (yaml_roundtrip (js), "YAML round trip (constraints)");
    json_decref (js);
    const char *badreq[][1] = { { "rank:x" }, { "rank:" }, { "foo:1" }, { "host:node[" }, { "" }, { "gpu" } };
    for (size_t i = 0; i < sizeof badreq / sizeof badreq[0]; i++) {
        o = base ();
        o.requires = badreq[i]; o.nrequires = 1;
        char what[64];
        snprintf (what, sizeof what, "--requires '%s'", badreq[i][0]);
        expect_error (&o, "--requires", what);
    }

    /* dependencies */
    const char *deps[] = { "afterok:f21", "after:58", "afterany:fjpXCZedGfVQ", "afternotok:1" };
    o = base ();
    o.dependencies = deps; o.ndependencies = 4;
    js = jobspec_build (&o, err, sizeof err);
    ok (js && !strcmp (sval (js, "attributes.system.dependencies.0.scheme"), "afterok")
        && !strcmp (sval (js, "attributes.system.dependencies.0.value"), "f21")
        && !strcmp (sval (js, "attributes.system.dependencies.1.value"), "f21"),
        "dependency ids stored in f58 whatever form was given");
    jobspec_dep_t *dv = NULL;
    size_t nd = 0;
    ok (jobspec_dependencies (js, &dv, &nd, err, sizeof err) == 0 && nd == 4
        && dv[0].scheme == JOBSPEC_DEP_AFTEROK && dv[0].id == 58 && dv[1].scheme == JOBSPEC_DEP_AFTER
        && dv[2].scheme == JOBSPEC_DEP_AFTERANY && dv[2].id == UINT64_MAX
        && dv[3].scheme == JOBSPEC_DEP_AFTERNOTOK && dv[3].id == 1, "dependencies read back");
    ok (!strcmp (jobspec_dep_scheme_name (dv[3].scheme), "afternotok"), "scheme names");
    free (dv);
    json_decref (js);
    o = base ();
    js = jobspec_build (&o, err, sizeof err);
    ok (jobspec_dependencies (js, &dv, &nd, err, sizeof err) == 0 && nd == 0 && dv == NULL, "no dependencies");
    json_decref (js);
    const char *baddep[][1] = { { "afterok" }, { "before:1" }, { "afterok:" }, { "afterok:fxyz0" },
                                { "afterok:-3" }, { ":12" } };
    for (size_t i = 0; i < sizeof baddep / sizeof baddep[0]; i++) {
        o = base ();
        o.dependencies = baddep[i]; o.ndependencies = 1;
        char what[64];
        snprintf (what, sizeof what, "--dependency '%s'", baddep[i][0]);
        expect_error (&o, "--dependency", what);
    }

    /* setattr */
    const char *sa[] = { "foo=bar", "user.x=3", "flag", "system.duration=60", "user.obj={\"a\":[1,2]}",
                         "user.s=\"quoted\"", "user.deep.er.key=true" };
    o = base ();
    o.setattrs = sa; o.nsetattrs = 7;
    js = jobspec_build (&o, err, sizeof err);
    ok (js != NULL, "setattrs build (%s)", js ? "" : err);
    ok (!strcmp (sval (js, "attributes.system.foo"), "bar"), "bare key goes under system, non-JSON value is a string");
    ok (ival (js, "attributes.user.x") == 3, "user.x=3 is an integer");
    ok (ival (js, "attributes.system.flag") == 1, "KEY alone sets 1");
    ok (ival (js, "attributes.system.duration") == 60, "system.duration overridable");
    ok (ival (js, "attributes.user.obj.a.1") == 2, "JSON object values");
    ok (!strcmp (sval (js, "attributes.user.s"), "quoted"), "JSON string value");
    ok (path (js, "attributes.user.deep.er.key") == json_true (), "nested keys create tables");
    ok (yaml_roundtrip (js), "YAML round trip (setattrs)");
    json_decref (js);
    const char *badsa[][1] = { { "duration=abc" }, { "a..b=1" }, { "=1" }, { "" }, { "duration=-1" },
                               { "environment=3" }, { "constraints={\"properties\":[\"x\"]}" },
                               { "dependencies=[{\"scheme\":\"after\",\"value\":\"zz\"}]" },
                               { "job.name=5" }, { "system.duration.x=1" } };
    for (size_t i = 0; i < sizeof badsa / sizeof badsa[0]; i++) {
        o = base ();
        o.setattrs = badsa[i]; o.nsetattrs = 1;
        char what[96];
        snprintf (what, sizeof what, "--setattr '%s'", badsa[i][0]);
        expect_error (&o, "", what);
    }

    /* time limit */
    struct { const char *s; double v; } tl[] = { { "30s", 30 }, { "5m", 300 }, { "1.5h", 5400 },
                                                  { "2d", 172800 }, { "10", 600 }, { "0", 0 }, { "0.5", 30 } };
    for (size_t i = 0; i < sizeof tl / sizeof tl[0]; i++) {
        double v = -1;
        ok (jobspec_parse_time_limit (tl[i].s, &v, err, sizeof err) == 0 && v == tl[i].v,
            "time limit '%s' = %gs", tl[i].s, v);
    }
    const char *badtl[] = { "", "-5", "5x", "5mm", "abc", "1e3", "inf", "nan", "m", " 5", "1e400" };
    for (size_t i = 0; i < sizeof badtl / sizeof badtl[0]; i++) {
        double v;
        err[0] = '\0';
        ok (jobspec_parse_time_limit (badtl[i], &v, err, sizeof err) == -1 && err[0],
            "bad time limit '%s': %s", badtl[i], err);
    }
    o = base ();
    o.time_limit = "1h";
    js = jobspec_build (&o, err, sizeof err);
    ok (js && json_real_value (path (js, "attributes.system.duration")) == 3600, "-t 1h -> duration 3600");
    ok (yaml_roundtrip (js), "YAML round trip keeps 3600.0 a real");
    json_decref (js);
    o.time_limit = "soon";
    expect_error (&o, "time limit", "-t soon");

    /* environment */
    const char *envbase[] = { "A=1", "B=2", "PATH=/bin:/usr/bin", "PYTHONPATH=/x", "EMPTY=", "NOEQUALS", NULL };
    const char *rules1[] = { "-B", "C=3=4", "-P*" };
    o = base ();
    o.environ_base = envbase; o.env_rules = rules1; o.nenv_rules = 3;
    js = jobspec_build (&o, err, sizeof err);
    json_t *env = path (js, "attributes.system.environment");
    ok (js && json_object_size (env) == 3 && !strcmp (sval (env, "A"), "1") && !strcmp (sval (env, "C"), "3=4")
        && !strcmp (sval (env, "EMPTY"), ""), "env: base propagated, -B and -P* removed, C=3=4 set");
    json_decref (js);
    const char *rules2[] = { "-*", "PATH", "PY*" };
    o.env_rules = rules2; o.nenv_rules = 3;
    js = jobspec_build (&o, err, sizeof err);
    env = path (js, "attributes.system.environment");
    ok (js && json_object_size (env) == 2 && !strcmp (sval (env, "PATH"), "/bin:/usr/bin")
        && !strcmp (sval (env, "PYTHONPATH"), "/x"), "env: -* then NAME and glob re-import from base");
    json_decref (js);
    const char *badenv[][1] = { { "NOPE" }, { "=x" }, { "" }, { "-" } };
    for (size_t i = 0; i < sizeof badenv / sizeof badenv[0]; i++) {
        o = base ();
        o.environ_base = envbase; o.env_rules = badenv[i]; o.nenv_rules = 1;
        char what[64];
        snprintf (what, sizeof what, "--env '%s'", badenv[i][0]);
        expect_error (&o, "--env", what);
    }

    /* cwd, name */
    o = base ();
    o.cwd = "/home/u/run"; o.job_name = "my job";
    js = jobspec_build (&o, err, sizeof err);
    ok (js && !strcmp (sval (js, "attributes.system.cwd"), "/home/u/run"), "cwd stored");
    ok (!strcmp (jobspec_name (js), "my job") && !strcmp (sval (js, "attributes.system.job.name"), "my job"),
        "--job-name stored and read back");
    json_decref (js);

    /* option errors */
    o = base (); o.cwd = "rel/dir";
    expect_error (&o, "--cwd", "relative --cwd");
    o = base (); o.exclusive = true;
    expect_error (&o, "--exclusive", "--exclusive without -N");
    o = base (); o.nnodes = 2; o.ntasks = 1;
    expect_error (&o, "-n 1 with -N 2", "-n1 -N2");
    o = base (); o.ntasks = -1;
    expect_error (&o, "-n/--ntasks", "-n -1");
    o = base (); o.cores_per_task = JOBSPEC_MAX_COUNT + 1;
    expect_error (&o, "-c/--cores-per-task", "-c too large");
    o = base (); o.gpus_per_task = -2;
    expect_error (&o, "-g/--gpus-per-task", "-g -2");
    o = base (); o.argc = 0;
    expect_error (&o, "no command", "no command");
    char *emptycmd[] = { "", NULL };
    o = base (); o.argv = emptycmd;
    expect_error (&o, "no command", "empty argv[0]");
    char *badutf[] = { "echo", "\xff\xfe", NULL };
    o = base (); o.argc = 2; o.argv = badutf;
    expect_error (&o, "UTF-8", "invalid UTF-8 argument");
    o = base (); o.job_name = "";
    expect_error (&o, "--job-name", "empty --job-name");

    /* YAML: strings that look like other things stay strings */
    char *tricky[] = { "echo", "true", "123", "", "yes", "No", "a: b", "- x", "#c", "h\xc3\xa9llo", "a\nb",
                       "null", "~", "1.5", "-3", "0x1F", ".inf", "  pad  ", "'q'", "\"dq\"", "[x]", "{y}",
                       "*alias", "&anchor", "!tag", "%pct", "@at", "`bt", "key:", "?", NULL };
    o = base (); o.argc = 30; o.argv = tricky;
    js = jobspec_build (&o, err, sizeof err);
    ok (js && yaml_roundtrip (js), "YAML round trip of 30 tricky strings");
    char *y = jobspec_yaml (js);
    ok (y && strstr (y, "type: slot") && strstr (y, "version: 1") && strstr (y, "\"true\""),
        "YAML is block style, quotes look-alike strings");
    free (y);
    json_decref (js);
    json_t *odd = json_pack ("{s:f s:f s:I s:n s:b s:[] s:{}}", "r", 0.1, "big", 1e300, "i", (json_int_t)-9007199254740993LL,
                             "nul", "t", 1, "ea", "eo");
    ok (yaml_roundtrip (odd), "YAML round trip: reals, null, bool, empty containers");
    json_decref (odd);
    ok (jobspec_yaml (NULL) == NULL, "jobspec_yaml(NULL) is NULL");

    /* readers on foreign shapes */
    json_t *foreign = json_pack ("{s:[{s:s s:i}], s:[{s:{s:i}}]}", "resources", "type", "core", "count", 2,
                                 "tasks", "count", "per_slot", 1);
    ok (jobspec_ntasks (foreign) == -1 && !strcmp (jobspec_name (foreign), "?"), "readers refuse shapes without slots");
    json_decref (foreign);
    return done ();
}
