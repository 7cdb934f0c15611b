/* hwres.h - what this node brings to the instance: cores, GPUs, memory,
 * found with hwloc and reported to rank 0 as JSON.
 *
 * ncores counts physical cores (hwloc CORE objects), as Flux does, falling
 * back to PUs when the topology has no cores; npus is kept for information.
 * ngpus counts compute devices: hwloc OS devices of type COPROC (CUDA,
 * OpenCL, Level Zero...) and GPU devices from a compute backend (NVML, RSMI,
 * Level Zero), one per PCI device -- plain display devices (DRM "card0")
 * are not GPUs here.  memory is the kernel's total (sysconf), hwloc's NUMA
 * sum only as a fallback (it misses memory on some VMs).
 * CANOPY_FAKE_RESOURCES="cores=4,gpus=2[,memory=8G][,host=name]" replaces
 * discovery (tests on small boxes; several fake nodes on one host).
 */
#ifndef CANOPY_HWRES_H
#define CANOPY_HWRES_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define HWRES_HOSTLEN 256

typedef struct {
    char hostname[HWRES_HOSTLEN];
    int ncores;             /* physical cores (or PUs if hwloc finds no cores) */
    int npus;               /* hardware threads */
    int ngpus;
    uint64_t memory;        /* bytes */
    bool fake;              /* came from CANOPY_FAKE_RESOURCES */
} hwres_t;

/* Discover this node (honouring CANOPY_FAKE_RESOURCES).  -1 + err. */
int hwres_discover (hwres_t *out, char *err, size_t errlen);
/* Parse a CANOPY_FAKE_RESOURCES value over *out (keys cores, gpus, pus,
 * memory with K/M/G/T suffix, host).  -1 + err on unknown key/bad value. */
int hwres_parse_fake (const char *spec, hwres_t *out, char *err, size_t errlen);
/* {"hostname", "ncores", "npus", "ngpus", "memory"}; and back (-1 + err). */
json_t *hwres_to_json (const hwres_t *r);
int hwres_from_json (const json_t *o, hwres_t *out, char *err, size_t errlen);

#endif
