/*
 * transport-shm-setup.c - the `shm:` transport's regions: made by the
 * server for each connection it accepts, passed to the guest over the
 * unix socket, and passed on with the socket when a connection moves to
 * another server process (ava_transport_conn_handoff).
 *
 * The server makes the region, not the guest: it is sized and sealed
 * (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) before anyone else holds
 * it, so the guest can neither make the server's accesses fault by
 * shrinking it nor make a later mapping fail by adding a write seal.
 * Both sides still check the size and the seals before mapping.
 *
 * Handshake, server -> guest, right after accept, in one message with the
 * memfd (SCM_RIGHTS), 40 bytes little-endian:
 *   u32 magic "AVAS", u16 version 3, u16 0, u32 ctl_size 4096, u32 0,
 *   u64 cmd_size, u64 reply_size, u64 bulk_size (0: no bulk area).
 * Version 3 has the streams (transport-shm.h): their control blocks in
 * the control page, their window at the end of an area of at least
 * 2 * AVA_SHM_WINDOW bytes.
 * The accept loop never waits for the guest: the message goes into the
 * fresh socket's empty buffer. The guest does not wait in connect either,
 * but on its first send or receive, for at most HANDSHAKE_MS.
 *
 * The bulk area is sized once, AVA_SHM_BULK_MIB in the server's
 * environment (default AVA_SHM_BULK_DEFAULT, AVA_FRAME_MAX, so that any
 * one call's buffers fit; 0: none). Its pages cost memory only once
 * touched, and the memfd's pages are charged to whoever touches them.
 *
 * The end of this file keeps the per-thread bulk sets (transport.h,
 * "In-place bulk data").
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ava-error.h"
#include "huge-map.h"
#include "marshal.h"
#include "transport-private.h"
#include "transport-shm.h"

#define RING_SIZE (1u << 20)     /* each direction; see doc/performance.md */
#define SPIN_US_DEFAULT 20
#define SPIN_US_MAX 1000
#define HANDSHAKE_MS 10000       /* a guest waits this long for its region */
#define STATE_SIZE 64            /* handoff state, see ava_shm_conn_export */

static unsigned
spin_setting(bool *yield)
{
	cpu_set_t set;
	*yield = sched_getaffinity(0, sizeof(set), &set) == 0 &&
		 CPU_COUNT(&set) == 1;
	const char *s = getenv("AVA_SHM_SPIN_US");
	if (s == NULL || *s == '\0')
		return SPIN_US_DEFAULT;
	char *end;
	unsigned long us = strtoul(s, &end, 10);
	if (*end != '\0')
		return SPIN_US_DEFAULT;
	return us > SPIN_US_MAX ? SPIN_US_MAX : (unsigned)us;
}

static bool
size_ok(uint64_t n)
{
	return n >= AVA_SHM_RING_MIN && n <= AVA_SHM_RING_MAX &&
	       (n & (n - 1)) == 0;
}

static bool
bulk_ok(uint64_t n)
{
	return n <= AVA_SHM_BULK_MAX && n % AVA_SHM_BULK_ALIGN == 0;
}

/* The server's bulk area size: AVA_SHM_BULK_MIB, rounded to pages. */
static uint64_t
bulk_setting(void)
{
	const char *s = getenv("AVA_SHM_BULK_MIB");
	if (s == NULL || *s == '\0')
		return AVA_SHM_BULK_DEFAULT;
	char *end;
	unsigned long long mib = strtoull(s, &end, 10);
	if (*end != '\0')
		return AVA_SHM_BULK_DEFAULT;
	return mib > (AVA_SHM_BULK_MAX >> 20) ? AVA_SHM_BULK_MAX : mib << 20;
}

static void stage_streams(const struct ava_bulk *set, int ref, void *sink,
			  size_t n);
static bool stream_in(const void *p, size_t n);
static int stream_take(bool wait, const void **at);
static void stream_release(size_t n);
static void *stream_out(size_t n);
static bool is_stream_out(const void *p);
static int stream_reserve(bool wait, void **at);
static void stream_publish(size_t n);

