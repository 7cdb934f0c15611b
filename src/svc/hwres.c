/* hwres.c - this node's resources from hwloc (cores, GPUs, memory), or from
 * CANOPY_FAKE_RESOURCES; JSON for the report to rank 0.  See hwres.h. */
#include "hwres.h"
#include "xalloc.h"
#include "errquote.h"
#include <errno.h>
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CORES 65536
#define MAX_GPUS  4096

/* Compute backends: their OS devices are GPUs a job can use.  Plain DRM
 * devices ("card0", "renderD128", backend Linux) are display adapters too
 * (a BMC's VGA), so they do not count. */
static int compute_osdev (hwloc_obj_t o)
{
    static const char *backends[] = { "CUDA", "OpenCL", "NVML", "RSMI", "LevelZero", NULL };
    if (o->attr->osdev.type != HWLOC_OBJ_OSDEV_COPROC && o->attr->osdev.type != HWLOC_OBJ_OSDEV_GPU)
        return 0;
    const char *b = hwloc_obj_get_info_by_name (o, "Backend");
    const char *sub = o->subtype;
    for (int i = 0; backends[i]; i++)
        if ((b && !strcmp (b, backends[i])) || (sub && !strcmp (sub, backends[i])))
            return 1;
    return 0;
}

static int discover_hwloc (hwres_t *out, char *err, size_t errlen)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init (&topo) < 0)
        return errfail (err, errlen, "hwloc: cannot initialise: %s", strerror (errno));
    hwloc_topology_set_io_types_filter (topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load (topo) < 0) {
        hwloc_topology_destroy (topo);
        return errfail (err, errlen, "hwloc: cannot load the topology: %s", strerror (errno));
    }
    int cores = hwloc_get_nbobjs_by_type (topo, HWLOC_OBJ_CORE);
    int pus = hwloc_get_nbobjs_by_type (topo, HWLOC_OBJ_PU);
    out->npus = pus > 0 ? pus : 0;
    out->ncores = cores > 0 ? cores : out->npus;
    /* Memory: the kernel's total (sysconf).  hwloc's sum over NUMA nodes can
     * miss memory on some VMs (seen: 11.2 of 23.5 GiB); it is the fallback. */
    long pages = sysconf (_SC_PHYS_PAGES), psize = sysconf (_SC_PAGESIZE);
    out->memory = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize
                                         : hwloc_get_root_obj (topo)->total_memory;
    /* one GPU per PCI device, however many backends report it */
    hwloc_obj_t seen[MAX_GPUS];
    int n = 0;
    hwloc_obj_t o = NULL;
    while ((o = hwloc_get_next_osdev (topo, o)) && n < MAX_GPUS) {
        if (!compute_osdev (o))
            continue;
        hwloc_obj_t key = (o->parent && o->parent->type == HWLOC_OBJ_PCI_DEVICE) ? o->parent : o;
        int dup = 0;
        for (int i = 0; i < n && !dup; i++)
            dup = seen[i] == key;
        if (!dup)
            seen[n++] = key;
    }
    out->ngpus = n;
    hwloc_topology_destroy (topo);
    if (out->ncores < 1)
        return errfail (err, errlen, "hwloc: found no cores");
    return 0;
}

static int parse_count (const char *key, const char *v, long max, long *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    long n = strtol (v, &end, 10);
    if (!*v || *end || errno || n < 0 || n > max)
        return errfail (err, errlen, "CANOPY_FAKE_RESOURCES: %s='%.20s': expected an integer 0..%ld", key, v, max);
    *out = n;
    return 0;
}

static int parse_bytes (const char *v, uint64_t *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull (v, &end, 10);
    int shift = 0;
    if (*end) {
        switch (*end) {
            case 'K': case 'k': shift = 10; break;
            case 'M': case 'm': shift = 20; break;
            case 'G': case 'g': shift = 30; break;
            case 'T': case 't': shift = 40; break;
            default: shift = -1;
        }
        if (shift < 0 || end[1])
            return errfail (err, errlen, "CANOPY_FAKE_RESOURCES: memory='%.20s': expected bytes with an optional "
                         "K, M, G or T suffix", v);
    }
    if (!*v || *v == '-' || end == v || errno || (shift && n > (~0ULL >> shift)))
        return errfail (err, errlen, "CANOPY_FAKE_RESOURCES: memory='%.20s': expected bytes with an optional "
                     "K, M, G or T suffix", v);
    *out = (uint64_t)n << shift;
    return 0;
}

