/*
 * test-marshal.c - the generic marshaller end to end over the stand-in
 * API (fake-api.c): every argument kind round-trips, handles are
 * translated both ways, refcounts follow retain/release, NULL stays NULL,
 * and malformed CALL payloads are refused without crashing or allocating
 * what they claim.
 */
#include <string.h>

#include "ava-error.h"
#include "fake-api.h"
#include "loop.h"
#include "marshal-private.h"
#include "rt-test.h"
#include "wire.h"

#define U(p) ((uint64_t)(uintptr_t)(p))

static struct loop L;
static void *plat[FAKE_NPLATS];

static void
platforms(void)
{
	uint32_t num = 0;
	uint64_t v[3] = { 0, 0, U(&num) };
	CHECK_EQ(loop_call(&L, FAKE_FN_get_plats, v), FAKE_OK);
	CHECK_EQ(num, FAKE_NPLATS);
	uint64_t w[3] = { FAKE_NPLATS, U(plat), U(&num) };
	CHECK_EQ(loop_call(&L, FAKE_FN_get_plats, w), FAKE_OK);
	CHECK(plat[0] != NULL && plat[1] != NULL && plat[0] != plat[1]);
	/* Objects start with the dispatch pointer. */
	CHECK(*(const void **)plat[0] == loop_dispatch);
	void *again[FAKE_NPLATS];
	uint64_t x[3] = { FAKE_NPLATS, U(again), 0 };
	CHECK_EQ(loop_call(&L, FAKE_FN_get_plats, x), FAKE_OK);
	CHECK(again[0] == plat[0] && again[1] == plat[1]);
	/* NULL-ness reaches the driver: both NULL is its error. */
	uint64_t y[3] = { 0, 0, 0 };
	CHECK_EQ((int64_t)loop_call(&L, FAKE_FN_get_plats, y), FAKE_E_VALUE);
}

static void *
make_ctx(int32_t *err)
{
	intptr_t props[3] = { FAKE_KEY_PLAT, (intptr_t)plat[1], 0 };
	uint64_t v[2] = { U(props), U(err) };
	return (void *)(uintptr_t)loop_call(&L, FAKE_FN_create_ctx, v);
}

static void
contexts_and_refcounts(void)
{
	int32_t err = 1;
	int live = fake_live_objects();
	uint32_t n = ava_handle_table_count(L.tab);
	void *ctx = make_ctx(&err);
	CHECK(ctx != NULL);
	CHECK_EQ(err, FAKE_OK);
	CHECK_EQ(fake_live_objects(), live + 1);
	uint64_t v[1] = { U(ctx) };
	CHECK_EQ(loop_call(&L, FAKE_FN_retain_ctx, v), FAKE_OK);
	CHECK_EQ(loop_call(&L, FAKE_FN_release_ctx, v), FAKE_OK);
	CHECK_EQ(ava_handle_table_count(L.tab), n + 1);
	CHECK_EQ(loop_call(&L, FAKE_FN_release_ctx, v), FAKE_OK);
	CHECK_EQ(fake_live_objects(), live);
	CHECK_EQ(ava_handle_table_count(L.tab), n);
	/* The guest object is gone too: the stale pointer is no object, so
	 * the call is refused with the type's invalid error. */
	CHECK_EQ((int64_t)loop_call(&L, FAKE_FN_release_ctx, v), FAKE_E_CTX);
	CHECK_EQ(L.decode_r, AVA_EHANDLE);

	/* A pointer that is not a platform object inside the properties:
	 * refused, error out-argument and NULL return. */
	int dummy;
	intptr_t props[3] = { FAKE_KEY_PLAT, (intptr_t)&dummy, 0 };
	uint64_t w[2] = { U(props), U(&err) };
	CHECK_EQ(loop_call(&L, FAKE_FN_create_ctx, w), 0);
	CHECK_EQ(err, FAKE_E_PLATFORM);
}

