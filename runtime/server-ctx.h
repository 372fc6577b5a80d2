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
 * What the journal records in place of a call whose implementation moved
 * bytes through the shared heap, where the journal cannot see them: the
 * plain call fn that does the same (session-journal.h, struct
 * ava_journal_as). Handles are the real objects here; the session makes
 * them ids, and marks as made what the call returns or puts out.
 */
#define AVA_SESSION_AS_LIST 64   /* objects in list, at most */

struct ava_session_as {
	uint32_t fn;
	/* Per argument: a scalar's value; a handle's or an out-handle's
	 * real object (0: NULL, or none); for any other kind, whether the
	 * caller gave it (nonzero) or not. */
	uint64_t v[AVA_MAX_ARGS];
	/* An out-scalar's value, as the call's REPLY gives it. */
	uint64_t out[AVA_MAX_ARGS];
	int buf;                 /* the buffer argument with bytes, -1: none */
	const void *bytes;       /* its bytes, once the call is over */
	uint64_t len;
	int list;                /* the handle-list argument given, -1: none */
	const void *const *objs; /* its real objects */
	uint32_t nobjs;
	int64_t ret;             /* a status, or the real object made */
};

/* From a call's implementation: record *as in the call's place. Without
 * a journal it does nothing. */
void
ava_session_journal_as(const struct ava_session_as *as);

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
