/*
 * marshal.h - the generic marshaller: encodes and decodes CALL and REPLY
 * payloads (runtime/protocol.h) for any function, driven only by its
 * struct ava_fn_desc. Generated code never marshals by itself.
 *
 *   guest:  ava_marshal_call_encode -> send -> recv -> ava_marshal_reply_decode
 *   server: recv -> ava_marshal_call_decode -> invoke ->
 *           ava_marshal_reply_encode (or ava_marshal_reply_reject)
 *
 * Argument vectors. `v[i]` holds argument i as the C call has it: the
 * scalar value, the handle (a guest object pointer in the guest, a real
 * handle on the server) or a pointer, each widened to 64 bits. `ev[i]` is
 * what the spec's expressions see, identical on both sides: scalars, handle
 * ids, and 0/1 presence for pointers. `outv[i]` holds OUT_SCALAR values
 * after the call; an OUT_SCALAR the guest passed as NULL reads as
 * AVA_MARSHAL_UNKNOWN, so a filled() expression over it falls back to the
 * full capacity.
 *
 * Thread safety: the functions keep no state; callers own every argument.
 */
#ifndef AVA_MARSHAL_H
#define AVA_MARSHAL_H

#include <stdbool.h>
#include <stdint.h>

#include "ava-desc.h"
#include "wire.h"

#define AVA_MARSHAL_UNKNOWN UINT64_MAX

/* Longest property list the guest will scan for its terminator. */
#define AVA_MARSHAL_PROPS_MAX 1024

struct ava_bulk;

/*
 * Zero a call's n argument slots, one store each, not all AVA_MAX_ARGS.
 * GCC made such a memset, even of a variable size, into a `rep stos`,
 * whose start-up costs more than the few stores a call has arguments
 * for: 42 % of ava_guest_call()'s samples in the launch-heavy benchmark,
 * 36 % of the server's decoder's (doc/performance.md). The empty asm
 * keeps the compiler from making the loop a memset again.
 */
static inline void
ava_marshal_zero_slots(uint64_t *slot, int n)
{
	for (int i = 0; i < n; i++) {
		slot[i] = 0;
		__asm__ volatile("" ::: "memory");
	}
}

/*
 * How one side maps handles between its local values and wire ids.
 * Each returns 0 or a negative error; AVA_EHANDLE means "not a live handle
 * of that type", which the server answers with the type's invalid_error.
 */
struct ava_handle_ops {
	/* local (nonzero) -> id. creates: the call handed out a new reference. */
	int (*to_wire)(void *ctx, uint16_t type, uint64_t local, bool creates,
		       uint64_t *id);
	/* id (nonzero) -> local. type 0 accepts any type (kernel arguments);
	 * *type_out (may be NULL) receives the actual one. */
	int (*from_wire)(void *ctx, uint16_t type, uint64_t id, bool creates,
			 uint64_t *local, uint16_t *type_out);
	/* Guest only (NULL on the server): do the n bytes at p hold one live
	 * object? Then *id is its id. Must not dereference unknown pointers. */
	bool (*karg_id)(void *ctx, const void *p, size_t n, uint64_t *id);
	/* After a successful retain (+1) or release (-1) of id. */
	void (*ref)(void *ctx, uint64_t id, int delta);
	void *ctx;
};

/* ---- guest side -------------------------------------------------------- */

/*
 * Encode the CALL payload for fn with the application's arguments v into
 * out (appended). Fills ev[AVA_MAX_ARGS] for ava_marshal_reply_decode().
 * Reads the application's in-buffers; never writes them.
 * Returns 0, AVA_ETOOBIG (a buffer or the frame exceeds AVA_FRAME_MAX),
 * -EINVAL (an unterminated property list), -ENOMEM, or an error of
 * h->to_wire.
 */
int
ava_marshal_call_encode(const struct ava_api_desc *api,
			const struct ava_fn_desc *fn, const uint64_t *v,
			const struct ava_handle_ops *h, uint64_t *ev,
			struct ava_buf *out);

