/*
 * transport-unix.c - the `unix:PATH` transport: a stream socket.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ava-error.h"
#include "transport-private.h"

static void
fill_sockaddr(const struct ava_addr *a, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/* ava_transport_addr_parse() bounded the path to sizeof(sun_path). */
	memcpy(sun->sun_path, a->path, strlen(a->path) + 1);
}

int
ava_unix_connect_fd(const struct ava_addr *a, int *out)
{
	struct sockaddr_un sun;
	fill_sockaddr(a, &sun);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r;
	do
		r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

/*
 * A socket file may outlive a server that was killed. If nobody answers
 * on it, it is stale and removed; if a server answers, the path is taken.
 */
static int
clear_stale(const struct ava_addr *a)
{
	struct stat st;
	if (lstat(a->path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return -EADDRINUSE;
	int fd;
	int r = ava_unix_connect_fd(a, &fd);
	if (r == 0) {
		close(fd);
		return -EADDRINUSE;
	}
	if (r != -ECONNREFUSED)
		return r;
	if (unlink(a->path) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int
unix_adopt(struct ava_listener *l, int fd, struct ava_conn **out)
{
	return ava_stream_conn_create(fd, l->addr, out);
}

void
ava_unix_listener_destroy(struct ava_listener *l, int unlink_path)
{
	struct ava_addr a;
	if (unlink_path && ava_transport_addr_parse(l->addr, &a) == 0)
		unlink(a.path);
	ava_listener_close(l, 0);
}

static const struct ava_listener_ops unix_listener_ops = {
	.adopt = unix_adopt,
	.destroy = ava_unix_listener_destroy,
};

static int
bind_listen(const struct ava_addr *a, int *out)
{
	struct sockaddr_un sun;
	fill_sockaddr(a, &sun);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    listen(fd, AVA_LISTEN_BACKLOG) != 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

int
ava_unix_listen(const struct ava_addr *a, const char *addr,
		struct ava_listener **out)
{
	int r = clear_stale(a);
	if (r < 0)
		return r;
	struct ava_listener *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->addr = strdup(addr);
	if (l->addr == NULL) {
		r = -ENOMEM;
		goto err_free;
	}
	r = bind_listen(a, &l->fd);
	if (r < 0)
		goto err_addr;
	l->ops = &unix_listener_ops;
	*out = l;
	return 0;
err_addr:
	free(l->addr);
err_free:
	free(l);
	return r;
}

int
ava_unix_connect(const struct ava_addr *a, const char *addr,
		 struct ava_conn **out)
{
	int fd;
	int r = ava_unix_connect_fd(a, &fd);
	if (r < 0)
		return r;
	return ava_stream_conn_create(fd, addr, out);
}
