/*
 * transport.h - one interface over every way a guest reaches a server.
 *
 * An address is `unix:PATH`, `shm:PATH` (a unix socket at PATH plus a
 * shared-memory ring pair per connection, transport-shm.c) or
 * `tcp:HOST:PORT` (transport-tcp.c; HOST a name, an IPv4 address or an
 * IPv6 address in brackets). Callers only see listeners, connections and
 * frames, so a new transport is one more ops table in its own file (see
 * transport-private.h) and no caller changes. All transports give the
 * same errors for the same events (a peer that closes, dies, or sends a
 * bad frame); shm: adds AVA_ESHM for a peer that breaks the shared
 * region's rules.
 *
 * Thread safety: a connection may be used by one sender and one receiver
 * at a time; callers serialize the rest. Listeners are single-threaded.
 */
#ifndef AVA_TRANSPORT_H
#define AVA_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol.h"
#include "wire.h"

enum ava_addr_kind {
	AVA_ADDR_UNIX,
	AVA_ADDR_TCP,
	AVA_ADDR_SHM,
};

struct ava_addr {
	enum ava_addr_kind kind;
	char path[108];    /* UNIX, SHM: NUL-terminated */
	char host[256];    /* TCP */
	uint16_t port;     /* TCP */
};

/*
 * Parse s into *out. Returns 0, AVA_EADDR (malformed: no known prefix,
 * empty path, bad port; port 0 too, which only ava_transport_listen()
 * takes) or -ENAMETOOLONG (path or host too long).
 */
int
ava_transport_addr_parse(const char *s, struct ava_addr *out);

/* One received or sent frame: header plus owned payload. */
struct ava_frame {
	struct ava_frame_header h;
	struct ava_buf payload;   /* payload.len == h.len after a recv */
	size_t got;               /* bytes received of the failing part */
};

struct ava_listener;
struct ava_conn;

/*
 * Listen on addr. A unix socket left behind by a dead server is removed;
 * one with a live server behind it gives -EADDRINUSE. A tcp: listener
 * binds the first address HOST resolves to that it can (SO_REUSEADDR);
 * port 0 takes a free port (see ava_transport_listener_addr()).
 * Returns 0, AVA_EADDR, -ENAMETOOLONG, -ENXIO (tcp: HOST does not
 * resolve) or a negative errno.
 * The caller owns *out and frees it with ava_transport_listener_destroy().
 */
int
ava_transport_listen(const char *addr, struct ava_listener **out);

/*
 * The address l listens on: the one it was given, except that a tcp:
 * listener on port 0 names the address and port it got, numerically
 * (`tcp:127.0.0.1:40123`, `tcp:[::1]:40123`). Valid while l lives.
 */
const char *
ava_transport_listener_addr(const struct ava_listener *l);

/* The fd to poll for readability before accept. */
int
ava_transport_listener_fd(const struct ava_listener *l);

/* Accept one guest. Returns 0, -EAGAIN/-EINTR (retry) or a negative errno.
 * The caller owns *out. */
int
ava_transport_listener_accept(struct ava_listener *l, struct ava_conn **out);

/*
 * For callers that accept themselves (the server's io_uring loop):
 * ava_transport_listener_adopt makes a connection of fd, a socket the
 * caller accepted on ava_transport_listener_fd(l), through the
 * transport's own set-up (TCP_NODELAY for tcp:). fd is owned from then on
 * and closed on failure. Returns 0, AVA_ENOTSUP (the transport accepts
 * only through ava_transport_listener_accept(): see
 * ava_transport_listener_can_adopt) or a negative errno. The caller owns
 * *out.
 */
bool
ava_transport_listener_can_adopt(const struct ava_listener *l);

int
ava_transport_listener_adopt(struct ava_listener *l, int fd,
			     struct ava_conn **out);

/* Wake any thread blocked in accept on l (it then fails with -EINVAL);
 * the listener must still be destroyed. */
void
ava_transport_listener_shutdown(struct ava_listener *l);

/* Close and free; a unix listener also unlinks its socket. Accepts NULL. */
void
ava_transport_listener_destroy(struct ava_listener *l);

/* Free a listener inherited over fork() without unlinking: the parent
 * still serves on it. Accepts NULL. */
void
ava_transport_listener_abandon(struct ava_listener *l);