/*
 * From now on, for the whole process, ava_marshal_call_encode() leaves
 * the bytes of each opaque in-buffer (IN_BUF or INOUT_BUF of bytes) of at
 * least AVA_BULK_MIN bytes out of the payload, when the thread's
 * connection is shm: (ava_transport_bulk_ready): a hole where they
 * belong, at most AVA_BULK_MAX per call, whose set (pointing at the
 * application's memory) it stages on the thread (transport.h, "In-place
 * bulk data"). Only for a caller that sends each payload it encodes from
 * that thread and its connection, or fills it with
 * ava_transport_bulk_unstage() first: the guest library (guest/batch.c).
 */
void
ava_marshal_defer_bulk(bool on);

/*
 * Decode a REPLY payload (n bytes at p, rewritten in place) for the call
 * encoded from v and ev: writes the outputs into the application's
 * storage, sets *ret (objects for handles) and outv[AVA_MAX_ARGS], and
 * applies retain/release effects through h->ref on success. An out
 * buffer whose bytes the server left in the shared area (a hole of the
 * payload this thread just received, ava_transport_bulk_received()) is
 * copied from there, once; a hole anywhere else is malformed.
 * Returns 0, AVA_EPROTO (malformed or exceeding a capacity) or an error of
 * h->from_wire.
 */
int
ava_marshal_reply_decode(const struct ava_api_desc *api,
			 const struct ava_fn_desc *fn, const uint64_t *v,
			 const uint64_t *ev, const struct ava_handle_ops *h,
			 uint8_t *p, size_t n, uint64_t *ret, uint64_t *outv);

/* ---- server side ------------------------------------------------------- */

/*
 * Traits of a function: which per-argument loops can find anything. A
 * function with none of AVA_TRAIT_OUT has a REPLY of its return value
 * alone. The table is built on first use, once per API (a few are kept;
 * others get AVA_TRAIT_ALL).
 */
enum {
	AVA_TRAIT_OUT = 1u << 0,       /* an out or inout argument */
	AVA_TRAIT_REFS = 1u << 1,      /* an argument it retains or releases */
	AVA_TRAIT_OVERRIDE = 1u << 2,  /* an overridden scalar, a REMOTE
				        * callback */
	AVA_TRAIT_BUFS = 1u << 3,      /* an IN_BUFS argument */
	AVA_TRAIT_WRITES = 1u << 4,    /* a handle it writes (AVA_ARGF_WRITES) */
	AVA_TRAIT_ALL = 0x1f,
};

uint8_t
ava_marshal_traits(const struct ava_api_desc *api,
		   const struct ava_fn_desc *fn);

/* The index of the function's error out-argument, or -1. */
int
ava_marshal_errcode_arg(const struct ava_fn_desc *fn);

/*
 * Whether a call of fn may carry a guest-named id for what it creates
 * (doc/protocol.md, "Named creations"): it creates exactly one object,
 * as its return value or through one OUT_HANDLE, of a type that is
 * refcounted, and has no other result than its status or error
 * out-argument, and no callback. *type gets the object's handle type,
 * *arg the OUT_HANDLE's index or -1 for the return value.
 */
bool
ava_marshal_nameable(const struct ava_api_desc *api,
		     const struct ava_fn_desc *fn, uint16_t *type, int *arg);

/*
 * One decoded call and the storage behind it. Pointers in v point into the
 * CALL payload (which must outlive the call) or into storage owned here.
 */
