/*
 * marshal-split.h - a CALL or REPLY payload as skeleton plus byte spans.
 *
 * The skeleton is the payload (runtime/protocol.h) with the bytes of every
 * buffer removed: IN_BUF, INOUT_BUF, IN_STRING, each buffer of IN_BUFS and
 * non-handle IN_KARG in a CALL; OUT_BUF and INOUT_BUF in a REPLY. Their
 * length words stay in the skeleton, so it can be decoded on its own (for
 * `ava journal dump`) and joined back with the spans in order (for
 * replay). Handle ids stay ids: a skeleton never holds a real handle.
 *
 * Thread safety: stateless.
 */
#ifndef AVA_MARSHAL_SPLIT_H
#define AVA_MARSHAL_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ava-desc.h"
#include "wire.h"

/* Most spans one payload may have; more is AVA_ETOOBIG. */
#define AVA_MARSHAL_MAX_SPANS 256

struct ava_span {
	const uint8_t *data;  /* borrowed */
	uint64_t len;
};

/*
 * Split the n-byte payload at p (a CALL, or a REPLY if reply) of fn: the
 * skeleton is appended to skel, the spans (pointing into p, valid while p
 * is) are stored in spans[0..*nspans). Nothing is trusted: returns 0,
 * AVA_EPROTO for a malformed payload, AVA_ETOOBIG for more than max_spans
 * spans, or the buffer's error.
 */
int
ava_marshal_split(const struct ava_fn_desc *fn, bool reply, uint8_t *p,
		  size_t n, struct ava_buf *skel, struct ava_span *spans,
		  uint32_t max_spans, uint32_t *nspans);

/*
 * The inverse: append to out the payload that skeleton skel (n bytes) and
 * exactly nspans spans make. Returns 0, AVA_EPROTO if they do not fit
 * together (a span of the wrong length, too few or too many), or the
 * buffer's error.
 */
int
ava_marshal_join(const struct ava_fn_desc *fn, bool reply,
		 const uint8_t *skel, size_t n, const struct ava_span *spans,
		 uint32_t nspans, struct ava_buf *out);

#endif
