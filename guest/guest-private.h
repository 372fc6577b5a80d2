/*
 * guest-private.h - what the guest core's files share: a guest thread's
 * connection, the async queue (batch.c) and the API glue that decides
 * which calls may be queued (for OpenCL: opencl-async.c).
 *
 * Batching (doc/protocol.md, "Batches"). A call the spec marks async, and
 * that the API glue finds sure to succeed, is not sent at once: it joins
 * one queue for the whole process, in call order, and its stub returns
 * the API's success value. The queue goes to the server, as one BATCH
 * frame, when a thread makes a synchronous call (on that thread's
 * connection, with the call at its end), when it holds a size bound of
 * calls (see below) or BATCH_MAX_BYTES bytes, at clFlush, and at the latest about
 * BATCH_DELAY_NS after its oldest call was queued (by a flusher thread
 * on a connection of its own). AVA_BATCH=0 in the environment turns
 * batching off: every call is then sent and answered on its own;
 * AVA_BATCH=all queues without the checks (ava_batch_unchecked).
 *
 * Thread safety: a struct tconn belongs to its thread; the queue has its
 * own lock, never held while the registry lock is taken.
 */
#ifndef AVA_GUEST_PRIVATE_H
#define AVA_GUEST_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "ava-desc.h"
#include "transport.h"
#include "wire.h"

/* One guest thread's connection. */
struct tconn {
	struct ava_conn *conn;
	uint64_t seq;
	uint32_t thread;
	struct ava_buf out;
	struct ava_frame in;
	struct ava_buf batch;    /* a BATCH this thread is sending */
	uint64_t covered;        /* queued calls the server runs before this
				  * connection's next frame */
	bool deferred_pending;   /* a queued call of this thread failed, and */
	uint64_t deferred;       /* no synchronizing call returned this yet */
	struct ava_buf cbs;      /* callbacks made inside the current call */
	/* For a resume (guest.c): the last frame sent, whose payload stays
	 * in out or batch until the next one, and the last call answered. */
	struct ava_frame_header last;
	const void *last_p;
	uint64_t answered;
	/* The synchronous call awaiting its reply (after a MOVED it goes to
	 * the new server, behind the queued calls numbered below `need`),
	 * and the server generation this connection belongs to. */
	struct ava_frame_header call_h;
	bool pending;
	uint64_t need;
	uint64_t gen;
};

/* Queue bounds; a call larger than BATCH_CALL_MAX is always sent alone.
 * After a synchronous call the size bound starts at BATCH_MIN_CALLS and
 * doubles with each batch sent, up to BATCH_MAX_CALLS. */
#define BATCH_MIN_CALLS 64
#define BATCH_MAX_CALLS 1024
#define BATCH_MAX_BYTES (256u * 1024u)
#define BATCH_CALL_MAX (64u * 1024u)
#define BATCH_DELAY_NS 1000000u   /* 1 ms */

/* ---- guest.c, for batch.c ------------------------------------------- */

/*
 * Send one frame on t and remember it. If the server is gone and
 * AVA_RECONNECT_MS allows it, t first resumes its session at AVA_SERVER
 * (a server restored from a checkpoint) and sends it there.
 */
int
ava_guest_send(struct tconn *t, const struct ava_frame_header *h,
	       const void *p);

/* The API the guest serves (valid once a connection exists). */
const struct ava_api_desc *
ava_guest_api(void);

/* A connection of no thread's (the batch flusher's), for the life of
 * the process. Returns 0 or the error (already reported). */
int
ava_guest_conn_open(struct tconn **out);

/* The handle type of p if it is a live object (then *id, if id is not
 * NULL, is its id), else 0. Never dereferences p. */
uint16_t
ava_guest_object(const void *p, uint64_t *id);

/* The link to the server failed with err: report once, fail fast after. */
void
ava_guest_lost(int err);

/* ---- batch.c ---------------------------------------------------------- */

/* Start the batch flusher, which opens a connection of its own, if calls
 * may be queued: called as each thread's connection comes up, before it
 * can queue anything (the first call does it; later ones return). */
void
ava_batch_start(void);

/* Whether calls may be queued at all (AVA_BATCH). */
bool
ava_batch_enabled(void);

/* AVA_BATCH=all: queue every call the spec marks async, without the API
 * glue's checks; the application then hears of their errors only later,
 * as deferred errors. For applications known to be correct, and tests. */
bool
ava_batch_unchecked(void);

