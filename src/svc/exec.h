/* exec.h - the exec service: run a command on this broker for a remote
 * client (canopy exec), streaming its output back.  Topics exec.run and
 * exec.kill; see doc/protocol.md. */
#ifndef CANOPY_EXEC_H
#define CANOPY_EXEC_H
#include "overlay.h"

typedef struct exec_svc exec_svc_t;
exec_svc_t *exec_svc_new (overlay_t *ov, char *err, size_t errlen);
void exec_svc_destroy (exec_svc_t **p);

/* Build a NULL-terminated "K=V" array from a JSON object (NULL if not an
 * object).  Free with exec_env_free. */
char **exec_env_from_json (json_t *env);
void exec_env_free (char **env);
/* Build argv from a JSON array of strings; NULL if malformed. */
char **exec_argv_from_json (json_t *cmd);

#endif