static const struct ava_marshal_bulk_ops bulk_ops = {
	.ready = ava_transport_bulk_ready,
	.stage = ava_transport_bulk_stage,
	.received = ava_transport_bulk_received,
	.alloc = ava_transport_bulk_alloc,
	.shared = ava_transport_bulk_shared,
	.stage_streams = stage_streams,
	.stream_in = stream_in,
	.take = stream_take,
	.release = stream_release,
	.stream_out = stream_out,
	.is_stream_out = is_stream_out,
	.reserve = stream_reserve,
	.publish = stream_publish,
};

/* AVA_SHM_STREAM=0: this guest never streams (for measurements). */
static bool
stream_off(void)
{
	const char *s = getenv("AVA_SHM_STREAM");
	return s != NULL && strcmp(s, "0") == 0;
}

int
ava_shm_conn_alloc(int fd, const char *addr, struct ava_shm_conn **out)
{
	/* From the first shm: connection on, the marshaller may use holes. */
	ava_marshal_set_bulk_ops(&bulk_ops);
	struct ava_shm_conn *c = calloc(1, sizeof(*c));
	if (c == NULL || (c->base.addr = strdup(addr)) == NULL) {
		free(c);
		close(fd);
		return -ENOMEM;
	}
	c->base.ops = &ava_shm_conn_ops;
	c->base.fd = fd;
	c->memfd = -1;
	c->passed_fd = -1;
	pthread_mutex_init(&c->setup, NULL);
	c->spin_us = spin_setting(&c->yield);
	c->stream_off = stream_off();
	*out = c;
	return 0;
}

void
ava_shm_conn_free(struct ava_conn *base)
{
	struct ava_shm_conn *c = (struct ava_shm_conn *)base;
	ava_shm_bulk_forget(c);
	if (c->map != NULL)
		munmap(c->map, c->map_len);
	if (c->memfd >= 0)
		close(c->memfd);
	if (c->passed_fd >= 0)
		close(c->passed_fd);
	close(c->base.fd);
	pthread_mutex_destroy(&c->setup);
	free(c->base.addr);
	free(c);
}

bool
ava_shm_conn_view(struct ava_conn *base, struct ava_shm_view *v)
{
	struct ava_shm_conn *c = (struct ava_shm_conn *)base;
	if (base->ops != &ava_shm_conn_ops || ava_shm_conn_attach(c) < 0)
		return false;
	*v = (struct ava_shm_view){ .memfd = c->memfd, .base = c->map,
		.ctl = (struct ava_shm_ring_ctl *)c->map,
		.cmd_size = c->server ? c->rx.size : c->tx.size,
		.reply_size = c->server ? c->tx.size : c->rx.size,
		.area = c->area, .area_size = (size_t)c->area_size,
		.win = c->win };
	return true;
}

int
ava_shm_conn_map(struct ava_shm_conn *c, int memfd, bool server,
		 uint64_t cmd, uint64_t reply, uint64_t bulk)
{
	struct stat st;
	if (!size_ok(cmd) || !size_ok(reply) || !bulk_ok(bulk) ||
	    fstat(memfd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != AVA_SHM_CTL_SIZE + cmd + reply + bulk) {
		close(memfd);
		return AVA_ESHM;
	}
	/* Sealed against shrinking: no access to the map can fault. */
	int seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		close(memfd);
		return AVA_ESHM;
	}
	size_t len = AVA_SHM_CTL_SIZE + (size_t)cmd + (size_t)reply +
		     (size_t)bulk;
	uint8_t *map = ava_map_huge(memfd, len);
	if (map == MAP_FAILED) {
		int r = -errno;
		close(memfd);
		return r;
	}
	struct ava_shm_ring_ctl *ctl = (struct ava_shm_ring_ctl *)map;
	struct ava_shm_ring cmdr = { .ctl = &ctl[0], .size = cmd,
				     .data = map + AVA_SHM_CTL_SIZE };
	struct ava_shm_ring repr = { .ctl = &ctl[1], .size = reply,
				     .data = map + AVA_SHM_CTL_SIZE + cmd };
	struct ava_shm_stream_ctl *sctl = (struct ava_shm_stream_ctl *)
					  (map + AVA_SHM_STREAM_CTL);
	c->memfd = memfd;
	c->map = map;
	c->map_len = len;
	c->area = bulk ? map + AVA_SHM_CTL_SIZE + cmd + reply : NULL;
	c->area_size = bulk;
	/* The window is the area's end, where it is large enough; refs
	 * never reach into it. */
	if (bulk >= 2 * AVA_SHM_WINDOW) {
		c->area_size = bulk - AVA_SHM_WINDOW;
		c->win = c->area + c->area_size;
	}
	c->server = server;
	c->tx = server ? repr : cmdr;
	c->rx = server ? cmdr : repr;
	c->in.head = &sctl[server ? 0 : 1].head;
	c->in.tail = &sctl[server ? 0 : 1].tail;
	c->out.head = &sctl[server ? 1 : 0].head;
	c->out.tail = &sctl[server ? 1 : 0].tail;
	c->tx.spin_ns = c->rx.spin_ns = (uint64_t)c->spin_us * 1000u;
	__atomic_store_n(&c->ready, 1, __ATOMIC_SEQ_CST);
	return 0;
}

