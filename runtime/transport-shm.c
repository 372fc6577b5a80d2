/*
 * transport-shm.c - the `shm:PATH` transport: per connection, a command
 * ring and a reply ring in a shared-memory region, beside a unix socket.
 *
 * The server listens on a unix socket at PATH. For each connection it
 * accepts, it creates a region (memfd, sealed against shrinking, so the
 * guest cannot make the server's accesses fault) and sends it with a
 * 40-byte handshake over the socket. Frames then travel through the rings
 * (layout and trust rules in transport-shm.h); the socket stays open as
 * the liveness channel and as a doorbell.
 *
 * Waiting, for data or for space, goes through three phases:
 *   1. a brief spin (at most AVA_SHM_SPIN_US, default 20 us, adapting
 *      to how the peer answers; see spin());
 *   2. a futex wait on the ring's bell, for up to FUTEX_PHASE_MS;
 *   3. for data: poll() on the socket, woken by a doorbell byte or by the
 *      peer's death (the socket hangs up); no timeout, so an idle side
 *      costs nothing. For space (a producer whose consumer has stopped
 *      reading): futex waits of SPACE_CHECK_MS, checking the socket for a
 *      hang-up between them.
 * A sleeper announces how it sleeps in the ring's wait word, and the
 * producer (consumer) reads that word after publishing (consuming), with
 * a full fence on both sides, so no wake-up is lost.
 *
 * A frame of any length streams through the ring: the producer publishes
 * as it writes and waits for space, the consumer copies out as bytes
 * arrive, so a frame larger than the ring needs no special path.
 *
 * Large buffers need not pass through the ring at all: a CALL or REPLY
 * whose payload has holes (transport.h, "In-place bulk data") carries a
 * ref table instead of their bytes, which the sender put in the bulk
 * area (or which were there already: the driver wrote them). The
 * receiver leaves the holes in its payload and records where their bytes
 * are, for the marshaller; see send_holes() and recv_holes().
 *
 * Large blocking transfers may also stream: see transport-shm-stream.c.
 *
 * This file moves frames; transport-shm-setup.c makes, passes and maps
 * the regions.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ava-error.h"
#include "transport-private.h"
#include "transport-shm.h"

#define PAUSE_NS 2000            /* the part of a spin that does not yield */
#define FUTEX_PHASE_MS 50        /* then sleep in poll() on the socket */
#define SPACE_CHECK_MS 100       /* a blocked producer checks for hang-up */

/* ---- small helpers --------------------------------------------------- */

uint64_t
ava_shm_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

static long
futex(uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE_FLAG: the word is shared with another process. */
	return syscall(SYS_futex, word, op, val, ts, NULL, 0);
}

bool
ava_shm_load_flag(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE) != 0;
}

int
ava_shm_broken(struct ava_shm_conn *c)
{
	__atomic_store_n(&c->err, AVA_ESHM, __ATOMIC_RELEASE);
	return AVA_ESHM;
}

/* Copy between the ring and private memory; offsets come from our own
 * positions, so they are always inside the ring. */
static void
copy_out(const struct ava_shm_ring *r, void *dst, size_t n)
{
	size_t off = (size_t)(r->pos & (r->size - 1));
	size_t first = n < r->size - off ? n : r->size - off;
	memcpy(dst, r->data + off, first);
	memcpy((uint8_t *)dst + first, r->data, n - first);
}

static void
copy_in(struct ava_shm_ring *r, const void *src, size_t n)
{
	size_t off = (size_t)(r->pos & (r->size - 1));
	size_t first = n < r->size - off ? n : r->size - off;
	memcpy(r->data + off, src, first);
	memcpy(r->data, (const uint8_t *)src + first, n - first);
}

/* ---- waking and sleeping --------------------------------------------- */

static void
ring_bell(struct ava_shm_conn *c, uint32_t *bell, uint32_t how)
{
	__atomic_add_fetch(bell, 1, __ATOMIC_SEQ_CST);
	if (how == AVA_SHM_WAIT_FUTEX) {
		futex(bell, FUTEX_WAKE, 1, NULL);
	} else {
		uint8_t b = AVA_SHM_DOORBELL;
		if (send(c->base.fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* Full: a doorbell is pending. Gone: recv says so. */
		}
	}
}

/* Wake the peer if it said it sleeps, first writing the time to stamp
 * where there is one (the bell's increment publishes it). */
static void
notify(struct ava_shm_conn *c, uint32_t *bell, const uint32_t *wait,
       uint64_t *stamp)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint32_t how = __atomic_load_n(wait, __ATOMIC_RELAXED);
	if (how != AVA_SHM_WAIT_FUTEX && how != AVA_SHM_WAIT_SOCKET)
		return;
	if (stamp != NULL)
		__atomic_store_n(stamp, ava_shm_now_ns(), __ATOMIC_RELAXED);
	ring_bell(c, bell, how);
}

