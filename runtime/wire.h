/*
 * wire.h - frame headers, a growable buffer, a bounds-checked reader and
 * full-read/full-write helpers: the byte-level layer under every transport.
 *
 * Everything is little-endian on the wire. Words are copied with memcpy
 * and converted with <endian.h>, so the code depends on neither the host's
 * byte order nor its alignment or struct layout; the helpers are inline
 * because a small call's encoding and decoding are mostly these words
 * (doc/performance.md). Nothing read from a peer is trusted: every length
 * is checked against what remains before it is used or anything is
 * allocated for it.
 *
 * Thread safety: none of these objects is shared; a caller that shares one
 * between threads locks it itself.
 */
#ifndef AVA_WIRE_H
#define AVA_WIRE_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ava-error.h"
#include "protocol.h"

/* Round n up to the wire's 8-byte alignment. n must be <= SIZE_MAX - 7. */
static inline size_t
ava_wire_pad(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Write the low nbytes (at most 8) of v at p, little-endian. */
static inline void
ava_wire_put_le(uint8_t *p, uint64_t v, unsigned nbytes)
{
	if (nbytes == 8) {
		uint64_t le = htole64(v);
		memcpy(p, &le, 8);
		return;
	}
	if (nbytes == 4) {
		uint32_t le = htole32((uint32_t)v);
		memcpy(p, &le, 4);
		return;
	}
	for (unsigned i = 0; i < nbytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Read nbytes (at most 8) at p as a little-endian number. */
static inline uint64_t
ava_wire_get_le(const uint8_t *p, unsigned nbytes)
{
	uint64_t v = 0;
	if (nbytes == 8) {
		memcpy(&v, p, 8);
		return le64toh(v);
	}
	if (nbytes == 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		return le32toh(w);
	}
	for (unsigned i = 0; i < nbytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Write the 40-byte header h to out. Never fails. */
void
ava_frame_header_encode(const struct ava_frame_header *h,
			uint8_t out[AVA_FRAME_HEADER_SIZE]);

/*
 * Decode and check a header from the n bytes at in.
 * Returns 0, AVA_EPROTO (short input, bad magic, unknown type, nonzero
 * reserved), AVA_EVERSION (other protocol version) or AVA_ETOOBIG
 * (len > AVA_FRAME_MAX). *h is filled even on error where the bytes were
 * there, so callers can log what they saw.
 */
int
ava_frame_header_decode(const uint8_t *in, size_t n,
			struct ava_frame_header *h);

/*
 * BATCH payloads (protocol.h): a u64 base, then whole frames back to back,
 * each a 40-byte header and its `len` payload bytes.
 */
struct ava_batch_reader {
	uint8_t *p;
	size_t left;
};

/*
 * Start reading the n-byte BATCH payload at p (rewritten in place by
 * whoever decodes the calls in it); *base receives its base.
 * Returns 0, or AVA_EPROTO if fewer than 8 bytes are there.
 */
int
ava_batch_begin(struct ava_batch_reader *r, uint8_t *p, size_t n,
		uint64_t *base);

/*
 * The next frame of the batch: its header in *h and its payload at
 * *payload (h->len bytes inside the batch). Returns 1, 0 at the end of the
 * batch, or the error of a malformed frame: what ava_frame_header_decode
 * returns, or AVA_EPROTO for a frame that is not a CALL or runs past the
 * end of the batch. Nothing is read outside the batch.
 */
int
ava_batch_next(struct ava_batch_reader *r, struct ava_frame_header *h,
	       uint8_t **payload);

struct ava_buf;

/* Append one frame of a batch: h (its len must be n) and n bytes at p. */
int
ava_batch_put_frame(struct ava_buf *b, const struct ava_frame_header *h,
		    const void *p, size_t n);

/*
 * A growable byte buffer. Errors are sticky: after a failed append every
 * later append is a no-op and ava_buf_error() reports the first error, so
 * encoders can append many fields and check once.
 */
struct ava_buf {
	uint8_t *data;  /* owned; NULL until the first append */
	size_t len;
	size_t cap;
	int err;        /* 0 or the first error (-ENOMEM, AVA_ETOOBIG) */
	unsigned idle;  /* ava_buf_done(): uses in a row that were small */
};

void
ava_buf_init(struct ava_buf *b);

/* Free the storage; b may be reused after ava_buf_init(). */
void
ava_buf_finish(struct ava_buf *b);

/* Forget the contents and the sticky error, keep the storage. */
void
ava_buf_reset(struct ava_buf *b);

/*
 * A use of b is over: forget its contents, and give its storage back
 * once it is larger than AVA_BUF_KEEP and AVA_BUF_IDLE uses in a row did
 * not need that much. A connection that carried one large transfer does
 * not hold its size for good; one that carries them one after the other
 * keeps its storage, and its pages, for the next.
 */
#define AVA_BUF_KEEP (8u << 20)
#define AVA_BUF_IDLE 32u
void
ava_buf_done(struct ava_buf *b);

/* Make room for n more bytes. Returns 0, -ENOMEM or AVA_ETOOBIG. */
int
ava_buf_reserve(struct ava_buf *b, size_t n);

/* Append n zeroed bytes; *at receives their address (valid until the
 * next append). Returns 0 or the sticky error. */
int
ava_buf_put_zeros(struct ava_buf *b, size_t n, uint8_t **at);

/* ava_buf_put_u64()'s way when there is no room yet (or an error). */
int
ava_buf_put_u64_grow(struct ava_buf *b, uint64_t v);

/* Append one u64: inline, for the common case of room already there. */
static inline int
ava_buf_put_u64(struct ava_buf *b, uint64_t v)
{
	if (b->err != 0 || b->cap - b->len < 8 || b->len > AVA_FRAME_MAX - 8)
		return ava_buf_put_u64_grow(b, v);
	ava_wire_put_le(b->data + b->len, v, 8);
	b->len += 8;
	return 0;
}

/* Append n bytes from p as they are (ERROR text, tests). */
int
ava_buf_put_bytes(struct ava_buf *b, const void *p, size_t n);

/* Append n bytes from p, then zeros up to the next multiple of 8. */
int
ava_buf_put_padded(struct ava_buf *b, const void *p, size_t n);

static inline int
ava_buf_error(const struct ava_buf *b)
{
	return b->err;
}

/*
 * A bounds-checked reader over a payload the caller owns. The bytes are
 * mutable so that a decoder may translate words in place (handle ids into
 * real handles) without copying.
 */
struct ava_reader {
	uint8_t *p;
	size_t left;
};

static inline void
ava_reader_init(struct ava_reader *r, uint8_t *p, size_t n)
{
	r->p = p;
	r->left = n;
}

/* Read one u64. Returns 0 or AVA_EPROTO if fewer than 8 bytes remain. */
static inline int
ava_reader_u64(struct ava_reader *r, uint64_t *v)
{
	if (r->left < 8)
		return AVA_EPROTO;
	*v = ava_wire_get_le(r->p, 8);
	r->p += 8;
	r->left -= 8;
	return 0;
}

/*
 * Take n bytes plus their padding to 8; *p points at them inside the
 * payload. Returns 0, or AVA_EPROTO if the padded length exceeds what
 * remains (checked without overflow for any n).
 */
int
ava_reader_bytes(struct ava_reader *r, uint64_t n, uint8_t **p);

/* True if at least n u64 words remain: bounds a count before allocation. */
bool
ava_reader_has_words(const struct ava_reader *r, uint64_t n);

/*
 * Write or read exactly n bytes on a stream fd, retrying on EINTR and
 * short transfers. Sockets are written with MSG_NOSIGNAL, so a dead peer
 * gives -EPIPE rather than SIGPIPE.
 * ava_io_write_full returns 0 or a negative errno.
 * ava_io_read_full returns 0, AVA_ECLOSED on end of file (*got, if not
 * NULL, tells how many bytes arrived before it), or a negative errno.
 */
int
ava_io_write_full(int fd, const void *p, size_t n);

int
ava_io_read_full(int fd, void *p, size_t n, size_t *got);

/* The CLOCK_REALTIME instant ms from now, for pthread timed waits. */
struct timespec;

void
ava_deadline_in(struct timespec *ts, long ms);

/* Milliseconds of CLOCK_MONOTONIC since t0, which that clock gave. */
long
ava_ms_since(const struct timespec *t0);

#endif
