/*
 * test-heap.c - the shared heap (runtime/shared-heap.h): placing and
 * giving back ranges (first fit, neighbours merged, pages freed), freed
 * ranges that keep their pages within a budget, a heap that is full,
 * the guest's checks on a descriptor it is sent, and the mappings
 * ava_map_huge() makes (2 MiB-aligned, advised for huge pages).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ava-error.h"
#include "rt-test.h"
#include "huge-map.h"
#include "shared-heap.h"

#define PAGE AVA_HEAP_ALIGN

static void
place_and_give_back(void)
{
	struct ava_heap *h;
	CHECK_EQ(ava_heap_create(64 * PAGE, &h), 0);
	CHECK_EQ(ava_heap_size(h), 64 * PAGE);
	uint64_t a, b, c, d;
	CHECK_EQ(ava_heap_alloc(h, 1, &a), 0);           /* a page */
	CHECK_EQ(ava_heap_alloc(h, PAGE + 1, &b), 0);    /* two */
	CHECK_EQ(ava_heap_alloc(h, 3 * PAGE, &c), 0);
	CHECK_EQ(a, 0);
	CHECK_EQ(b, PAGE);
	CHECK_EQ(c, 3 * PAGE);
	/* Touch b, give it back: its pages are freed (they read 0 again),
	 * and the hole is reused first fit. */
	memset(ava_heap_base(h) + b, 0x5a, 2 * PAGE);
	ava_heap_free(h, b, PAGE + 1);
	CHECK_EQ(ava_heap_base(h)[b], 0);
	CHECK_EQ(ava_heap_alloc(h, 2 * PAGE, &d), 0);
	CHECK_EQ(d, b);
	ava_heap_free(h, d, 2 * PAGE);
	/* a, then c, then the hole between: all merge with the free tail,
	 * so the whole heap is one range again. */
	ava_heap_free(h, a, 1);
	ava_heap_free(h, c, 3 * PAGE);
	CHECK_EQ(ava_heap_alloc(h, 64 * PAGE, &d), 0);
	CHECK_EQ(d, 0);
	CHECK_EQ(ava_heap_alloc(h, 1, &a), -ENOMEM);     /* full */
	ava_heap_free(h, d, 64 * PAGE);
	/* Ranges outside the heap are ignored, not trusted. */
	ava_heap_free(h, 63 * PAGE, 4 * PAGE);
	ava_heap_free(h, UINT64_MAX - PAGE, PAGE);
	CHECK_EQ(ava_heap_alloc(h, 64 * PAGE, &d), 0);
	CHECK_EQ(ava_heap_alloc(h, 0, &d), -EINVAL);
	ava_heap_put(h);
}

/* Many buffers made and given back in a shuffled order: the free list
 * ends as one range, whatever the order. */
static void
churn(void)
{
	struct ava_heap *h;
	CHECK_EQ(ava_heap_create(512 * PAGE, &h), 0);
	uint64_t off[100];
	for (int i = 0; i < 100; i++)
		CHECK_EQ(ava_heap_alloc(h, (uint64_t)(i % 5 + 1) * PAGE,
					&off[i]), 0);
	for (int k = 0; k < 100; k++) {
		int i = (k * 37) % 100;   /* 37 is prime to 100 */
		ava_heap_free(h, off[i], (uint64_t)(i % 5 + 1) * PAGE);
	}
	uint64_t all;
	CHECK_EQ(ava_heap_alloc(h, 512 * PAGE, &all), 0);
	CHECK_EQ(all, 0);
	ava_heap_put(h);
}

/*
 * With a budget, freed ranges keep their pages for the next buffers,
 * best fit, newest kept; the oldest are punched out to make room, as is
 * a range larger than the budget; and when the list has no room, the
 * kept ranges join it, merged.
 */
