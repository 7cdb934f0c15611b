/* test_burstkube.c - the kubernetes provider's objects: a Secret and a
 * StatefulSet named after the pool's cluster, pods that join as
 * <cluster>-<ordinal>, the pool's resources and settings. */
#include "check.h"
#include "burstkube.h"
#include <string.h>

int main (void)
{
    char err[256];
    burst_pools_t p;
    json_t *cfg = json_loads ("[{\"name\":\"cloud\",\"size\":4,\"cores\":8,\"gpus\":2,\"provider\":\"kubernetes\","
                              "\"settings\":{\"kubeconfig\":\"/k\",\"namespace\":\"ns1\",\"image\":\"img:1\"}}]",
                              0, NULL);
    ok (burst_pools_parse (cfg, 2, &p, err, sizeof err) == 0, "pool parses %s", err);
    json_t *o = burst_kube_render (&p.v[0], 3, "tcp://lead:8050", "hosts: []\n", "CERT");
    ok (o && !strcmp (json_string_value (json_object_get (o, "kind")), "List"), "a List");
    json_t *sec = json_array_get (json_object_get (o, "items"), 0), *sts = json_array_get (json_object_get (o, "items"), 1);
    const char *cl = p.v[0].cluster;
    ok (!strcmp (json_string_value (json_object_get (sec, "kind")), "Secret")
            && !strcmp (json_string_value (json_object_get (json_object_get (sec, "metadata"), "name")), cl)
            && !strcmp (json_string_value (json_object_get (json_object_get (sec, "stringData"), "curve.cert")), "CERT"),
        "the Secret %s holds the certificate", cl);
    json_t *spec = json_object_get (sts, "spec");
    json_t *c = json_array_get (json_object_get (json_object_get (json_object_get (spec, "template"), "spec"), "containers"), 0);
    json_t *cmd = json_object_get (c, "command");
    ok (json_integer_value (json_object_get (spec, "replicas")) == 3 && json_array_size (cmd) == 13
            && !strcmp (json_string_value (json_array_get (cmd, 6)), "$(POD_NAME)")
            && !strcmp (json_string_value (json_array_get (cmd, 12)), "/run/canopy/state"),
        "a StatefulSet of 3 pods joining as their pod names");
    json_t *notes = json_object_get (json_object_get (sts, "metadata"), "annotations");
    ok (!strcmp (json_string_value (json_object_get (notes, "canopy.io/lead")), "tcp://lead:8050")
            && !strcmp (json_string_value (json_object_get (notes, "canopy.io/pool-ranks")), "2-5"),
        "annotated with the lead's endpoint and the pool's ranks");
    ok (!strcmp (json_string_value (json_object_get (c, "image")), "img:1")
            && !strcmp (json_string_value (json_object_get (json_object_get (sts, "metadata"), "namespace")), "ns1")
            && json_integer_value (json_object_get (json_object_get (json_object_get (c, "resources"), "limits"),
                                                    "nvidia.com/gpu")) == 2,
        "image, namespace and GPUs from the pool");
    json_decref (o);
    o = burst_kube_render (&p.v[0], 0, NULL, NULL, NULL);
    sec = json_array_get (json_object_get (o, "items"), 0);
    ok (o && !strstr (json_string_value (json_object_get (json_object_get (sec, "stringData"), "curve.cert")), "CERT"),
        "without a certificate: a placeholder");
    json_decref (o);
    json_decref (cfg);
    burst_pools_clear (&p);
    return done ();
}
