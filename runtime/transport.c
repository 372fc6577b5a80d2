#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ava-error.h"
#include "transport-private.h"

/* Payload bytes read per step: memory grows with what actually arrives. */
#define RECV_STEP (1u << 20)

static int
copy_path(const char *s, char *dst, size_t cap)
{
	size_t n = strlen(s);
	if (n == 0)
		return AVA_EADDR;
	if (n >= cap)
		return -ENAMETOOLONG;
	memcpy(dst, s, n + 1);
	return 0;
}

/* Port 0 ("any free port") only makes sense to listen on. */
static int
parse_tcp(const char *s, bool any_port, struct ava_addr *out)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL || colon == s || colon[1] == '\0')
		return AVA_EADDR;
	size_t hlen = (size_t)(colon - s);
	if (hlen >= sizeof(out->host))
		return -ENAMETOOLONG;
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || (port == 0 && !any_port) ||
	    port > 65535 || errno != 0)
		return AVA_EADDR;
	memcpy(out->host, s, hlen);
	out->host[hlen] = '\0';
	out->port = (uint16_t)port;
	return 0;
}

static int
parse_addr(const char *s, bool listening, struct ava_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		return AVA_EADDR;
	if (strncmp(s, "unix:", 5) == 0) {
		out->kind = AVA_ADDR_UNIX;
		return copy_path(s + 5, out->path, sizeof(out->path));
	}
	if (strncmp(s, "shm:", 4) == 0) {
		out->kind = AVA_ADDR_SHM;
		return copy_path(s + 4, out->path, sizeof(out->path));
	}
	if (strncmp(s, "tcp:", 4) == 0) {
		out->kind = AVA_ADDR_TCP;
		return parse_tcp(s + 4, listening, out);
	}
	return AVA_EADDR;
}

int
ava_transport_addr_parse(const char *s, struct ava_addr *out)
{
	return parse_addr(s, false, out);
}

int
ava_transport_listen(const char *addr, struct ava_listener **out)
{
	struct ava_addr a;
	int r = parse_addr(addr, true, &a);
	if (r < 0)
		return r;
	if (a.kind == AVA_ADDR_SHM)
		return ava_shm_listen(&a, addr, out);
	if (a.kind == AVA_ADDR_TCP)
		return ava_tcp_listen(&a, addr, out);
	return ava_unix_listen(&a, addr, out);
}

const char *
ava_transport_listener_addr(const struct ava_listener *l)
{
	return l->addr;
}

int
ava_transport_listener_fd(const struct ava_listener *l)
{
	return l->fd;
}

int
ava_transport_listener_accept(struct ava_listener *l, struct ava_conn **out)
{
	if (l->ops->accept != NULL)
		return l->ops->accept(l, out);
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	return l->ops->adopt(l, fd, out);
}

bool
ava_transport_listener_can_adopt(const struct ava_listener *l)
{
	return l->ops->adopt != NULL;
}

int
ava_transport_listener_adopt(struct ava_listener *l, int fd,
			     struct ava_conn **out)
{
	if (l->ops->adopt == NULL) {
		close(fd);
		return AVA_ENOTSUP;
	}
	return l->ops->adopt(l, fd, out);
}

void
ava_transport_listener_shutdown(struct ava_listener *l)
{
	shutdown(l->fd, SHUT_RDWR);
}

void
ava_transport_conn_shutdown(struct ava_conn *c)
{
	if (c->ops->shutdown != NULL)
		c->ops->shutdown(c);
	else if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
}

void
ava_transport_listener_destroy(struct ava_listener *l)
{
	if (l != NULL)
		l->ops->destroy(l, 1);
}

void
ava_transport_listener_abandon(struct ava_listener *l)
{
	if (l != NULL)
		l->ops->destroy(l, 0);
}

void
ava_listener_close(struct ava_listener *l, int unlink_path)
{
	close(l->fd);
	free(l->addr);
	free(l);
}

int
ava_transport_connect(const char *addr, struct ava_conn **out)
{
	struct ava_addr a;
	int r = ava_transport_addr_parse(addr, &a);
	if (r < 0)
		return r;
	if (a.kind == AVA_ADDR_SHM)
		return ava_shm_connect(&a, addr, out);
	if (a.kind == AVA_ADDR_TCP)
		return ava_tcp_connect(&a, addr, out);
	return ava_unix_connect(&a, addr, out);
}

int
ava_transport_conn_send(struct ava_conn *c, const struct ava_frame_header *h,
			const void *payload)
{
	if (h->len > AVA_FRAME_MAX)
		return AVA_ETOOBIG;
	return c->ops->send(c, h, payload);
}

