/*
 * u64map.h - an open-addressing hash map from nonzero u64 keys to u64
 * values, used for the reverse handle map (real pointer -> id) on the
 * server and the object registry (id <-> object) in the guest.
 *
 * O(1) expected per operation; linear probing with backward-shift
 * deletion, so there are no tombstones and lookups stay short.
 * Not thread-safe: the owner locks.
 */
#ifndef AVA_U64MAP_H
#define AVA_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ava_u64map_slot {
	uint64_t key;   /* 0 = empty */
	uint64_t val;
};

struct ava_u64map {
	struct ava_u64map_slot *slots;  /* owned */
	size_t cap;                     /* power of two, or 0 */
	size_t len;
};

void
ava_u64map_init(struct ava_u64map *m);

void
ava_u64map_finish(struct ava_u64map *m);

/* Insert or replace. key must be nonzero (-EINVAL). Returns 0 or -ENOMEM. */
int
ava_u64map_put(struct ava_u64map *m, uint64_t key, uint64_t val);

/* True and *val set if key is present. val may be NULL. */
bool
ava_u64map_get(const struct ava_u64map *m, uint64_t key, uint64_t *val);

/* Remove key if present; returns whether it was. */
bool
ava_u64map_del(struct ava_u64map *m, uint64_t key);

#endif
