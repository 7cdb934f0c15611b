/* fuzz_msg.c - cmsg_hdr_decode on arbitrary frames; a frame that decodes
 * must re-encode to the same bytes (reserved bytes aside). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "msg.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    cmsg_hdr_t h, r;
    const char *why = NULL;
    uint8_t out[CMSG_HDR_MAX];
    if (cmsg_hdr_decode (&h, data, size, &why) < 0) {
        if (!why || !*why)
            abort (); /* every rejection has a reason */
        return 0;
    }
    if (size > CMSG_HDR_MAX || h.topic[h.topic_len] != '\0' || strlen (h.topic) != h.topic_len)
        abort ();
    size_t n = cmsg_hdr_encode (&h, out);
    if (n != size)
        abort ();
    for (size_t i = 0; i < n; i++) {
        if (i == 3 || i == 26 || i == 27)
            continue; /* reserved: ignored on decode, written as 0 */
        if (out[i] != data[i])
            abort ();
    }
    cmsg_hdr_make_response (&r, &h, 1, 0);
    n = cmsg_hdr_encode (&r, out);
    if (cmsg_hdr_decode (&h, out, n, &why) < 0 || h.type != CMSG_RESPONSE)
        abort ();
    (void)cmsg_type_name (data[size > 2 ? 2 : 0]);
    return 0;
}
