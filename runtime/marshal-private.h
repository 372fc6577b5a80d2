/*
 * marshal-private.h - helpers shared by the guest and server halves of the
 * marshaller (marshal.c). Not for other modules.
 */
#ifndef AVA_MARSHAL_PRIVATE_H
#define AVA_MARSHAL_PRIVATE_H

#include "marshal.h"
#include "transport.h"

/* Wire size of one handle in an array: handles are pointer-sized. */
#define HANDLE_SIZE 8

/* Bytes of a SCALAR or OUT_SCALAR argument (8 if the table says 0). */
static inline unsigned
ava_marshal_ssize(const struct ava_arg_desc *a)
{
	return a->scalar_size ? a->scalar_size : 8;
}

/* count() of a, or 1 without an expression. */
uint64_t
ava_marshal_count(const struct ava_arg_desc *a, const uint64_t *ev,
		  const uint64_t *outv);

/* count * elem as a byte count; AVA_ETOOBIG on overflow or if it exceeds
 * AVA_FRAME_MAX. */
int
ava_marshal_nbytes(uint64_t count, uint64_t elem, uint64_t *out);

/* Bytes per element of a buffer kind (handle arrays: HANDLE_SIZE). */
uint64_t
ava_marshal_elem(const struct ava_arg_desc *a);

/* Is an in-kind argument sent, per its when() expression? */
bool
ava_marshal_when(const struct ava_arg_desc *a, const uint64_t *ev);

/*
 * Translate the handles inside an out-buffer of n bytes at p in place, per
 * the typed() rule that ev selects (none: nothing to do). to_wire: local
 * handles -> ids (server); else ids -> local (guest).
 */
int
ava_marshal_typed(const struct ava_arg_desc *a, const uint64_t *ev,
		  uint8_t *p, size_t n, const struct ava_handle_ops *h,
		  bool to_wire);

/*
 * Translate the values of a property list of nwords 64-bit words at p in
 * place. Handle-valued keys come from a->prop_handles; without any, every
 * value is taken as a handle of fallback_type (0: none).
 */
int
ava_marshal_props(const struct ava_arg_desc *a, uint16_t fallback_type,
		  uint8_t *p, uint64_t nwords, const struct ava_handle_ops *h,
		  bool to_wire);

/* Apply retain/release effects of a successful call through h->ref. */
void
ava_marshal_refs(const struct ava_api_desc *api,
		 const struct ava_fn_desc *fn, const uint64_t *ev,
		 const struct ava_handle_ops *h);

/*
 * Holes (transport.h, "In-place bulk data"). ava_marshal_put_hole appends
 * a hole for n bytes at `at` (then their zero padding) and notes it in
 * set, which has room. ava_marshal_hole: the bytes of argument a found at
 * p (n bytes) in payload `base`, if set has a hole exactly there that
 * *used does not have yet, and a may be one (an opaque byte buffer of at
 * least AVA_BULK_MIN bytes, not typed); it marks the hole used. NULL:
 * not a hole.
 */
int
ava_marshal_put_hole(struct ava_buf *b, struct ava_bulk *set, const void *at,
		     uint64_t n);

uint8_t *
ava_marshal_hole(const struct ava_bulk *set, uint32_t *used,
		 const uint8_t *base, const uint8_t *p, uint64_t n,
		 const struct ava_arg_desc *a);

/* May argument a (n bytes) travel as a hole? */
bool
ava_marshal_bulk_arg(const struct ava_arg_desc *a, uint64_t n);

/* The plugged-in bulk ops, or NULL (ava_marshal_set_bulk_ops). */
const struct ava_marshal_bulk_ops *
ava_marshal_bulk(void);

/* Streams an encoder found: the ref of an in-buffer, and an out-buffer. */
struct ava_marshal_streams {
	int ref;          /* -1: none */
	void *sink;       /* NULL: none */
	uint64_t sink_len;
};

/* After encoding out (r: the result): stage set for its send, or an
 * empty one if it failed (which also clears an older set); with st, the
 * streams too. */
void
ava_marshal_stage(struct ava_bulk *set, const struct ava_buf *out, int r,
		  const struct ava_marshal_streams *st);

/* Is argument i of fn registered to stream (ava_marshal_stream_arg), and
 * of a kind that may (IN_BUF, OUT_BUF, opaque bytes, n of them)? */
bool
ava_marshal_stream_ok(const struct ava_api_desc *api,
		      const struct ava_fn_desc *fn, int i, uint64_t n);

/* Native-order load and store of a 1, 2, 4 or 8 byte integer. */
uint64_t
ava_marshal_load(const void *p, unsigned size);

void
ava_marshal_store(void *p, unsigned size, uint64_t v);

#endif
