/*
 * huge-map.h - memory at a 2 MiB boundary, advised for transparent huge
 * pages: the shared heap and each shm: region (both sides), the
 * journal's staging arena and slots.
 *
 * Where the kernel gives the mapping 2 MiB pages, a first touch of 4 MiB
 * takes two faults rather than 1024 (2.5 to 3 us each on this project's
 * VM). Private memory gets them in "madvise" mode
 * (/sys/kernel/mm/transparent_hugepage/enabled, Debian's default);
 * shared memory only where the host's shmem_enabled is "advise" (or
 * "always", "within_size"), which Debian leaves at "never"
 * (doc/performance.md, "Shared memory in 2 MiB pages"). Elsewhere the
 * advice changes nothing, and memory is taken 4 KiB at a time as before.
 */
#ifndef AVA_HUGE_MAP_H
#define AVA_HUGE_MAP_H

#include <stdint.h>

/*
 * size bytes (a multiple of the page size), readable and writable: fd's
 * first size bytes, shared (fd >= 0, without a reservation), or private
 * anonymous memory (fd < 0). Without the address space for the 2 MiB the
 * alignment needs (a process under ulimit -v), the mapping goes where
 * the kernel puts it. MAP_FAILED and errno on failure; munmap() ends it.
 */
void *
ava_map_huge(int fd, uint64_t size);

#endif
