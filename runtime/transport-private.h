/*
 * transport-private.h - what a transport implements. Not for callers.
 *
 * A transport provides frame-level send/recv rather than a byte stream, so
 * that a shared-memory transport can later pass bulk payloads in place.
 * Stream transports (unix, tcp, vsock) share the helpers below.
 */
#ifndef AVA_TRANSPORT_PRIVATE_H
#define AVA_TRANSPORT_PRIVATE_H

#include "transport.h"

struct ava_conn_ops {
	int (*send)(struct ava_conn *c, const struct ava_frame_header *h,
		    const void *payload);
	int (*recv)(struct ava_conn *c, struct ava_frame *f);
	void (*destroy)(struct ava_conn *c);
};

struct ava_conn {
	const struct ava_conn_ops *ops;
	char *addr;  /* owned copy of the address string */
	int fd;      /* stream transports; -1 otherwise */
};

struct ava_listener_ops {
	int (*accept)(struct ava_listener *l, struct ava_conn **out);
	void (*destroy)(struct ava_listener *l, int unlink_path);
};

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
