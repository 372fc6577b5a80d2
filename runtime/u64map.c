#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "u64map.h"

/* A 64-bit mix (from the murmur3 finalizer constants) spreads pointers,
 * whose low bits are mostly alignment zeros, over the table. */
static size_t
slot_of(const struct ava_u64map *m, uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return (size_t)k & (m->cap - 1);
}

void
ava_u64map_init(struct ava_u64map *m)
{
	memset(m, 0, sizeof(*m));
}

void
ava_u64map_finish(struct ava_u64map *m)
{
	free(m->slots);
	ava_u64map_init(m);
}

static void
place(struct ava_u64map *m, uint64_t key, uint64_t val)
{
	size_t i = slot_of(m, key);
	while (m->slots[i].key != 0 && m->slots[i].key != key)
		i = (i + 1) & (m->cap - 1);
	if (m->slots[i].key == 0)
		m->len++;
	m->slots[i].key = key;
	m->slots[i].val = val;
}

static int
grow(struct ava_u64map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 16;
	struct ava_u64map_slot *old = m->slots;
	size_t oldcap = m->cap;
	m->slots = calloc(cap, sizeof(*m->slots));
	if (m->slots == NULL) {
		m->slots = old;
		return -ENOMEM;
	}
	m->cap = cap;
	m->len = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key != 0)
			place(m, old[i].key, old[i].val);
	free(old);
	return 0;
}

int
ava_u64map_put(struct ava_u64map *m, uint64_t key, uint64_t val)
{
	if (key == 0)
		return -EINVAL;
	/* Keep the load at or under one half. */
	if (2 * (m->len + 1) > m->cap) {
		int r = grow(m);
		if (r < 0)
			return r;
	}
	place(m, key, val);
	return 0;
}

static bool
find(const struct ava_u64map *m, uint64_t key, size_t *at)
{
	if (m->cap == 0 || key == 0)
		return false;
	for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].key == 0)
			return false;
		if (m->slots[i].key == key) {
			*at = i;
			return true;
		}
	}
}

bool
ava_u64map_get(const struct ava_u64map *m, uint64_t key, uint64_t *val)
{
	size_t i;
	if (!find(m, key, &i))
		return false;
	if (val != NULL)
		*val = m->slots[i].val;
	return true;
}

/* Is slot j's home h "cyclically outside" the gap (i, j]? Then the entry
 * at j may move back into the hole at i. */
static bool
may_fill(size_t i, size_t j, size_t h)
{
	if (i <= j)
		return h <= i || h > j;
	return h <= i && h > j;
}

bool
ava_u64map_del(struct ava_u64map *m, uint64_t key)
{
	size_t i;
	if (!find(m, key, &i))
		return false;
	size_t mask = m->cap - 1;
	for (size_t j = (i + 1) & mask; m->slots[j].key != 0;
	     j = (j + 1) & mask) {
		if (may_fill(i, j, slot_of(m, m->slots[j].key))) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].key = 0;
	m->slots[i].val = 0;
	m->len--;
	return true;
}