static void
buffers(void)
{
	int32_t err;
	void *ctx = make_ctx(&err);
	uint64_t w[3] = { U(ctx), 11, U("hello world") };
	CHECK_EQ(loop_call(&L, FAKE_FN_write, w), FAKE_OK);

	/* With size_ret: only the 5 filled bytes come back. */
	char out[64];
	uint64_t size_ret = 0;
	memset(out, 'X', sizeof(out));
	uint64_t r[4] = { U(ctx), sizeof(out), U(out), U(&size_ret) };
	CHECK_EQ(loop_call(&L, FAKE_FN_read, r), FAKE_OK);
	CHECK_EQ(size_ret, 5);
	CHECK(memcmp(out, "helloX", 6) == 0);
	/* Without it, filled() is unknown and the capacity comes back. */
	memset(out, 'X', sizeof(out));
	uint64_t r2[4] = { U(ctx), sizeof(out), U(out), 0 };
	CHECK_EQ(loop_call(&L, FAKE_FN_read, r2), FAKE_OK);
	CHECK(memcmp(out, "hello", 5) == 0 && out[5] == 0 && out[63] == 0);
	/* A failed call writes no out buffer. */
	memset(out, 'X', sizeof(out));
	uint64_t r3[4] = { U(ctx), 65, U(out), 0 };
	CHECK_EQ((int64_t)loop_call(&L, FAKE_FN_read, r3), FAKE_E_VALUE);
	CHECK(out[0] == 'X');

	uint8_t io[3] = { 1, 2, 3 };
	uint64_t x[2] = { 3, U(io) };
	CHECK_EQ(loop_call(&L, FAKE_FN_inout, x), FAKE_OK);
	CHECK(io[0] == 2 && io[1] == 4 && io[2] == 6);

	uint64_t s[2] = { U(ctx), U("ctx-a") };
	CHECK_EQ(loop_call(&L, FAKE_FN_set_name, s), FAKE_OK);
	uint64_t s0[2] = { U(ctx), 0 };
	CHECK_EQ((int64_t)loop_call(&L, FAKE_FN_set_name, s0), FAKE_E_VALUE);

	/* A buffer the guest cannot send is refused locally. */
	uint64_t big[3] = { U(ctx), AVA_FRAME_MAX + 1, U("x") };
	loop_call(&L, FAKE_FN_write, big);
	CHECK_EQ(L.encode_r, AVA_ETOOBIG);
}

static void
handles_in_and_out(void)
{
	int32_t err;
	void *ctx = make_ctx(&err), *ctx2 = make_ctx(&err);
	char host[4] = "abc";
	uint64_t c[5] = { U(ctx), 1, 4, U(host), U(&err) };
	void *buf = (void *)(uintptr_t)loop_call(&L, FAKE_FN_create_buf, c);
	CHECK(buf != NULL && err == FAKE_OK);
	/* Host data not sent (when() is 0) yet present: zeroed storage. */
	uint64_t c2[5] = { U(ctx), 0, 4, U(host), U(&err) };
	void *buf2 = (void *)(uintptr_t)loop_call(&L, FAKE_FN_create_buf, c2);
	CHECK(buf2 != NULL && err == FAKE_OK);

	void *owner = NULL;
	uint64_t o[2] = { U(buf), U(&owner) };
	CHECK_EQ(loop_call(&L, FAKE_FN_buf_ctx, o), FAKE_OK);
	CHECK(owner == ctx);

	void *list[2] = { ctx, ctx2 };
	uint64_t u[2] = { 2, U(list) };
	CHECK_EQ(loop_call(&L, FAKE_FN_use_ctxs, u), FAKE_OK);
	list[1] = buf;  /* wrong type inside an array */
	CHECK_EQ((int64_t)loop_call(&L, FAKE_FN_use_ctxs, u), FAKE_E_CTX);

	/* Kernel-style arguments: an object, plain bytes, NULL. */
	uint64_t a[4] = { U(ctx), 0, sizeof(void *), U(&buf) };
	CHECK_EQ(loop_call(&L, FAKE_FN_set_arg, a), FAKE_OK);
	uint64_t plain = 0x1122334455667788ull;
	uint64_t a2[4] = { U(ctx), 1, 8, U(&plain) };
	CHECK_EQ(loop_call(&L, FAKE_FN_set_arg, a2), FAKE_OK);
	uint64_t a3[4] = { U(ctx), 2, 16, 0 };
	CHECK_EQ(loop_call(&L, FAKE_FN_set_arg, a3), FAKE_OK);

	uint64_t rb[1] = { U(buf) };
	CHECK_EQ(loop_call(&L, FAKE_FN_release_buf, rb), FAKE_OK);
	rb[0] = U(buf2);
	CHECK_EQ(loop_call(&L, FAKE_FN_release_buf, rb), FAKE_OK);
}