/*
 * Queue the call to fn encoded in t->out; named: it ends with the id of
 * the object it creates (AVA_FRAME_NAMED). With flush, or once the queue
 * is full, send the queue on t's connection. Returns 0 or a transport
 * error (not yet reported).
 */
int
ava_batch_queue(struct tconn *t, const struct ava_fn_desc *fn, bool flush,
		bool named);

/*
 * Send the synchronous call to fn encoded in t->out: behind the queued
 * calls, and after the server ran every call queued before it, wherever
 * those travel. Returns 0 or a transport error (not yet reported).
 */
int
ava_batch_send_call(struct tconn *t, const struct ava_fn_desc *fn);

/* A DEFERRED frame arrived in t->in: log it, keep it for the thread's
 * next synchronizing call. Returns 0 or AVA_EPROTO. */
int
ava_batch_deferred(struct tconn *t);

/* Process exit: stop the flusher and send what is queued on t (or on the
 * flusher's connection if t is NULL). */
void
ava_batch_exit(struct tconn *t);

/* Say BYE on t's connection (flags: AVA_FRAME_THREAD for a thread that
 * ends before the process); nothing if it has none or it is gone. */
void
ava_guest_bye(struct tconn *t, uint32_t flags);

/* ---- heap.c: the session's shared heap ------------------------------- */

/* A WELCOME on conn offered a heap of size bytes (0: none): take its
 * descriptor and map it, unless it is the one mapped already. Without
 * it, large transfers take the copying path. */
void
ava_guest_heap_take(struct ava_conn *conn, uint64_t size);

/* ---- callback.c: `remote` callbacks ----------------------------------- */

/* Does this call pass a `remote` callback? */
bool
ava_callbacks_in(const struct ava_fn_desc *fn, const uint64_t *v);

/*
 * Before such a call: open the callback channel if needed, and give each
 * callback a cookie, which replaces its user data in v (saved[], indexed
 * like v, keeps the user data and each callback's cookie). Returns 0 or
 * an error (reported); call ava_callbacks_settle() afterwards in every
 * case.
 */
int
ava_callbacks_register(const struct ava_fn_desc *fn, uint64_t *v,
		       uint64_t *saved);

/* After it: restore v; ok (the call succeeded, returning ret): the
 * callbacks may now be called; else they are forgotten. */
void
ava_callbacks_settle(const struct ava_fn_desc *fn, uint64_t *v,
		     const uint64_t *saved, bool ok, uint64_t ret);

/* A CALLBACK frame came in t->in before the reply t waits for: the
 * driver called it inside the call. Keep it for ava_callbacks_run(). */
void
ava_callbacks_stash(struct tconn *t);

/* The call is over (and settled): call what it stashed, in order, on
 * this thread, before the call returns to the application. */
void
ava_callbacks_run(struct tconn *t);

/* ---- the API glue (opencl-async.c, opencl-callbacks.c) ---------------- */

/* Is a callback registered by fn called at most once? */
bool
ava_guest_callback_oneshot(uint32_t fn);

/* Does the driver call fn's callback although fn failed with err (a
 * build that fails still reports)? */
bool
ava_guest_callback_despite(uint32_t fn, int64_t err);

/*
 * Call the application's function pfn, registered by fn with user_data,
 * about obj (the object made by fn, or its first object argument), with
 * the arguments the server sent (len bytes at body). Malformed bodies are
 * ignored.
 */
void
ava_guest_callback_invoke(uint32_t fn, void *pfn, void *user_data,
			  void *obj, const uint8_t *body, size_t len);

enum ava_async_verdict {
	AVA_ASYNC_SEND,         /* send and wait: the outcome is not certain */
	AVA_ASYNC_QUEUE,        /* queue it: it cannot fail */
	AVA_ASYNC_QUEUE_FLUSH,  /* queue it and send the queue now */
};

/*
 * May this call, which the spec marks async (and whose async_unless is
 * 0), be queued? Only if the glue can tell that the real call will
 * succeed: the native error of a call that fails must come from the call
 * itself. May make synchronous calls of its own (queries it caches).
 * Called without locks. Also asked of a call that creates one object
 * (ava_marshal_nameable()): queued, it names that object itself.
 */
enum ava_async_verdict
ava_guest_async_check(const struct ava_fn_desc *fn, const uint64_t *v);

/* A call succeeded (or was queued): what the glue learns from it. */
void
ava_guest_async_note(const struct ava_fn_desc *fn, const uint64_t *v,
		     uint64_t ret, bool queued);

/* The object with this id is gone: forget what was cached about it.
 * Called with the registry lock held. */
void
ava_guest_async_forget(uint64_t id);

#endif
