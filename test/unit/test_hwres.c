/* test_hwres.c - node resource discovery: hwloc on this box (checked
 * against sysconf), the CANOPY_FAKE_RESOURCES override, JSON round trip. */
#include "check.h"
#include "hwres.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* hwloc's pci plugin (libpciaccess) leaks ~1 KB per topology load and is
 * dlclose'd before LeakSanitizer runs, so its frames cannot be suppressed by
 * name.  Under CANOPY_SANITIZE this binary keeps ASan/UBSan but skips leak
 * checking (hwres.c itself allocates only one strdup, freed on every path). */
const char *__asan_default_options (void);
const char *__asan_default_options (void)
{
    return "detect_leaks=0";
}

int main (void)
{
    char err[256];
    hwres_t r, f;

    unsetenv ("CANOPY_FAKE_RESOURCES");
    ok (hwres_discover (&r, err, sizeof err) == 0, "discover (%s)", err);
    long online = sysconf (_SC_NPROCESSORS_ONLN);
    ok (r.npus >= 1 && r.npus <= online * 2 && r.ncores >= 1 && r.ncores <= r.npus,
        "cores %d <= pus %d, pus near sysconf %ld", r.ncores, r.npus, online);
    long pages = sysconf (_SC_PHYS_PAGES), psize = sysconf (_SC_PAGESIZE);
    double sys_mem = (double)pages * psize;
    ok (r.memory > 0 && r.memory <= sys_mem * 1.01 + 1 && r.memory >= sys_mem * 0.5,
        "memory %.0f MiB within sysconf's %.0f MiB", r.memory / 1048576.0, sys_mem / 1048576.0);
    ok (r.ngpus >= 0 && !r.fake, "gpus %d (not fake)", r.ngpus);
    char host[256];
    gethostname (host, sizeof host);
    ok (r.hostname[0] && !strncmp (host, r.hostname, strlen (r.hostname)) && !strchr (r.hostname, '.'),
        "hostname %s (short form of %s)", r.hostname, host);
    printf ("# this node: %s, %d cores, %d pus, %d gpus, %llu MiB\n", r.hostname, r.ncores, r.npus, r.ngpus,
            (unsigned long long)(r.memory >> 20));

    /* the override */
    setenv ("CANOPY_FAKE_RESOURCES", "cores=4,gpus=2", 1);
    ok (hwres_discover (&f, err, sizeof err) == 0 && f.ncores == 4 && f.ngpus == 2 && f.fake
        && f.npus >= 4 && f.memory == r.memory && !strcmp (f.hostname, r.hostname),
        "CANOPY_FAKE_RESOURCES=cores=4,gpus=2 overrides cores, gpus; keeps memory and host");
    setenv ("CANOPY_FAKE_RESOURCES", "cores=64,pus=128,gpus=8,memory=512G,host=fake07", 1);
    ok (hwres_discover (&f, err, sizeof err) == 0 && f.ncores == 64 && f.npus == 128 && f.ngpus == 8
        && f.memory == 512ULL << 30 && !strcmp (f.hostname, "fake07"), "all keys");
    setenv ("CANOPY_FAKE_RESOURCES", "", 1);
    ok (hwres_discover (&f, err, sizeof err) == 0 && !f.fake && f.ncores == r.ncores, "empty value: no override");
    const char *bad[] = { "cores=0", "cores=-1", "cores=x", "cores=", "gpus=99999", "tpus=2", "cores", "memory=5Q",
                          "memory=-5", "memory=99999999999T", "host=", "host=a b", "host=a/b", ",", "cores=4,,gpus=1x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv ("CANOPY_FAKE_RESOURCES", bad[i], 1);
        err[0] = '\0';
        ok (hwres_discover (&f, err, sizeof err) == -1 && strstr (err, "CANOPY_FAKE_RESOURCES") && !strchr (err, '\n'),
            "bad '%s': %s", bad[i], err);
    }
    unsetenv ("CANOPY_FAKE_RESOURCES");
    f = r;
    ok (hwres_parse_fake ("memory=1k", &f, err, sizeof err) == 0 && f.memory == 1024 && f.ncores == r.ncores,
        "parse_fake over a base: memory=1k");

    /* JSON */
    hwres_parse_fake ("cores=6,gpus=1,memory=2G,host=n1", &f, err, sizeof err);
    json_t *j = hwres_to_json (&f);
    hwres_t back;
    ok (j && hwres_from_json (j, &back, err, sizeof err) == 0 && back.ncores == 6 && back.ngpus == 1
        && back.memory == 2ULL << 30 && back.npus == f.npus && !strcmp (back.hostname, "n1"), "JSON round trip");
    json_decref (j);
    const char *badj[] = { "[]", "{\"ncores\":4,\"ngpus\":0}", "{\"hostname\":\"h\",\"ncores\":0,\"ngpus\":0}",
                           "{\"hostname\":\"h\",\"ncores\":\"4\",\"ngpus\":0}", "{\"hostname\":\"h\",\"ncores\":4}",
                           "{\"hostname\":\"h\",\"ncores\":4,\"ngpus\":-1}", "{\"hostname\":\"h\",\"ncores\":4,\"ngpus\":0,\"memory\":-1}" };
    for (size_t i = 0; i < sizeof badj / sizeof badj[0]; i++) {
        json_t *x = json_loads (badj[i], JSON_DECODE_ANY, NULL);
        err[0] = '\0';
        ok (hwres_from_json (x, &back, err, sizeof err) == -1 && err[0], "bad report %s: %s", badj[i], err);
        json_decref (x);
    }
    json_t *minimal = json_loads ("{\"hostname\":\"h\",\"ncores\":4,\"ngpus\":0}", 0, NULL);
    ok (hwres_from_json (minimal, &back, err, sizeof err) == 0 && back.npus == 4 && back.memory == 0,
        "npus and memory are optional");
    json_decref (minimal);
    return done ();
}