static void
typed_out_buffers(void)
{
	int32_t err;
	void *ctx = make_ctx(&err);
	void *got[2] = { 0 };
	uint64_t size_ret;
	uint64_t v[5] = { U(ctx), FAKE_PARAM_PLATS, sizeof(got), U(got),
			  U(&size_ret) };
	CHECK_EQ(loop_call(&L, FAKE_FN_ctx_info, v), FAKE_OK);
	CHECK(got[0] == plat[0] && got[1] == plat[1]);
	intptr_t props[3] = { 0 };
	uint64_t w[5] = { U(ctx), FAKE_PARAM_PROPS, sizeof(props), U(props),
			  U(&size_ret) };
	CHECK_EQ(loop_call(&L, FAKE_FN_ctx_info, w), FAKE_OK);
	CHECK(props[0] == FAKE_KEY_PLAT && (void *)props[1] == plat[1] &&
	      props[2] == 0);
}

static void
strings_and_scalars(void)
{
	int32_t err;
	void *ctx = make_ctx(&err);
	const char *srcs[2] = { "abc", "hello" };
	uint64_t v[4] = { U(ctx), 2, U(srcs), 0 };
	CHECK_EQ(loop_call(&L, FAKE_FN_sources, v), FAKE_OK);
	uint64_t lens[2] = { 2, 0 };
	uint64_t w[4] = { U(ctx), 2, U(srcs), U(lens) };
	CHECK_EQ(loop_call(&L, FAKE_FN_sources, w), FAKE_OK);

	uint64_t n[1] = { (uint64_t)-5 };
	CHECK_EQ((int32_t)loop_call(&L, FAKE_FN_negate, n), 5);
	n[0] = 7;
	CHECK_EQ((int64_t)loop_call(&L, FAKE_FN_negate, n), -7);
	/* Only the low 32 bits of a 4-byte scalar travel. */
	n[0] = 0xffffffff00000003ull;
	CHECK_EQ((int64_t)loop_call(&L, FAKE_FN_negate, n), -3);

	uint64_t o[1] = { 7 };
	CHECK_EQ(loop_call(&L, FAKE_FN_override, o), 42);

	static int ud;
	uint64_t b[3] = { U(ctx), U(strings_and_scalars), U(&ud) };
	CHECK_EQ(loop_call(&L, FAKE_FN_build, b), 0);  /* server saw NULLs */
}

static void
rejects(void)
{
	struct ava_buf b;
	ava_buf_init(&b);
	const struct ava_fn_desc *fn = ava_api_fn(&fake_api, FAKE_FN_create_buf);
	CHECK_EQ(ava_marshal_reply_reject(fn, FAKE_E_CTX, &b), 0);
	/* ret 0 (a handle), then the error out-argument. */
	CHECK_EQ(b.len, 16);
	CHECK_EQ((int64_t)ava_wire_get_le(b.data + 8, 8), FAKE_E_CTX);
	ava_buf_finish(&b);
	CHECK(ava_api_fn(&fake_api, FAKE_FN_COUNT) == NULL);
}