/* ---- the server's side of the handshake ------------------------------ */

static int
make_region(size_t len, int *out)
{
	int fd = memfd_create("ava-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_SEAL) != 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

/* n bytes (a message the socket's buffer has room for: it never waits)
 * with the descriptor fd on them. */
static int
send_with_fd(int sock, const void *msg, size_t n, int fd)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	struct cmsghdr *ch = CMSG_FIRSTHDR(&m);
	ch->cmsg_level = SOL_SOCKET;
	ch->cmsg_type = SCM_RIGHTS;
	ch->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(ch), &fd, sizeof(int));
	ssize_t k;
	do
		k = sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	return (size_t)k == n ? 0 : AVA_EPROTO;
}

static int
send_region(int fd, int memfd, uint64_t cmd, uint64_t reply, uint64_t bulk)
{
	uint8_t msg[AVA_SHM_HANDSHAKE_SIZE] = { 0 };
	ava_wire_put_le(msg, AVA_SHM_MAGIC, 4);
	ava_wire_put_le(msg + 4, AVA_SHM_VERSION, 2);
	ava_wire_put_le(msg + 8, AVA_SHM_CTL_SIZE, 4);
	ava_wire_put_le(msg + 16, cmd, 8);
	ava_wire_put_le(msg + 24, reply, 8);
	ava_wire_put_le(msg + 32, bulk, 8);
	return send_with_fd(fd, msg, sizeof(msg), memfd);
}

static int
shm_accept(struct ava_listener *l, struct ava_conn **out)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct ava_shm_conn *c;
	int memfd = -1;
	int r = ava_shm_conn_alloc(fd, l->addr, &c);
	if (r < 0)
		return r;
	uint64_t bulk = bulk_setting();
	r = make_region(AVA_SHM_CTL_SIZE + 2 * (size_t)RING_SIZE +
			(size_t)bulk, &memfd);
	if (r == 0 &&
	    (r = send_region(fd, memfd, RING_SIZE, RING_SIZE, bulk)) < 0)
		close(memfd);
	if (r == 0)
		r = ava_shm_conn_map(c, memfd, true, RING_SIZE, RING_SIZE,
				     bulk);
	if (r < 0) {
		ava_transport_conn_destroy(&c->base);
		return r;
	}
	*out = &c->base;
	return 0;
}

static const struct ava_listener_ops shm_listener_ops = {
	.accept = shm_accept,
	.destroy = ava_unix_listener_destroy,
};

int
ava_shm_listen(const struct ava_addr *a, const char *addr,
	       struct ava_listener **out)
{
	/* Where sealed memfds are not to be had (an old kernel, a seccomp
	 * filter), say so now rather than fail every guest later. */
	int probe;
	int r = make_region(AVA_SHM_CTL_SIZE, &probe);
	if (r < 0)
		return r;
	close(probe);
	r = ava_unix_listen(a, addr, out);
	if (r == 0)
		(*out)->ops = &shm_listener_ops;
	return r;
}

/* ---- the guest's side ------------------------------------------------ */

int
ava_shm_connect(const struct ava_addr *a, const char *addr,
		struct ava_conn **out)
{
	int fd;
	struct ava_shm_conn *c;
	int r = ava_unix_connect_fd(a, &fd);
	if (r == 0)
		r = ava_shm_conn_alloc(fd, addr, &c);
	if (r == 0)
		*out = &c->base;
	return r;
}

