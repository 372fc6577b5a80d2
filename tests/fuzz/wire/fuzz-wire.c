/*
 * fuzz-wire.c - libFuzzer target for the server's wire decoder: a frame
 * header, then (for a CALL of a known function of the stand-in API) the
 * full argument decoder and, if it accepts, the reply encoder over the
 * storage it set up. Nothing here may crash, hang or leak, whatever the
 * bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "ava-error.h"
#include "fake-api.h"
#include "fuzz-wire.h"
#include "marshal.h"
#include "wire.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fake_reals[3] = { 0x1000, 0x2000, 0x3000 };

struct ava_handle_table *
fuzz_table(struct fuzz_ids *ids)
{
	struct ava_handle_table *t;
	if (ava_handle_table_create(&fake_api, FUZZ_OWNER, &t) < 0)
		abort();
	ava_handle_table_intern(t, FAKE_H_PLAT, fake_reals[0], false, &ids->plat);
	ava_handle_table_intern(t, FAKE_H_CTX, fake_reals[1], true, &ids->ctx);
	ava_handle_table_intern(t, FAKE_H_BUF, fake_reals[2], true, &ids->buf);
	return t;
}

static int
to_wire(void *ctx, uint16_t type, uint64_t real, bool creates, uint64_t *id)
{
	return ava_handle_table_intern(ctx, type, real, creates, id);
}

static int
from_wire(void *ctx, uint16_t type, uint64_t id, bool creates,
	  uint64_t *real, uint16_t *type_out)
{
	return ava_handle_table_lookup(ctx, id, type, real, type_out);
}

static void
ref(void *ctx, uint64_t id, int delta)
{
	ava_handle_table_ref(ctx, id, delta, NULL);
}

static void
decode_call(const struct ava_fn_desc *fn, uint8_t *p, size_t n)
{
	struct fuzz_ids ids;
	struct ava_handle_table *t = fuzz_table(&ids);
	struct ava_handle_ops h = { to_wire, from_wire, NULL, ref, t };
	struct ava_call c;
	struct ava_buf out;
	ava_buf_init(&out);
	int r = ava_marshal_call_decode(&fake_api, fn, p, n, &h, &c);
	if (r == 0)
		ava_marshal_reply_encode(&c, 0, &h, &out);
	else if (r == AVA_EHANDLE)
		ava_marshal_reply_reject(fn, -1, &out);
	ava_call_finish(&c);
	ava_buf_finish(&out);
	ava_handle_table_destroy(t);
}

/* Each CALL of a BATCH payload (n bytes at p), as the server takes them
 * apart; each payload copied to its exact size, as for a lone CALL. */
static void
decode_batch(uint8_t *p, size_t n)
{
	struct ava_batch_reader br;
	struct ava_frame_header h;
	uint8_t *payload;
	uint64_t base;
	if (ava_batch_begin(&br, p, n, &base) < 0)
		return;
	while (ava_batch_next(&br, &h, &payload) > 0) {
		const struct ava_fn_desc *fn = ava_api_fn(&fake_api, h.fn);
		if (fn == NULL)
			continue;
		uint8_t *q = malloc(h.len ? (size_t)h.len : 1);
		memcpy(q, payload, (size_t)h.len);
		decode_call(fn, q, (size_t)h.len);
		free(q);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ava_frame_header h;
	if (ava_frame_header_decode(data, size, &h) < 0)
		return 0;
	if (h.type == AVA_MSG_BATCH && h.len == size - 40) {
		size_t n = size - AVA_FRAME_HEADER_SIZE;
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, data + AVA_FRAME_HEADER_SIZE, n);
		decode_batch(p, n);
		free(p);
		return 0;
	}
	const struct ava_fn_desc *fn = ava_api_fn(&fake_api, h.fn);
	if (h.type != AVA_MSG_CALL || fn == NULL || h.len != size - 40)
		return 0;
	/* An exact-size copy: the decoder rewrites it in place, and the
	 * sanitizer sees any access past the payload. */
	size_t n = size - AVA_FRAME_HEADER_SIZE;
	uint8_t *p = malloc(n ? n : 1);
	memcpy(p, data + AVA_FRAME_HEADER_SIZE, n);
	decode_call(fn, p, n);
	free(p);
	return 0;
}
