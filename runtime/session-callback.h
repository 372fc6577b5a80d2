/*
 * session-callback.h - callbacks from the driver to the guest
 * (doc/protocol.md, "Callbacks").
 *
 * A guest that registers a callback the spec marks `remote` first opens a
 * callback channel: one more connection of its session, which announces
 * itself with a CALLBACK frame and then only receives. The server hands
 * the driver a trampoline of the API's glue (ava_marshal_set_trampolines)
 * with the guest's cookie as user data; when the driver calls it, the
 * trampoline sends a CALLBACK frame with the cookie and the callback's
 * arguments, on the channel or, inside a synchronous call, on that
 * call's connection (ava_session_callback_inline), and the guest calls
 * the application's function with the application's user data.
 *
 * A worker process serves one session, so the channel is process-wide
 * state, and a trampoline that the driver calls late (after the session
 * ended, from a driver thread) finds no channel rather than a freed
 * session. Thread safety: every function may be called from any thread.
 */
#ifndef AVA_SESSION_CALLBACK_H
#define AVA_SESSION_CALLBACK_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"
#include "wire.h"

/*
 * The calling thread serves a synchronous call (sink) or no longer does
 * (NULL). A callback the driver makes on this thread meanwhile, inside
 * the call, is appended to sink (each a u64 length, then the CALLBACK
 * payload, padded to 8) rather than sent on the channel: the session
 * sends them on the call's connection before its REPLY, and the guest
 * calls them before the call returns, as the driver did natively.
 */
void
ava_session_callback_inline(struct ava_buf *sink);

/* conn is now the session's callback channel (it replaces an earlier
 * one); api_id goes into the frames' headers. */
void
ava_session_callback_attach(struct ava_conn *conn, uint8_t api_id);

/* conn is about to be destroyed: if it is the channel, there is none. */
void
ava_session_callback_detach(struct ava_conn *conn);

/*
 * From a trampoline: send the guest a CALLBACK frame, payload the u64
 * cookie and then len bytes of body (the callback's arguments, as the
 * API's glue encodes them). Returns 0; AVA_EDEAD if there is no channel
 * (no guest to call: replay, or a guest gone), or the transport's error.
 */
int
ava_session_callback_send(uint64_t cookie, const void *body, size_t len);

#endif