/* After publishing or consuming: wake the peer if it said it sleeps. */
void
ava_shm_notify(struct ava_shm_conn *c, uint32_t *bell, const uint32_t *wait)
{
	notify(c, bell, wait, NULL);
}

/* After publishing into our outgoing ring (or its stream): the same, and
 * a sleeping consumer learns when the data came (ava_shm_wait_data()). */
void
ava_shm_notify_data(struct ava_shm_conn *c)
{
	struct ava_shm_ring_ctl *ctl = c->tx.ctl;
	notify(c, &ctl->data_bell, &ctl->data_wait, &ctl->rung_ns);
}

typedef int (*ready_fn)(struct ava_shm_conn *c);

/* Where the peer last ran, by its own word: when it last consumed what we
 * sent (tail_cpu of our outgoing ring) is the freshest sign of it. */
static bool
peer_on_our_cpu(const struct ava_shm_conn *c)
{
	uint32_t peer = __atomic_load_n(&c->tx.ctl->tail_cpu, __ATOMIC_RELAXED);
	return (int)peer == sched_getcpu();
}

/*
 * Phase 1: >0 ready, 0 not within the spin, <0 error. The first
 * PAUSE_NS spin with a pause instruction, which catches a peer running on
 * another CPU; the rest yield the CPU, which lets a peer waiting for this
 * CPU run. When the peer was last seen on this CPU (or this process has
 * one CPU), pausing cannot help, and the spin yields from the start. The
 * budget adapts per ring: it is reset to the full AVA_SHM_SPIN_US when a
 * spin succeeds and halved (down to PAUSE_NS) when one fails, so a peer
 * that answers slowly (a long call, a guest that computes between calls)
 * costs little CPU; and reset too when the futex phase that follows
 * ends within the full budget (ava_shm_wait_data()).
 */
static int
spin(struct ava_shm_conn *c, uint64_t *spin_ns, ready_fn ready)
{
	uint64_t full = (uint64_t)c->spin_us * 1000u;
	uint64_t floor = full < PAUSE_NS ? full : PAUSE_NS;
	uint64_t budget = *spin_ns, t0 = ava_shm_now_ns();
	bool pause = !c->yield && !peer_on_our_cpu(c);
	uint64_t pause_end = pause ? t0 + PAUSE_NS : t0;
	if (budget == 0)
		return 0;
	for (;;) {
		int r = ready(c);
		if (r > 0)
			*spin_ns = full;
		if (r != 0)
			return r;
		uint64_t now = ava_shm_now_ns();
		if (now - t0 >= budget) {
			*spin_ns = budget / 2 > floor ? budget / 2 : floor;
			return 0;
		}
		if (now < pause_end)
			cpu_relax();
		else
			sched_yield();
	}
}

