#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ava-error.h"
#include "wire.h"

void
ava_frame_header_encode(const struct ava_frame_header *h,
			uint8_t out[AVA_FRAME_HEADER_SIZE])
{
	ava_wire_put_le(out + 0, h->magic, 4);
	ava_wire_put_le(out + 4, h->version, 2);
	out[6] = h->type;
	out[7] = h->api;
	ava_wire_put_le(out + 8, h->fn, 4);
	ava_wire_put_le(out + 12, h->thread, 4);
	ava_wire_put_le(out + 16, h->flags, 4);
	ava_wire_put_le(out + 20, h->reserved, 4);
	ava_wire_put_le(out + 24, h->seq, 8);
	ava_wire_put_le(out + 32, h->len, 8);
}

int
ava_frame_header_decode(const uint8_t *in, size_t n,
			struct ava_frame_header *h)
{
	memset(h, 0, sizeof(*h));
	if (n < AVA_FRAME_HEADER_SIZE)
		return AVA_EPROTO;
	h->magic = (uint32_t)ava_wire_get_le(in + 0, 4);
	h->version = (uint16_t)ava_wire_get_le(in + 4, 2);
	h->type = in[6];
	h->api = in[7];
	h->fn = (uint32_t)ava_wire_get_le(in + 8, 4);
	h->thread = (uint32_t)ava_wire_get_le(in + 12, 4);
	h->flags = (uint32_t)ava_wire_get_le(in + 16, 4);
	h->reserved = (uint32_t)ava_wire_get_le(in + 20, 4);
	h->seq = ava_wire_get_le(in + 24, 8);
	h->len = ava_wire_get_le(in + 32, 8);
	if (h->magic != AVA_PROTOCOL_MAGIC)
		return AVA_EPROTO;
	if (h->version != AVA_PROTOCOL_VERSION)
		return AVA_EVERSION;
	if (h->type == 0 || h->type >= AVA_MSG_TYPE_COUNT || h->reserved != 0)
		return AVA_EPROTO;
	if (h->len > AVA_FRAME_MAX)
		return AVA_ETOOBIG;
	return 0;
}

int
ava_batch_begin(struct ava_batch_reader *r, uint8_t *p, size_t n,
		uint64_t *base)
{
	*base = 0;
	r->p = p;
	r->left = n;
	if (n < 8)
		return AVA_EPROTO;
	*base = ava_wire_get_le(p, 8);
	r->p += 8;
	r->left -= 8;
	return 0;
}

int
ava_batch_next(struct ava_batch_reader *r, struct ava_frame_header *h,
	       uint8_t **payload)
{
	*payload = NULL;
	if (r->left == 0) {
		memset(h, 0, sizeof(*h));
		return 0;
	}
	int err = ava_frame_header_decode(r->p, r->left, h);
	if (err < 0)
		return err;
	size_t rest = r->left - AVA_FRAME_HEADER_SIZE;
	if (h->type != AVA_MSG_CALL || h->len > rest)
		return AVA_EPROTO;
	*payload = r->p + AVA_FRAME_HEADER_SIZE;
	r->p += AVA_FRAME_HEADER_SIZE + (size_t)h->len;
	r->left = rest - (size_t)h->len;
	return 1;
}

int
ava_batch_put_frame(struct ava_buf *b, const struct ava_frame_header *h,
		    const void *p, size_t n)
{
	uint8_t hdr[AVA_FRAME_HEADER_SIZE];
	ava_frame_header_encode(h, hdr);
	ava_buf_put_bytes(b, hdr, sizeof(hdr));
	return ava_buf_put_bytes(b, p, n);
}

void
ava_buf_init(struct ava_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void
ava_buf_finish(struct ava_buf *b)
{
	free(b->data);
	ava_buf_init(b);
}

void
ava_buf_reset(struct ava_buf *b)
{
	b->len = 0;
	b->err = 0;
}

void
ava_buf_done(struct ava_buf *b)
{
	if (b->len > AVA_BUF_KEEP)
		b->idle = 0;
	else if (b->cap > AVA_BUF_KEEP && ++b->idle >= AVA_BUF_IDLE)
		ava_buf_finish(b);
	b->len = 0;
	b->err = 0;
}

int
ava_buf_reserve(struct ava_buf *b, size_t n)
{
	if (b->err)
		return b->err;
	/* A buffer holds one payload, which never exceeds AVA_FRAME_MAX;
	 * this also keeps the doubling below from overflowing. */
	if (n > AVA_FRAME_MAX - b->len) {
		b->err = AVA_ETOOBIG;
		return b->err;
	}
	if (b->len + n <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *d = realloc(b->data, cap);
	if (d == NULL) {
		b->err = -ENOMEM;
		return b->err;
	}
	b->data = d;
	b->cap = cap;
	return 0;
}

int
ava_buf_put_zeros(struct ava_buf *b, size_t n, uint8_t **at)
{
	int r = ava_buf_reserve(b, n);
	if (r < 0)
		return r;
	memset(b->data + b->len, 0, n);
	if (at != NULL)
		*at = b->data + b->len;
	b->len += n;
	return 0;
}

int
ava_buf_put_u64_grow(struct ava_buf *b, uint64_t v)
{
	int r = ava_buf_reserve(b, 8);
	if (r < 0)
		return r;
	ava_wire_put_le(b->data + b->len, v, 8);
	b->len += 8;
	return 0;
}

int
ava_buf_put_bytes(struct ava_buf *b, const void *p, size_t n)
{
	uint8_t *at;
	int r = ava_buf_put_zeros(b, n, &at);
	if (r == 0 && n > 0)
		memcpy(at, p, n);
	return r;
}

int
ava_buf_put_padded(struct ava_buf *b, const void *p, size_t n)
{
	if (n > AVA_FRAME_MAX) {
		if (!b->err)
			b->err = AVA_ETOOBIG;
		return b->err;
	}
	uint8_t *at;
	int r = ava_buf_put_zeros(b, ava_wire_pad(n), &at);
	if (r < 0)
		return r;
	if (n > 0)
		memcpy(at, p, n);
	return 0;
}

int
ava_reader_bytes(struct ava_reader *r, uint64_t n, uint8_t **p)
{
	/* Compare before padding: n may be any 64-bit value from the peer. */
	if (n > r->left || ava_wire_pad((size_t)n) > r->left)
		return AVA_EPROTO;
	*p = r->p;
	r->p += ava_wire_pad((size_t)n);
	r->left -= ava_wire_pad((size_t)n);
	return 0;
}

bool
ava_reader_has_words(const struct ava_reader *r, uint64_t n)
{
	return n <= r->left / 8;
}

int
ava_io_write_full(int fd, const void *p, size_t n)
{
	const uint8_t *q = p;
	bool sock = true;
	while (n > 0) {
		ssize_t k = sock ? send(fd, q, n, MSG_NOSIGNAL)
				 : write(fd, q, n);
		if (k < 0 && errno == ENOTSOCK && sock) {
			sock = false;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

int
ava_io_read_full(int fd, void *p, size_t n, size_t *got)
{
	uint8_t *q = p;
	size_t done = 0;
	int r = 0;
	while (done < n) {
		ssize_t k = read(fd, q + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0) {
			r = AVA_ECLOSED;
			break;
		}
		done += (size_t)k;
	}
	if (got != NULL)
		*got = done;
	return r;
}

void
ava_deadline_in(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

long
ava_ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 +
	       (now.tv_nsec - t0->tv_nsec) / 1000000;
}
