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

int
main(void)
{
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