/* Phase 2: sleep on bell for up to ms, saying so in *wait. */
static int
futex_phase(struct ava_shm_conn *c, uint32_t *bell, uint32_t *wait,
	    ready_fn ready, unsigned ms)
{
	uint64_t end = ava_shm_now_ns() + (uint64_t)ms * 1000000u;
	int r;
	for (;;) {
		uint32_t seen = __atomic_load_n(bell, __ATOMIC_ACQUIRE);
		__atomic_store_n(wait, AVA_SHM_WAIT_FUTEX, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		uint64_t now = ava_shm_now_ns();
		if ((r = ready(c)) != 0 || now >= end)
			break;
		uint64_t left = end - now;
		struct timespec ts = { .tv_sec = (time_t)(left / 1000000000u),
				       .tv_nsec = (long)(left % 1000000000u) };
		futex(bell, FUTEX_WAIT, seen, &ts);
	}
	__atomic_store_n(wait, AVA_SHM_AWAKE, __ATOMIC_RELAXED);
	return r;
}


/* ---- the receiving side ---------------------------------------------- */

/* >0: bytes available (in rx.known); 0: none yet; <0: error. */
int
ava_shm_rx_ready(struct ava_shm_conn *c)
{
	for (int last = 0;; last = 1) {
		uint64_t head = __atomic_load_n(&c->rx.ctl->head,
						__ATOMIC_ACQUIRE);
		uint64_t n = head - c->rx.pos;
		if (n > c->rx.size)
			return ava_shm_broken(c);
		c->rx.known = n;
		if (n > 0)
			return 1;
		if (last)
			return AVA_ECLOSED;
		int err = __atomic_load_n(&c->err, __ATOMIC_ACQUIRE);
		if (err != 0)
			return err;
		/* Closed: look once more, for what the peer sent last. */
		if (!ava_shm_load_flag(&c->shut) && !ava_shm_load_flag(&c->eof))
			return 0;
	}
}

/* A server's wait for a stream's guest ran out (stream_deadline_ms). */
static int
timed_out(struct ava_shm_conn *c)
{
	__atomic_store_n(&c->err, -ETIMEDOUT, __ATOMIC_RELEASE);
	return -ETIMEDOUT;
}

/* Phase 3 for data: sleep in poll() until a doorbell or a hang-up, or
 * until the deadline (0: none). */
static int
socket_phase(struct ava_shm_conn *c, ready_fn ready, uint64_t deadline)
{
	uint32_t *wait = &c->rx.ctl->data_wait;
	int r;
	for (;;) {
		__atomic_store_n(wait, AVA_SHM_WAIT_SOCKET, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if ((r = ready(c)) != 0)
			break;
		uint64_t now = ava_shm_now_ns();
		if (deadline != 0 && now >= deadline) {
			r = timed_out(c);
			break;
		}
		int ms = deadline == 0 ? -1 :
			 (int)((deadline - now) / 1000000u) + 1;
		struct pollfd p = { .fd = c->base.fd, .events = POLLIN };
		if (poll(&p, 1, ms) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if ((r = ava_shm_sock_drain(c)) < 0)
			break;
	}
	__atomic_store_n(wait, AVA_SHM_AWAKE, __ATOMIC_RELAXED);
	return r;
}

/*
 * When data that ended a futex phase begun at t0 came: the producer's
 * stamp from when it rang (ava_shm_notify_data()), or now if it did not
 * ring since t0 (it published before it saw us sleep). Data that came
 * within the full budget of the sleep would have been caught by a full
 * spin, which would have saved the wake-up; by the stamp, not by when we
 * woke, since on a VM the wake-up alone may take longer than the spin
 * (25 to 50 us on this project's). A stamp from the peer is a hint: a
 * lie can only make this side spin, as a prompt peer does.
 */
static uint64_t
arrived(struct ava_shm_conn *c, uint64_t t0)
{
	uint64_t now = ava_shm_now_ns();
	uint64_t rung = __atomic_load_n(&c->rx.ctl->rung_ns, __ATOMIC_RELAXED);
	return rung >= t0 && rung <= now ? rung : now;
}

/* Wait for data (ready(c) > 0): through the three phases on the bell of
 * our incoming ring, which a stream of that direction shares. */
int
ava_shm_wait_data(struct ava_shm_conn *c, ready_fn ready, uint64_t deadline)
{
	int r = ready(c);
	if (r == 0 && c->soon_ns > c->rx.spin_ns) {
		/* Told the frame is due: one longer spin, which does not
		 * count for the budget's adapting. */
		uint64_t once = c->soon_ns;
		r = spin(c, &once, ready);
		if (r > 0)
			c->rx.spin_ns = (uint64_t)c->spin_us * 1000u;
	} else if (r == 0) {
		r = spin(c, &c->rx.spin_ns, ready);
	}
	c->soon_ns = 0;
	if (r == 0) {
		uint64_t full = (uint64_t)c->spin_us * 1000u;
		uint64_t t0 = ava_shm_now_ns();
		r = futex_phase(c, &c->rx.ctl->data_bell,
				&c->rx.ctl->data_wait, ready,
				FUTEX_PHASE_MS);
		if (r > 0 && arrived(c, t0) - t0 < full)
			c->rx.spin_ns = full;
	}
	if (r == 0)
		r = socket_phase(c, ready, deadline);
	return r;
}

/* Tell the producer how far we have read. */
static void
rx_release(struct ava_shm_conn *c)
{
	struct ava_shm_ring *r = &c->rx;
	if (r->pos == r->shared)
		return;
	__atomic_store_n(&r->ctl->tail_cpu, (uint32_t)sched_getcpu(),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&r->ctl->tail, r->pos, __ATOMIC_RELEASE);
	r->shared = r->pos;
	ava_shm_notify(c, &r->ctl->space_bell, &r->ctl->space_wait);
}

/* Wait until at least one byte can be read; 0 or an error. A guest with
 * a sink takes the stream's bytes meanwhile. */
static int
rx_wait(struct ava_shm_conn *c)
{
	while (c->rx.known == 0) {
		rx_release(c);  /* a producer may be waiting for this space */
		bool sink = !c->server && c->in.active;
		int r = ava_shm_wait_data(c, sink ? ava_shm_sink_ready :
						    ava_shm_rx_ready, 0);
		if (r < 0)
			return r;
		if (sink)
			ava_shm_sink_pump(c);
	}
	return 0;
}

static void
rx_take(struct ava_shm_conn *c, void *dst, size_t n)
{
	copy_out(&c->rx, dst, n);
	c->rx.pos += n;
	c->rx.known -= n;
	if (c->rx.pos - c->rx.shared >= c->rx.size / 4)
		rx_release(c);
}

/* n bytes (a header, a ref table), copied out of the ring into private
 * memory before anything looks at them; *got counts them. */
static int
recv_exact(struct ava_shm_conn *c, uint8_t *p, size_t n, size_t *got)
{
	while (*got < n) {
		int r = rx_wait(c);
		if (r < 0)
			return r;
		size_t k = n - *got;
		if (k > c->rx.known)
			k = (size_t)c->rx.known;
		rx_take(c, p + *got, k);
		*got += k;
	}
	return 0;
}

/* The payload up to byte `want`: it grows with the bytes that arrive,
 * not with the claim. */
static int
recv_upto(struct ava_shm_conn *c, struct ava_frame *f, size_t want)
{
	struct ava_buf *b = &f->payload;
	while (b->len < want) {
		int r = rx_wait(c);
		if (r < 0) {
			f->got = b->len;
			return r == AVA_ECLOSED ? AVA_EPROTO : r;
		}
		size_t k = want - b->len;
		if (k > c->rx.known)
			k = (size_t)c->rx.known;
		if ((r = ava_buf_reserve(b, k)) < 0)
			return r;
		rx_take(c, b->data + b->len, k);
		b->len += k;
	}
	return 0;
}

/*
 * Where a streamed ref's bytes are, or NULL where none may be. A CALL's
 * starts the server's in-stream (its place is the window, which only the
 * stream ops hand out); a REPLY's must be exactly what the guest's sink
 * took (ava_shm_sink_finish), which is in the application's memory already. At
 * most one per frame.
 */
static uint8_t *
stream_ref(struct ava_shm_conn *c, const struct ava_frame_header *h,
	   uint64_t len)
{
	if (c->win == NULL)
		return NULL;
	if (c->server && h->type == AVA_MSG_CALL && !c->in.active) {
		ava_shm_stream_start(c, &c->in, len, NULL);
		c->in.seen = c->in.pos;
		c->in_owner = pthread_self();
		return c->win;
	}
	if (!c->server && h->type == AVA_MSG_REPLY && c->sink_done &&
	    c->sink_got == len) {
		c->sink_done = false;
		return c->in.dst;
	}
	return NULL;
}

/*
 * The ref table of a frame flagged AVA_SHM_FRAME_BULK, copied out and
 * checked whole before the payload is read: a CALL or REPLY, 1 to
 * AVA_BULK_MAX holes in payload order, each 8-aligned, not empty, inside
 * the payload and not overlapping the one before, its bytes inside the
 * area (without the window) or streamed. Each bound is checked without
 * overflow; anything else breaks the transport's rules. The table is
 * never read again from the ring.
 */
static int
recv_refs(struct ava_shm_conn *c, const struct ava_frame_header *h,
	  struct ava_bulk *b, size_t *got)
{
	uint8_t w[8 + 24 * AVA_BULK_MAX];
	int r = recv_exact(c, w, 8, got);
	uint64_t n = r == 0 ? ava_wire_get_le(w, 8) : 0;
	if (r == 0 && (c->area == NULL || n == 0 || n > AVA_BULK_MAX ||
		       (h->type != AVA_MSG_CALL && h->type != AVA_MSG_REPLY)))
		return ava_shm_broken(c);
	if (r == 0)
		r = recv_exact(c, w, 8 + 24 * n, got);
	uint64_t end = 0;
	for (uint32_t k = 0; r == 0 && k < n; k++) {
		const uint8_t *e = w + 8 + 24 * k;
		uint64_t off = ava_wire_get_le(e, 8);
		uint64_t len = ava_wire_get_le(e + 8, 8);
		uint64_t aoff = ava_wire_get_le(e + 16, 8);
		uint8_t *at = NULL;
		if (off % 8 != 0 || off < end || len == 0 || off > h->len ||
		    len > h->len - off)
			return ava_shm_broken(c);
		if (aoff == AVA_SHM_REF_STREAM)
			at = stream_ref(c, h, len);
		else if (aoff <= c->area_size && len <= c->area_size - aoff)
			at = c->area + aoff;
		if (at == NULL)
			return ava_shm_broken(c);
		b->ref[k] = (struct ava_bulk_ref){ .off = off, .len = len,
						   .at = at };
		end = off + len;
	}
	b->n = (uint32_t)n;
	return r;
}

/* A payload with holes: the bytes between them come through the ring;
 * a hole takes room in the payload but is never written. */
static int
recv_holes(struct ava_shm_conn *c, struct ava_frame *f, struct ava_bulk *b)
{
	int r = recv_refs(c, &f->h, b, &f->got);
	if (r < 0)
		return r == AVA_ECLOSED ? AVA_EPROTO : r;
	f->got = 0;
	for (uint32_t k = 0; r == 0 && k <= b->n; k++) {
		r = recv_upto(c, f, k < b->n ? (size_t)b->ref[k].off
					     : (size_t)f->h.len);
		if (r == 0 && k < b->n &&
		    (r = ava_buf_reserve(&f->payload, b->ref[k].len)) == 0)
			f->payload.len += (size_t)b->ref[k].len;
	}
	b->payload = f->payload.data;
	b->len = f->payload.len;
	return r;
}

/* Before a server receives, or sends on the thread that received: the
 * last CALL's in-stream is taken to its end (whatever its hook left). */
static int
server_settle(struct ava_shm_conn *c)
{
	if (!c->server || !c->in.active ||
	    !pthread_equal(c->in_owner, pthread_self()))
		return 0;
	return ava_shm_in_drain(c, NULL);
}

/* What the header's ring-only flags say: holes follow, or (a CALL to a
 * server with a window) the guest takes an out-stream. */
static int
ring_flags(struct ava_shm_conn *c, struct ava_frame_header *h, bool *holes)
{
	bool sink = h->flags & AVA_SHM_FRAME_SINK;
	*holes = h->flags & AVA_SHM_FRAME_BULK;
	h->flags &= ~(AVA_SHM_FRAME_BULK | AVA_SHM_FRAME_SINK);
	if (sink && (!c->server || h->type != AVA_MSG_CALL || c->win == NULL))
		return ava_shm_broken(c);
	c->sink_offered = sink;
	/* A guest's sink ends with the REPLY: the server published all
	 * it will before sending it. */
	if (!c->server && c->in.active && h->type == AVA_MSG_REPLY)
		return ava_shm_sink_finish(c);
	return 0;
}

static int
shm_recv(struct ava_conn *base, struct ava_frame *f)
{
	struct ava_shm_conn *c = (struct ava_shm_conn *)base;
	uint8_t hdr[AVA_FRAME_HEADER_SIZE];
	ava_buf_reset(&f->payload);
	memset(&f->h, 0, sizeof(f->h));
	f->got = 0;
	c->sink_done = false;
	int r = ava_shm_conn_attach(c);
	if (r == 0)
		r = __atomic_load_n(&c->err, __ATOMIC_ACQUIRE);
	if (r == 0 && c->server) {
		c->sink_offered = false;
		ava_shm_out_end(c);
		r = server_settle(c);
	}
	if (r == 0)
		r = recv_exact(c, hdr, sizeof(hdr), &f->got);
	if (r == AVA_ECLOSED && f->got > 0)
		r = AVA_EPROTO;
	if (r < 0)
		return r;
	f->got = 0;
	struct ava_bulk b = { .n = 0 };
	bool holes = false;
	r = ava_frame_header_decode(hdr, sizeof(hdr), &f->h);
	if (r == 0)
		r = ring_flags(c, &f->h, &holes);
	if (r == 0)
		r = holes ? recv_holes(c, f, &b) : recv_upto(c, f, f->h.len);
	if (r == 0)
		rx_release(c);
	ava_shm_bulk_received(c, r == 0 ? &b : NULL);
	return r;
}

/* ---- the sending side ------------------------------------------------ */

/* >0: free space (in tx.known); 0: none yet; <0: error. */
static int
tx_ready(struct ava_shm_conn *c)
{
	struct ava_shm_ring *r = &c->tx;
	uint64_t tail = __atomic_load_n(&r->ctl->tail, __ATOMIC_ACQUIRE);
	if (r->shared - tail > r->size || r->pos - tail > r->size)
		return ava_shm_broken(c);
	r->known = r->size - (r->pos - tail);
	if (r->known > 0)
		return 1;
	int err = __atomic_load_n(&c->err, __ATOMIC_ACQUIRE);
	if (err != 0)
		return err;
	if (ava_shm_load_flag(&c->shut) || ava_shm_load_flag(&c->eof))
		return -EPIPE;
	return 0;
}

static bool
hung_up(struct ava_shm_conn *c)
{
	struct pollfd p = { .fd = c->base.fd, .events = 0 };
	if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR))) {
		__atomic_store_n(&c->eof, 1, __ATOMIC_RELEASE);
		return true;
	}
	return false;
}

