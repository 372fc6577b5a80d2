/*
 * transport-handoff.c - moving an accepted stream connection into another
 * process (SCM_RIGHTS over an abstract unix socket).
 *
 * A guest thread that joins an existing session is accepted by whichever
 * process the accept loop forked for it; that process passes the
 * connection to the session's worker and exits. The receiving side checks
 * the sender's uid, and the session checks the token in the message.
 *
 * One message carries the socket, the transport's second descriptor if
 * it has one (shm:: the region's memfd), the caller's n bytes, then
 * u8 kind, u8 nstate and nstate bytes of the transport's own state (shm::
 * its private ring positions), which the receiving side adopts.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ava-error.h"
#include "transport-private.h"

/* The callers' part of a handoff message (session id and token). */
#define HANDOFF_MSG_MAX 64

static socklen_t
abstract_addr(const char *name, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	size_t n = strlen(name);
	if (n > sizeof(sun->sun_path) - 1)
		n = sizeof(sun->sun_path) - 1;
	memcpy(sun->sun_path + 1, name, n);  /* leading NUL: abstract */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int
handoff_accept(struct ava_listener *l, struct ava_conn **out)
{
	return -ENOTSUP;  /* use ava_transport_handoff_accept() */
}

static const struct ava_listener_ops handoff_ops = {
	.accept = handoff_accept,
	.destroy = ava_listener_close,
};

int
ava_transport_handoff_listen(const char *name, struct ava_listener **out)
{
	struct sockaddr_un sun;
	socklen_t len = abstract_addr(name, &sun);
	struct ava_listener *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	int r = -ENOMEM;
	if ((l->addr = strdup(name)) == NULL)
		goto err_free;
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sun, len) != 0 ||
	    listen(l->fd, 16) != 0) {
		r = -errno;
		goto err_close;
	}
	l->ops = &handoff_ops;
	*out = l;
	return 0;
err_close:
	if (l->fd >= 0)
		close(l->fd);
	free(l->addr);
err_free:
	free(l);
	return r;
}

static int
send_fds(int sock, const int *fds, int nfds, const void *msg, size_t n)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(2 * sizeof(int))]; } u;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b,
			    .msg_controllen = CMSG_SPACE(nfds * sizeof(int)) };
	memset(&u, 0, sizeof(u));
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	ssize_t k;
	do
		k = sendmsg(sock, &m, MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	return (size_t)k == n ? 0 : AVA_EPROTO;
}

int
ava_transport_conn_handoff(struct ava_conn *c, const char *name,
			   const void *msg, size_t n)
{
	if (c->fd < 0)
		return AVA_ENOTSUP;
	struct ava_conn_export e = { .kind = AVA_HANDOFF_STREAM, .fd2 = -1 };
	int r = c->ops->handoff != NULL ? c->ops->handoff(c, &e) : 0;
	if (r < 0)
		return r;
	uint8_t buf[HANDOFF_MSG_MAX + 2 + AVA_HANDOFF_STATE_MAX];
	if (n > HANDOFF_MSG_MAX || e.nstate > AVA_HANDOFF_STATE_MAX)
		return AVA_ETOOBIG;
	memcpy(buf, msg, n);
	buf[n] = e.kind;
	buf[n + 1] = (uint8_t)e.nstate;
	memcpy(buf + n + 2, e.state, e.nstate);
	int fds[2] = { c->fd, e.fd2 };
	struct sockaddr_un sun;
	socklen_t len = abstract_addr(name, &sun);
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	r = connect(sock, (struct sockaddr *)&sun, len) == 0 ? 0 : -errno;
	if (r == 0)
		r = send_fds(sock, fds, e.fd2 >= 0 ? 2 : 1, buf,
			     n + 2 + e.nstate);
	close(sock);
	return r;
}

/* Receive one message of at most n bytes (*got) and up to two fds
 * (*nfds, the rest unset). */
static int
recv_fds(int sock, void *msg, size_t n, size_t *got, int fds[2], int *nfds)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(2 * sizeof(int))]; } u;
	struct iovec iov = { .iov_base = msg, .iov_len = n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	ssize_t k;
	do
		k = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	*nfds = 0;
	if (c != NULL && c->cmsg_level == SOL_SOCKET &&
	    c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int)))
		*nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	if (*nfds > 2)
		*nfds = 2;  /* the buffer holds two: MSG_CTRUNC below */
	if (*nfds > 0)
		memcpy(fds, CMSG_DATA(c), (size_t)*nfds * sizeof(int));
	*got = (size_t)k;
	if (*nfds == 0 || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		for (int i = 0; i < *nfds; i++)
			close(fds[i]);
		return AVA_EPROTO;
	}
	return 0;
}

/* Build the connection the message describes; owns the fds. */
static int
adopt(const uint8_t *tail, size_t left, const int *fds, int nfds,
      const char *addr, struct ava_conn **out)
{
	size_t nstate = left >= 2 ? tail[1] : SIZE_MAX;
	uint8_t kind = left >= 2 ? tail[0] : 0xff;
	if (nstate == left - 2 && kind == AVA_HANDOFF_STREAM && nfds == 1 &&
	    nstate == 0)
		return ava_stream_conn_create(fds[0], addr, out);
	if (nstate == left - 2 && kind == AVA_HANDOFF_SHM && nfds == 2)
		return ava_shm_adopt(fds[0], fds[1], tail + 2, nstate, addr,
				     out);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return AVA_EPROTO;
}

static bool
same_user(int sock)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	return getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
	       cr.uid == getuid();
}

/*
 * Wait for a connection. A shutdown of the listener wakes an accept that
 * waits already, but one that begins after it would wait for good: a
 * thread that was busy with the previous message when its listener was
 * shut down would never see it. poll() shows the shutdown as a hang-up,
 * however late it is asked: -EINVAL then, as the woken accept says.
 */
static int
wait_listener(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int k;
	do
		k = poll(&p, 1, -1);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	return p.revents & POLLHUP ? -EINVAL : 0;
}

int
ava_transport_handoff_accept(struct ava_listener *l, const char *addr,
			     void *msg, size_t n, struct ava_conn **out)
{
	if (n > HANDOFF_MSG_MAX)
		return AVA_ETOOBIG;
	int r = wait_listener(l->fd);
	if (r < 0)
		return r;
	int sock = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0)
		return -errno;
	uint8_t buf[HANDOFF_MSG_MAX + 2 + AVA_HANDOFF_STATE_MAX];
	int fds[2], nfds = 0;
	size_t got = 0;
	r = same_user(sock) ? recv_fds(sock, buf, n + 2 + AVA_HANDOFF_STATE_MAX,
					&got, fds, &nfds) : AVA_EAUTH;
	close(sock);
	if (r < 0)
		return r;
	if (got < n) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return AVA_EPROTO;
	}
	memcpy(msg, buf, n);
	return adopt(buf + n, got - n, fds, nfds, addr, out);
}