struct ava_call {   /* a new field: reset it in call_reset() */
	const struct ava_api_desc *api;
	const struct ava_fn_desc *fn;
	uint64_t v[AVA_MAX_ARGS];
	uint64_t ev[AVA_MAX_ARGS];
	uint64_t outv[AVA_MAX_ARGS];
	uint64_t cap[AVA_MAX_ARGS];      /* out kinds: capacity, elements */
	uint8_t *raw[AVA_MAX_ARGS];      /* in kinds: bytes in the payload */
	uint64_t rawn[AVA_MAX_ARGS];     /* in kinds: count or nbytes sent */
	void *alloc[AVA_MAX_ARGS];       /* storage owned by the call */
	uint64_t scratch[AVA_MAX_ARGS];  /* one-word out storage */
	bool karg_id[AVA_MAX_ARGS];      /* IN_KARG sent as a handle id */
	bool owns;                       /* some alloc[] is set */
	bool queued;                     /* its REPLY is never sent (the
					  * caller sets it after decoding) */
	uint8_t traits;                  /* ava_marshal_traits(), AVA_TRAIT_* */
	const struct ava_bulk *bulk;     /* the payload's holes, or NULL */
	uint32_t bulk_used;              /* bit k: hole k is an argument's */
	int bad_arg;                     /* refused handle's argument, or -1 */
	uint16_t bad_type;               /* and its handle type */
	uint64_t bad_id;                 /* and the id that was refused */
};

/*
 * Decode and validate a CALL payload (n bytes at p, rewritten in place) for
 * fn into c, translating ids through h. Checks every length against the
 * frame, every in-buffer against its count expression, every string for
 * its NUL, every capacity against AVA_FRAME_MAX, all before allocating.
 *
 * In place over shm: (transport.h, "In-place bulk data"): an opaque
 * in-buffer whose bytes the guest left in the shared area (a hole of the
 * payload this thread just received) points there, and every hole must
 * be such a buffer's bytes, exactly, or the call is malformed; a large
 * opaque out-buffer gets storage in the area when there is room
 * (ava_transport_bulk_alloc), which ava_marshal_reply_encode() then
 * sends in place. A streamed buffer (below, "Streams") of a registered
 * argument is the stream's: the in-buffer's pointer and the out-buffer's
 * storage are tokens that only the stream functions take; a stream at
 * an argument not registered is malformed.
 * Returns 0; AVA_EHANDLE (c->bad_arg/bad_type tell which: answer with
 * ava_marshal_reply_reject); AVA_EPROTO or AVA_ETOOBIG (a protocol
 * violation: close the session); or -ENOMEM. Call ava_call_finish()
 * afterwards in every case.
 */
int
ava_marshal_call_decode(const struct ava_api_desc *api,
			const struct ava_fn_desc *fn, uint8_t *p, size_t n,
			const struct ava_handle_ops *h, struct ava_call *c);

/*
 * Apply OVERRIDE values: invoke() gets them, expressions do not. And give
 * each REMOTE callback the guest passed its trampoline (see
 * ava_marshal_set_trampolines), with the guest's cookie as its user data:
 * without a trampoline the callback stays NULL.
 */
void
ava_marshal_call_override(struct ava_call *c);

/* The trampoline to hand the driver for callback argument `arg` of
 * function `fn`; NULL if the API has none. */
typedef void *(*ava_trampoline_fn)(uint32_t fn, int arg);

/* Set the API's trampolines, for every later ava_marshal_call_override()
 * of the process (the server's and replay's). */
void
ava_marshal_set_trampolines(ava_trampoline_fn t);

/*
 * After the real call returned ret: read the outputs, translate handles
 * (registering new ones), apply retain/release effects and append the
 * REPLY payload to out. Out-buffers are trimmed to filled() and sent only
 * if the call succeeded. Returns 0, -ENOMEM, AVA_ETOOBIG or an error of
 * h->to_wire.
 */
int
ava_marshal_reply_encode(struct ava_call *c, uint64_t ret,
			 const struct ava_handle_ops *h, struct ava_buf *out);

/*
 * Append the REPLY for a call refused before it ran: err as the return
 * value of status functions and in the error out-argument, every other
 * output empty.
 */
int
ava_marshal_reply_reject(const struct ava_fn_desc *fn, int64_t err,
			 struct ava_buf *out);

/* Free what c owns; c may be decoded into again. */
void
ava_call_finish(struct ava_call *c);

/* ---- shared ----------------------------------------------------------- */

/*
 * Where the bytes of holes are (transport.h, "In-place bulk data"). The
 * shm: transport plugs these in when it makes its first connection;
 * without them the marshaller makes no holes and accepts none, so it
 * needs no transport to link.
 */