static void
tx_publish(struct ava_shm_conn *c)
{
	struct ava_shm_ring *r = &c->tx;
	if (r->pos == r->shared)
		return;
	__atomic_store_n(&r->ctl->head, r->pos, __ATOMIC_RELEASE);
	r->shared = r->pos;
	ava_shm_notify_data(c);
}

/* Wait for space (ready(c) > 0) on the bell of our outgoing ring, which
 * a stream of that direction shares: spin, then futex rounds that check
 * for a hang-up and the deadline (0: none). */
int
ava_shm_wait_space(struct ava_shm_conn *c, ready_fn ready, uint64_t deadline)
{
	int r = ready(c);
	if (r == 0)
		r = spin(c, &c->tx.spin_ns, ready);
	while (r == 0) {
		r = futex_phase(c, &c->tx.ctl->space_bell,
				&c->tx.ctl->space_wait, ready,
				SPACE_CHECK_MS);
		if (r == 0 && hung_up(c))
			r = -EPIPE;
		if (r == 0 && deadline != 0 && ava_shm_now_ns() >= deadline)
			r = timed_out(c);
	}
	return r;
}

static int
tx_wait(struct ava_shm_conn *c)
{
	tx_publish(c);  /* the consumer cannot make room for what it lacks */
	int r = ava_shm_wait_space(c, tx_ready, 0);
	return r < 0 ? r : 0;
}

