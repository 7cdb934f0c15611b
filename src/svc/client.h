/* client.h - a local client's connection to its broker (CANOPY_URI). */
#ifndef CANOPY_CLIENT_H
#define CANOPY_CLIENT_H
#include <jansson.h>
#include <stdint.h>
#include "msg.h"
#include "overlay.h"

typedef struct client client_t;

/* uri NULL: $CANOPY_URI.  Fails at once if the socket does not exist. */
client_t *client_connect (const char *uri, char *err, size_t errlen);
void client_destroy (client_t **p);
void *client_sock (client_t *c);

/* Send a request; json stolen.  Returns the matchtag (never 0). */
uint32_t client_send (client_t *c, uint32_t rank, const char *topic, json_t *json,
                      const void *data, size_t len, int flags);
/* Receive the next response (timeout_ms < 0 waits forever).  Returns 0, or
 * -1 on timeout (errno ETIMEDOUT) or interruption (EINTR).  Free with
 * client_msg_clear.  Responses queued by client_call are returned first. */
int client_recv (client_t *c, cmsg_t *m, int timeout_ms);
void client_msg_clear (cmsg_t *m);
/* Synchronous request/response.  Returns the response payload, or NULL
 * with a one-line message in err (the service's errstr if it sent one). */
json_t *client_call (client_t *c, uint32_t rank, const char *topic, json_t *json, int timeout_ms,
                     char *err, size_t errlen);
/* The error text of an error response. */
const char *client_errstr (const cmsg_t *m);

#endif
