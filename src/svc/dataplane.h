/* dataplane.h - the sealed data plane: archive chunks travel sealed
 * (AES-256-GCM, src/lib/chunkseal.h) on their own NULL-mechanism ZeroMQ
 * sockets, forwarded untouched by relays, opened by each target for its own
 * copy.  The seal binds the manifest's SHA-256 of the chunk; whoever seals
 * has checked the plaintext against it, so a target checks the GCM tag only
 * (doc/distribution.md, "Sealed data plane").
 *
 * The control plane (CURVE) carries each distribution's id and key; the
 * data plane never carries a key.  Requests that pass the token check are
 * answered from a small cache of verified sealed chunks, or handed to the
 * `archive.chunk` service as CMSG_F_DATA requests whose responses come back
 * here (overlay_set_data_responder) to be sealed. */
#ifndef CANOPY_DATAPLANE_H
#define CANOPY_DATAPLANE_H
#include "overlay.h"
#include "manifest.h"

typedef struct dataplane dataplane_t;

/* Bind this broker's data endpoint (tcp://HOST:* for a tcp bind endpoint,
 * ipc://RUNDIR/data for ipc) and register `dataplane.endpoint`.  NULL + err
 * if it cannot bind (sealed distributions are then refused). */
dataplane_t *dataplane_new (overlay_t *ov, char *err, size_t errlen);
void dataplane_destroy (dataplane_t **p);
const char *dataplane_uri (const dataplane_t *dp);

/* Controller: a new sealed distribution of archive `name` (manifest m) in
 * transfer units of `unit` bytes (0: one unit per chunk; doc/distribution.md,
 * "Transfer units"): draws its id and key, registers them here (the source
 * serves) and returns the `seal` object for archive.fetch ({dist, key,
 * unit}, hex), or NULL + err. */
json_t *dataplane_dist_create (dataplane_t *dp, const char *name, const manifest_t *m, uint32_t unit,
                               char *err, size_t errlen);
/* Target: register the `seal` object of an archive.fetch for manifest m.
 * Returns the distribution id (hex, caller frees) for dataplane_chunk_rpc,
 * or NULL + err. */
char *dataplane_dist_join (dataplane_t *dp, const char *name, const manifest_t *m,
                           const json_t *seal, char *err, size_t errlen);

/* Ask `rank` for unit idx of distribution `dist` (a chunk when its unit
 * size is 0) on its data endpoint.  cb
 * gets one response like an overlay_peer_rpc one, except that on success
 * msg->data is the unit's plaintext (a piece, or the pack's chunks one after
 * another), already opened, its tag (which binds the
 * manifest's SHA-256) checked (msg->hdr.flags has CMSG_F_DATA), and msg->frame the
 * sealed frame (overlay_respond_share forwards it untouched); a chunk that
 * failed its checks arrives with no data and no flag.  Returns the matchtag
 * (overlay_rpc_cancel forgets it), 0 if the distribution is unknown. */
uint32_t dataplane_chunk_rpc (dataplane_t *dp, const char *dist, uint32_t rank, uint32_t idx,
                              overlay_msg_f cb, void *arg);

/* When the data link to rank last became ready (its data endpoint asked
 * over the control plane, connected, and a first answer back on it; again
 * after a reconnect), in now_ms () time; now while it is not ready yet (for
 * at most 10 s from the lookup's start); 0 if there is no link.  The time
 * before it is the link's setup, not the upstream's silence: a caller's
 * stall timer counts from here. */
/* Open (if need be) the data link to rank and ask it "dataplane.ping"; cb
 * gets the answer ({} once the link is up) or an error, like
 * dataplane_chunk_rpc.  So a distribution's links are set up before any
 * chunk flows (doc/distribution.md, "Links before data").  The matchtag, or
 * 0. */
uint32_t dataplane_ping (dataplane_t *dp, uint32_t rank, overlay_msg_f cb, void *arg);
int64_t dataplane_link_since (const dataplane_t *dp, uint32_t rank);

#endif