static int
tx_write(struct ava_shm_conn *c, const uint8_t *p, size_t n)
{
	struct ava_shm_ring *r = &c->tx;
	while (n > 0) {
		if (r->known == 0) {
			int e = tx_wait(c);
			if (e < 0)
				return e;
		}
		size_t k = n < r->known ? n : (size_t)r->known;
		copy_in(r, p, k);
		r->pos += k;
		r->known -= k;
		p += k;
		n -= k;
		/* Publish as we go, so a long frame is copied out while the
		 * rest is still being copied in. */
		if (r->pos - r->shared >= r->size / 4)
			tx_publish(c);
	}
	return 0;
}

/*
 * Where each hole's bytes go in the area: where they are if they are
 * there already (the driver wrote them), else after everything that is,
 * AVA_SHM_BULK_ALIGN-aligned; the streamed one (sref) needs no room.
 * false: they do not all fit. The area is free for the sender's use: the
 * peer is done with the last frame's bytes before it answers (a REPLY,
 * or the next CALL).
 */
static bool
place(const struct ava_shm_conn *c, const struct ava_bulk *b, int sref,
      uint64_t *aoff)
{
	uint64_t next = 0, size = c->area_size;
	for (uint32_t k = 0; k < b->n; k++) {
		aoff[k] = UINT64_MAX;
		if ((int)k != sref &&
		    ava_shm_in_area(c, b->ref[k].at, b->ref[k].len)) {
			aoff[k] = (uint64_t)(b->ref[k].at - c->area);
			if (aoff[k] + b->ref[k].len > next)
				next = aoff[k] + b->ref[k].len;
		}
	}
	for (uint32_t k = 0; k < b->n; k++) {
		if (aoff[k] != UINT64_MAX || (int)k == sref)
			continue;
		uint64_t at = (next + AVA_SHM_BULK_ALIGN - 1) &
			      ~(uint64_t)(AVA_SHM_BULK_ALIGN - 1);
		if (c->area == NULL || at > size || b->ref[k].len > size - at)
			return false;
		aoff[k] = at;
		next = at + b->ref[k].len;
	}
	return true;
}