/* Build a payload of u64 words. */
#define RAW(...) ((const uint64_t[]){ __VA_ARGS__ })
#define RAWN(...) sizeof((const uint64_t[]){ __VA_ARGS__ })

static int
raw(uint32_t fn, const uint64_t *w, size_t n)
{
	return loop_decode_raw(&L, fn, w, n);
}

static void
malformed(void)
{
	int32_t err;
	void *ctx = make_ctx(&err);
	uint64_t id;
	CHECK(ava_registry_id(&L.reg, ctx, &id));
	/* write: nbytes must equal size. */
	CHECK_EQ(raw(FAKE_FN_write, RAW(id, 8, 8, 0), RAWN(id, 8, 8, 0)), 0);
	CHECK_EQ(raw(FAKE_FN_write, RAW(id, 8, 16, 0, 0),
		     RAWN(id, 8, 16, 0, 0)), AVA_EPROTO);
	CHECK_EQ(raw(FAKE_FN_write, RAW(id, 8, 8), RAWN(id, 8, 8)),
		 AVA_EPROTO);                                   /* truncated */
	CHECK_EQ(raw(FAKE_FN_write, RAW(id, 8, 8, 0, 0),
		     RAWN(id, 8, 8, 0, 0)), AVA_EPROTO);        /* trailing */
	CHECK_EQ(raw(FAKE_FN_write, RAW(id, UINT64_MAX - 1, UINT64_MAX - 1),
		     RAWN(id, UINT64_MAX - 1, UINT64_MAX - 1)), AVA_EPROTO);
	CHECK_EQ(raw(FAKE_FN_write, RAW(id), 7), AVA_EPROTO);
	/* string without its NUL, and an empty one. */
	CHECK_EQ(raw(FAKE_FN_set_name, RAW(id, 3, 0x636261),
		     RAWN(id, 3, 0x636261)), AVA_EPROTO);
	CHECK_EQ(raw(FAKE_FN_set_name, RAW(id, 0), RAWN(id, 0)), AVA_EPROTO);
	/* handle arrays: count differs from the expression; huge count. */
	CHECK_EQ(raw(FAKE_FN_use_ctxs, RAW(2, 1, id), RAWN(2, 1, id)),
		 AVA_EPROTO);
	CHECK_EQ(raw(FAKE_FN_use_ctxs, RAW(1, 1ull << 60, id),
		     RAWN(1, 1ull << 60, id)), AVA_EPROTO);
	/* out capacity beyond the frame limit is refused, not allocated. */
	CHECK_EQ(raw(FAKE_FN_read, RAW(id, 1ull << 40, 1, 0),
		     RAWN(id, 1ull << 40, 1, 0)), AVA_ETOOBIG);
	CHECK_EQ(raw(FAKE_FN_read, RAW(id, 8, 2, 0), RAWN(id, 8, 2, 0)),
		 AVA_EPROTO);                                   /* present=2 */
	/* kernel args: bad is_handle, id with the wrong size, stale id. */
	CHECK_EQ(raw(FAKE_FN_set_arg, RAW(id, 0, 8, 8, 2, 0),
		     RAWN(id, 0, 8, 8, 2, 0)), AVA_EPROTO);
	CHECK_EQ(raw(FAKE_FN_set_arg, RAW(id, 0, 4, 4, 1, id),
		     RAWN(id, 0, 4, 4, 1, id)), AVA_EPROTO);
	CHECK_EQ(raw(FAKE_FN_set_arg, RAW(id, 0, 8, 8, 1, id + 1),
		     RAWN(id, 0, 8, 8, 1, id + 1)), AVA_EHANDLE);
	/* property lists: unterminated, even length, zero length. */
	CHECK_EQ(raw(FAKE_FN_create_ctx, RAW(2, 5, 6, 1), RAWN(2, 5, 6, 1)),
		 AVA_EPROTO);
	CHECK_EQ(raw(FAKE_FN_create_ctx, RAW(3, 5, 6, 1, 1),
		     RAWN(3, 5, 6, 1, 1)), AVA_EPROTO);
	CHECK_EQ(raw(FAKE_FN_create_ctx, RAW(0, 1), RAWN(0, 1)), AVA_EPROTO);
	/* user data must not travel. */
	CHECK_EQ(raw(FAKE_FN_build, RAW(id, 1, 5), RAWN(id, 1, 5)),
		 AVA_EPROTO);
	/* buffers: a count the frame cannot hold; a length mismatch. */
	CHECK_EQ(raw(FAKE_FN_sources, RAW(id, 2, 1ull << 40),
		     RAWN(id, 2, 1ull << 40)), AVA_EPROTO);
	CHECK_EQ(raw(FAKE_FN_sources,
		     RAW(id, 1, 1, 2, 0x6261, 8, 3),
		     RAWN(id, 1, 1, 2, 0x6261, 8, 3)), AVA_EPROTO);
	CHECK_EQ(raw(FAKE_FN_sources,
		     RAW(id, 1, 1, 3, 0x6261, AVA_WIRE_NULL),
		     RAWN(id, 1, 1, 3, 0x6261, AVA_WIRE_NULL)), 0);
	CHECK_EQ(raw(FAKE_FN_sources,
		     RAW(id, 1, 1, 2, 0x6261, AVA_WIRE_NULL),
		     RAWN(id, 1, 1, 2, 0x6261, AVA_WIRE_NULL)), AVA_EPROTO);
	/* A foreign or forged handle. */
	CHECK_EQ(raw(FAKE_FN_retain_ctx, RAW(id ^ (1ull << 40)),
		     RAWN(id ^ (1ull << 40))), AVA_EHANDLE);
}

