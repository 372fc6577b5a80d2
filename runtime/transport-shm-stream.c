/*
 * transport-shm-stream.c - the `shm:` transport's streams: a large
 * blocking transfer's bytes, piece by piece through a window.
 *
 * Besides passing in place through the bulk area (transport-shm.c), the
 * bytes of a large blocking transfer may stream, piece by piece, through
 * a small window at the area's end, so that the copy into it and the
 * copy out of it overlap: a guest's CALL publishes the frame first, then
 * its in-buffer's pieces as it copies them; a server's hook takes them
 * as they come (in-stream), or writes an out-buffer's pieces for the
 * guest, which takes them while it waits for the REPLY (its sink). A
 * server waits for a stream's guest at most stream_deadline_ms at a
 * time.
 *
 * A stream is a byte ring over the window (transport-shm.h): positions
 * are private, and only the peer's head or tail is read from the region,
 * once per look, and accepted only inside the rules below. It shares the
 * bells and wait words of the ring of its direction: a consumer waits
 * with ava_shm_wait_data(), a producer with ava_shm_wait_space(), and
 * each notifies as the rings do.
 *
 * transport-shm.c moves the frames that start and end the streams, and
 * keeps the waiting and waking that they share with the rings.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "ava-error.h"
#include "transport-shm.h"

static unsigned stream_deadline_ms = 10000;

void
ava_shm_set_stream_deadline(unsigned ms)
{
	__atomic_store_n(&stream_deadline_ms, ms, __ATOMIC_RELAXED);
}

/* A server waits this long from now for a stream's guest, which only
 * copies; a guest waits for its server as long as the driver takes. */
static uint64_t
deadline(const struct ava_shm_conn *c)
{
	unsigned ms = __atomic_load_n(&stream_deadline_ms, __ATOMIC_RELAXED);
	return c->server ? ava_shm_now_ns() + (uint64_t)ms * 1000000u : 0;
}

static uint64_t
min3(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t m = a < b ? a : b;
	return m < c ? m : c;
}

/* The first stream of a connection maps the whole window in this
 * process at once (its pages are shared, so it never writes them): a
 * first touch costs more than the copy, and every page would have had
 * one on each side as the positions went round. */
static void
win_populate(struct ava_shm_conn *c)
{
	if (c->win_warm)
		return;
	c->win_warm = true;
#ifdef MADV_POPULATE_WRITE
	if (madvise(c->win, (size_t)AVA_SHM_WINDOW, MADV_POPULATE_WRITE) == 0)
		return;
#endif
	for (uint64_t off = 0; off < AVA_SHM_WINDOW; off += 4096)
		(void)*(volatile uint8_t *)(c->win + off);
}

void
ava_shm_stream_start(struct ava_shm_conn *c, struct ava_shm_stream *s,
		     uint64_t len, uint8_t *dst)
{
	win_populate(c);
	s->base = s->next = s->pos;
	s->end = s->pos + len;
	s->dst = dst;
	s->active = true;
}

/* Consumer: >0 bytes to take, 0 none yet, <0 error. The head is accepted
 * only inside the window from what we released, inside the transfer, and
 * not behind the head accepted before. */
static int
in_ready(struct ava_shm_conn *c)
{
	struct ava_shm_stream *s = &c->in;
	for (int last = 0;; last = 1) {
		uint64_t head = __atomic_load_n(s->head, __ATOMIC_ACQUIRE);
		uint64_t d = head - s->pos;
		if (d > AVA_SHM_WINDOW || d > s->end - s->pos ||
		    d < s->seen - s->pos)
			return ava_shm_broken(c);
		s->seen = head;
		if (head != s->next)
			return 1;
		if (last)
			return AVA_ECLOSED;
		int err = __atomic_load_n(&c->err, __ATOMIC_ACQUIRE);
		if (err != 0)
			return err;
		if (!ava_shm_load_flag(&c->shut) && !ava_shm_load_flag(&c->eof))
			return 0;
	}
}

/* Producer: >0 room, 0 none yet, <0 error. The tail is accepted only if
 * it is not past what we published and leaves what we reserved inside
 * the window. */
static int
out_ready(struct ava_shm_conn *c)
{
	struct ava_shm_stream *s = &c->out;
	uint64_t tail = __atomic_load_n(s->tail, __ATOMIC_ACQUIRE);
	if (s->pos - tail > AVA_SHM_WINDOW || s->next - tail > AVA_SHM_WINDOW)
		return ava_shm_broken(c);
	s->seen = tail;
	if (s->next - tail < AVA_SHM_WINDOW)
		return 1;
	int err = __atomic_load_n(&c->err, __ATOMIC_ACQUIRE);
	if (err != 0)
		return err;
	if (ava_shm_load_flag(&c->shut) || ava_shm_load_flag(&c->eof))
		return -EPIPE;
	return 0;
}

int
ava_shm_in_take(struct ava_shm_conn *c, bool wait, const uint8_t **at)
{
	struct ava_shm_stream *s = &c->in;
	if (!s->active || s->next == s->end)
		return 0;
	int r = s->seen != s->next ? 1 : in_ready(c);
	/* With the whole window taken, the guest cannot go on until some
	 * of it is released: waiting would be for nothing. */
	if (r == 0 && wait && s->next - s->pos < AVA_SHM_WINDOW)
		r = ava_shm_wait_data(c, in_ready, deadline(c));
	if (r <= 0)
		return r;
	uint64_t off = s->next & (AVA_SHM_WINDOW - 1);
	uint64_t k = min3(s->seen - s->next, AVA_SHM_WINDOW - off,
			  AVA_SHM_PIECE);
	*at = c->win + off;
	s->next += k;
	return (int)k;
}