/* The payload's bytes around its holes, and with inline, the holes'
 * bytes from where they are: nothing is copied twice. */
static int
write_pieces(struct ava_shm_conn *c, const uint8_t *payload, uint64_t len,
	     const struct ava_bulk *b, bool inline_)
{
	uint64_t pos = 0;
	int r = 0;
	for (uint32_t k = 0; r == 0 && k < b->n; k++) {
		r = tx_write(c, payload + pos, (size_t)(b->ref[k].off - pos));
		if (r == 0 && inline_)
			r = tx_write(c, b->ref[k].at, (size_t)b->ref[k].len);
		pos = b->ref[k].off + b->ref[k].len;
	}
	return r == 0 ? tx_write(c, payload + pos, (size_t)(len - pos)) : r;
}

/*
 * Which ref of a frame streams, or -1: a guest's CALL streams the one
 * its encoder marked, when it is large enough and there is a window; a
 * server's REPLY, the out-buffer its hook produced in the window.
 */
static int
streamed_ref(struct ava_shm_conn *c, const struct ava_frame_header *h,
	     const struct ava_bulk *b)
{
	if (c->win == NULL)
		return -1;
	if (c->server) {
		for (uint32_t k = 0; k < b->n && h->type == AVA_MSG_REPLY; k++)
			if (b->ref[k].at == c->win && c->out.active)
				return (int)k;
		return -1;
	}
	int k = ava_shm_bulk_stream_ref();
	if (c->stream_off || h->type != AVA_MSG_CALL || k < 0 ||
	    (uint32_t)k >= b->n || b->ref[k].len < AVA_SHM_STREAM_MIN)
		return -1;
	return k;
}

