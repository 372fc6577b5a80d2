/*
 * test-state.c - the checkpoint's state tracker (runtime/session-state.h)
 * over a two-function stand-in API: an object made, then configured
 * again and again with the same key (as clSetKernelArg is in a launch
 * loop). What a capture took must stay as it was while the session goes
 * on: the capture writes it out unlocked, and later calls supersede and
 * reuse the tracker's own copies (this was a use after free that showed
 * as "does not decode" at a migration's destination).
 */
#include <stdlib.h>
#include <string.h>

#include "handle-table.h"
#include "rt-test.h"
#include "session-state.h"
#include "wire.h"

enum { H_OBJ = 1, H_BUF };
enum { FN_MAKE, FN_SET, FN_MKBUF };

static const struct ava_arg_desc a_make[] = {
	{ .name = "x", .kind = AVA_ARG_SCALAR, .scalar_size = 8,
	  .lengths_arg = -1 },
};
static const struct ava_arg_desc a_set[] = {
	{ .name = "obj", .kind = AVA_ARG_HANDLE, .handle_type = H_OBJ,
	  .lengths_arg = -1 },
	{ .name = "index", .kind = AVA_ARG_SCALAR, .scalar_size = 8,
	  .lengths_arg = -1 },
	{ .name = "value", .kind = AVA_ARG_IN_BUF, .elem_size = 1,
	  .lengths_arg = -1 },   /* as clSetKernelArg's: not in the key */
};
static const struct ava_arg_desc a_mkbuf[] = {
	{ .name = "init", .kind = AVA_ARG_IN_BUF, .elem_size = 1,
	  .lengths_arg = -1 },   /* as COPY_HOST_PTR's bytes */
};
static const struct ava_fn_desc fns[] = {
	[FN_MAKE] = { .id = FN_MAKE, .name = "make", .nargs = 1,
		      .args = a_make, .ret = AVA_RET_HANDLE,
		      .ret_handle_type = H_OBJ, .errcode_arg = -1,
		      .flags = AVA_FN_CREATES },
	[FN_SET] = { .id = FN_SET, .name = "set", .nargs = 3, .args = a_set,
		     .ret = AVA_RET_STATUS, .errcode_arg = -1,
		     .flags = AVA_FN_MUTATES },
	[FN_MKBUF] = { .id = FN_MKBUF, .name = "mkbuf", .nargs = 1,
		       .args = a_mkbuf, .ret = AVA_RET_HANDLE,
		       .ret_handle_type = H_BUF, .errcode_arg = -1,
		       .flags = AVA_FN_CREATES },
};
static const struct ava_handle_desc handles[] = {
	[H_OBJ] = { .name = "obj", .tag = 0x21, .retain_fn = -1,
		    .release_fn = -1 },
	[H_BUF] = { .name = "buf", .tag = 0x22, .retain_fn = -1,
		    .release_fn = -1, .state = "buffer" },
};
static const struct ava_api_desc api = {
	.name = "state-test", .api_id = 9, .nfns = 3, .fns = fns,
	.nhandles = 3, .handles = handles,
};

static uint64_t seq;

/* One call through the tracker as the session makes it. */
static void
track(struct ava_state *st, struct ava_state_rec *r, uint32_t fn,
      const uint64_t *words, size_t n, uint64_t handed, uint64_t used,
      struct ava_handle_table *t)
{
	uint8_t p[64];
	for (size_t i = 0; i < n; i++)
		ava_wire_put_le(p + 8 * i, words[i], 8);
	ava_state_rec_begin(st, r, &fns[fn], 1, ++seq, p, 8 * n, NULL);
	if (used)
		ava_state_rec_use(r, used);
	if (handed)
		ava_state_rec_handed(r, handed, true, true);
	ava_state_rec_end(st, r, true, t);
}

