/*
 * shared-heap.h - a session's shared heap: one memfd that the server and
 * the guest both map, where the server places the storage of large
 * buffers, so that a blocking transfer is one copy, by the guest, between
 * the application's memory and the buffer itself (doc/protocol.md,
 * "Shared buffers").
 *
 * The server makes the heap (sparse: a page costs memory once touched),
 * seals it against shrinking and growing, and hands its descriptor to
 * the guest once per connection, before WELCOME. Ranges are page-aligned.
 * A freed range's pages go back to the kernel, except that the most
 * recently freed ranges keep theirs, up to a budget, for the next
 * buffers (shared-heap.c).
 *
 * Trust: the guest may write any byte of the heap at any time; only the
 * contents of its own buffers live there, never anything the server
 * reads for itself. The guest maps a heap only if its seals forbid
 * shrinking, so no access of its own can fault.
 *
 * Thread safety: every function may be called from any thread; a heap
 * lives until its last reference is put.
 */
#ifndef AVA_SHARED_HEAP_H
#define AVA_SHARED_HEAP_H

#include <stdint.h>

#define AVA_HEAP_ALIGN 4096u
/* The default size (AVA_SHM_HEAP_MIB in the server's environment; 0:
 * no heap): address space, not memory. */
#define AVA_HEAP_DEFAULT (64ull << 30)

/* How many bytes of freed ranges keep their pages, by default
 * (AVA_SHM_HEAP_KEEP_MIB in the server's environment). */
#define AVA_HEAP_KEEP_DEFAULT (64ull << 20)

struct ava_heap;

/* The server's: a new heap of size bytes (rounded to pages), mapped. */
int
ava_heap_create(uint64_t size, struct ava_heap **out);

/* The size AVA_SHM_HEAP_MIB asks for (0: none). */
uint64_t
ava_heap_setting(void);

/* The guest's: map the heap a server sent (fd is taken, closed on
 * failure); size is what the server said it is. AVA_EPROTO if the
 * descriptor is no sealed memfd of at least that size. */
int
ava_heap_attach(int fd, uint64_t size, struct ava_heap **out);

void
ava_heap_get(struct ava_heap *h);

/* Drop a reference; the last one unmaps the heap and closes its fd. */
void
ava_heap_put(struct ava_heap *h);

int
ava_heap_fd(const struct ava_heap *h);

/* The heap's identity (its inode number), the same on both sides. */
uint64_t
ava_heap_id(const struct ava_heap *h);

uint64_t
ava_heap_size(const struct ava_heap *h);

uint8_t *
ava_heap_base(const struct ava_heap *h);

/* Place n bytes (n > 0): *off gets a page-aligned offset. -ENOMEM when
 * no free range is large enough. */
int
ava_heap_alloc(struct ava_heap *h, uint64_t n, uint64_t *off);

/* Give back a range from ava_heap_alloc (same n). Its pages are freed,
 * or kept for a later ava_heap_alloc (which then finds the old bytes). */
void
ava_heap_free(struct ava_heap *h, uint64_t off, uint64_t n);

/* The budget of kept pages, in bytes (a new heap's: 0, none kept). */
void
ava_heap_set_keep(struct ava_heap *h, uint64_t bytes);

/* The budget AVA_SHM_HEAP_KEEP_MIB asks for. */
uint64_t
ava_heap_keep_setting(void);

#endif
