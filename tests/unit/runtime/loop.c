#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "fake-api.h"
#include "loop.h"
#include "marshal-split.h"
#include "rt-test.h"

const char loop_dispatch[16] = "dispatch";

#define FORGED UINT64_C(0x00ffffffffffffff)

static int
g_to_wire(void *ctx, uint16_t type, uint64_t local, bool creates, uint64_t *id)
{
	struct loop *l = ctx;
	if (!ava_registry_id(&l->reg, (void *)(uintptr_t)local, id))
		*id = FORGED;
	return 0;
}

static int
g_from_wire(void *ctx, uint16_t type, uint64_t id, bool creates,
	    uint64_t *local, uint16_t *type_out)
{
	struct loop *l = ctx;
	struct ava_guest_obj *o;
	int r = ava_registry_obj(&l->reg, type, id, creates, &o);
	*local = (uintptr_t)o;
	return r;
}

static bool
g_karg(void *ctx, const void *p, size_t n, uint64_t *id)
{
	struct loop *l = ctx;
	void *obj;
	memcpy(&obj, p, sizeof(obj));
	return ava_registry_id(&l->reg, obj, id);
}

static void
g_ref(void *ctx, uint64_t id, int delta)
{
	struct loop *l = ctx;
	ava_registry_ref(&l->reg, id, delta);
}

static int
s_to_wire(void *ctx, uint16_t type, uint64_t real, bool creates, uint64_t *id)
{
	struct loop *l = ctx;
	return ava_handle_table_intern(l->tab, type, real, creates, id);
}

static int
s_from_wire(void *ctx, uint16_t type, uint64_t id, bool creates,
	    uint64_t *real, uint16_t *type_out)
{
	struct loop *l = ctx;
	return ava_handle_table_lookup(l->tab, id, type, real, type_out);
}

static void
s_ref(void *ctx, uint64_t id, int delta)
{
	struct loop *l = ctx;
	ava_handle_table_ref(l->tab, id, delta, NULL);
}

void
loop_init(struct loop *l)
{
	memset(l, 0, sizeof(*l));
	ava_registry_init(&l->reg, &fake_api, loop_dispatch);
	l->gops = (struct ava_handle_ops){ g_to_wire, g_from_wire, g_karg,
					   g_ref, l };
	l->sops = (struct ava_handle_ops){ s_to_wire, s_from_wire, NULL,
					   s_ref, l };
	CHECK_EQ(ava_handle_table_create(&fake_api, 0x77, &l->tab), 0);
}

void
loop_finish(struct loop *l)
{
	ava_handle_table_destroy(l->tab);
	ava_registry_finish(&l->reg);
}

/* An exact-size heap copy, so ASan sees any read past the payload. */
static uint8_t *
copy(const struct ava_buf *b)
{
	uint8_t *p = malloc(b->len ? b->len : 1);
	memcpy(p, b->data, b->len);
	return p;
}

static void
serve(struct loop *l, const struct ava_fn_desc *fn, struct ava_buf *call,
      struct ava_buf *reply)
{
	struct ava_call c;
	uint8_t *p = copy(call);
	l->decode_r = ava_marshal_call_decode(&fake_api, fn, p, call->len,
					      &l->sops, &c);
	if (l->decode_r == 0) {
		ava_marshal_call_override(&c);
		uint64_t ret = fake_server.invoke(fn->id, c.v, NULL);
		CHECK_EQ(ava_marshal_reply_encode(&c, ret, &l->sops, reply), 0);
	} else if (l->decode_r == AVA_EHANDLE) {
		int64_t err = fake_api.handles[c.bad_type].invalid_error;
		CHECK_EQ(ava_marshal_reply_reject(fn, err, reply), 0);
	}
	ava_call_finish(&c);
	free(p);
}

/*
 * What the journal keeps of a payload must give the payload back: split
 * it into skeleton and spans, join them, compare. A skeleton cut short
 * anywhere, or missing its last span, must be refused, never misread:
 * replay joins skeletons read from journal files.
 */
static void
check_split_join(const struct ava_fn_desc *fn, bool reply,
		 const struct ava_buf *payload)
{
	uint8_t *p = malloc(payload->len ? payload->len : 1);
	memcpy(p, payload->data, payload->len);
	struct ava_buf skel, back;
	struct ava_span spans[AVA_MARSHAL_MAX_SPANS];
	uint32_t n = 0;
	ava_buf_init(&skel);
	ava_buf_init(&back);
	CHECK_EQ(ava_marshal_split(fn, reply, p, payload->len, &skel, spans,
				   AVA_MARSHAL_MAX_SPANS, &n), 0);
	CHECK_EQ(ava_marshal_join(fn, reply, skel.data, skel.len, spans, n,
				  &back), 0);
	CHECK_EQ(back.len, payload->len);
	CHECK(back.len == 0 || memcmp(back.data, payload->data, back.len) == 0);
	for (size_t cut = 0; cut < skel.len; cut += 8) {
		ava_buf_reset(&back);
		CHECK(ava_marshal_join(fn, reply, skel.data, cut, spans, n,
				       &back) != 0);
	}
	if (n > 0) {
		ava_buf_reset(&back);
		CHECK(ava_marshal_join(fn, reply, skel.data, skel.len, spans,
				       n - 1, &back) != 0);
	}
	ava_buf_finish(&skel);
	ava_buf_finish(&back);
	free(p);
}

uint64_t
loop_call(struct loop *l, uint32_t id, uint64_t *v)
{
	const struct ava_fn_desc *fn = ava_api_fn(&fake_api, id);
	struct ava_buf call, reply;
	uint64_t ev[AVA_MAX_ARGS], outv[AVA_MAX_ARGS], ret = 0xbad;
	ava_buf_init(&call);
	ava_buf_init(&reply);
	l->encode_r = ava_marshal_call_encode(&fake_api, fn, v, &l->gops, ev,
					      &call);
	l->decode_r = -1;
	if (l->encode_r == 0) {
		check_split_join(fn, false, &call);
		serve(l, fn, &call, &reply);
	}
	if (l->decode_r == 0 || l->decode_r == AVA_EHANDLE) {
		check_split_join(fn, true, &reply);
		uint8_t *p = copy(&reply);
		CHECK_EQ(ava_marshal_reply_decode(&fake_api, fn, v, ev,
						  &l->gops, p, reply.len,
						  &ret, outv), 0);
		free(p);
	}
	ava_buf_finish(&call);
	ava_buf_finish(&reply);
	return ret;
}

int
loop_decode_raw(struct loop *l, uint32_t id, const void *p, size_t n)
{
	struct ava_call c;
	uint8_t *q = malloc(n ? n : 1);
	memcpy(q, p, n);
	int r = ava_marshal_call_decode(&fake_api, ava_api_fn(&fake_api, id),
					q, n, &l->sops, &c);
	ava_call_finish(&c);
	free(q);
	return r;
}