static void
capture_survives_later_calls(void)
{
	struct ava_state *st;
	struct ava_handle_table *t;
	struct ava_state_rec r;
	CHECK_EQ(ava_state_create(&api, &st), 0);
	CHECK_EQ(ava_handle_table_create(&api, 0x77, &t), 0);
	ava_state_rec_init(&r);
	uint64_t id;
	CHECK_EQ(ava_handle_table_intern(t, H_OBJ, 0x1000, true, &id), 0);
	uint64_t w[1] = { 5 };
	track(st, &r, FN_MAKE, w, 1, id, 0, t);
	uint64_t w4[4] = { id, 1, 8, 111 };   /* value: 8 bytes */
	track(st, &r, FN_SET, w4, 4, 0, id, t);

	struct ava_state_call *calls;
	size_t n;
	CHECK_EQ(ava_state_needed(st, t, &calls, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(calls[1].fn, FN_SET);
	CHECK_EQ(ava_wire_get_le(calls[1].call + 24, 8), 111);
	/* The session goes on: the setting is superseded thousands of
	 * times, its blocks reused and collected. */
	for (uint64_t v = 0; v < 5000; v++) {
		w4[3] = 1000 + v;
		track(st, &r, FN_SET, w4, 4, 0, id, t);
	}
	CHECK_EQ(ava_wire_get_le(calls[1].call, 8), id);
	CHECK_EQ(ava_wire_get_le(calls[1].call + 8, 8), 1);
	CHECK_EQ(ava_wire_get_le(calls[1].call + 24, 8), 111);
	CHECK_EQ(ava_wire_get_le(calls[0].call, 8), 5);
	CHECK_EQ(calls[0].nids, 1);
	CHECK_EQ(calls[0].ids[0], id);
	free(calls);

	/* A new capture has the latest setting only, after the make. */
	CHECK_EQ(ava_state_needed(st, t, &calls, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(calls[0].fn, FN_MAKE);
	CHECK_EQ(calls[1].fn, FN_SET);
	CHECK(calls[1].serial > calls[0].serial);
	CHECK_EQ(ava_wire_get_le(calls[1].call + 24, 8), 1000 + 4999);
	free(calls);

	/* Another key (index 2) is kept beside it, not in its place. */
	w4[1] = 2, w4[3] = 7;
	track(st, &r, FN_SET, w4, 4, 0, id, t);
	CHECK_EQ(ava_state_needed(st, t, &calls, &n), 0);
	CHECK_EQ(n, 3);
	CHECK_EQ(ava_wire_get_le(calls[2].call + 8, 8), 2);
	free(calls);
	ava_state_rec_finish(&r);
	ava_handle_table_destroy(t);
	ava_state_destroy(st);
}

/* A call of n in-buffer bytes of 0x5a; its payload in *p (malloc'd). */
static size_t
payload_of(size_t n, uint8_t **p)
{
	size_t len = 8 + ((n + 7) & ~(size_t)7);
	*p = calloc(1, len);
	CHECK(*p != NULL);
	ava_wire_put_le(*p, n, 8);
	memset(*p + 8, 0x5a, n);
	return len;
}

/*
 * The initial contents of an object with contents (a large in-buffer of
 * the call that made it) are not kept: the capture has zeros there, and
 * every other byte as it was. A small one is kept, and so is a large
 * in-buffer of a call that makes no object with contents.
 */
static void
contents_not_kept(void)
{
	struct ava_state *st;
	struct ava_handle_table *t;
	struct ava_state_rec r;
	CHECK_EQ(ava_state_create(&api, &st), 0);
	CHECK_EQ(ava_handle_table_create(&api, 0x78, &t), 0);
	ava_state_rec_init(&r);
	uint64_t big, small, obj;
	CHECK_EQ(ava_handle_table_intern(t, H_BUF, 0x2000, true, &big), 0);
	CHECK_EQ(ava_handle_table_intern(t, H_BUF, 0x3000, true, &small), 0);
	CHECK_EQ(ava_handle_table_intern(t, H_OBJ, 0x4000, true, &obj), 0);
	size_t sizes[2] = { 3 * 4096 + 5, 100 };
	uint64_t ids[2] = { big, small };
	for (int i = 0; i < 2; i++) {
		uint8_t *p;
		size_t len = payload_of(sizes[i], &p);
		ava_state_rec_begin(st, &r, &fns[FN_MKBUF], 1, ++seq, p, len,
				    NULL);
		/* The record itself never copies the contents (a 4 MiB
		 * buffer's would be 4 MiB of fresh memory per creation). */
		struct ava_cut cut;
		bool cuts = ava_state_cut(st, &fns[FN_MKBUF], p, len, &cut);
		CHECK_EQ(cuts, sizes[i] >= 4096);
		CHECK_EQ(r.call.len, cuts ? len - sizes[i] : len);
		CHECK_EQ(r.cut_len, cuts ? sizes[i] : 0);
		CHECK_EQ(r.cut_off, cuts ? (size_t)8 : 0);
		ava_state_rec_handed(&r, ids[i], true, true);
		ava_state_rec_end(st, &r, true, t);
		free(p);
	}
	uint64_t w[1] = { 5 };
	track(st, &r, FN_MAKE, w, 1, obj, 0, t);
	/* set(obj, 1, 8192 bytes): configures an object without contents */
	uint8_t *p;
	size_t len = payload_of(8192, &p);
	uint8_t *q = malloc(16 + len);
	CHECK(q != NULL);
	ava_wire_put_le(q, obj, 8);
	ava_wire_put_le(q + 8, 1, 8);
	memcpy(q + 16, p, len);
	ava_state_rec_begin(st, &r, &fns[FN_SET], 1, ++seq, q, 16 + len,
			    NULL);
	CHECK_EQ(r.call.len, 16 + len);   /* creates nothing: all kept */
	ava_state_rec_use(&r, obj);
	ava_state_rec_end(st, &r, true, t);
	free(p);
	free(q);

	struct ava_state_call *calls;
	size_t n;
	CHECK_EQ(ava_state_needed(st, t, &calls, &n), 0);
	CHECK_EQ(n, 4);
	CHECK_EQ(calls[0].fn, FN_MKBUF);
	CHECK_EQ(calls[0].call_len, 8 + 3 * 4096 + 8);
	CHECK_EQ(ava_wire_get_le(calls[0].call, 8), sizes[0]);
	size_t zeros = 0;
	for (size_t i = 8; i < calls[0].call_len; i++)
		zeros += calls[0].call[i] == 0;
	CHECK_EQ(zeros, calls[0].call_len - 8);
	CHECK_EQ(calls[1].fn, FN_MKBUF);
	CHECK_EQ(calls[1].call[8], 0x5a);
	CHECK_EQ(calls[1].call[8 + sizes[1] - 1], 0x5a);
	CHECK_EQ(calls[3].fn, FN_SET);
	CHECK_EQ(calls[3].call_len, 16 + 8 + 8192);
	CHECK_EQ(calls[3].call[16 + 8], 0x5a);
	CHECK_EQ(calls[3].call[16 + 8 + 8191], 0x5a);
	free(calls);
	ava_state_rec_finish(&r);
	ava_handle_table_destroy(t);
	ava_state_destroy(st);
}

int
main(void)
{
	RUN(capture_survives_later_calls);
	RUN(contents_not_kept);
	return 0;
}
