/*
 * fake-driver.c - the "real" API behind fake_api: what invoke() calls on
 * the server side of the tests. It checks its inputs the way a vendor
 * library would, so tests can see NULL-ness and sizes arrive intact.
 */
#include <stdlib.h>
#include <string.h>

#include "fake-api.h"
#include "marshal.h"

struct fake_obj fake_plats[FAKE_NPLATS] = {
	{ .kind = FAKE_H_PLAT, .name = "plat0" },
	{ .kind = FAKE_H_PLAT, .name = "plat1" },
};

/* Every live object, so fake_cleanup() can free what tests leave. */
static struct fake_obj *objs[1024];
static int live;

int
fake_live_objects(void)
{
	return live;
}

void
fake_cleanup(void)
{
	for (int i = 0; i < live; i++)
		free(objs[i]);
	live = 0;
}

#define P(x) ((void *)(uintptr_t)(x))
#define OBJ(x) ((struct fake_obj *)(uintptr_t)(x))

static struct fake_obj *
new_obj(int kind)
{
	struct fake_obj *o = calloc(1, sizeof(*o));
	o->kind = kind;
	o->refs = 1;
	if (live < 1024)
		objs[live++] = o;
	return o;
}

static int64_t
unref(struct fake_obj *o, int kind)
{
	if (o == NULL || o->kind != kind)
		return kind == FAKE_H_CTX ? FAKE_E_CTX : FAKE_E_BUF;
	if (--o->refs > 0)
		return FAKE_OK;
	for (int i = 0; i < live; i++)
		if (objs[i] == o)
			objs[i] = objs[--live];
	free(o);
	return FAKE_OK;
}

static int64_t
get_plats(const uint64_t *v)
{
	uint32_t n = (uint32_t)v[0];
	struct fake_obj **out = P(v[1]);
	if ((n == 0 && out != NULL) || (out == NULL && v[2] == 0))
		return FAKE_E_VALUE;
	for (uint32_t i = 0; out != NULL && i < n && i < FAKE_NPLATS; i++)
		out[i] = &fake_plats[i];
	if (v[2] != 0)
		*(uint32_t *)P(v[2]) = FAKE_NPLATS;
	return FAKE_OK;
}

static uint64_t
create_ctx(const uint64_t *v)
{
	const intptr_t *props = P(v[0]);
	int32_t *err = P(v[1]);
	int32_t e = FAKE_OK;
	if (props == NULL || props[0] != FAKE_KEY_PLAT ||
	    OBJ(props[1])->kind != FAKE_H_PLAT)
		e = FAKE_E_PLATFORM;
	if (err != NULL)
		*err = e;
	return e == FAKE_OK ? (uintptr_t)new_obj(FAKE_H_CTX) : 0;
}

static int64_t
read_ctx(const uint64_t *v)
{
	struct fake_obj *o = OBJ(v[0]);
	uint64_t size = v[1];
	if (size > sizeof(o->data) || (v[2] == 0 && v[3] == 0))
		return FAKE_E_VALUE;
	/* Report 5 bytes filled, like a short string. */
	if (v[2] != 0)
		memcpy(P(v[2]), o->data, size < 5 ? size : 5);
	if (v[3] != 0)
		*(uint64_t *)P(v[3]) = 5;
	return FAKE_OK;
}

static int64_t
ctx_info(const uint64_t *v)
{
	uint64_t size = v[2];
	uintptr_t vals[3] = { (uintptr_t)&fake_plats[0],
			      (uintptr_t)&fake_plats[1], 0 };
	if (v[1] == FAKE_PARAM_PROPS) {
		vals[0] = FAKE_KEY_PLAT;
		vals[1] = (uintptr_t)&fake_plats[1];
		vals[2] = 0;
	}
	size_t n = v[1] == FAKE_PARAM_PROPS ? 3 * sizeof(uintptr_t)
					   : 2 * sizeof(uintptr_t);
	if (v[3] != 0 && size < n)
		return FAKE_E_VALUE;
	if (v[3] != 0)
		memcpy(P(v[3]), vals, n);
	if (v[4] != 0)
		*(uint64_t *)P(v[4]) = n;
	return FAKE_OK;
}

static int64_t
sources(const uint64_t *v)
{
	const char **s = P(v[2]);
	const uint64_t *lens = P(v[3]);
	if (s == NULL)
		return FAKE_E_VALUE;
	for (uint32_t i = 0; i < (uint32_t)v[1]; i++)
		OBJ(v[0])->nsrc += lens && lens[i] ? lens[i] : strlen(s[i]);
	return FAKE_OK;
}

static uint64_t
create_buf(const uint64_t *v)
{
	int32_t *err = P(v[4]);
	if (v[2] > sizeof(((struct fake_obj *)0)->data)) {
		*err = FAKE_E_VALUE;
		return 0;
	}
	struct fake_obj *b = new_obj(FAKE_H_BUF);
	b->ctx = OBJ(v[0]);
	if (v[3] != 0)
		memcpy(b->data, P(v[3]), v[2]);
	if (err != NULL)
		*err = FAKE_OK;
	return (uintptr_t)b;
}

static int64_t
inout(const uint64_t *v)
{
	uint8_t *d = P(v[1]);
	for (uint64_t i = 0; d != NULL && i < v[0]; i++)
		d[i] = (uint8_t)(2 * d[i]);
	return d ? FAKE_OK : FAKE_E_VALUE;
}

