/*
 * transport-tcp.c - the `tcp:HOST:PORT` transport: a stream socket that
 * carries the same frames as unix: (transport.c's stream helpers).
 *
 * HOST is a name, an IPv4 address, or an IPv6 address in brackets
 * (`tcp:[::1]:7000`). A listener binds the first address HOST resolves
 * to that it can, so a name with both families listens on one of them;
 * port 0 takes a free port, which ava_transport_listener_addr() names.
 * A connect tries each address in turn, all within one deadline, so that
 * an unreachable host fails in bounded time rather than after the
 * kernel's SYN retries (about two minutes).
 *
 * Every connection sets TCP_NODELAY: a call is one small frame that waits
 * for its reply, the worst case for Nagle's algorithm, which would hold
 * a frame back until the previous one's ACK comes.
 *
 * Like unix:, a connection is not authenticated: whoever reaches the
 * port may start a session (joining one takes its token).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ava-error.h"
#include "transport-private.h"

#define CONNECT_TIMEOUT_MS 5000
#define CONNECT_TIMEOUT_MAX_MS (3600 * 1000)

/* getaddrinfo's errors as errno values; an unknown host is -ENXIO. */
static int
gai_errno(int e)
{
	switch (e) {
	case 0: return 0;
	case EAI_SYSTEM: return errno ? -errno : -EIO;
	case EAI_MEMORY: return -ENOMEM;
	case EAI_AGAIN: return -EAGAIN;
	case EAI_FAMILY: return -EAFNOSUPPORT;
	default: return -ENXIO;
	}
}

static int
resolve(const struct ava_addr *a, int flags, struct addrinfo **out)
{
	char host[sizeof(a->host)], port[8];
	size_t n = strlen(a->host);
	/* [v6] : the brackets only keep the address's colons from the port's. */
	if (n >= 2 && a->host[0] == '[' && a->host[n - 1] == ']') {
		memcpy(host, a->host + 1, n - 2);
		host[n - 2] = '\0';
	} else {
		memcpy(host, a->host, n + 1);
	}
	snprintf(port, sizeof(port), "%u", (unsigned)a->port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = flags | AI_NUMERICSERV };
	return gai_errno(getaddrinfo(host, port, &hints, out));
}

static int
set_nodelay(int fd)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		return -errno;
	return 0;
}

/* fd (owned) as a connection: TCP_NODELAY, then the stream framing. */
static int
tcp_conn_create(int fd, const char *addr, struct ava_conn **out)
{
	int r = set_nodelay(fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	return ava_stream_conn_create(fd, addr, out);
}

static int
tcp_adopt(struct ava_listener *l, int fd, struct ava_conn **out)
{
	return tcp_conn_create(fd, l->addr, out);
}

static const struct ava_listener_ops tcp_listener_ops = {
	.adopt = tcp_adopt,
	.destroy = ava_listener_close,
};

static int
bind_listen(const struct addrinfo *ai, int *out)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A restarted server takes its port back while old connections
	 * linger in TIME_WAIT. */
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, AVA_LISTEN_BACKLOG) != 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

/* "tcp:HOST:PORT" of what fd is bound to, numeric, v6 in brackets. */
static int
bound_name(int fd, char **out)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -errno;
	int e = getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host),
			    port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	if (e != 0)
		return gai_errno(e);
	bool v6 = ss.ss_family == AF_INET6;
	if (asprintf(out, "tcp:%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
		     port) < 0)
		return -ENOMEM;
	return 0;
}

/* Port 0 names the port the kernel chose; otherwise addr stays as the
 * operator wrote it, which is what logs should show. */
static int
listener_name(const struct ava_addr *a, const char *addr, int fd, char **out)
{
	if (a->port == 0)
		return bound_name(fd, out);
	*out = strdup(addr);
	return *out == NULL ? -ENOMEM : 0;
}

int
ava_tcp_listen(const struct ava_addr *a, const char *addr,
	       struct ava_listener **out)
{
	struct addrinfo *ai;
	int r = resolve(a, AI_PASSIVE, &ai);
	if (r < 0)
		return r;
	int fd = -1;
	for (struct addrinfo *p = ai; p != NULL && fd < 0; p = p->ai_next)
		r = bind_listen(p, &fd);
	freeaddrinfo(ai);
	if (fd < 0)
		return r;
	struct ava_listener *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		r = -ENOMEM;
		goto err_close;
	}
	r = listener_name(a, addr, fd, &l->addr);
	if (r < 0)
		goto err_free;
	l->ops = &tcp_listener_ops;
	l->fd = fd;
	*out = l;
	return 0;
err_free:
	free(l);
err_close:
	close(fd);
	return r;
}

/* $AVA_CONNECT_TIMEOUT_MS, or the default where unset or unusable. */
static long
connect_timeout_ms(void)
{
	const char *s = getenv("AVA_CONNECT_TIMEOUT_MS");
	if (s == NULL || *s == '\0')
		return CONNECT_TIMEOUT_MS;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || v <= 0 || v > CONNECT_TIMEOUT_MAX_MS)
		return CONNECT_TIMEOUT_MS;
	return v;
}

static long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait for a non-blocking connect to finish by deadline. */
static int
wait_connected(int fd, long deadline)
{
	for (;;) {
		long left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int n = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			return -errno;
		return -err;
	}
}

static int
connect_one(const struct addrinfo *ai, long deadline, int *out)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC |
			SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : -errno;
	/* An interrupted non-blocking connect goes on in the background. */
	if (r == -EINPROGRESS || r == -EINTR)
		r = wait_connected(fd, deadline);
	/* Frames are read and written blocking, as over unix:. */
	int fl = fcntl(fd, F_GETFL);
	if (r == 0 && (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0))
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

int
ava_tcp_connect(const struct ava_addr *a, const char *addr,
		struct ava_conn **out)
{
	long deadline = now_ms() + connect_timeout_ms();
	struct addrinfo *ai;
	int r = resolve(a, 0, &ai);
	if (r < 0)
		return r;
	int fd = -1;
	for (struct addrinfo *p = ai; p != NULL && fd < 0; p = p->ai_next) {
		r = connect_one(p, deadline, &fd);
		if (r == -ETIMEDOUT)
			break;  /* the deadline is for all of them */
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return r;
	return tcp_conn_create(fd, addr, out);
}
