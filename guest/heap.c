/*
 * heap.c - the guest's view of its session's shared heap
 * (runtime/shared-heap.h): the server sends it with each WELCOME over
 * shm:, and a new one replaces the old when the session moves. A heap
 * stays mapped while a transfer uses it, even after it was replaced.
 */
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest.h"
#include "guest-private.h"
#include "shared-heap.h"

static struct {
	pthread_mutex_t lock;
	struct ava_heap *now;
} H = { .lock = PTHREAD_MUTEX_INITIALIZER };

void
ava_guest_heap_take(struct ava_conn *conn, uint64_t size)
{
	int fd;
	struct stat st;
	if (size == 0 || ava_transport_conn_recv_fd(conn, &fd) < 0)
		return;
	/* A join of the same session sends the heap we have. */
	pthread_mutex_lock(&H.lock);
	bool known = H.now != NULL && fstat(fd, &st) == 0 &&
		     (uint64_t)st.st_ino == ava_heap_id(H.now);
	pthread_mutex_unlock(&H.lock);
	struct ava_heap *h;
	if (known) {
		close(fd);
		return;
	}
	if (ava_heap_attach(fd, size, &h) < 0)
		return;   /* large transfers then take the copying path */
	pthread_mutex_lock(&H.lock);
	struct ava_heap *old = H.now;
	H.now = h;
	pthread_mutex_unlock(&H.lock);
	ava_heap_put(old);
}

struct ava_heap *
ava_guest_heap(void)
{
	pthread_mutex_lock(&H.lock);
	struct ava_heap *h = H.now;
	if (h != NULL)
		ava_heap_get(h);
	pthread_mutex_unlock(&H.lock);
	return h;
}