/* Keep the first descriptor a message brought in *fd, close the rest. */
static int
take_fds(struct msghdr *m, int *fd)
{
	int n = 0;
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(m); ch != NULL;
	     ch = CMSG_NXTHDR(m, ch)) {
		if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int x;
			memcpy(&x, CMSG_DATA(ch) + i * sizeof(int), sizeof(int));
			if (n++ == 0)
				*fd = x;
			else
				close(x);
		}
	}
	return n;
}

/* ---- descriptors after the handshake -------------------------------- */

/* Keep a passed descriptor for recv_fd; an older one is dropped. */
static void
stash(struct ava_shm_conn *c, int fd)
{
	if (c->passed_fd >= 0)
		close(c->passed_fd);
	c->passed_fd = fd;
}

int
ava_shm_sock_drain(struct ava_shm_conn *c)
{
	uint8_t b[64];
	for (;;) {
		union { struct cmsghdr h; char b[CMSG_SPACE(4 * sizeof(int))]; } u;
		struct iovec iov = { .iov_base = b, .iov_len = sizeof(b) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = u.b,
				    .msg_controllen = sizeof(u.b) };
		ssize_t k = recvmsg(c->base.fd, &m, MSG_DONTWAIT |
				    MSG_CMSG_CLOEXEC);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (k <= 0) {
			/* End of file, or reset: either way the peer is gone. */
			__atomic_store_n(&c->eof, 1, __ATOMIC_RELEASE);
			return 0;
		}
		int fd = -1;
		int nfds = take_fds(&m, &fd);
		/* Doorbells (any other byte: e.g. a unix: guest), and for a
		 * guest at most one descriptor, on the byte that says so. */
		int fd_bytes = 0;
		bool ok = true;
		for (ssize_t i = 0; i < k; i++) {
			fd_bytes += b[i] == AVA_SHM_FD_BYTE;
			ok &= b[i] == AVA_SHM_DOORBELL ||
			      (b[i] == AVA_SHM_FD_BYTE && !c->server);
		}
		if (!ok || fd_bytes > 1 || nfds != fd_bytes ||
		    (m.msg_flags & MSG_CTRUNC)) {
			if (nfds > 0)
				close(fd);
			return ava_shm_broken(c);
		}
		if (nfds == 1)
			stash(c, fd);
	}
}

int
ava_shm_send_fd(struct ava_conn *base, int fd)
{
	uint8_t byte = AVA_SHM_FD_BYTE;
	return send_with_fd(base->fd, &byte, 1, fd);
}

/* The server sends the descriptor before the frame that announces it,
 * so it is on the socket (or a drain took it) by the time a guest asks;
 * the deadline only bounds a server that lied. */
#define RECV_FD_MS 2000

int
ava_shm_recv_fd(struct ava_conn *base, int *fd)
{
	struct ava_shm_conn *c = (struct ava_shm_conn *)base;
	int r = 0;
	for (int waited = 0; c->passed_fd < 0 && r == 0;) {
		r = ava_shm_sock_drain(c);
		if (r < 0 || c->passed_fd >= 0)
			break;
		if (ava_shm_load_flag(&c->eof))
			return AVA_ECLOSED;
		if (waited >= RECV_FD_MS)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = c->base.fd, .events = POLLIN };
		int n = poll(&p, 1, RECV_FD_MS - waited);
		if (n == 0)
			waited = RECV_FD_MS;
		else if (n < 0 && errno != EINTR)
			return -errno;
	}
	if (r < 0)
		return r;
	*fd = c->passed_fd;
	c->passed_fd = -1;
	return 0;
}

