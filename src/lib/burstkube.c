/* burstkube.c - render a burst pool's Secret and StatefulSet.  Pure: no
 * I/O.  See burstkube.h. */
#include "burstkube.h"
#include <stdio.h>
#include <string.h>

static const char *setting (const burst_pool_t *p, const char *key, const char *def)
{
    const char *v = json_string_value (json_object_get (p->settings, key));
    return v && *v ? v : def;
}

json_t *burst_kube_render (const burst_pool_t *p, uint32_t replicas, const char *lead, const char *config_text,
                           const char *cert_text)
{
    const char *ns = setting (p, "namespace", "default");
    const char *image = setting (p, "image", "canopy:latest");
    json_t *labels = json_pack ("{s:s s:s s:s}", "app.kubernetes.io/name", "canopy-burst", "canopy.io/pool", p->name,
                                "canopy.io/cluster", p->cluster);
    json_t *secret = json_pack ("{s:s s:s s:{s:s s:s s:O} s:s s:{s:s s:s}}", "apiVersion", "v1", "kind", "Secret",
                                "metadata", "name", p->cluster, "namespace", ns, "labels", labels, "type", "Opaque",
                                "stringData", "curve.cert",
                                cert_text ? cert_text : "(the instance certificate, added when applied)",
                                "canopy.yaml", config_text ? config_text : "");
    char cpu[32];
    snprintf (cpu, sizeof cpu, "%u", p->cores);
    json_t *res = json_pack ("{s:{s:s}}", "requests", "cpu", cpu);
    if (p->gpus)
        json_object_set_new (res, "limits", json_pack ("{s:I}", "nvidia.com/gpu", (json_int_t)p->gpus));
    json_t *container = json_pack (
        "{s:s s:s s:[s s s s s s s s s s s s s] s:[{s:s s:{s:{s:s}}} {s:s s:{s:{s:s}}}] s:[{s:s s:s s:b}] s:o}", "name",
        "broker", "image", image, "command", "canopy-broker", "--config", "/etc/canopy/canopy.yaml", "--cert",
        "/etc/canopy/curve.cert", "--host", "$(POD_NAME)", "--address", "$(POD_IP)", "--rundir", "/run/canopy",
        "--statedir", "/run/canopy/state", "env", "name", "POD_NAME", "valueFrom", "fieldRef", "fieldPath",
        "metadata.name", "name", "POD_IP", "valueFrom", "fieldRef", "fieldPath", "status.podIP", "volumeMounts",
        "name", "canopy", "mountPath", "/etc/canopy", "readOnly", 1, "resources", res);
    json_t *notes = json_pack ("{s:s s:s}", "canopy.io/lead", lead ? lead : "", "canopy.io/pool-ranks", "");
    char ranks[64];
    snprintf (ranks, sizeof ranks, "%u-%u", p->first_rank, p->first_rank + p->size - 1);
    json_object_set_new (notes, "canopy.io/pool-ranks", json_string (ranks));
    json_t *sts = json_pack (
        "{s:s s:s s:{s:s s:s s:O s:O} s:{s:s s:I s:s s:{s:{s:s}} s:{s:{s:O s:O} s:{s:[o] s:[{s:s s:{s:s s:i}}]}}}}",
        "apiVersion", "apps/v1", "kind", "StatefulSet", "metadata", "name", p->cluster, "namespace", ns, "labels",
        labels, "annotations", notes, "spec", "serviceName", p->cluster, "replicas", (json_int_t)replicas,
        "podManagementPolicy", "Parallel", "selector", "matchLabels", "canopy.io/cluster", p->cluster, "template",
        "metadata", "labels", labels, "annotations", notes, "spec", "containers", container, "volumes", "name",
        "canopy", "secret", "secretName", p->cluster, "defaultMode", 0400);
    json_decref (notes);
    json_decref (labels);
    if (!secret || !sts) {
        json_decref (secret);
        json_decref (sts);
        return NULL;
    }
    return json_pack ("{s:s s:s s:[o o]}", "apiVersion", "v1", "kind", "List", "items", secret, sts);
}
