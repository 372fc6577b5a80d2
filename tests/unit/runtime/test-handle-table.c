/*
 * test-handle-table.c - ids, lookups and refcounts: forged, stale, foreign
 * and wrongly typed ids are refused; the reverse map and refcounts follow
 * what the guest sees; static handles are never freed.
 */
#include <errno.h>

#include "ava-error.h"
#include "fake-api.h"
#include "handle-table.h"
#include "rt-test.h"
#include "u64map.h"

static struct ava_handle_table *
table(uint16_t owner)
{
	struct ava_handle_table *t;
	CHECK_EQ(ava_handle_table_create(&fake_api, owner, &t), 0);
	return t;
}

static void
insert_lookup(void)
{
	struct ava_handle_table *t = table(0x1234);
	uint64_t id, id2, real;
	uint16_t type;
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_CTX, 0xdead0, false, &id), 0);
	CHECK_EQ(ava_handle_id_tag(id), 0x12);
	CHECK_EQ(ava_handle_id_owner(id), 0x1234);
	CHECK_EQ(ava_handle_table_lookup(t, id, FAKE_H_CTX, &real, &type), 0);
	CHECK_EQ(real, 0xdead0);
	CHECK_EQ(type, FAKE_H_CTX);
	CHECK_EQ(ava_handle_table_lookup(t, id, 0, &real, &type), 0);
	/* The same real handle keeps its id. */
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_CTX, 0xdead0, false, &id2), 0);
	CHECK_EQ(id2, id);
	CHECK_EQ(ava_handle_table_find(t, 0xdead0, FAKE_H_CTX, &id2), 0);
	CHECK_EQ(id2, id);
	CHECK_EQ(ava_handle_table_find(t, 0xbeef0, FAKE_H_CTX, &id2), -ENOENT);
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_CTX, 0, false, &id2), -EINVAL);
	CHECK_EQ(ava_handle_table_intern(t, 99, 1, false, &id2), -EINVAL);
	CHECK_EQ(ava_handle_table_count(t), 1);
	ava_handle_table_destroy(t);
	ava_handle_table_destroy(NULL);
}

static void
refused_ids(void)
{
	struct ava_handle_table *t = table(0x1234), *u = table(0x4321);
	uint64_t id, other, real;
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_CTX, 0xdead0, false, &id), 0);
	CHECK_EQ(ava_handle_table_intern(u, FAKE_H_CTX, 0xdead0, false, &other), 0);
	/* Wrong type. */
	CHECK_EQ(ava_handle_table_lookup(t, id, FAKE_H_BUF, &real, NULL),
		 AVA_EHANDLE);
	/* Foreign: another session's id for the same slot. */
	CHECK_EQ(ava_handle_table_lookup(t, other, FAKE_H_CTX, &real, NULL),
		 AVA_EHANDLE);
	/* Forged: a tag rewritten to another type, a bad index, zero, all
	 * ones, an unknown tag. */
	uint64_t forged = (id & ~(0xffull << 56)) | (0x13ull << 56);
	CHECK_EQ(ava_handle_table_lookup(t, forged, 0, &real, NULL), AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_lookup(t, id + 1, 0, &real, NULL), AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_lookup(t, id | 0xffffff, 0, &real, NULL),
		 AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_lookup(t, 0, 0, &real, NULL), AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_lookup(t, UINT64_MAX, 0, &real, NULL),
		 AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_lookup(t, id & ~(0xffull << 56), 0, &real,
					 NULL), AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_ref(t, other, -1, NULL), AVA_EHANDLE);
	ava_handle_table_destroy(t);
	ava_handle_table_destroy(u);
}

static void
refcounts_and_stale(void)
{
	struct ava_handle_table *t = table(7);
	uint64_t id, id2, real;
	bool freed;
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_CTX, 0xa0, true, &id), 0);
	CHECK_EQ(ava_handle_table_ref(t, id, +1, &freed), 0);   /* 2 */
	CHECK(!freed);
	/* A create that returns a known object adds a reference: 3. */
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_CTX, 0xa0, true, &id2), 0);
	CHECK_EQ(id2, id);
	CHECK_EQ(ava_handle_table_ref(t, id, -1, &freed), 0);
	CHECK_EQ(ava_handle_table_ref(t, id, -1, &freed), 0);
	CHECK(!freed);
	CHECK_EQ(ava_handle_table_ref(t, id, -1, &freed), 0);
	CHECK(freed);
	CHECK_EQ(ava_handle_table_count(t), 0);
	/* Stale: the id of a freed entry, even once its slot is reused. */
	CHECK_EQ(ava_handle_table_lookup(t, id, FAKE_H_CTX, &real, NULL),
		 AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_ref(t, id, -1, NULL), AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_find(t, 0xa0, FAKE_H_CTX, &id2), -ENOENT);
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_CTX, 0xa0, true, &id2), 0);
	CHECK_EQ(ava_handle_id_index(id2), ava_handle_id_index(id));
	CHECK(id2 != id);
	CHECK_EQ(ava_handle_table_lookup(t, id, FAKE_H_CTX, &real, NULL),
		 AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_lookup(t, id2, FAKE_H_CTX, &real, NULL), 0);
	ava_handle_table_destroy(t);
}

