/*
 * huge-map.c - memory at a 2 MiB boundary, advised for huge pages
 * (huge-map.h): a reservation 2 MiB larger than asked, the mapping
 * placed over its first 2 MiB boundary, and the rest given back.
 */
#include "huge-map.h"

#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>

#define HUGE ((uint64_t)2 << 20)

void *
ava_map_huge(int fd, uint64_t size)
{
	const int prot = PROT_READ | PROT_WRITE;
	const int flags = fd >= 0 ? MAP_SHARED | MAP_NORESERVE
				  : MAP_PRIVATE | MAP_ANONYMOUS;
	uint8_t *r = mmap(NULL, (size_t)(size + HUGE), PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	void *p;
	if (r == MAP_FAILED) {
		p = mmap(NULL, (size_t)size, prot, flags, fd, 0);
	} else {
		uint8_t *at = (uint8_t *)(((uintptr_t)r + HUGE - 1) &
					  ~(HUGE - 1));
		p = mmap(at, (size_t)size, prot, flags | MAP_FIXED, fd, 0);
		if (p == MAP_FAILED) {
			int e = errno;
			munmap(r, (size_t)(size + HUGE));
			errno = e;
			return MAP_FAILED;
		}
		/* Below HUGE, so the tail is never empty. */
		size_t head = (size_t)(at - r);
		if (head > 0)
			munmap(r, head);
		munmap(at + size, (size_t)HUGE - head);
	}
	if (p == MAP_FAILED)
		return MAP_FAILED;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, (size_t)size, MADV_HUGEPAGE);
#endif
	return p;
}