int hwres_parse_fake (const char *spec, hwres_t *out, char *err, size_t errlen)
{
    if (!spec)
        return errfail (err, errlen, "CANOPY_FAKE_RESOURCES: empty");
    hwres_t r = *out;
    char *copy = xstrdup (spec), *save = NULL;
    int rc = 0, pus_given = 0, any = 0;
    for (char *tok = strtok_r (copy, ",", &save); tok && rc == 0; tok = strtok_r (NULL, ",", &save)) {
        char *eq = strchr (tok, '=');
        any = 1;
        if (!eq) {
            rc = errfail (err, errlen, "CANOPY_FAKE_RESOURCES: '%.30s': expected key=value "
                       "(cores, gpus, pus, memory, host)", tok);
            break;
        }
        *eq = '\0';
        const char *v = eq + 1;
        long n;
        if (!strcmp (tok, "cores")) {
            if ((rc = parse_count (tok, v, MAX_CORES, &n, err, errlen)) == 0) {
                if (n < 1)
                    rc = errfail (err, errlen, "CANOPY_FAKE_RESOURCES: cores must be at least 1");
                r.ncores = (int)n;
            }
        }
        else if (!strcmp (tok, "gpus")) {
            if ((rc = parse_count (tok, v, MAX_GPUS, &n, err, errlen)) == 0)
                r.ngpus = (int)n;
        }
        else if (!strcmp (tok, "pus")) {
            if ((rc = parse_count (tok, v, MAX_CORES * 8, &n, err, errlen)) == 0) {
                r.npus = (int)n;
                pus_given = 1;
            }
        }
        else if (!strcmp (tok, "memory"))
            rc = parse_bytes (v, &r.memory, err, errlen);
        else if (!strcmp (tok, "host")) {
            size_t len = strlen (v);
            if (len == 0 || len >= HWRES_HOSTLEN || strspn (v, "abcdefghijklmnopqrstuvwxyz"
                                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != len)
                rc = errfail (err, errlen, "CANOPY_FAKE_RESOURCES: host='%.40s': expected a host name", v);
            else
                memcpy (r.hostname, v, len + 1);
        }
        else
            rc = errfail (err, errlen, "CANOPY_FAKE_RESOURCES: unknown key '%.20s' (cores, gpus, pus, memory, host)", tok);
    }
    free (copy);
    if (rc == 0 && !any)
        rc = errfail (err, errlen, "CANOPY_FAKE_RESOURCES: empty");
    if (rc < 0)
        return -1;
    if (!pus_given && r.npus < r.ncores)
        r.npus = r.ncores;
    r.fake = true;
    *out = r;
    return 0;
}

int hwres_discover (hwres_t *out, char *err, size_t errlen)
{
    hwres_t r;
    memset (&r, 0, sizeof r);
    if (gethostname (r.hostname, sizeof r.hostname - 1) < 0)
        return errfail (err, errlen, "gethostname: %s", strerror (errno));
    r.hostname[sizeof r.hostname - 1] = '\0';
    char *dot = strchr (r.hostname, '.');
    if (dot && dot != r.hostname)
        *dot = '\0';            /* short name, as hostlists use */
    if (discover_hwloc (&r, err, errlen) < 0)
        return -1;
    const char *fake = getenv ("CANOPY_FAKE_RESOURCES");
    if (fake && *fake && hwres_parse_fake (fake, &r, err, errlen) < 0)
        return -1;
    *out = r;
    return 0;
}

json_t *hwres_to_json (const hwres_t *r)
{
    return json_pack ("{s:s s:i s:i s:i s:I}", "hostname", r->hostname, "ncores", r->ncores, "npus", r->npus,
                      "ngpus", r->ngpus, "memory", (json_int_t)r->memory);
}

int hwres_from_json (const json_t *o, hwres_t *out, char *err, size_t errlen)
{
    hwres_t r;
    memset (&r, 0, sizeof r);
    const char *h = json_string_value (json_object_get (o, "hostname"));
    json_t *c = json_object_get (o, "ncores"), *p = json_object_get (o, "npus"), *g = json_object_get (o, "ngpus"),
           *m = json_object_get (o, "memory");
    if (!json_is_object (o))
        return errfail (err, errlen, "resource report: not an object");
    if (!h || !*h || strlen (h) >= HWRES_HOSTLEN)
        return errfail (err, errlen, "resource report: bad hostname");
    if (!json_is_integer (c) || json_integer_value (c) < 1 || json_integer_value (c) > MAX_CORES)
        return errfail (err, errlen, "resource report: ncores must be an integer 1..%d", MAX_CORES);
    if (!json_is_integer (g) || json_integer_value (g) < 0 || json_integer_value (g) > MAX_GPUS)
        return errfail (err, errlen, "resource report: ngpus must be an integer 0..%d", MAX_GPUS);
    if (p && (!json_is_integer (p) || json_integer_value (p) < 0 || json_integer_value (p) > MAX_CORES * 8))
        return errfail (err, errlen, "resource report: bad npus");
    if (m && (!json_is_integer (m) || json_integer_value (m) < 0))
        return errfail (err, errlen, "resource report: bad memory");
    snprintf (r.hostname, sizeof r.hostname, "%s", h);
    r.ncores = (int)json_integer_value (c);
    r.ngpus = (int)json_integer_value (g);
    r.npus = p ? (int)json_integer_value (p) : r.ncores;
    r.memory = m ? (uint64_t)json_integer_value (m) : 0;
    *out = r;
    return 0;
}
