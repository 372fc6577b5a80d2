#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "handle-table.h"
#include "u64map.h"

#define NO_FREE UINT32_MAX
#define REV_NAMED (1ull << 32)  /* a reverse-map value: a named entry */

struct entry {
	uint64_t real;
	uint64_t name;      /* a guest-named entry's id, else 0 */
	uint32_t refs;
	uint32_t next_free; /* free list link while !live */
	uint16_t gen;
	uint16_t type;
	bool live;
};

struct ava_handle_table {
	const struct ava_api_desc *api;
	uint16_t owner;
	uint16_t type_of_tag[256];  /* 0 = no such tag */
	struct entry *e;
	uint32_t n, cap;            /* slots used / allocated */
	uint32_t free_head;
	uint32_t live;
	bool sealed;                /* interned or bind_done: no more binds */
	struct ava_u64map rev;      /* real -> index, or REV_NAMED | index */
	/* Guest-named entries, apart: their ids say nothing of where. */
	struct entry *ne;
	uint32_t nn, ncap, nfree_head;
	struct ava_u64map named;    /* id -> index in ne */
};

static int
index_tags(struct ava_handle_table *t)
{
	for (uint16_t i = 1; i < t->api->nhandles; i++) {
		uint8_t tag = t->api->handles[i].tag;
		if (tag == 0 || t->type_of_tag[tag] != 0)
			return -EINVAL;
		t->type_of_tag[tag] = i;
	}
	return 0;
}

int
ava_handle_table_create(const struct ava_api_desc *api, uint16_t owner,
			struct ava_handle_table **out)
{
	if (owner == 0)
		return -EINVAL;
	struct ava_handle_table *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->api = api;
	t->owner = owner;
	t->free_head = t->nfree_head = NO_FREE;
	ava_u64map_init(&t->rev);
	ava_u64map_init(&t->named);
	int r = index_tags(t);
	if (r < 0)
		goto err_free;
	*out = t;
	return 0;
err_free:
	free(t);
	return r;
}

void
ava_handle_table_destroy(struct ava_handle_table *t)
{
	if (t == NULL)
		return;
	ava_u64map_finish(&t->rev);
	ava_u64map_finish(&t->named);
	free(t->ne);
	free(t->e);
	free(t);
}

uint16_t
ava_handle_table_owner(const struct ava_handle_table *t)
{
	return t->owner;
}

uint32_t
ava_handle_table_count(const struct ava_handle_table *t)
{
	return t->live;
}

static uint64_t
make_id(const struct ava_handle_table *t, uint32_t i)
{
	const struct entry *e = &t->e[i];
	return (uint64_t)t->api->handles[e->type].tag << 56 |
	       (uint64_t)t->owner << 40 | (uint64_t)e->gen << 24 | i;
}

/* The live entry an id names, or NULL; checks everything but the type. */
static struct entry *
entry_of(const struct ava_handle_table *t, uint64_t id)
{
	uint32_t i = ava_handle_id_index(id);
	uint64_t k;
	if (ava_handle_id_owner(id) != t->owner)
		return NULL;
	if (i & AVA_HANDLE_NAMED) {
		if (!ava_u64map_get(&t->named, id, &k))
			return NULL;
		struct entry *e = &t->ne[k];
		return t->type_of_tag[ava_handle_id_tag(id)] == e->type ? e
									: NULL;
	}
	if (i >= t->n)
		return NULL;
	struct entry *e = &t->e[i];
	if (!e->live || e->gen != ava_handle_id_gen(id) ||
	    t->type_of_tag[ava_handle_id_tag(id)] != e->type)
		return NULL;
	return e;
}

int
ava_handle_table_lookup(const struct ava_handle_table *t, uint64_t id,
			uint16_t type, uint64_t *real, uint16_t *type_out)
{
	const struct entry *e = entry_of(t, id);
	if (e == NULL || (type != 0 && e->type != type))
		return AVA_EHANDLE;
	*real = e->real;
	if (type_out != NULL)
		*type_out = e->type;
	return 0;
}

