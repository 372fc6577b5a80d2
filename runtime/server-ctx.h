/*
 * server-ctx.h - what a server hook (ava_NAME_server_hook_<fn>) and the
 * generated invoke() see of the call they serve.
 *
 * One context exists per session worker and is reused for every call;
 * pointers in it are valid only during the call. Hooks run on the
 * session's thread and must not keep the context.
 */
#ifndef AVA_SERVER_CTX_H
#define AVA_SERVER_CTX_H

#include <stdbool.h>
#include <stdint.h>

#include "ava-generated.h"
#include "marshal.h"

struct ava_session;

struct ava_server_ctx {
	struct ava_session *session;       /* owning session (opaque) */
	const struct ava_server_api *server;
	uint64_t session_id;
	uint32_t thread;                   /* guest thread of this call */
	uint64_t seq;                      /* its sequence number */
	/*
	 * The decoded call: ctx->call->cap[i] is the capacity (elements) the
	 * server allocated for out argument i, ctx->call->ev its expression
	 * values. Hooks may fill out storage up to that capacity only.
	 */
	struct ava_call *call;
	/*
	 * Planned, not built: the journal writer for this session (a record
	 * is appended after invoke() and before the REPLY is sent), and the
	 * per-guest-thread execution context that will run the call.
	 */
	void *journal;
	void *exec;
};

/* From a call's implementation: the guest's next frame on this thread
 * is due within us (it copies between two calls); the connection may
 * wait for it by spinning, once (ava_transport_conn_expect). */
void
ava_session_expect_next(unsigned us);

/* From a call's implementation: run fn(arg) on this thread once the
 * call's REPLY is sent (or could not be), before the next call and
 * before a migration can stop the session; one per call. For work the
 * guest need not wait for, such as letting the driver start a command
 * whose worker would compete with the guest for a CPU. */
void
ava_session_after_reply(void (*fn)(void *), void *arg);

/* From a call's implementation: is the call a kept one, run again while
 * a session is rebuilt from a captured state (restore, migration)? Its
 * objects' contents are written back after it. */
bool
ava_session_rebuilding(void);

/* From a call's implementation: is the session's journal recording? */
bool
ava_session_journaled(void);

/*
 * From a call's implementation that moved bytes through the shared heap,
 * where the journal cannot see them: have the journal record, in the
 * call's place, the call fn_id that does the same, with arguments v (the
 * real objects for handles, 0 for NULL), every pointer argument absent
 * but buf, whose bytes are [bytes, bytes + len) once the call is over,
 * (buf -1: none), and its return value ret (session-journal.h, struct
 * ava_journal_as). Without a journal it does nothing.
 */
void
ava_session_journal_as(uint32_t fn_id, const uint64_t *v, int buf,
		       const void *bytes, uint64_t len, int64_t ret);

/* From a call's implementation: the journal records nothing for this
 * call, and the guest thread's next call takes its place in the
 * journal's order: the plain call the guest then sends, or the call
 * that ends a transfer, which names what the two did (as above). */
void
ava_session_journal_hold(void);

/* The session's shared heap (shared-heap.h), or NULL while the session
 * has none: no guest over shm: yet, or AVA_SHM_HEAP_MIB=0.
 * Once there, it stays until the worker exits. */
struct ava_heap;

struct ava_heap *
ava_session_heap(void);

#endif