static void
static_handles(void)
{
	struct ava_handle_table *t = table(7);
	uint64_t id, real;
	bool freed;
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_PLAT, 0x50, false, &id), 0);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(ava_handle_table_ref(t, id, -1, &freed), 0);
	CHECK(!freed);
	CHECK_EQ(ava_handle_table_lookup(t, id, FAKE_H_PLAT, &real, NULL), 0);
	ava_handle_table_destroy(t);
}

static void
many_entries(void)
{
	struct ava_handle_table *t = table(9);
	enum { N = 100000 };
	static uint64_t ids[N];
	for (uint64_t i = 0; i < N; i++)
		CHECK_EQ(ava_handle_table_intern(t, FAKE_H_BUF, 0x1000 + 16 * i,
						 true, &ids[i]), 0);
	CHECK_EQ(ava_handle_table_count(t), N);
	for (uint64_t i = 0; i < N; i += 2)
		CHECK_EQ(ava_handle_table_ref(t, ids[i], -1, NULL), 0);
	for (uint64_t i = 0; i < N; i++) {
		uint64_t real, id;
		int want = i % 2 ? 0 : AVA_EHANDLE;
		CHECK_EQ(ava_handle_table_lookup(t, ids[i], FAKE_H_BUF, &real,
						 NULL), want);
		CHECK_EQ(ava_handle_table_find(t, 0x1000 + 16 * i, FAKE_H_BUF,
					       &id), i % 2 ? 0 : -ENOENT);
	}
	CHECK_EQ(ava_handle_table_count(t), N / 2);
	ava_handle_table_destroy(t);
}

static void
bad_tables(void)
{
	struct ava_handle_table *t;
	CHECK_EQ(ava_handle_table_create(&fake_api, 0, &t), -EINVAL);
}

static void
u64map_churn(void)
{
	struct ava_u64map m;
	ava_u64map_init(&m);
	uint64_t v;
	for (uint64_t k = 1; k <= 5000; k++)
		CHECK_EQ(ava_u64map_put(&m, k * 64, k), 0);
	CHECK_EQ(ava_u64map_put(&m, 0, 1), -EINVAL);
	for (uint64_t k = 1; k <= 5000; k += 3)
		CHECK(ava_u64map_del(&m, k * 64));
	CHECK(!ava_u64map_del(&m, 64));
	for (uint64_t k = 1; k <= 5000; k++) {
		bool in = ava_u64map_get(&m, k * 64, &v);
		CHECK(in == ((k - 1) % 3 != 0));
		if (in)
			CHECK_EQ(v, k);
	}
	ava_u64map_finish(&m);
}

/* Restore binds ids from another table: same ids, same lookups; ids
 * of slots left free stay refused, and new interns do not collide. */
