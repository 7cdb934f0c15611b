/* client.h - the commands' library: a local client's connection to its broker
 * (CANOPY_URI), its requests, and the responses that come back, one at a
 * time or as a stream.  Needs msg.h only, never the overlay. */
#ifndef CANOPY_CLIENT_H
#define CANOPY_CLIENT_H
#include <jansson.h>
#include <stdint.h>
#include "msg.h"

typedef struct client client_t;

/* uri NULL: $CANOPY_URI.  Fails at once if the socket does not exist. */
client_t *client_connect (const char *uri, char *err, size_t errlen);
void client_destroy (client_t **p);

/* Send a request; json stolen.  Returns 0 with its matchtag (never 0) in
 * *tag, or -1 with err (the topic does not fit a message header). */
int client_send (client_t *c, uint32_t rank, const char *topic, json_t *json, const void *data, size_t len,
                 int flags, uint32_t *tag, char *err, size_t errlen);
/* The next response to the request tagged `tag` (0: to any request),
 * waiting up to timeout_ms (< 0: forever).  A response to another request
 * is dropped (unless client_call set it aside: those come first).
 *   1: a response in *m: errnum 0 is an answer or one item of a stream,
 *      another errnum an error response (its text: client_errstr);
 *   0: the end of a stream (errnum ENODATA) in *m;
 *  -1: nothing came: errno ETIMEDOUT, EINTR, or the connection to the
 *      broker is lost (ECONNRESET, EACCES if it refused us), err says which.
 * After 1 or 0, free *m with client_msg_clear. */
int client_stream_next (client_t *c, uint32_t tag, cmsg_t *m, int timeout_ms, char *err,
                        size_t errlen);
void client_msg_clear (cmsg_t *m);
/* Synchronous request/response.  Returns the response payload, or NULL
 * with a one-line message in err (the service's errstr if it sent one). */
json_t *client_call (client_t *c, uint32_t rank, const char *topic, json_t *json, int timeout_ms,
                     char *err, size_t errlen);
/* The error text of an error response. */
const char *client_errstr (const cmsg_t *m);

#endif
