/*
 * transport-handoff.c - moving an accepted stream connection into another
 * process (SCM_RIGHTS over an abstract unix socket).
 *
 * A guest thread that joins an existing session is accepted by whichever
 * process the accept loop forked for it; that process passes the
 * connection to the session's worker and exits. The receiving side checks
 * the sender's uid, and the session checks the token in the message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ava-error.h"
#include "transport-private.h"

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

static void
handoff_destroy(struct ava_listener *l, int unlink_path)
{
	close(l->fd);
	free(l->addr);
	free(l);
}

static const struct ava_listener_ops handoff_ops = {
	.accept = handoff_accept,
	.destroy = handoff_destroy,
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
send_fd(int sock, int fd, const void *msg, size_t n)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
	memset(&u, 0, sizeof(u));
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
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
	struct sockaddr_un sun;
	socklen_t len = abstract_addr(name, &sun);
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	int r = connect(sock, (struct sockaddr *)&sun, len) == 0 ? 0 : -errno;
	if (r == 0)
		r = send_fd(sock, c->fd, msg, n);
	close(sock);
	return r;
}

/* Receive one fd and exactly n message bytes from a connected sender. */
static int
recv_fd(int sock, void *msg, size_t n, int *fd)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
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
	if (c == NULL || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)))
		return AVA_EPROTO;
	memcpy(fd, CMSG_DATA(c), sizeof(int));
	if ((size_t)k != n || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		close(*fd);
		return AVA_EPROTO;
	}
	return 0;
}

static bool
same_user(int sock)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	return getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
	       cr.uid == getuid();
}

int
ava_transport_handoff_accept(struct ava_listener *l, const char *addr,
			     void *msg, size_t n, struct ava_conn **out)
{
	int sock = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0)
		return -errno;
	int fd = -1;
	int r = same_user(sock) ? recv_fd(sock, msg, n, &fd) : AVA_EAUTH;
	close(sock);
	if (r < 0)
		return r;
	return ava_stream_conn_create(fd, addr, out);
}
