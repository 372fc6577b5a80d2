#include <stdlib.h>
#include <string.h>

#include "fake-api.h"

/* ---- expressions -------------------------------------------------------- */

static uint64_t ev0(const uint64_t *v, const uint64_t *o) { (void)o; return v[0]; }
static uint64_t ev1(const uint64_t *v, const uint64_t *o) { (void)o; return v[1]; }
static uint64_t ev2(const uint64_t *v, const uint64_t *o) { (void)o; return v[2]; }
static uint64_t out2(const uint64_t *v, const uint64_t *o) { (void)v; return o[2]; }
static uint64_t out3(const uint64_t *v, const uint64_t *o) { (void)v; return o[3]; }
static uint64_t out4(const uint64_t *v, const uint64_t *o) { (void)v; return o[4]; }
static uint64_t flag1(const uint64_t *v, const uint64_t *o) { (void)o; return v[1] & 1; }

#define SCALAR(n, sz, fl) { .name = n, .kind = AVA_ARG_SCALAR, \
	.scalar_size = sz, .flags = fl, .lengths_arg = -1, .typed_by = -1, \
	.userdata_arg = -1 }
#define HANDLE(n, t, fl) { .name = n, .kind = AVA_ARG_HANDLE, \
	.handle_type = t, .flags = fl, .lengths_arg = -1, .typed_by = -1, \
	.userdata_arg = -1 }
#define OUTSCALAR(n, sz, fl) { .name = n, .kind = AVA_ARG_OUT_SCALAR, \
	.scalar_size = sz, .flags = fl, .lengths_arg = -1, .typed_by = -1, \
	.userdata_arg = -1 }
#define BUF(n, k, cnt, fil) { .name = n, .kind = k, .elem_size = 1, \
	.count = cnt, .filled = fil, .lengths_arg = -1, .typed_by = -1, \
	.userdata_arg = -1 }

static const struct ava_prop_handle plat_key[] = {
	{ .key = FAKE_KEY_PLAT, .handle_type = FAKE_H_PLAT },
};

static const struct ava_typed_rule info_rules[] = {
	{ .key = FAKE_PARAM_PLATS, .handle_type = FAKE_H_PLAT },
	{ .key = FAKE_PARAM_PROPS, .handle_type = FAKE_H_PLAT, .props = true },
};

static const struct ava_arg_desc a_get_plats[] = {
	SCALAR("n", 4, 0),
	{ .name = "plats", .kind = AVA_ARG_OUT_HANDLES,
	  .handle_type = FAKE_H_PLAT, .count = ev0, .filled = out2,
	  .lengths_arg = -1, .typed_by = -1, .userdata_arg = -1 },
	OUTSCALAR("num", 4, 0),
};
static const struct ava_arg_desc a_create_ctx[] = {
	{ .name = "props", .kind = AVA_ARG_IN_PROPS, .prop_size = 8,
	  .nprop_handles = 1, .prop_handles = plat_key, .lengths_arg = -1,
	  .typed_by = -1, .userdata_arg = -1 },
	OUTSCALAR("err", 4, AVA_ARGF_ERRCODE | AVA_ARGF_SIGNED),
};
static const struct ava_arg_desc a_retain[] = {
	HANDLE("ctx", FAKE_H_CTX, AVA_ARGF_RETAINS) };
static const struct ava_arg_desc a_release[] = {
	HANDLE("ctx", FAKE_H_CTX, AVA_ARGF_RELEASES) };