static void
bind_ids(void)
{
	struct ava_handle_table *t = table(0x1234), *u = table(0x1234);
	uint64_t a, b, c, real, id;
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_CTX, 0xa0, false, &a), 0);
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_CTX, 0xb0, false, &b), 0);
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_CTX, 0xc0, false, &c), 0);
	CHECK_EQ(ava_handle_table_ref(t, b, -1, NULL), 0);   /* b's slot free */
	CHECK_EQ(ava_handle_table_ref(t, c, +1, NULL), 0);   /* c at 2 */
	CHECK_EQ(ava_handle_table_bind(u, c, FAKE_H_CTX, 0xc1, 2), 0);
	CHECK_EQ(ava_handle_table_bind(u, a, FAKE_H_CTX, 0xa1, 1), 0);
	CHECK_EQ(ava_handle_table_bind(u, a, FAKE_H_CTX, 0xa2, 1), -EEXIST);
	CHECK_EQ(ava_handle_table_bind(u, a ^ (1ull << 40), FAKE_H_CTX, 0xa3,
				       1), -EINVAL);         /* another owner */
	CHECK_EQ(ava_handle_table_bind(u, b, FAKE_H_CTX, 0xb1, 0), -EINVAL);
	ava_handle_table_bind_done(u);
	CHECK_EQ(ava_handle_table_lookup(u, a, FAKE_H_CTX, &real, NULL), 0);
	CHECK_EQ(real, 0xa1);
	CHECK_EQ(ava_handle_table_lookup(u, c, FAKE_H_CTX, &real, NULL), 0);
	CHECK_EQ(real, 0xc1);
	CHECK_EQ(ava_handle_table_find(u, 0xc1, FAKE_H_CTX, &id), 0);
	CHECK_EQ(id, c);
	CHECK_EQ(ava_handle_table_lookup(u, b, FAKE_H_CTX, &real, NULL),
		 AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_count(u), 2);
	/* c's two references are kept: one release leaves it. */
	bool freed = true;
	CHECK_EQ(ava_handle_table_ref(u, c, -1, &freed), 0);
	CHECK(!freed);
	/* A new object takes the free slot under a new generation. */
	CHECK_EQ(ava_handle_table_intern(u, FAKE_H_CTX, 0xd0, false, &id), 0);
	CHECK(id != a && id != b && id != c);
	CHECK_EQ(ava_handle_table_lookup(u, b, FAKE_H_CTX, &real, NULL),
		 AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_bind(u, b, FAKE_H_CTX, 0xb1, 1), -EBUSY);
	ava_handle_table_destroy(t);
	ava_handle_table_destroy(u);
}

struct seen {
	uint64_t *v;
	int n;
};

static int
collect(void *ctx, uint64_t id, uint16_t type, uint64_t real, uint32_t refs)
{
	struct seen *c = ctx;
	if (c->n < 4)
		c->v[c->n] = id;
	c->n++;
	return 0;
}

/* A guest-named id: the table's owner, the type's tag, the named bit. */
static uint64_t
named(uint8_t tag, uint16_t owner, uint32_t n)
{
	return (uint64_t)tag << 56 | (uint64_t)owner << 40 |
	       (uint64_t)(n >> 23) << 24 | AVA_HANDLE_NAMED | (n & 0x7fffff);
}

/* Guest-named ids: claimed once, found by the whole id, counted, freed
 * like any other; forged, foreign, wrongly typed or unnamed ones are
 * refused; a restore binds them again. */