/*
 * Connect to addr. Returns 0, AVA_EADDR, -ENAMETOOLONG or a negative
 * errno (-ENOENT, -ECONNREFUSED: no server there; tcp: -ENXIO, HOST does
 * not resolve, and -ETIMEDOUT). The caller owns *out. A tcp: connect
 * tries each address HOST resolves to, all within AVA_CONNECT_TIMEOUT_MS
 * milliseconds (default 5000; the name lookup itself is not bounded).
 * Like a unix connect, an shm: connect does not wait for the server to
 * accept: the first send or recv takes the server's region, or fails with
 * -ETIMEDOUT, AVA_ECLOSED or AVA_EPROTO (no shm: server there).
 */
int
ava_transport_connect(const char *addr, struct ava_conn **out);

/*
 * Send one frame: h->len payload bytes from payload (NULL if h->len is 0).
 * Returns 0 or a negative errno (-EPIPE, -ECONNRESET: the peer is gone);
 * over shm: also AVA_ESHM (the peer broke the shared ring). As into a
 * socket buffer, a send into a ring with room succeeds even when the peer
 * has just died; the next recv reports it.
 */
int
ava_transport_conn_send(struct ava_conn *c, const struct ava_frame_header *h,
			const void *payload);

/*
 * Receive one frame into f (f->payload is reused and grows as bytes
 * actually arrive, so a lying length costs no memory up front).
 * Returns 0; AVA_ECLOSED if the peer closed cleanly between frames;
 * AVA_EPROTO for a truncated frame (f->got tells how far it came) or a bad
 * header; AVA_EVERSION; AVA_ETOOBIG (f->h.len is the length claimed);
 * AVA_ESHM (shm:, the peer broke the shared ring or the socket beside it;
 * sticky); or a negative errno. f->h holds the header whenever one was
 * read.
 */
int
ava_transport_conn_recv(struct ava_conn *c, struct ava_frame *f);

/* The address this connection was made to or accepted on. */
const char *
ava_transport_conn_addr(const struct ava_conn *c);

/* Make the connection's pending and later send/recv fail (AVA_ECLOSED)
 * without freeing it; safe from another thread while one is blocked. */
void
ava_transport_conn_shutdown(struct ava_conn *c);

/* Close and free. Accepts NULL. */
void
ava_transport_conn_destroy(struct ava_conn *c);

/*
 * The peer's next frame is due within us (it is copying between two
 * calls it makes at once): a transport that waits by spinning may spin
 * that long for it, once, rather than sleep and be woken. Others ignore
 * it.
 */
void
ava_transport_conn_expect(struct ava_conn *c, unsigned us);

/*
 * Descriptors, where the transport passes them (shm:; else -ENOTSUP).
 * The server sends one before the frame that tells the guest of it; the
 * guest takes it after that frame (its own, closed by the caller), or
 * gets an error (-ETIMEDOUT if none came within a bound).
 */
int
ava_transport_conn_send_fd(struct ava_conn *c, int fd);

int
ava_transport_conn_recv_fd(struct ava_conn *c, int *fd);

bool
ava_transport_conn_passes_fds(const struct ava_conn *c);

/*
 * Whether a frame (or the peer's end) is waiting on a socket connection
 * right now; always false over shm:. The guest checks before sending
 * queued calls, so that a MOVED its server sent unasked is not missed.
 */
bool
ava_transport_conn_readable(const struct ava_conn *c);

/*
 * Handing a connection to another process on this host, so that every
 * connection of one guest (one per guest thread) reaches the worker that
 * holds its session. `name` is an abstract unix socket name.
 *
 * ava_transport_handoff_listen: listen for handed-off connections.
 * Returns 0 or a negative errno (-EADDRINUSE: the name is taken).
 *
 * ava_transport_conn_handoff: send c's descriptor and n bytes of msg to
 * the listener `name`. c stays the caller's to destroy (its copy of the
 * descriptor). Returns 0, AVA_ENOTSUP (not a stream connection),
 * -ECONNREFUSED/-ENOENT (no such listener) or a negative errno.
 *
 * ava_transport_handoff_accept: take one connection and exactly n bytes
 * of its message into msg; *out is labelled addr. Senders of another uid
 * are refused (AVA_EAUTH); a malformed handoff is AVA_EPROTO. Once l is
 * shut down (ava_transport_listener_shutdown), -EINVAL, whether the
 * caller was waiting then or comes later.
 */