static const struct ava_arg_desc a_write[] = {
	HANDLE("ctx", FAKE_H_CTX, AVA_ARGF_WRITES), SCALAR("size", 8, 0),
	BUF("data", AVA_ARG_IN_BUF, ev1, NULL),
};
static const struct ava_arg_desc a_read[] = {
	HANDLE("ctx", FAKE_H_CTX, 0), SCALAR("size", 8, 0),
	BUF("data", AVA_ARG_OUT_BUF, ev1, out3), OUTSCALAR("size_ret", 8, 0),
};
static const struct ava_arg_desc a_set_name[] = {
	HANDLE("ctx", FAKE_H_CTX, 0),
	{ .name = "name", .kind = AVA_ARG_IN_STRING, .lengths_arg = -1,
	  .typed_by = -1, .userdata_arg = -1 },
};
static const struct ava_arg_desc a_set_arg[] = {
	HANDLE("ctx", FAKE_H_CTX, 0), SCALAR("idx", 4, 0),
	SCALAR("size", 8, 0), BUF("value", AVA_ARG_IN_KARG, ev2, NULL),
};
static const struct ava_arg_desc a_ctx_info[] = {
	HANDLE("ctx", FAKE_H_CTX, 0), SCALAR("param", 4, 0),
	SCALAR("size", 8, 0),
	{ .name = "value", .kind = AVA_ARG_OUT_BUF, .elem_size = 1,
	  .count = ev2, .filled = out4, .lengths_arg = -1, .typed_by = 1,
	  .ntyped = 2, .typed = info_rules, .nprop_handles = 1,
	  .prop_handles = plat_key, .userdata_arg = -1 },
	OUTSCALAR("size_ret", 8, 0),
};
static const struct ava_arg_desc a_sources[] = {
	HANDLE("ctx", FAKE_H_CTX, 0), SCALAR("count", 4, 0),
	{ .name = "strs", .kind = AVA_ARG_IN_BUFS, .elem_size = 1,
	  .count = ev1, .lengths_arg = 3, .typed_by = -1,
	  .flags = AVA_ARGF_NUL_TERMINATED, .userdata_arg = -1 },
	{ .name = "lengths", .kind = AVA_ARG_IN_BUF, .elem_size = 8,
	  .count = ev1, .lengths_arg = -1, .typed_by = -1,
	  .userdata_arg = -1 },
};
static const struct ava_arg_desc a_negate[] = {
	SCALAR("x", 4, AVA_ARGF_SIGNED) };
static const struct ava_arg_desc a_build[] = {
	HANDLE("ctx", FAKE_H_CTX, 0),
	{ .name = "cb", .kind = AVA_ARG_CALLBACK, .userdata_arg = 2,
	  .cb_policy = AVA_CB_ON_RETURN, .lengths_arg = -1, .typed_by = -1 },
	{ .name = "ud", .kind = AVA_ARG_USERDATA, .lengths_arg = -1,
	  .typed_by = -1, .userdata_arg = -1 },
};
static const struct ava_arg_desc a_create_buf[] = {
	HANDLE("ctx", FAKE_H_CTX, 0), SCALAR("flags", 8, 0),
	SCALAR("size", 8, 0),
	{ .name = "host", .kind = AVA_ARG_IN_BUF, .elem_size = 1,
	  .count = ev2, .when = flag1, .lengths_arg = -1, .typed_by = -1,
	  .userdata_arg = -1 },
	OUTSCALAR("err", 4, AVA_ARGF_ERRCODE | AVA_ARGF_SIGNED),
};
static const struct ava_arg_desc a_buf_ctx[] = {
	HANDLE("buf", FAKE_H_BUF, 0),
	{ .name = "ctx", .kind = AVA_ARG_OUT_HANDLE, .handle_type = FAKE_H_CTX,
	  .lengths_arg = -1, .typed_by = -1, .userdata_arg = -1 },
};
static const struct ava_arg_desc a_use_ctxs[] = {
	SCALAR("n", 4, 0),
	{ .name = "list", .kind = AVA_ARG_IN_HANDLES, .handle_type = FAKE_H_CTX,
	  .count = ev0, .lengths_arg = -1, .typed_by = -1, .userdata_arg = -1 },
};
static const struct ava_arg_desc a_release_buf[] = {
	HANDLE("buf", FAKE_H_BUF, AVA_ARGF_RELEASES) };
static const struct ava_arg_desc a_override[] = {
	{ .name = "x", .kind = AVA_ARG_SCALAR, .scalar_size = 4,
	  .flags = AVA_ARGF_OVERRIDE, .override_value = 42, .lengths_arg = -1,
	  .typed_by = -1, .userdata_arg = -1 },
};
static const struct ava_arg_desc a_inout[] = {
	SCALAR("n", 8, 0), BUF("data", AVA_ARG_INOUT_BUF, ev0, NULL),
};
/* copy(n, src, dst): dst[i] = src[n - 1 - i] ^ 0x5a, any size. */
static const struct ava_arg_desc a_copy[] = {
	SCALAR("n", 8, 0), BUF("src", AVA_ARG_IN_BUF, ev0, NULL),
	BUF("dst", AVA_ARG_OUT_BUF, ev0, NULL),
};

#define FN(i, nm, a, rk, fl) [i] = { .id = i, .name = nm, \
	.nargs = sizeof(a) / sizeof(a[0]), .args = a, .ret = rk, \
	.errcode_arg = -1, .flags = fl }