struct ava_marshal_bulk_ops {
	bool (*ready)(void);
	void (*stage)(const struct ava_bulk *set);
	const struct ava_bulk *(*received)(const void *p, size_t n);
	void *(*alloc)(size_t n);
	bool (*shared)(const void *p, size_t n);
	/* Streams (below). Guest: after stage, the ref of set that may
	 * stream (-1: none) and the out-buffer that may (NULL: none). */
	void (*stage_streams)(const struct ava_bulk *set, int ref, void *sink,
			      size_t n);
	/* Server: what the ava_marshal_stream_* functions do; stream_out
	 * gives the out-stream as storage for n bytes, or NULL. */
	bool (*stream_in)(const void *p, size_t n);
	int (*take)(bool wait, const void **at);
	void (*release)(size_t n);
	void *(*stream_out)(size_t n);
	bool (*is_stream_out)(const void *p);
	int (*reserve)(bool wait, void **at);
	void (*publish)(size_t n);
};

void
ava_marshal_set_bulk_ops(const struct ava_marshal_bulk_ops *ops);

/*
 * Streams (shm:, doc/protocol.md "shm: bulk data"). The bytes of a large
 * opaque buffer of a registered argument may pass through a small window
 * of the shared area piece by piece, so that the guest's copy and the
 * driver's overlap: an in-buffer (IN_BUF) from the guest's memory to the
 * server's hook, an out-buffer (OUT_BUF) from the hook to the guest's
 * memory. Both sides register the same arguments, before any call (a
 * constructor); at most AVA_MARSHAL_STREAM_ARGS in all. Only a server
 * hook that knows it may get a stream may have its argument registered:
 * it must ask, as below, before it touches the buffer.
 */
#define AVA_MARSHAL_STREAM_ARGS 8

void
ava_marshal_stream_arg(uint8_t api_id, uint32_t fn_id, int arg);

/*
 * For a server hook, on the thread that serves the call. Is the
 * in-buffer at p (n bytes) a stream? Then take its bytes: each take
 * gives the next piece (*at, the return value: its length), waiting
 * for it with wait, else 0 when none is there yet (and 0 at once, wait
 * or not, when all the window is taken: release some); release gives back
 * the oldest n bytes taken, once the driver is done with them. Is the
 * out-buffer at p a stream? Then reserve room for its next piece (*at,
 * the length; with wait, waiting for it) and publish the oldest n bytes
 * reserved once they are written. A hook that returns success must have
 * published the buffer's filled() bytes, in order. The two streams share
 * the window: a call's in-stream is all taken and released before its
 * out-stream is reserved (else AVA_EPROTO). Errors (< 0) mean the
 * connection is unusable: the hook fails the call. What the hook leaves
 * of an in-stream is taken and dropped before the REPLY.
 */
bool
ava_marshal_stream_in(const void *p, size_t n);

int
ava_marshal_stream_take(bool wait, const void **at);

void
ava_marshal_stream_release(size_t n);

bool
ava_marshal_stream_out(const void *p);

int
ava_marshal_stream_reserve(bool wait, void **at);

void
ava_marshal_stream_publish(size_t n);

/* Did the call succeed, by its return value or its error out-argument? */
bool
ava_marshal_succeeded(const struct ava_api_desc *api,
		      const struct ava_fn_desc *fn, uint64_t ret,
		      const uint64_t *outv);

/*
 * Is argument i of fn the user data of a REMOTE callback? Its value then
 * travels: the guest's cookie for the callback (0: no callback), which
 * the server hands the driver as user data (doc/protocol.md, "Callbacks").
 * Other user data is sent as 0.
 */
bool
ava_marshal_remote_userdata(const struct ava_fn_desc *fn, int i);

/* The value v as the argument's C type holds it: truncated to its size,
 * sign-extended if signed. */
uint64_t
ava_marshal_scalar(const struct ava_arg_desc *a, uint64_t v);

#endif