int
ava_transport_conn_recv(struct ava_conn *c, struct ava_frame *f)
{
	return c->ops->recv(c, f);
}

const char *
ava_transport_conn_addr(const struct ava_conn *c)
{
	return c->addr;
}

void
ava_transport_conn_destroy(struct ava_conn *c)
{
	if (c != NULL)
		c->ops->destroy(c);
}

/* Header and payload in one sendmsg, so small calls cost one syscall. */
int
ava_stream_send_frame(int fd, const struct ava_frame_header *h,
		      const void *payload)
{
	uint8_t hdr[AVA_FRAME_HEADER_SIZE];
	ava_frame_header_encode(h, hdr);
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)payload, .iov_len = (size_t)h->len },
	};
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = h->len ? 2 : 1 };
	ssize_t k;
	do
		k = sendmsg(fd, &m, MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	if (k < 0 && errno != ENOTSOCK)
		return -errno;
	size_t sent = k < 0 ? 0 : (size_t)k;
	if (sent < sizeof(hdr)) {
		int r = ava_io_write_full(fd, hdr + sent, sizeof(hdr) - sent);
		if (r < 0)
			return r;
		sent = sizeof(hdr);
	}
	size_t off = sent - sizeof(hdr);
	return ava_io_write_full(fd, (const uint8_t *)payload + off,
				 (size_t)h->len - off);
}

static int
recv_payload(int fd, struct ava_frame *f)
{
	size_t want = (size_t)f->h.len, done = 0;
	while (done < want) {
		size_t step = want - done < RECV_STEP ? want - done : RECV_STEP;
		uint8_t *at;
		int r = ava_buf_put_zeros(&f->payload, step, &at);
		if (r < 0)
			return r;
		size_t got = 0;
		r = ava_io_read_full(fd, at, step, &got);
		done += got;
		if (r < 0) {
			f->got = done;
			return r == AVA_ECLOSED ? AVA_EPROTO : r;
		}
	}
	return 0;
}

int
ava_stream_recv_frame(int fd, struct ava_frame *f)
{
	uint8_t hdr[AVA_FRAME_HEADER_SIZE];
	ava_buf_reset(&f->payload);
	f->got = 0;
	int r = ava_io_read_full(fd, hdr, sizeof(hdr), &f->got);
	if (r == AVA_ECLOSED && f->got > 0)
		r = AVA_EPROTO;
	if (r < 0) {
		memset(&f->h, 0, sizeof(f->h));
		return r;
	}
	f->got = 0;
	r = ava_frame_header_decode(hdr, sizeof(hdr), &f->h);
	if (r < 0)
		return r;
	return recv_payload(fd, f);
}

static int
stream_send(struct ava_conn *c, const struct ava_frame_header *h,
	    const void *payload)
{
	return ava_stream_send_frame(c->fd, h, payload);
}

static int
stream_recv(struct ava_conn *c, struct ava_frame *f)
{
	return ava_stream_recv_frame(c->fd, f);
}

static void
stream_destroy(struct ava_conn *c)
{
	close(c->fd);
	free(c->addr);
	free(c);
}

static const struct ava_conn_ops stream_ops = {
	.send = stream_send,
	.recv = stream_recv,
	.destroy = stream_destroy,
};

int
ava_stream_conn_create(int fd, const char *addr, struct ava_conn **out)
{
	struct ava_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto err_close;
	c->addr = strdup(addr);
	if (c->addr == NULL)
		goto err_free;
	c->ops = &stream_ops;
	c->fd = fd;
	*out = c;
	return 0;
err_free:
	free(c);
err_close:
	close(fd);
	return -ENOMEM;
}

void
ava_transport_conn_expect(struct ava_conn *c, unsigned us)
{
	if (c->ops->expect != NULL)
		c->ops->expect(c, us);
}

int
ava_transport_conn_send_fd(struct ava_conn *c, int fd)
{
	return c->ops->send_fd != NULL ? c->ops->send_fd(c, fd) : -ENOTSUP;
}

int
ava_transport_conn_recv_fd(struct ava_conn *c, int *fd)
{
	return c->ops->recv_fd != NULL ? c->ops->recv_fd(c, fd) : -ENOTSUP;
}

bool
ava_transport_conn_passes_fds(const struct ava_conn *c)
{
	return c->ops->send_fd != NULL;
}

bool
ava_transport_conn_readable(const struct ava_conn *c)
{
	/* Socket transports only: shm:'s frames are in its ring. */
	if (c == NULL || c->fd < 0 || c->ops->frames_beside)
		return false;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP));
}