static const struct ava_fn_desc fns[FAKE_FN_COUNT] = {
	FN(FAKE_FN_get_plats, "fake_get_plats", a_get_plats, AVA_RET_STATUS, 0),
	[FAKE_FN_create_ctx] = { .id = FAKE_FN_create_ctx,
		.name = "fake_create_ctx", .nargs = 2, .args = a_create_ctx,
		.ret = AVA_RET_HANDLE, .ret_handle_type = FAKE_H_CTX,
		.errcode_arg = 1, .flags = AVA_FN_CREATES },
	FN(FAKE_FN_retain_ctx, "fake_retain_ctx", a_retain, AVA_RET_STATUS, 0),
	FN(FAKE_FN_release_ctx, "fake_release_ctx", a_release,
	   AVA_RET_STATUS, 0),
	FN(FAKE_FN_write, "fake_write", a_write, AVA_RET_STATUS,
	   AVA_FN_ASYNC),
	FN(FAKE_FN_read, "fake_read", a_read, AVA_RET_STATUS, 0),
	FN(FAKE_FN_set_name, "fake_set_name", a_set_name, AVA_RET_STATUS, 0),
	FN(FAKE_FN_set_arg, "fake_set_arg", a_set_arg, AVA_RET_STATUS, 0),
	FN(FAKE_FN_ctx_info, "fake_ctx_info", a_ctx_info, AVA_RET_STATUS, 0),
	FN(FAKE_FN_sources, "fake_sources", a_sources, AVA_RET_STATUS, 0),
	FN(FAKE_FN_negate, "fake_negate", a_negate, AVA_RET_SCALAR, 0),
	[FAKE_FN_unsupported] = { .id = FAKE_FN_unsupported,
		.name = "fake_unsupported", .ret = AVA_RET_STATUS,
		.errcode_arg = -1, .flags = AVA_FN_UNSUPPORTED,
		.unsupported_error = FAKE_E_UNSUPPORTED },
	FN(FAKE_FN_build, "fake_build", a_build, AVA_RET_STATUS, 0),
	[FAKE_FN_create_buf] = { .id = FAKE_FN_create_buf,
		.name = "fake_create_buf", .nargs = 5, .args = a_create_buf,
		.ret = AVA_RET_HANDLE, .ret_handle_type = FAKE_H_BUF,
		.errcode_arg = 4, .flags = AVA_FN_CREATES },
	FN(FAKE_FN_buf_ctx, "fake_buf_ctx", a_buf_ctx, AVA_RET_STATUS, 0),
	FN(FAKE_FN_use_ctxs, "fake_use_ctxs", a_use_ctxs, AVA_RET_STATUS, 0),
	FN(FAKE_FN_release_buf, "fake_release_buf", a_release_buf,
	   AVA_RET_STATUS, 0),
	FN(FAKE_FN_override, "fake_override", a_override, AVA_RET_SCALAR, 0),
	FN(FAKE_FN_inout, "fake_inout", a_inout, AVA_RET_STATUS, 0),
	FN(FAKE_FN_copy, "fake_copy", a_copy, AVA_RET_STATUS, 0),
};

static const struct ava_handle_desc handles[FAKE_H_COUNT] = {
	[FAKE_H_PLAT] = { .name = "fake_plat", .tag = 0x11,
		.flags = AVA_HANDLE_STATIC, .retain_fn = -1, .release_fn = -1,
		.invalid_error = FAKE_E_PLATFORM },
	[FAKE_H_CTX] = { .name = "fake_ctx", .tag = 0x12,
		.retain_fn = FAKE_FN_retain_ctx,
		.release_fn = FAKE_FN_release_ctx,
		.invalid_error = FAKE_E_CTX },
	[FAKE_H_BUF] = { .name = "fake_buf", .tag = 0x13, .retain_fn = -1,
		.release_fn = FAKE_FN_release_buf, .invalid_error = FAKE_E_BUF },
};

const struct ava_api_desc fake_api = {
	.name = "fake", .api_id = 7, .spec_hash = 0xFA4E0001u,
	.success = FAKE_OK, .transport_error = FAKE_E_TRANSPORT,
	.unsupported_error = FAKE_E_UNSUPPORTED,
	.nfns = FAKE_FN_COUNT, .fns = fns,
	.nhandles = FAKE_H_COUNT, .handles = handles,
};