/* A payload with holes: their bytes into the area (one copy, unless the
 * driver put them there), then the header flagged, the ref table and the
 * rest through the ring; a streamed one's bytes after that, through the
 * window. Without room in the area, a plain frame. */
static int
send_holes(struct ava_shm_conn *c, const struct ava_frame_header *h,
	   const uint8_t *payload, const struct ava_bulk *b)
{
	uint64_t aoff[AVA_BULK_MAX];
	uint8_t hdr[AVA_FRAME_HEADER_SIZE], w[8 + 24 * AVA_BULK_MAX];
	struct ava_frame_header fh = *h;
	int sref = streamed_ref(c, h, b);
	bool in_place = place(c, b, sref, aoff);
	/* The server's stream was produced by its hook: all of it. */
	if (sref >= 0 && c->server &&
	    (!in_place || ava_shm_out_end(c) != b->ref[sref].len))
		return AVA_EPROTO;
	ava_wire_put_le(w, b->n, 8);
	for (uint32_t k = 0; in_place && k < b->n; k++) {
		if ((int)k == sref)
			aoff[k] = AVA_SHM_REF_STREAM;
		else if (c->area + aoff[k] != b->ref[k].at)
			memcpy(c->area + aoff[k], b->ref[k].at,
			       (size_t)b->ref[k].len);
		ava_wire_put_le(w + 8 + 24 * k, b->ref[k].off, 8);
		ava_wire_put_le(w + 16 + 24 * k, b->ref[k].len, 8);
		ava_wire_put_le(w + 24 + 24 * k, aoff[k], 8);
	}
	/* The bytes are in the area before the table that names them is
	 * published (tx_publish stores the head with release). */
	if (in_place)
		fh.flags |= AVA_SHM_FRAME_BULK;
	ava_frame_header_encode(&fh, hdr);
	int r = tx_write(c, hdr, sizeof(hdr));
	if (r == 0 && in_place)
		r = tx_write(c, w, 8 + 24 * (size_t)b->n);
	if (r == 0)
		r = write_pieces(c, payload, h->len, b, !in_place);
	/* The server takes the stream as the call runs: the frame first. */
	if (r == 0 && in_place && sref >= 0 && !c->server) {
		tx_publish(c);
		r = ava_shm_produce(c, b->ref[sref].at, b->ref[sref].len);
	}
	return r;
}

/* A guest's CALL may offer a sink for its out-stream: flagged, and the
 * in-stream set up before the server can see the CALL. */
static void
offer_sink(struct ava_shm_conn *c, struct ava_frame_header *h,
	   const void *payload)
{
	uint64_t n;
	if (c->server || h->type != AVA_MSG_CALL)
		return;
	if (c->in.active)
		ava_shm_sink_finish(c); /* an earlier call's, never answered */
	void *dst = ava_shm_bulk_sink(payload, h->len, &n);
	if (dst == NULL || c->win == NULL || c->stream_off ||
	    n < AVA_SHM_STREAM_MIN)
		return;
	ava_shm_stream_start(c, &c->in, n, dst);
	c->in.seen = c->in.pos;
	h->flags |= AVA_SHM_FRAME_SINK;
}

