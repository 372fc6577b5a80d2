/*
 * transport-private.h - what a transport implements. Not for callers.
 *
 * A transport provides frame-level send/recv rather than a byte stream, so
 * that a shared-memory transport can pass payloads in place.
 * Stream transports (unix, tcp, vsock) share the helpers below; shm:
 * (transport-shm.c) keeps a unix socket beside its rings.
 */
#ifndef AVA_TRANSPORT_PRIVATE_H
#define AVA_TRANSPORT_PRIVATE_H

#include "transport.h"

/*
 * What a connection hands to another process besides its socket (see
 * ava_transport_conn_handoff): a second descriptor and a few bytes of
 * state, which the receiving side passes to the transport's adopt
 * function. Stream connections hand over the socket alone.
 */
enum {
	AVA_HANDOFF_STREAM = 0,
	AVA_HANDOFF_SHM = 1,
};

#define AVA_HANDOFF_STATE_MAX 64

struct ava_conn_export {
	uint8_t kind;                /* AVA_HANDOFF_* */
	int fd2;                     /* -1, or borrowed from the connection */
	uint8_t state[AVA_HANDOFF_STATE_MAX];
	size_t nstate;
};

struct ava_conn_ops {
	int (*send)(struct ava_conn *c, const struct ava_frame_header *h,
		    const void *payload);
	int (*recv)(struct ava_conn *c, struct ava_frame *f);
	void (*destroy)(struct ava_conn *c);
	/* Optional: wake blocked send/recv (default: shutdown(fd)). */
	void (*shutdown)(struct ava_conn *c);
	/* Optional: fill e for a handoff (default: the socket alone). */
	int (*handoff)(struct ava_conn *c, struct ava_conn_export *e);
	/* Optional: the peer's next frame is due within us (see
	 * ava_transport_conn_expect). */
	void (*expect)(struct ava_conn *c, unsigned us);
	/* Optional: pass a descriptor to the guest, and take it there. */
	int (*send_fd)(struct ava_conn *c, int fd);
	int (*recv_fd)(struct ava_conn *c, int *fd);
	/* Frames travel beside fd, not on it (shm:'s rings). */
	bool frames_beside;
};

struct ava_conn {
	const struct ava_conn_ops *ops;
	char *addr;  /* owned copy of the address string */
	int fd;      /* stream transports; -1 otherwise */
};

/* A transport gives accept, adopt, or both. */
struct ava_listener_ops {
	/* Accept and set up a connection (default: accept4, then adopt). */
	int (*accept)(struct ava_listener *l, struct ava_conn **out);
	/* Make a connection of a socket that was accepted on l->fd (owned
	 * from now on, closed on failure); without it, the transport's
	 * connections are accepted only through accept. */
	int (*adopt)(struct ava_listener *l, int fd, struct ava_conn **out);
	void (*destroy)(struct ava_listener *l, int unlink_path);
};

/* The listen(2) backlog of the socket transports. */
#define AVA_LISTEN_BACKLOG 64

struct ava_listener {
	const struct ava_listener_ops *ops;
	char *addr;
	int fd;
};

int
ava_unix_listen(const struct ava_addr *a, const char *addr,
		struct ava_listener **out);

int
ava_unix_connect(const struct ava_addr *a, const char *addr,
		 struct ava_conn **out);

/* A connected unix stream socket to a->path, for transports built on one. */
int
ava_unix_connect_fd(const struct ava_addr *a, int *out);

/* The unix listener's destroy, for listeners that reuse its socket. */
void
ava_unix_listener_destroy(struct ava_listener *l, int unlink_path);

/* A listener's destroy for a socket with no file behind it: close, free. */
void
ava_listener_close(struct ava_listener *l, int unlink_path);

/* tcp: (transport-tcp.c). a->port 0 listens on a free port. */
int
ava_tcp_listen(const struct ava_addr *a, const char *addr,
	       struct ava_listener **out);

int
ava_tcp_connect(const struct ava_addr *a, const char *addr,
		struct ava_conn **out);

/* shm: (transport-shm.c). The listener is a unix socket at a->path. */
int
ava_shm_listen(const struct ava_addr *a, const char *addr,
	       struct ava_listener **out);

int
ava_shm_connect(const struct ava_addr *a, const char *addr,
		struct ava_conn **out);

/* Rebuild a handed-off shm: connection from its socket fd and memfd (both
 * owned from now on, closed on failure) and the exported state. */
int
ava_shm_adopt(int fd, int memfd, const uint8_t *state, size_t n,
	      const char *addr, struct ava_conn **out);

/* Frame I/O over a connected stream fd. */
int
ava_stream_send_frame(int fd, const struct ava_frame_header *h,
		      const void *payload);

int
ava_stream_recv_frame(int fd, struct ava_frame *f);

/* Wrap an fd (owned from now on) into a stream connection. */
int
ava_stream_conn_create(int fd, const char *addr, struct ava_conn **out);

#endif