int
ava_handle_table_find(const struct ava_handle_table *t, uint64_t real,
		      uint16_t type, uint64_t *id)
{
	uint64_t i;
	if (!ava_u64map_get(&t->rev, real, &i))
		return -ENOENT;
	const struct entry *e = i & REV_NAMED ? &t->ne[(uint32_t)i] : &t->e[i];
	if (e->type != type)
		return -ENOENT;
	*id = i & REV_NAMED ? e->name : make_id(t, (uint32_t)i);
	return 0;
}

/* Room in *v (*cap entries) for entry n. */
static int
grow(struct entry **v, uint32_t *cap, uint32_t n)
{
	if (n < *cap)
		return 0;
	uint32_t c = *cap ? *cap * 2 : 64;
	while (c <= n)
		c *= 2;
	struct entry *e = realloc(*v, (size_t)c * sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	*v = e;
	*cap = c;
	return 0;
}

static int
take_slot(struct ava_handle_table *t, uint32_t *out)
{
	if (t->free_head != NO_FREE) {
		*out = t->free_head;
		t->free_head = t->e[*out].next_free;
		return 0;
	}
	if (t->n == AVA_HANDLE_NAMED)
		return -ENOSPC;   /* the indexes above are the guest's */
	if (grow(&t->e, &t->cap, t->n) < 0)
		return -ENOMEM;
	t->e[t->n].gen = 1;
	*out = t->n++;
	return 0;
}

static void
put_slot(struct ava_handle_table *t, uint32_t i)
{
	t->e[i].live = false;
	t->e[i].gen++;
	t->e[i].next_free = t->free_head;
	t->free_head = i;
}

static int
insert(struct ava_handle_table *t, uint16_t type, uint64_t real,
       uint64_t *id)
{
	uint32_t i;
	int r = take_slot(t, &i);
	if (r < 0)
		return r;
	r = ava_u64map_put(&t->rev, real, i);
	if (r < 0) {
		put_slot(t, i);
		return r;
	}
	struct entry *e = &t->e[i];
	e->real = real;
	e->name = 0;
	e->type = type;
	e->refs = 1;
	e->live = true;
	t->live++;
	*id = make_id(t, i);
	return 0;
}

int
ava_handle_table_intern(struct ava_handle_table *t, uint16_t type,
			uint64_t real, bool creates, uint64_t *id)
{
	if (real == 0 || type == 0 || type >= t->api->nhandles)
		return -EINVAL;
	t->sealed = true;
	if (ava_handle_table_find(t, real, type, id) == 0) {
		if (creates)
			return ava_handle_table_ref(t, *id, +1, NULL);
		return 0;
	}
	return insert(t, type, real, id);
}

int
ava_handle_table_ref(struct ava_handle_table *t, uint64_t id, int delta,
		     bool *freed)
{
	struct entry *e = entry_of(t, id);
	if (freed != NULL)
		*freed = false;
	if (e == NULL)
		return AVA_EHANDLE;
	if (t->api->handles[e->type].flags & AVA_HANDLE_STATIC)
		return 0;
	if (delta > 0) {
		e->refs += e->refs < UINT32_MAX;
		return 0;
	}
	if (--e->refs > 0)
		return 0;
	uint64_t mapped;
	uint64_t i = e->name ? REV_NAMED | (uint64_t)(e - t->ne)
			     : (uint64_t)(e - t->e);
	if (ava_u64map_get(&t->rev, e->real, &mapped) && mapped == i)
		ava_u64map_del(&t->rev, e->real);
	if (e->name) {
		ava_u64map_del(&t->named, e->name);
		*e = (struct entry){ .next_free = t->nfree_head };
		t->nfree_head = (uint32_t)i;
	} else {
		put_slot(t, (uint32_t)i);
	}
	t->live--;
	if (freed != NULL)
		*freed = true;
	return 0;
}

int
ava_handle_table_each(const struct ava_handle_table *t,
		      int (*fn)(void *ctx, uint64_t id, uint16_t type,
				uint64_t real, uint32_t refs),
		      void *ctx)
{
	for (uint32_t i = 0; i < t->n; i++) {
		const struct entry *e = &t->e[i];
		if (!e->live)
			continue;
		int r = fn(ctx, make_id(t, i), e->type, e->real, e->refs);
		if (r != 0)
			return r;
	}
	for (uint32_t i = 0; i < t->nn; i++) {
		const struct entry *e = &t->ne[i];
		if (!e->live)
			continue;
		int r = fn(ctx, e->name, e->type, e->real, e->refs);
		if (r != 0)
			return r;
	}
	return 0;
}

/* ---- guest-named entries ----------------------------------------------- */

int
ava_handle_table_claimable(const struct ava_handle_table *t, uint64_t id,
			   uint16_t type)
{
	if (type == 0 || type >= t->api->nhandles ||
	    ava_handle_id_owner(id) != t->owner ||
	    t->type_of_tag[ava_handle_id_tag(id)] != type ||
	    !(ava_handle_id_index(id) & AVA_HANDLE_NAMED))
		return -EINVAL;
	uint64_t k;
	return ava_u64map_get(&t->named, id, &k) ? -EEXIST : 0;
}

static int
named_insert(struct ava_handle_table *t, uint64_t id, uint16_t type,
	     uint64_t real, uint32_t refs)
{
	uint64_t k;
	if (ava_u64map_get(&t->rev, real, &k))
		return -EEXIST;
	uint32_t i;
	if (t->nfree_head != NO_FREE) {
		i = t->nfree_head;
		t->nfree_head = t->ne[i].next_free;
	} else {
		if (grow(&t->ne, &t->ncap, t->nn) < 0)
			return -ENOMEM;
		i = t->nn++;
	}
	int r = ava_u64map_put(&t->named, id, i);
	if (r == 0 && (r = ava_u64map_put(&t->rev, real, REV_NAMED | i)) < 0)
		ava_u64map_del(&t->named, id);
	if (r < 0) {
		t->ne[i] = (struct entry){ .next_free = t->nfree_head };
		t->nfree_head = i;
		return r;
	}
	t->ne[i] = (struct entry){ .real = real, .name = id, .refs = refs,
				   .type = type, .live = true };
	t->live++;
	return 0;
}

int
ava_handle_table_claim(struct ava_handle_table *t, uint64_t id,
		       uint16_t type, uint64_t real)
{
	int r = ava_handle_table_claimable(t, id, type);
	if (r < 0)
		return r;
	if (real == 0)
		return -EINVAL;
	t->sealed = true;
	return named_insert(t, id, type, real, 1);
}

int
ava_handle_table_bind(struct ava_handle_table *t, uint64_t id, uint16_t type,
		      uint64_t real, uint32_t refs)
{
	uint32_t i = ava_handle_id_index(id);
	if (i & AVA_HANDLE_NAMED) {
		if (t->sealed)
			return -EBUSY;
		int r = refs == 0 || real == 0 ? -EINVAL
			: ava_handle_table_claimable(t, id, type);
		return r < 0 ? r : named_insert(t, id, type, real, refs);
	}
	if (real == 0 || type == 0 || type >= t->api->nhandles ||
	    ava_handle_id_owner(id) != t->owner ||
	    t->type_of_tag[ava_handle_id_tag(id)] != type || refs == 0 ||
	    ava_handle_id_gen(id) == 0)
		return -EINVAL;
	if (t->sealed || t->free_head != NO_FREE)
		return -EBUSY;  /* binding comes before any intern */
	if (grow(&t->e, &t->cap, i) < 0)
		return -ENOMEM;
	while (t->n <= i)
		t->e[t->n++] = (struct entry){ .gen = 1 };
	struct entry *e = &t->e[i];
	if (e->live)
		return -EEXIST;
	int r = ava_u64map_put(&t->rev, real, i);
	if (r < 0)
		return r;
	*e = (struct entry){ .real = real, .refs = refs, .type = type,
			     .gen = ava_handle_id_gen(id), .live = true };
	t->live++;
	return 0;
}

void
ava_handle_table_bind_done(struct ava_handle_table *t)
{
	t->sealed = true;
	/* The slots between bound ones are free; their generation moves on,
	 * so an id that named them before the move stays refused. */
	for (uint32_t i = t->n; i-- > 0;) {
		if (t->e[i].live)
			continue;
		t->e[i].gen += 2;
		t->e[i].next_free = t->free_head;
		t->free_head = i;
	}
}