static int
shm_send(struct ava_conn *base, const struct ava_frame_header *h,
	 const void *payload)
{
	struct ava_shm_conn *c = (struct ava_shm_conn *)base;
	struct ava_frame_header fh = *h;
	int r = ava_shm_conn_attach(c);
	if (r == 0)
		r = __atomic_load_n(&c->err, __ATOMIC_ACQUIRE);
	if (r == 0)
		r = server_settle(c);
	if (r != 0)
		return r;
	/* As on a socket: a peer known to be gone fails the send. */
	if (ava_shm_load_flag(&c->shut) || ava_shm_load_flag(&c->eof))
		return -EPIPE;
	/* Look at the peer's tail once per frame: it may have made room,
	 * or broken the ring. */
	if ((r = tx_ready(c)) < 0)
		return r;
	offer_sink(c, &fh, payload);
	struct ava_bulk b;
	if ((h->type == AVA_MSG_CALL || h->type == AVA_MSG_REPLY) &&
	    ava_shm_bulk_staged(payload, h->len, &b)) {
		r = send_holes(c, &fh, payload, &b);
	} else {
		uint8_t hdr[AVA_FRAME_HEADER_SIZE];
		ava_frame_header_encode(&fh, hdr);
		r = tx_write(c, hdr, sizeof(hdr));
		if (r == 0)
			r = tx_write(c, payload, (size_t)h->len);
	}
	if (h->type == AVA_MSG_REPLY && c->server)
		ava_shm_out_end(c);
	if (r == 0)
		tx_publish(c);
	return r;
}

/* ---- connection life ------------------------------------------------- */

static void
shm_shutdown(struct ava_conn *base)
{
	struct ava_shm_conn *c = (struct ava_shm_conn *)base;
	__atomic_store_n(&c->shut, 1, __ATOMIC_SEQ_CST);
	/* Wake our own sleepers: the futex words, and poll() through the
	 * socket (which also tells the peer). Without a region yet, the
	 * socket alone wakes a guest waiting for it. */
	if (__atomic_load_n(&c->ready, __ATOMIC_SEQ_CST)) {
		ring_bell(c, &c->rx.ctl->data_bell, AVA_SHM_WAIT_FUTEX);
		ring_bell(c, &c->tx.ctl->space_bell, AVA_SHM_WAIT_FUTEX);
	}
	shutdown(c->base.fd, SHUT_RDWR);
}

void
ava_shm_conn_flush(struct ava_shm_conn *c)
{
	rx_release(c);
	tx_publish(c);
}

/* At most this long: a copy that takes longer pays a wake-up it can
 * afford. */
#define SOON_MAX_US 2000

static void
shm_expect(struct ava_conn *base, unsigned us)
{
	struct ava_shm_conn *c = (struct ava_shm_conn *)base;
	c->soon_ns = (uint64_t)(us < SOON_MAX_US ? us : SOON_MAX_US) * 1000u;
}

const struct ava_conn_ops ava_shm_conn_ops = {
	.send = shm_send,
	.recv = shm_recv,
	.destroy = ava_shm_conn_free,
	.shutdown = shm_shutdown,
	.handoff = ava_shm_conn_export,
	.expect = shm_expect,
	.send_fd = ava_shm_send_fd,
	.recv_fd = ava_shm_recv_fd,
	.frames_beside = true,
};

/* ---- test hooks (transport-shm.h) ------------------------------------ */

int
ava_shm_conn_write_raw(struct ava_conn *base, const void *p, size_t n)
{
	struct ava_shm_conn *c = (struct ava_shm_conn *)base;
	int r = ava_shm_conn_attach(c);
	if (r == 0)
		r = tx_write(c, p, n);
	if (r == 0)
		tx_publish(c);
	return r;
}

void
ava_shm_conn_kick(struct ava_conn *base)
{
	struct ava_shm_conn *c = (struct ava_shm_conn *)base;
	if (ava_shm_conn_attach(c) < 0)
		return;
	ring_bell(c, &c->tx.ctl->data_bell, AVA_SHM_WAIT_FUTEX);
	ring_bell(c, &c->tx.ctl->data_bell, AVA_SHM_WAIT_SOCKET);
}
