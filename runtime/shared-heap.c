/*
 * shared-heap.c - the shared heap (shared-heap.h): a sealed memfd, and a
 * first-fit list of its free ranges, kept sorted and coalesced. A session
 * holds a few hundred buffers at most, so a list is enough.
 */
#include "shared-heap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ava-error.h"

struct range {
	uint64_t off, len;
};

struct ava_heap {
	pthread_mutex_t lock;
	unsigned refs;
	int fd;
	uint64_t id, size;
	uint8_t *base;
	struct range *free;     /* sorted by off, never adjacent */
	size_t nfree, capfree;
};

static uint64_t
round_up(uint64_t n)
{
	return (n + AVA_HEAP_ALIGN - 1) & ~(uint64_t)(AVA_HEAP_ALIGN - 1);
}

uint64_t
ava_heap_setting(void)
{
	const char *s = getenv("AVA_SHM_HEAP_MIB");
	if (s == NULL || *s == '\0')
		return AVA_HEAP_DEFAULT;
	char *end;
	unsigned long long mib = strtoull(s, &end, 10);
	if (*end != '\0' || mib > (1ull << 24))   /* 16 TiB */
		return AVA_HEAP_DEFAULT;
	return (uint64_t)mib << 20;
}

static int
map(int fd, uint64_t size, struct ava_heap **out)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	struct ava_heap *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED) {
		int r = -errno;
		free(h);
		return r;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->refs = 1;
	h->fd = fd;
	h->id = (uint64_t)st.st_ino;
	h->size = size;
	h->base = p;
	*out = h;
	return 0;
}

int
ava_heap_create(uint64_t size, struct ava_heap **out)
{
	size = round_up(size);
	if (size == 0)
		return -EINVAL;
	int fd = memfd_create("ava-heap", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	int r = 0;
	if (ftruncate(fd, (off_t)size) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_SEAL) != 0)
		r = -errno;
	if (r == 0)
		r = map(fd, size, out);
	if (r == 0 && ((*out)->free = malloc(sizeof(struct range))) == NULL) {
		ava_heap_put(*out);
		return -ENOMEM;
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	(*out)->free[0] = (struct range){ 0, size };
	(*out)->nfree = (*out)->capfree = 1;
	return 0;
}

int
ava_heap_attach(int fd, uint64_t size, struct ava_heap **out)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	int r = 0;
	if (size == 0 || size % AVA_HEAP_ALIGN != 0 || seals < 0 ||
	    !(seals & F_SEAL_SHRINK) || fstat(fd, &st) != 0 ||
	    (uint64_t)st.st_size < size)
		r = AVA_EPROTO;
	if (r == 0)
		r = map(fd, size, out);
	if (r < 0)
		close(fd);
	return r;
}

void
ava_heap_get(struct ava_heap *h)
{
	__atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
}

void
ava_heap_put(struct ava_heap *h)
{
	if (h == NULL || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL))
		return;
	munmap(h->base, (size_t)h->size);
	close(h->fd);
	free(h->free);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

int
ava_heap_fd(const struct ava_heap *h)
{
	return h->fd;
}

uint64_t
ava_heap_id(const struct ava_heap *h)
{
	return h->id;
}

uint64_t
ava_heap_size(const struct ava_heap *h)
{
	return h->size;
}

uint8_t *
ava_heap_base(const struct ava_heap *h)
{
	return h->base;
}

int
ava_heap_alloc(struct ava_heap *h, uint64_t n, uint64_t *off)
{
	n = round_up(n);
	if (n == 0)
		return -EINVAL;
	int r = -ENOMEM;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->nfree; i++) {
		struct range *f = &h->free[i];
		if (f->len < n)
			continue;
		*off = f->off;
		f->off += n;
		f->len -= n;
		if (f->len == 0) {
			memmove(f, f + 1, (h->nfree - i - 1) * sizeof(*f));
			h->nfree--;
		}
		r = 0;
		break;
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* Insert [off, off+n) into the sorted list, merging with neighbours. */
static void
insert_free(struct ava_heap *h, uint64_t off, uint64_t n)
{
	size_t i = 0;
	while (i < h->nfree && h->free[i].off < off)
		i++;
	bool left = i > 0 && h->free[i - 1].off + h->free[i - 1].len == off;
	bool right = i < h->nfree && off + n == h->free[i].off;
	if (left && right) {
		h->free[i - 1].len += n + h->free[i].len;
		memmove(&h->free[i], &h->free[i + 1],
			(h->nfree - i - 1) * sizeof(h->free[0]));
		h->nfree--;
	} else if (left) {
		h->free[i - 1].len += n;
	} else if (right) {
		h->free[i].off = off;
		h->free[i].len += n;
	} else {
		if (h->nfree == h->capfree) {
			size_t cap = 2 * h->capfree;
			struct range *v = realloc(h->free, cap * sizeof(*v));
			if (v == NULL)
				return;   /* the range stays lost, not reused */
			h->free = v;
			h->capfree = cap;
		}
		memmove(&h->free[i + 1], &h->free[i],
			(h->nfree - i) * sizeof(h->free[0]));
		h->free[i] = (struct range){ off, n };
		h->nfree++;
	}
}

void
ava_heap_free(struct ava_heap *h, uint64_t off, uint64_t n)
{
	n = round_up(n);
	if (n == 0 || off > h->size || n > h->size - off)
		return;
	/* The pages go back now, on both sides: a freed buffer's memory is
	 * not held until another buffer happens to reuse the range. */
	if (fallocate(h->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)n) != 0) {
		/* Not freed at once; the range is still reusable. */
	}
	pthread_mutex_lock(&h->lock);
	insert_free(h, off, n);
	pthread_mutex_unlock(&h->lock);
}