static void
kept_pages(void)
{
	struct ava_heap *h;
	CHECK_EQ(ava_heap_create(16 * PAGE, &h), 0);
	ava_heap_set_keep(h, 4 * PAGE);
	uint8_t *base = ava_heap_base(h);
	uint64_t a, b, c, d;
	CHECK_EQ(ava_heap_alloc(h, 2 * PAGE, &a), 0);
	CHECK_EQ(ava_heap_alloc(h, 3 * PAGE, &b), 0);
	CHECK_EQ(ava_heap_alloc(h, 5 * PAGE, &c), 0);
	memset(base + a, 0x11, 2 * PAGE);
	memset(base + b, 0x22, 3 * PAGE);
	memset(base + c, 0x33, 5 * PAGE);
	/* a is kept: the next buffer of its size is a, bytes and all. */
	ava_heap_free(h, a, 2 * PAGE);
	CHECK_EQ(base[a + PAGE], 0x11);
	CHECK_EQ(ava_heap_alloc(h, 2 * PAGE, &d), 0);
	CHECK_EQ(d, a);
	CHECK_EQ(base[d + 2 * PAGE - 1], 0x11);
	/* a, then b: 5 pages are over the budget of 4, so a is punched
	 * out (it reads 0) and b is kept. */
	ava_heap_free(h, d, 2 * PAGE);
	ava_heap_free(h, b, 3 * PAGE);
	CHECK_EQ(base[a], 0);
	CHECK_EQ(base[b + 2 * PAGE], 0x22);
	/* c alone is over the budget: punched at once; b stays. */
	ava_heap_free(h, c, 5 * PAGE);
	CHECK_EQ(base[c + 4 * PAGE], 0);
	CHECK_EQ(base[b], 0x22);
	/* One page fits b best; the rest of b stays kept, for the next. */
	CHECK_EQ(ava_heap_alloc(h, PAGE, &d), 0);
	CHECK_EQ(d, b);
	CHECK_EQ(ava_heap_alloc(h, 2 * PAGE, &d), 0);
	CHECK_EQ(d, b + PAGE);
	CHECK_EQ(base[d + PAGE], 0x22);
	ava_heap_free(h, b, PAGE);
	ava_heap_free(h, b + PAGE, 2 * PAGE);
	/* The whole heap: only when the kept ranges join the list does a
	 * range that large exist; they are punched out on the way. */
	CHECK_EQ(ava_heap_alloc(h, 16 * PAGE, &d), 0);
	CHECK_EQ(d, 0);
	CHECK_EQ(base[b], 0);
	CHECK_EQ(ava_heap_alloc(h, 1, &d), -ENOMEM);
	ava_heap_put(h);
}

static void
guest_checks(void)
{
	struct ava_heap *h, *g;
	CHECK_EQ(ava_heap_create(16 * PAGE, &h), 0);
	/* The guest maps the server's heap: the same bytes, the same id. */
	int fd = dup(ava_heap_fd(h));
	CHECK(fd >= 0);
	CHECK_EQ(ava_heap_attach(fd, 16 * PAGE, &g), 0);
	CHECK_EQ(ava_heap_id(g), ava_heap_id(h));
	ava_heap_base(h)[5 * PAGE] = 42;
	CHECK_EQ(ava_heap_base(g)[5 * PAGE], 42);
	ava_heap_put(g);
	/* A size larger than the file, or no multiple of a page. */
	CHECK_EQ(ava_heap_attach(dup(ava_heap_fd(h)), 32 * PAGE, &g),
		 AVA_EPROTO);
	CHECK_EQ(ava_heap_attach(dup(ava_heap_fd(h)), PAGE + 1, &g),
		 AVA_EPROTO);
	CHECK_EQ(ava_heap_attach(dup(ava_heap_fd(h)), 0, &g), AVA_EPROTO);
	ava_heap_put(h);
	/* A memfd that could shrink under the guest: refused. */
	fd = memfd_create("not-sealed", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 16 * PAGE), 0);
	CHECK_EQ(ava_heap_attach(fd, 16 * PAGE, &g), AVA_EPROTO);
	/* Not a file at all. */
	int p[2];
	CHECK_EQ(pipe(p), 0);
	close(p[1]);
	CHECK_EQ(ava_heap_attach(p[0], PAGE, &g), AVA_EPROTO);
}

#define HUGE ((uint64_t)2 << 20)

/* The flags of the mapping that holds p in /proc/self/smaps, and where
 * it starts and ends; false if none does. */
static bool
smaps_of(const void *p, char *flags, size_t cap, uintptr_t *start,
	 uintptr_t *end)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	if (f == NULL)
		return false;
	char line[512];
	bool in = false, found = false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		uintptr_t a, b;
		if (strncmp(line, "VmFlags:", 8) == 0) {
			if (in)
				snprintf(flags, cap, "%s", line + 8);
			found = in;
		} else if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &a,
				  &b) == 2) {
			/* a mapping's first line */
			in = a <= (uintptr_t)p && (uintptr_t)p < b;
			*start = a;
			*end = b;
		}
	}
	fclose(f);
	return found;
}