static void
named_ids(void)
{
	struct ava_handle_table *t = table(0x1234), *u = table(0x1234);
	uint64_t n1 = named(0x13, 0x1234, 1), n2 = named(0x13, 0x1234, 2);
	uint64_t id, real, plain;
	uint16_t type;
	CHECK_EQ(ava_handle_table_claimable(t, n1, FAKE_H_BUF), 0);
	CHECK_EQ(ava_handle_table_claim(t, n1, FAKE_H_BUF, 0xb10), 0);
	CHECK_EQ(ava_handle_table_claimable(t, n1, FAKE_H_BUF), -EEXIST);
	CHECK_EQ(ava_handle_table_claim(t, n1, FAKE_H_BUF, 0xb11), -EEXIST);
	CHECK_EQ(ava_handle_table_lookup(t, n1, FAKE_H_BUF, &real, &type), 0);
	CHECK_EQ(real, 0xb10);
	CHECK_EQ(type, FAKE_H_BUF);
	CHECK_EQ(ava_handle_table_lookup(t, n1, FAKE_H_CTX, &real, NULL),
		 AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_lookup(t, n2, 0, &real, NULL), AVA_EHANDLE);
	/* Refused: another owner, another type's tag, no named bit, a
	 * real the table knows, no real. */
	CHECK_EQ(ava_handle_table_claim(t, named(0x13, 0x4321, 3), FAKE_H_BUF,
					0xb30), -EINVAL);
	CHECK_EQ(ava_handle_table_claim(t, named(0x12, 0x1234, 3), FAKE_H_BUF,
					0xb30), -EINVAL);
	CHECK_EQ(ava_handle_table_claim(t, n2 & ~(uint64_t)AVA_HANDLE_NAMED,
					FAKE_H_BUF, 0xb30), -EINVAL);
	CHECK_EQ(ava_handle_table_claim(t, n2, FAKE_H_BUF, 0xb10), -EEXIST);
	CHECK_EQ(ava_handle_table_claim(t, n2, FAKE_H_BUF, 0), -EINVAL);
	/* The index alone names nothing: the slot ids of the server's own
	 * entries never reach the named ones, nor the other way round. */
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_BUF, 0xc00, false, &plain),
		 0);
	CHECK(!(ava_handle_id_index(plain) & AVA_HANDLE_NAMED));
	CHECK_EQ(ava_handle_table_lookup(t, n1 & ~(uint64_t)AVA_HANDLE_NAMED, 0,
					 &real, NULL), AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_lookup(t, plain | AVA_HANDLE_NAMED, 0, &real,
					 NULL), AVA_EHANDLE);
	/* The reverse map and intern give the named id. */
	CHECK_EQ(ava_handle_table_find(t, 0xb10, FAKE_H_BUF, &id), 0);
	CHECK_EQ(id, n1);
	CHECK_EQ(ava_handle_table_find(t, 0xb10, FAKE_H_CTX, &id), -ENOENT);
	CHECK_EQ(ava_handle_table_intern(t, FAKE_H_BUF, 0xb10, true, &id), 0);
	CHECK_EQ(id, n1);                                  /* now at 2 */
	CHECK_EQ(ava_handle_table_claim(t, n2, FAKE_H_BUF, 0xb20), 0);
	CHECK_EQ(ava_handle_table_count(t), 3);
	/* each() sees them after the server's own. */
	uint64_t seen[4];
	struct seen ctx = { seen, 0 };
	CHECK_EQ(ava_handle_table_each(t, collect, &ctx), 0);
	CHECK_EQ(ctx.n, 3);
	CHECK_EQ(seen[0], plain);
	CHECK_EQ(seen[1], n1);
	CHECK_EQ(seen[2], n2);
	/* Freed at 0, and the slot serves again. */
	bool freed = true;
	CHECK_EQ(ava_handle_table_ref(t, n1, -1, &freed), 0);
	CHECK(!freed);
	CHECK_EQ(ava_handle_table_ref(t, n1, -1, &freed), 0);
	CHECK(freed);
	CHECK_EQ(ava_handle_table_lookup(t, n1, 0, &real, NULL), AVA_EHANDLE);
	CHECK_EQ(ava_handle_table_find(t, 0xb10, FAKE_H_BUF, &id), -ENOENT);
	CHECK_EQ(ava_handle_table_ref(t, n1, -1, NULL), AVA_EHANDLE);
	uint64_t n4 = named(0x13, 0x1234, 4);
	CHECK_EQ(ava_handle_table_claim(t, n4, FAKE_H_BUF, 0xb40), 0);
	CHECK_EQ(ava_handle_table_lookup(t, n4, 0, &real, NULL), 0);
	CHECK_EQ(real, 0xb40);
	CHECK_EQ(ava_handle_table_lookup(t, n2, 0, &real, NULL), 0);
	CHECK_EQ(real, 0xb20);
	CHECK_EQ(ava_handle_table_count(t), 3);
	/* A restore binds named ids as they were. */
	CHECK_EQ(ava_handle_table_bind(u, n2, FAKE_H_BUF, 0xd20, 2), 0);
	CHECK_EQ(ava_handle_table_bind(u, plain, FAKE_H_BUF, 0xd00, 1), 0);
	CHECK_EQ(ava_handle_table_bind(u, n2, FAKE_H_BUF, 0xd21, 1), -EEXIST);
	CHECK_EQ(ava_handle_table_bind(u, n4, FAKE_H_CTX, 0xd40, 1), -EINVAL);
	ava_handle_table_bind_done(u);
	CHECK_EQ(ava_handle_table_lookup(u, n2, FAKE_H_BUF, &real, NULL), 0);
	CHECK_EQ(real, 0xd20);
	CHECK_EQ(ava_handle_table_ref(u, n2, -1, &freed), 0);
	CHECK(!freed);
	CHECK_EQ(ava_handle_table_claim(u, n4, FAKE_H_BUF, 0xd40), 0);
	CHECK_EQ(ava_handle_table_count(u), 3);
	ava_handle_table_destroy(t);
	ava_handle_table_destroy(u);
}

int
main(void)
{
	RUN(named_ids);
	RUN(bind_ids);
	RUN(insert_lookup);
	RUN(refused_ids);
	RUN(refcounts_and_stale);
	RUN(static_handles);
	RUN(many_entries);
	RUN(bad_tables);
	RUN(u64map_churn);
	return 0;
}