/* The server's handshake: one message of exactly its size, one fd. */
static int
recv_region(int fd, uint8_t *msg, int *memfd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;
	do
		n = poll(&p, 1, HANDSHAKE_MS);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n == 0 ? -ETIMEDOUT : -errno;
	union { struct cmsghdr h; char b[CMSG_SPACE(4 * sizeof(int))]; } u;
	struct iovec iov = { .iov_base = msg,
			     .iov_len = AVA_SHM_HANDSHAKE_SIZE };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	ssize_t k;
	do
		k = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	int nfds = take_fds(&m, memfd);
	if (k == AVA_SHM_HANDSHAKE_SIZE && nfds == 1 &&
	    !(m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return 0;
	if (nfds > 0)
		close(*memfd);
	return k == 0 ? AVA_ECLOSED : AVA_EPROTO;
}

static int
attach_locked(struct ava_shm_conn *c)
{
	uint8_t msg[AVA_SHM_HANDSHAKE_SIZE];
	int memfd = -1;
	int r = recv_region(c->base.fd, msg, &memfd);
	if (r < 0)
		return r;
	if (ava_wire_get_le(msg, 4) != AVA_SHM_MAGIC ||
	    ava_wire_get_le(msg + 4, 2) != AVA_SHM_VERSION ||
	    ava_wire_get_le(msg + 8, 4) != AVA_SHM_CTL_SIZE) {
		close(memfd);
		return AVA_EPROTO;
	}
	return ava_shm_conn_map(c, memfd, false, ava_wire_get_le(msg + 16, 8),
				ava_wire_get_le(msg + 24, 8),
				ava_wire_get_le(msg + 32, 8));
}

int
ava_shm_conn_attach_slow(struct ava_shm_conn *c)
{
	pthread_mutex_lock(&c->setup);
	int r = __atomic_load_n(&c->err, __ATOMIC_ACQUIRE);
	if (r == 0 && !__atomic_load_n(&c->ready, __ATOMIC_ACQUIRE) &&
	    (r = attach_locked(c)) < 0)
		__atomic_store_n(&c->err, r, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&c->setup);
	return r;
}

/* ---- handoff to another process of the server ------------------------- */

/*
 * State: u32 magic, u32 server, u64 cmd_size, u64 reply_size, u64 rx pos,
 * u64 tx pos, u64 bulk_size, u64 in-stream pos, u64 out-stream pos.
 * Positions travel privately (between two processes of the same server,
 * checked by uid), never through the region the guest can write. No
 * stream is in a transfer between calls, when a connection moves.
 */
int
ava_shm_conn_export(struct ava_conn *base, struct ava_conn_export *e)
{
	struct ava_shm_conn *c = (struct ava_shm_conn *)base;
	int r = ava_shm_conn_attach(c);
	if (r < 0)
		return r;
	ava_shm_conn_flush(c);
	e->kind = AVA_HANDOFF_SHM;
	e->fd2 = c->memfd;
	ava_wire_put_le(e->state, AVA_SHM_MAGIC, 4);
	ava_wire_put_le(e->state + 4, c->server, 4);
	ava_wire_put_le(e->state + 8, c->server ? c->rx.size : c->tx.size, 8);
	ava_wire_put_le(e->state + 16, c->server ? c->tx.size : c->rx.size, 8);
	ava_wire_put_le(e->state + 24, c->rx.pos, 8);
	ava_wire_put_le(e->state + 32, c->tx.pos, 8);
	ava_wire_put_le(e->state + 40, c->area_size +
			(c->win != NULL ? AVA_SHM_WINDOW : 0), 8);
	ava_wire_put_le(e->state + 48, c->in.pos, 8);
	ava_wire_put_le(e->state + 56, c->out.pos, 8);
	e->nstate = STATE_SIZE;
	return 0;
}

int
ava_shm_adopt(int fd, int memfd, const uint8_t *state, size_t n,
	      const char *addr, struct ava_conn **out)
{
	struct ava_shm_conn *c;
	uint64_t server = n == STATE_SIZE ? ava_wire_get_le(state + 4, 4) : 2;
	if (server > 1 || ava_wire_get_le(state, 4) != AVA_SHM_MAGIC) {
		close(memfd);
		close(fd);
		return AVA_EPROTO;
	}
	int r = ava_shm_conn_alloc(fd, addr, &c);
	if (r < 0) {
		close(memfd);
		return r;
	}
	r = ava_shm_conn_map(c, memfd, server, ava_wire_get_le(state + 8, 8),
			     ava_wire_get_le(state + 16, 8),
			     ava_wire_get_le(state + 40, 8));
	if (r < 0) {
		ava_transport_conn_destroy(&c->base);
		return r;
	}
	c->rx.pos = c->rx.shared = ava_wire_get_le(state + 24, 8);
	c->tx.pos = c->tx.shared = ava_wire_get_le(state + 32, 8);
	c->in.pos = c->in.next = c->in.seen = ava_wire_get_le(state + 48, 8);
	c->out.pos = c->out.next = c->out.seen = ava_wire_get_le(state + 56, 8);
	*out = &c->base;
	return 0;
}

/* ---- the per-thread bulk sets (transport.h) --------------------------- */

/*
 * What the marshaller and the shm: ring code share on one thread: the
 * set of holes of the frame the thread last received (and on which
 * connection), the server's next free byte of that connection's area,
 * and the set an encoder staged for the thread's next send, with the ref
 * that may stream and the sink it offers. A set only applies to the
 * payload it names, so a stale one is never used for another frame.
 */
static _Thread_local struct {
	struct ava_shm_conn *conn;   /* received on last; NULL: none */
	struct ava_bulk rx;
	uint64_t alloc;              /* next free byte of conn's area */
	bool inline_only;            /* the call is served from private bytes */
	struct ava_bulk tx;          /* staged */
	int tx_stream;               /* its ref that may stream, or -1 */
	const void *sink_payload;    /* the payload whose sink it is */
	uint64_t sink_plen;
	void *sink;                  /* the out-buffer it offers, or NULL */
	uint64_t sink_len;
} tls = { .tx_stream = -1 };

/* Copy each hole's bytes into the payload; a streamed one's come from
 * the stream (0, or why they could not). */
static int
fill_holes(struct ava_shm_conn *c, void *payload, const struct ava_bulk *b)
{
	int r = 0;
	for (uint32_t k = 0; k < b->n; k++) {
		uint8_t *dst = (uint8_t *)payload + b->ref[k].off;
		if (c != NULL && b->ref[k].at == c->win && c->in.active)
			r = ava_shm_in_drain(c, dst);
		else
			memcpy(dst, b->ref[k].at, (size_t)b->ref[k].len);
	}
	return r;
}

static uint64_t
align_up(uint64_t n)
{
	return (n + AVA_SHM_BULK_ALIGN - 1) & ~(uint64_t)(AVA_SHM_BULK_ALIGN - 1);
}

void
ava_shm_bulk_received(struct ava_shm_conn *c, const struct ava_bulk *b)
{
	tls.conn = c;
	tls.rx.n = 0;
	tls.alloc = 0;
	tls.inline_only = false;
	if (b == NULL)
		return;
	tls.rx = *b;
	/* Out buffers go after the call's own bytes in the area, so the
	 * driver never writes over an in-buffer. */
	for (uint32_t k = 0; k < b->n; k++) {
		uint64_t end = (uint64_t)(b->ref[k].at - c->area) + b->ref[k].len;
		if (ava_shm_in_area(c, b->ref[k].at, b->ref[k].len) &&
		    end > tls.alloc)
			tls.alloc = end;
	}
	tls.alloc = align_up(tls.alloc);
}

bool
ava_shm_bulk_staged(const void *payload, uint64_t len, struct ava_bulk *out)
{
	if (tls.tx.n == 0 || tls.tx.payload != payload || tls.tx.len != len)
		return false;
	*out = tls.tx;
	return true;
}

int
ava_shm_bulk_stream_ref(void)
{
	return tls.tx_stream;
}

void *
ava_shm_bulk_sink(const void *payload, uint64_t len, uint64_t *n)
{
	if (tls.sink == NULL || tls.sink_payload != payload ||
	    tls.sink_plen != len)
		return NULL;
	*n = tls.sink_len;
	return tls.sink;
}

void
ava_shm_bulk_forget(struct ava_shm_conn *c)
{
	if (tls.conn == c) {
		tls.conn = NULL;
		tls.rx.n = 0;
	}
}

bool
ava_transport_bulk_ready(void)
{
	return tls.conn != NULL;
}

void
ava_transport_bulk_stage(const struct ava_bulk *b)
{
	tls.tx.n = 0;
	tls.tx_stream = -1;
	tls.sink = NULL;
	if (b != NULL && b->n > 0 && b->n <= AVA_BULK_MAX)
		tls.tx = *b;
}

static void
stage_streams(const struct ava_bulk *set, int ref, void *sink, size_t n)
{
	tls.tx_stream = tls.tx.n > 0 && ref >= 0 && (uint32_t)ref < tls.tx.n ?
			ref : -1;
	tls.sink = sink;
	tls.sink_len = n;
	tls.sink_payload = set->payload;
	tls.sink_plen = set->len;
}

void
ava_transport_bulk_unstage(void *payload, size_t len)
{
	struct ava_bulk b;
	tls.sink = NULL;
	if (!ava_shm_bulk_staged(payload, len, &b))
		return;
	tls.tx.n = 0;
	fill_holes(NULL, payload, &b);
}

const struct ava_bulk *
ava_transport_bulk_received(const void *p, size_t n)
{
	if (tls.conn == NULL || tls.rx.n == 0 || tls.rx.payload != p ||
	    tls.rx.len != n)
		return NULL;
	return &tls.rx;
}

void *
ava_transport_bulk_alloc(size_t n)
{
	struct ava_shm_conn *c = tls.conn;
	if (c == NULL || c->area == NULL || tls.inline_only ||
	    tls.alloc > c->area_size || n > c->area_size - tls.alloc)
		return NULL;
	uint8_t *p = c->area + tls.alloc;
	tls.alloc += align_up(n);  /* past the end: the next alloc fails */
	return p;
}

bool
ava_transport_bulk_shared(const void *p, size_t n)
{
	return ava_shm_in_area(tls.conn, p, n);
}

void
ava_transport_conn_bulk_inline(struct ava_conn *base, void *p, size_t n)
{
	if (base->ops != &ava_shm_conn_ops)
		return;
	tls.inline_only = true;
	struct ava_shm_conn *c = (struct ava_shm_conn *)base;
	const struct ava_bulk *b = tls.conn == c ?
				   ava_transport_bulk_received(p, n) : NULL;
	/* A stream cut short leaves zeros, and a broken connection: the
	 * session ends at the REPLY. */
	if (b != NULL)
		(void)fill_holes(c, p, b);
	tls.rx.n = 0;
}

bool
ava_transport_conn_bulk_within(struct ava_conn *base, const void *p, size_t n,
			       size_t off, size_t len)
{
	if (base->ops != &ava_shm_conn_ops)
		return true;
	struct ava_shm_conn *c = (struct ava_shm_conn *)base;
	const struct ava_bulk *b = tls.conn == c ?
				   ava_transport_bulk_received(p, n) : NULL;
	for (uint32_t i = 0; b != NULL && i < b->n; i++)
		if (b->ref[i].off < off || b->ref[i].len > len ||
		    b->ref[i].off - off > len - b->ref[i].len)
			return false;
	return true;
}

/* ---- streams, for a server's hooks (marshal.h) ------------------------ */

static bool
stream_in(const void *p, size_t n)
{
	struct ava_shm_conn *c = tls.conn;
	return c != NULL && c->server && !tls.inline_only && c->in.active &&
	       p == c->win && n == c->in.end - c->in.base;
}

static int
stream_take(bool wait, const void **at)
{
	const uint8_t *p = NULL;
	int r = tls.conn != NULL ? ava_shm_in_take(tls.conn, wait, &p) : 0;
	*at = p;
	return r;
}

static void
stream_release(size_t n)
{
	if (tls.conn != NULL)
		ava_shm_in_release(tls.conn, n);
}

/* The out-stream as a call's storage, where its guest offered a sink. */
static void *
stream_out(size_t n)
{
	struct ava_shm_conn *c = tls.conn;
	if (c == NULL || !c->server || !c->sink_offered || tls.inline_only ||
	    c->win == NULL || c->out.active)
		return NULL;
	ava_shm_out_start(c, n);
	return c->win;
}

static bool
is_stream_out(const void *p)
{
	struct ava_shm_conn *c = tls.conn;
	return c != NULL && c->server && c->out.active && p == c->win;
}

static int
stream_reserve(bool wait, void **at)
{
	uint8_t *p = NULL;
	int r = tls.conn != NULL ? ava_shm_out_reserve(tls.conn, wait, &p) : 0;
	*at = p;
	return r;
}

static void
stream_publish(size_t n)
{
	if (tls.conn != NULL)
		ava_shm_out_publish(tls.conn, n);
}