void
ava_shm_in_release(struct ava_shm_conn *c, uint64_t n)
{
	struct ava_shm_stream *s = &c->in;
	if (n > s->next - s->pos)
		n = s->next - s->pos;
	if (n == 0)
		return;
	s->pos += n;
	__atomic_store_n(s->tail, s->pos, __ATOMIC_RELEASE);
	ava_shm_notify(c, &c->rx.ctl->space_bell, &c->rx.ctl->space_wait);
}

int
ava_shm_in_drain(struct ava_shm_conn *c, uint8_t *dst)
{
	struct ava_shm_stream *s = &c->in;
	const uint8_t *at;
	int r = 1;
	ava_shm_in_release(c, s->next - s->pos);
	while (s->active && r > 0) {
		uint64_t from = s->next - s->base;
		if ((r = ava_shm_in_take(c, true, &at)) > 0 && dst != NULL)
			memcpy(dst + from, at, (size_t)r);
		ava_shm_in_release(c, r > 0 ? (uint64_t)r : 0);
	}
	/* A transfer cut short leaves no stale bytes behind. */
	if (r < 0 && dst != NULL)
		memset(dst + (s->next - s->base), 0,
		       (size_t)(s->end - s->next));
	s->active = false;
	return r < 0 ? r : 0;
}

int
ava_shm_out_reserve(struct ava_shm_conn *c, bool wait, uint8_t **at)
{
	struct ava_shm_stream *s = &c->out;
	if (!s->active || s->next == s->end)
		return 0;
	/* The streams share the window: a server takes all of a call's
	 * in-stream before its out-stream may use it (a guest's sink takes
	 * nothing before its in-stream is all sent). */
	if (c->server && c->in.active && c->in.pos != c->in.end)
		return AVA_EPROTO;
	int r = s->next - s->seen < AVA_SHM_WINDOW ? 1 : out_ready(c);
	if (r == 0 && wait)
		r = ava_shm_wait_space(c, out_ready, deadline(c));
	if (r <= 0)
		return r;
	uint64_t off = s->next & (AVA_SHM_WINDOW - 1);
	uint64_t k = min3(AVA_SHM_WINDOW - (s->next - s->seen),
			  AVA_SHM_WINDOW - off, AVA_SHM_PIECE);
	if (k > s->end - s->next)
		k = s->end - s->next;
	*at = c->win + off;
	s->next += k;
	return (int)k;
}

void
ava_shm_out_publish(struct ava_shm_conn *c, uint64_t n)
{
	struct ava_shm_stream *s = &c->out;
	if (n > s->next - s->pos)
		n = s->next - s->pos;
	if (n == 0)
		return;
	s->pos += n;
	__atomic_store_n(s->head, s->pos, __ATOMIC_RELEASE);
	ava_shm_notify_data(c);
}

void
ava_shm_out_start(struct ava_shm_conn *c, uint64_t n)
{
	if (!c->out.active)
		ava_shm_stream_start(c, &c->out, n, NULL);
}

uint64_t
ava_shm_out_end(struct ava_shm_conn *c)
{
	struct ava_shm_stream *s = &c->out;
	s->next = s->pos;   /* reserved, never published: dropped */
	s->active = false;
	return s->pos - s->base;
}

/* A guest's write: len bytes from src through the window, a piece at a
 * time, each published as soon as it is copied. */
int
ava_shm_produce(struct ava_shm_conn *c, const uint8_t *src, uint64_t len)
{
	struct ava_shm_stream *s = &c->out;
	uint8_t *at;
	int r = 1;
	ava_shm_stream_start(c, s, len, NULL);
	while (s->pos != s->end && r > 0) {
		uint64_t from = s->next - s->base;
		if ((r = ava_shm_out_reserve(c, true, &at)) > 0) {
			memcpy(at, src + from, (size_t)r);
			ava_shm_out_publish(c, (uint64_t)r);
		}
	}
	s->active = false;
	return r < 0 ? r : 0;
}

/* A guest with a sink waits for either its ring or the stream. */
int
ava_shm_sink_ready(struct ava_shm_conn *c)
{
	int r = ava_shm_rx_ready(c);
	if (r > 0 || (r < 0 && r != AVA_ECLOSED))
		return r;
	int s = in_ready(c);
	return s != 0 ? s : r;
}

/* Copy what the stream holds into the sink, releasing it piece by piece
 * so that the server can go on. */
void
ava_shm_sink_pump(struct ava_shm_conn *c)
{
	struct ava_shm_stream *s = &c->in;
	while (s->seen != s->next) {
		uint64_t off = s->next & (AVA_SHM_WINDOW - 1);
		uint64_t k = min3(s->seen - s->next, AVA_SHM_WINDOW - off,
				  AVA_SHM_PIECE);
		memcpy(s->dst + (s->next - s->base), c->win + off, (size_t)k);
		s->next += k;
		ava_shm_in_release(c, k);
	}
}

/* The REPLY came: the rest of the stream is there already. What the sink
 * took is what a streamed ref of the REPLY must name. */
int
ava_shm_sink_finish(struct ava_shm_conn *c)
{
	int r = in_ready(c);
	c->in.active = false;
	if (r < 0 && r != AVA_ECLOSED)
		return r;
	ava_shm_sink_pump(c);
	c->sink_got = c->in.pos - c->in.base;
	c->sink_done = true;
	return 0;
}