/* A streamed in-buffer (marshal.h, "Streams"), all of it, into dst. */
static int64_t
take_all(uint8_t *dst, uint64_t n)
{
	for (uint64_t done = 0; done < n;) {
		const void *at;
		int r = ava_marshal_stream_take(true, &at);
		if (r <= 0)
			return FAKE_E_TRANSPORT;
		memcpy(dst + done, at, (size_t)r);
		ava_marshal_stream_release((size_t)r);
		done += (uint64_t)r;
	}
	return FAKE_OK;
}

/* dst[i] = src[n - 1 - i] ^ 0x5a into a streamed out-buffer, piece by
 * piece; stop_at: publish only that much (a driver that fails halfway). */
static int64_t
put_all(const uint8_t *src, uint64_t n, uint64_t stop_at)
{
	for (uint64_t done = 0; done < n && done < stop_at;) {
		void *at;
		int r = ava_marshal_stream_reserve(true, &at);
		if (r <= 0)
			return FAKE_E_TRANSPORT;
		uint8_t *d = at;
		for (int i = 0; i < r; i++)
			d[i] = src[n - 1 - (done + (uint64_t)i)] ^ 0x5a;
		ava_marshal_stream_publish((size_t)r);
		done += (uint64_t)r;
	}
	return stop_at < n ? FAKE_E_BUF : FAKE_OK;
}

/* Streams in and out, as a hook that knows of them does; a streamed
 * copy of FAKE_COPY_FAIL_N bytes fails after publishing half. */
static int64_t
copy(const uint64_t *v)
{
	uint64_t n = v[0];
	const uint8_t *src = P(v[1]);
	uint8_t *dst = P(v[2]), *tmp = NULL;
	int64_t r = FAKE_OK;
	if (src == NULL || dst == NULL)
		return FAKE_E_VALUE;
	if (ava_marshal_stream_in(src, (size_t)n)) {
		if ((tmp = malloc((size_t)n)) == NULL)
			return FAKE_E_VALUE;
		r = take_all(tmp, n);
		src = tmp;
	}
	if (r == FAKE_OK && ava_marshal_stream_out(dst))
		r = put_all(src, n, n == FAKE_COPY_FAIL_N ? n / 2 : n);
	else if (r == FAKE_OK)
		for (uint64_t i = 0; i < n; i++)
			dst[i] = src[n - 1 - i] ^ 0x5a;
	free(tmp);
	return r;
}

static uint64_t
invoke(uint32_t fn, const uint64_t *v, struct ava_server_ctx *ctx)
{
	(void)ctx;
	switch (fn) {
	case FAKE_FN_get_plats: return (uint64_t)get_plats(v);
	case FAKE_FN_create_ctx: return create_ctx(v);
	case FAKE_FN_retain_ctx: OBJ(v[0])->refs++; return FAKE_OK;
	case FAKE_FN_release_ctx: return (uint64_t)unref(OBJ(v[0]), FAKE_H_CTX);
	case FAKE_FN_write:
		if (v[1] > sizeof(OBJ(v[0])->data) || v[2] == 0)
			return (uint64_t)(int64_t)FAKE_E_VALUE;
		memcpy(OBJ(v[0])->data, P(v[2]), v[1]);
		return FAKE_OK;
	case FAKE_FN_read: return (uint64_t)read_ctx(v);
	case FAKE_FN_set_name:
		if (v[1] == 0)
			return (uint64_t)(int64_t)FAKE_E_VALUE;
		strncpy(OBJ(v[0])->name, P(v[1]), sizeof(OBJ(v[0])->name) - 1);
		return FAKE_OK;
	case FAKE_FN_set_arg:
		OBJ(v[0])->arg = v[3] ? *(uint64_t *)P(v[3]) : 0;
		return FAKE_OK;
	case FAKE_FN_ctx_info: return (uint64_t)ctx_info(v);
	case FAKE_FN_sources: return (uint64_t)sources(v);
	case FAKE_FN_negate: return (uint64_t)-(int64_t)(int32_t)v[0];
	case FAKE_FN_build: return v[1] || v[2] ? (uint64_t)(int64_t)-99 : 0;
	case FAKE_FN_create_buf: return create_buf(v);
	case FAKE_FN_buf_ctx:
		*(struct fake_obj **)P(v[1]) = OBJ(v[0])->ctx;
		return FAKE_OK;
	case FAKE_FN_use_ctxs:
		for (uint32_t i = 0; i < (uint32_t)v[0]; i++)
			if (((struct fake_obj **)P(v[1]))[i]->kind != FAKE_H_CTX)
				return (uint64_t)(int64_t)FAKE_E_CTX;
		return FAKE_OK;
	case FAKE_FN_release_buf: return (uint64_t)unref(OBJ(v[0]), FAKE_H_BUF);
	case FAKE_FN_override: return v[0];
	case FAKE_FN_inout: return (uint64_t)inout(v);
	case FAKE_FN_copy: return (uint64_t)copy(v);
	}
	return (uint64_t)(int64_t)FAKE_E_UNSUPPORTED;
}

const struct ava_server_api fake_server = {
	.api = &fake_api,
	.invoke = invoke,
};
