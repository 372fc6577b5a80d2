/*
 * transport.h - one interface over every way a guest reaches a server.
 *
 * An address is `unix:PATH`, `shm:PATH` (a unix socket at PATH plus a
 * shared-memory ring pair per connection, transport-shm.c) or
 * `tcp:HOST:PORT` (recognised; AVA_ENOTSUP until it exists). Callers only
 * see listeners, connections and frames, so a new transport is one more
 * ops table in its own file (see transport-private.h) and no caller
 * changes. Both implemented transports give the same errors for the same
 * events (a peer that closes, dies, or sends a bad frame); shm: adds
 * AVA_ESHM for a peer that breaks the shared region's rules.
 *
 * Thread safety: a connection may be used by one sender and one receiver
 * at a time; callers serialize the rest. Listeners are single-threaded.
 */
#ifndef AVA_TRANSPORT_H
#define AVA_TRANSPORT_H

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
 * empty path, bad port) or -ENAMETOOLONG (path does not fit a socket
 * address). Does not check that the transport is implemented.
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
 * one with a live server behind it gives -EADDRINUSE.
 * Returns 0, AVA_EADDR, AVA_ENOTSUP, -ENAMETOOLONG or a negative errno.
 * The caller owns *out and frees it with ava_transport_listener_destroy().
 */
int
ava_transport_listen(const char *addr, struct ava_listener **out);

/* The fd to poll for readability before accept. */
int
ava_transport_listener_fd(const struct ava_listener *l);

/* Accept one guest. Returns 0, -EAGAIN/-EINTR (retry) or a negative errno.
 * The caller owns *out. */
int
ava_transport_listener_accept(struct ava_listener *l, struct ava_conn **out);

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
 * Connect to addr. Returns 0, AVA_EADDR, AVA_ENOTSUP, -ENAMETOOLONG or a
 * negative errno (-ENOENT, -ECONNREFUSED: no server there). The caller owns
 * *out. Like a unix connect, an shm: connect does not wait for the server
 * to accept: the first send or recv takes the server's region, or fails
 * with -ETIMEDOUT, AVA_ECLOSED or AVA_EPROTO (no shm: server there).
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
 * are refused (AVA_EAUTH); a malformed handoff is AVA_EPROTO.
 */
int
ava_transport_handoff_listen(const char *name, struct ava_listener **out);

int
ava_transport_conn_handoff(struct ava_conn *c, const char *name,
			   const void *msg, size_t n);

int
ava_transport_handoff_accept(struct ava_listener *l, const char *addr,
			     void *msg, size_t n, struct ava_conn **out);

#endif
