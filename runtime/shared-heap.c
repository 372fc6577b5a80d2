/*
 * shared-heap.c - the shared heap (shared-heap.h): a sealed memfd, and a
 * first-fit list of its free ranges, kept sorted and coalesced. A session
 * holds a few hundred buffers at most, so a list is enough.
 *
 * Beside the list, a few freed ranges keep their pages (the "kept"
 * ranges, at most keep bytes): the next buffer of that size or smaller
 * takes one best fit, and finds its pages there in both processes. On
 * this project's VM a fresh page costs about 2.4 ms per 4 MiB to fault
 * in, against 0.4 ms to copy 4 MiB, so a program that makes and drops
 * large buffers in a loop would pay that at every buffer. A range that
 * leaves the kept set (pushed out by newer ones, larger than the budget,
 * or flushed when the list has no room) has its pages punched out before
 * it joins the list, so no range in the list holds memory.
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
#include "huge-map.h"

struct range {
	uint64_t off, len;
};

#define KEPT_MAX 8      /* freed ranges whose pages are kept */

struct ava_heap {
	pthread_mutex_t lock;
	unsigned refs;
	int fd;
	uint64_t id, size;
	uint8_t *base;
	struct range *free;     /* sorted by off, never adjacent */
	size_t nfree, capfree;
	struct range kept[KEPT_MAX];    /* oldest first */
	size_t nkept;
	uint64_t kept_bytes, keep;      /* held, and the budget */
};

static uint64_t
round_up(uint64_t n)
{
	return (n + AVA_HEAP_ALIGN - 1) & ~(uint64_t)(AVA_HEAP_ALIGN - 1);
}

/* Bytes from a MiB count in the environment; dflt if unset or bad. */
static uint64_t
mib_setting(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	if (s == NULL || *s == '\0')
		return dflt;
	char *end;
	unsigned long long mib = strtoull(s, &end, 10);
	if (*end != '\0' || mib > (1ull << 24))   /* 16 TiB */
		return dflt;
	return (uint64_t)mib << 20;
}

uint64_t
ava_heap_setting(void)
{
	return mib_setting("AVA_SHM_HEAP_MIB", AVA_HEAP_DEFAULT);
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
	void *p = ava_map_huge(fd, size);
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

void
ava_heap_set_keep(struct ava_heap *h, uint64_t bytes)
{
	pthread_mutex_lock(&h->lock);
	h->keep = bytes;
	pthread_mutex_unlock(&h->lock);
}

uint64_t
ava_heap_keep_setting(void)
{
	return mib_setting("AVA_SHM_HEAP_KEEP_MIB", AVA_HEAP_KEEP_DEFAULT);
}

/* Take n bytes from a kept range, best fit; with h->lock held. */
static bool
take_kept(struct ava_heap *h, uint64_t n, uint64_t *off)
{
	size_t best = h->nkept;
	for (size_t i = 0; i < h->nkept; i++)
		if (h->kept[i].len >= n &&
		    (best == h->nkept || h->kept[i].len < h->kept[best].len))
			best = i;
	if (best == h->nkept)
		return false;
	struct range *k = &h->kept[best];
	*off = k->off;
	k->off += n;
	k->len -= n;
	h->kept_bytes -= n;
	if (k->len == 0) {
		memmove(k, k + 1, (h->nkept - best - 1) * sizeof(*k));
		h->nkept--;
	}
	return true;
}

/* First fit from the free list; with h->lock held. */
static bool
take_free(struct ava_heap *h, uint64_t n, uint64_t *off)
{
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
		return true;
	}
	return false;
}

static void insert_free(struct ava_heap *h, uint64_t off, uint64_t n);

/* Punch out the pages of ranges that belong to no list yet, then give
 * them to the free list. Called without h->lock: the punch may take a
 * while, and until it is over nobody may place a buffer there. */
static void
release(struct ava_heap *h, const struct range *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fallocate(h->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)r[i].off, (off_t)r[i].len) != 0) {
			/* Not freed at once; the range is still reusable. */
		}
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < n; i++)
		insert_free(h, r[i].off, r[i].len);
	pthread_mutex_unlock(&h->lock);
}

int
ava_heap_alloc(struct ava_heap *h, uint64_t n, uint64_t *off)
{
	n = round_up(n);
	if (n == 0)
		return -EINVAL;
	struct range out[KEPT_MAX];
	size_t nout = 0;
	pthread_mutex_lock(&h->lock);
	bool got = take_kept(h, n, off) || take_free(h, n, off);
	if (!got && h->nkept > 0) {
		/* No room in the list: the kept ranges go back to it, where
		 * they may merge into a range large enough. */
		nout = h->nkept;
		memcpy(out, h->kept, nout * sizeof(out[0]));
		h->nkept = 0;
		h->kept_bytes = 0;
	}
	pthread_mutex_unlock(&h->lock);
	if (got || nout == 0)
		return got ? 0 : -ENOMEM;
	release(h, out, nout);
	pthread_mutex_lock(&h->lock);
	got = take_free(h, n, off);
	pthread_mutex_unlock(&h->lock);
	return got ? 0 : -ENOMEM;
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
	struct range out[KEPT_MAX + 1];
	size_t nout = 0;
	pthread_mutex_lock(&h->lock);
	if (n > h->keep) {
		/* Beyond the budget: its pages go back now, on both sides. */
		out[nout++] = (struct range){ off, n };
	} else {
		/* Kept, newest last; the oldest make room. */
		while (h->nkept == KEPT_MAX || h->kept_bytes + n > h->keep) {
			out[nout++] = h->kept[0];
			h->kept_bytes -= h->kept[0].len;
			memmove(h->kept, h->kept + 1,
				--h->nkept * sizeof(h->kept[0]));
		}
		h->kept[h->nkept++] = (struct range){ off, n };
		h->kept_bytes += n;
	}
	pthread_mutex_unlock(&h->lock);
	release(h, out, nout);
}