/* Is any mapping at address a a bare reservation (no access, no file)? */
static bool
reserved_at(uintptr_t a)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL)
		return false;
	char line[512], perms[8];
	bool hit = false;
	while (!hit && fgets(line, sizeof(line), f) != NULL) {
		uintptr_t lo, hi;
		unsigned long off;
		char dev[16];
		unsigned long ino;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %lx %15s %lu",
			   &lo, &hi, perms, &off, dev, &ino) == 6 &&
		    lo <= a && a < hi)
			hit = strcmp(perms, "---p") == 0 && ino == 0;
	}
	fclose(f);
	return hit;
}

#if !defined(__SANITIZE_ADDRESS__)
/* The process's address space now, in bytes (VmSize), or 0. */
static uint64_t
vm_size(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kib = 0;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmSize: %llu kB", &kib) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return (uint64_t)kib << 10;
}
#endif

/* Under an address-space limit with room for the mapping but not for
 * the 2 MiB it aligns within: mapped all the same, where the kernel puts
 * it. (Not under ASan, whose allocator needs address space of its own.) */
static void
tight_address_space(int fd, uint64_t size)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)fd;
	(void)size;
	printf("# under ASan: the address-space limit is not tried\n");
#else
	struct rlimit old;
	uint64_t now = vm_size();
	CHECK(now > 0);
	CHECK_EQ(getrlimit(RLIMIT_AS, &old), 0);
	struct rlimit tight = old;
	tight.rlim_cur = (rlim_t)(now + size + HUGE / 2);
	CHECK_EQ(setrlimit(RLIMIT_AS, &tight), 0);
	uint8_t *p = ava_map_huge(fd, size);
	int e = errno;
	CHECK_EQ(setrlimit(RLIMIT_AS, &old), 0);
	errno = e;
	CHECK(p != MAP_FAILED);
	CHECK_EQ(p[size - 1], 7);   /* the same file */
	CHECK_EQ(munmap(p, size), 0);
#endif
}

/* p, size bytes from ava_map_huge(), lies at a 2 MiB boundary, advised
 * for huge pages (smaps shows "hg" in its flags), with no piece of the
 * reservation it was aligned in left around it; and, if alone, is
 * exactly its own mapping (an anonymous one may merge with a
 * neighbour). */
static void
check_placed(const uint8_t *p, uint64_t size, bool alone)
{
	CHECK_EQ((uintptr_t)p % HUGE, 0);
	char flags[512];
	uintptr_t start = 0, end = 0;
	if (smaps_of(p, flags, sizeof(flags), &start, &end)) {
		CHECK(strstr(flags, " hg") != NULL);
		CHECK(!alone || (start == (uintptr_t)p &&
				 end == (uintptr_t)p + size));
	} else {
		printf("# no /proc/self/smaps: the advice is not checked\n");
	}
	CHECK(!reserved_at((uintptr_t)p - 1));
	CHECK(!reserved_at((uintptr_t)p + size));
}

/*
 * ava_map_huge() as both sides map the heap and the shm: region: at a
 * 2 MiB boundary, advised for huge pages, shared with the file; and as
 * the journal maps its arena and slots, private. Whether the kernel then
 * gives 2 MiB pages is the host's setting, not checked here.
 */
static void
huge_page_mapping(void)
{
	const uint64_t size = 3 * HUGE + PAGE;
	int fd = memfd_create("ava-test-map", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)size), 0);
	uint8_t *p = ava_map_huge(fd, size);
	CHECK(p != MAP_FAILED);
	check_placed(p, size, true);
	p[size - 1] = 7;
	uint8_t b = 0;
	CHECK_EQ(pread(fd, &b, 1, (off_t)(size - 1)), 1);
	CHECK_EQ(b, 7);
	CHECK_EQ(munmap(p, size), 0);
	uint8_t *q = ava_map_huge(-1, size);
	CHECK(q != MAP_FAILED);
	check_placed(q, size, false);
	CHECK_EQ(q[size - 1], 0);
	q[0] = q[size - 1] = 1;
	CHECK_EQ(munmap(q, size), 0);
	tight_address_space(fd, size);
	close(fd);
	/* The heap is mapped so. */
	struct ava_heap *h;
	CHECK_EQ(ava_heap_create(4 * HUGE, &h), 0);
	CHECK_EQ((uintptr_t)ava_heap_base(h) % HUGE, 0);
	ava_heap_put(h);
}

int
main(void)
{
	RUN(place_and_give_back);
	RUN(churn);
	RUN(kept_pages);
	RUN(guest_checks);
	RUN(huge_page_mapping);
	return 0;
}