/* Traits skip loops: each must be there exactly where its arguments are
 * (a missing REFS would leave refcounts behind, a missing OUT the REPLY
 * short, a missing WRITES a checkpoint stale), and a function outside the
 * table gets them all. */
static void
traits(void)
{
	static const struct {
		int fn;
		uint8_t want;
	} cases[] = {
		{ FAKE_FN_retain_ctx, AVA_TRAIT_REFS },
		{ FAKE_FN_release_buf, AVA_TRAIT_REFS },
		{ FAKE_FN_set_arg, 0 },
		{ FAKE_FN_write, AVA_TRAIT_WRITES },
		{ FAKE_FN_build, 0 },            /* an ON_RETURN callback */
		{ FAKE_FN_read, AVA_TRAIT_OUT },
		{ FAKE_FN_ctx_info, AVA_TRAIT_OUT },
		{ FAKE_FN_inout, AVA_TRAIT_OUT },
		{ FAKE_FN_create_ctx, AVA_TRAIT_OUT },
		{ FAKE_FN_sources, AVA_TRAIT_BUFS },
		{ FAKE_FN_override, AVA_TRAIT_OVERRIDE },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct ava_fn_desc *fn = &fake_api.fns[cases[k].fn];
		CHECK_EQ(ava_marshal_traits(&fake_api, fn), cases[k].want);
		/* The second lookup comes from the table. */
		CHECK_EQ(ava_marshal_traits(&fake_api, fn), cases[k].want);
	}
	struct ava_fn_desc stray = fake_api.fns[FAKE_FN_set_arg];
	CHECK_EQ(ava_marshal_traits(&fake_api, &stray), AVA_TRAIT_ALL);
	stray.id = FAKE_FN_COUNT + 5;
	CHECK_EQ(ava_marshal_traits(&fake_api, &stray), AVA_TRAIT_ALL);
}

int
main(void)
{
	loop_init(&L);
	RUN(platforms);
	RUN(contexts_and_refcounts);
	RUN(buffers);
	RUN(handles_in_and_out);
	RUN(typed_out_buffers);
	RUN(strings_and_scalars);
	RUN(rejects);
	RUN(malformed);
	RUN(traits);
	loop_finish(&L);
	fake_cleanup();
	return 0;
}