int
ava_transport_handoff_listen(const char *name, struct ava_listener **out);

int
ava_transport_conn_handoff(struct ava_conn *c, const char *name,
			   const void *msg, size_t n);

int
ava_transport_handoff_accept(struct ava_listener *l, const char *addr,
			     void *msg, size_t n, struct ava_conn **out);

/*
 * In-place bulk data (shm:, doc/protocol.md "shm: bulk data").
 *
 * Over shm:, the bytes of a large buffer of a CALL or a REPLY do not pass
 * through the ring: they lie in the connection's shared bulk area, and
 * the frame carries a reference to them. The payload that the
 * marshaller builds and decodes keeps its layout (runtime/protocol.h),
 * except that such a buffer's bytes are not in it: a hole of their
 * length is, and a set of refs says where each hole's bytes are. Only
 * the marshaller makes holes (marshal.h), and only for buffers of at
 * least AVA_BULK_MIN bytes, and only for a payload that goes over shm:.
 * The sets live per thread: the marshaller and the transport meet
 * there, since neither sees the other's objects.
 *
 * Trust: a received set has been checked against the payload and the
 * area (every hole inside the payload, in order, 8-aligned; every byte
 * inside the area), once, from a private copy. The bytes at `at` are
 * shared: the peer may change them at any time, so they are only ever
 * copied or handed to the driver, never checked and then used.
 */
#define AVA_BULK_MIN (64u << 10)  /* smaller buffers always travel inline */
#define AVA_BULK_MAX 8            /* holes in one payload */

struct ava_bulk_ref {
	uint64_t off;   /* the hole: its offset in the payload, 8-aligned */
	uint64_t len;   /* its length (the zero padding after it is not in it) */
	uint8_t *at;    /* where its bytes are */
};

struct ava_bulk {
	const uint8_t *payload;   /* the payload with the holes */
	size_t len;               /* its length */
	uint32_t n;               /* refs in payload order */
	struct ava_bulk_ref ref[AVA_BULK_MAX];
};

/*
 * Sending. Holes may be made only where the payload will go over shm:,
 * which ava_transport_bulk_ready() tells: this thread's last receive was
 * over shm: (a guest thread sends where it receives). An encoder that
 * left holes stages their set on its thread (n = 0, or NULL, clears it);
 * every send of exactly that payload (b->payload, b->len) from this
 * thread over shm: uses it, until the next stage: a CALL or REPLY then
 * passes the bytes in place, copying them into the area unless they are
 * there already, or streams them through the ring when the area is too
 * small. ava_transport_bulk_unstage() copies the bytes into the holes
 * and forgets the set, for a caller that sends the payload some other
 * way (inside a batch).
 */
bool
ava_transport_bulk_ready(void);

void
ava_transport_bulk_stage(const struct ava_bulk *b);

void
ava_transport_bulk_unstage(void *payload, size_t len);

/*
 * Receiving. The set of the frame this thread last received over shm:,
 * if p (n bytes) is its payload; else NULL. Its `at` point into the
 * connection's area and stay valid until this thread's next receive on
 * the connection.
 */
const struct ava_bulk *
ava_transport_bulk_received(const void *p, size_t n);

/*
 * Server: n bytes of shared storage for an out buffer of the call this
 * thread last received over shm:, in the area past that call's own
 * bytes; NULL when there is none (not shm:, no area, not enough room, or
 * the call is served inline). Not zeroed: it holds the guest's own
 * earlier bytes. Valid until the thread's next receive.
 * ava_transport_bulk_shared() says whether [p, p + n) lies in that area.
 */
void *
ava_transport_bulk_alloc(size_t n);

bool
ava_transport_bulk_shared(const void *p, size_t n);

/*
 * The call just received on c (payload p, n bytes) is to be served from
 * private bytes, as the journal needs: its holes (if any) are filled
 * from the area and forgotten, and its out buffers get no shared
 * storage. A no-op on other transports.
 */
void
ava_transport_conn_bulk_inline(struct ava_conn *c, void *p, size_t n);

/*
 * Do all the holes of the call just received on c (payload p, n bytes)
 * lie within [off, off + len) of it? True where it has none (other
 * transports, small calls): a keeper that leaves those bytes out needs
 * nothing inlined.
 */
bool
ava_transport_conn_bulk_within(struct ava_conn *c, const void *p, size_t n,
			       size_t off, size_t len);

#endif
