/*
 * make-corpus.c - writes the committed seed corpus for fuzz-wire: CALL
 * frames encoded by the real guest encoder (valid, with live ids), and a
 * few broken ones. Run by hand after a wire change:
 *   build/tests/fuzz/wire/make-wire-corpus tests/fuzz/wire/corpus
 */
#include <stdio.h>
#include <string.h>

#include "fake-api.h"
#include "fuzz-wire.h"
#include "marshal.h"
#include "wire.h"

#define U(p) ((uint64_t)(uintptr_t)(p))

static const char *dir;
static struct fuzz_ids ids;

/* Guest values are the ids themselves here. */
static int
to_wire(void *ctx, uint16_t type, uint64_t local, bool creates, uint64_t *id)
{
	*id = local;
	return 0;
}

static bool
karg_id(void *ctx, const void *p, size_t n, uint64_t *id)
{
	memcpy(id, p, 8);
	return *id == ids.buf;
}

static const struct ava_handle_ops ops = { .to_wire = to_wire,
					   .karg_id = karg_id };

static void
save(const char *name, uint32_t fn, const struct ava_buf *b)
{
	struct ava_frame_header h = { .magic = AVA_PROTOCOL_MAGIC,
		.version = AVA_PROTOCOL_VERSION, .type = AVA_MSG_CALL,
		.api = fake_api.api_id, .fn = fn, .seq = 1, .len = b->len };
	uint8_t hdr[AVA_FRAME_HEADER_SIZE];
	ava_frame_header_encode(&h, hdr);
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		return;
	}
	fwrite(hdr, 1, sizeof(hdr), f);
	fwrite(b->data, 1, b->len, f);
	fclose(f);
}

static void
call(const char *name, uint32_t fn, const uint64_t *v)
{
	struct ava_buf b;
	uint64_t ev[AVA_MAX_ARGS];
	ava_buf_init(&b);
	if (ava_marshal_call_encode(&fake_api, ava_api_fn(&fake_api, fn), v,
				    &ops, ev, &b) == 0)
		save(name, fn, &b);
	ava_buf_finish(&b);
}

static void
valid(void)
{
	uint32_t num;
	uint64_t plats[2];
	call("valid-get-plats", FAKE_FN_get_plats,
	     (uint64_t[]){ 2, U(plats), U(&num) });
	intptr_t props[3] = { FAKE_KEY_PLAT, (intptr_t)ids.plat, 0 };
	int32_t err;
	call("valid-create-ctx", FAKE_FN_create_ctx,
	     (uint64_t[]){ U(props), U(&err) });
	call("valid-write", FAKE_FN_write,
	     (uint64_t[]){ ids.ctx, 11, U("hello world") });
	char out[32];
	uint64_t size_ret;
	call("valid-read", FAKE_FN_read,
	     (uint64_t[]){ ids.ctx, 32, U(out), U(&size_ret) });
	call("valid-set-name", FAKE_FN_set_name,
	     (uint64_t[]){ ids.ctx, U("name") });
	call("valid-set-arg-handle", FAKE_FN_set_arg,
	     (uint64_t[]){ ids.ctx, 0, 8, U(&ids.buf) });
	call("valid-set-arg-local", FAKE_FN_set_arg,
	     (uint64_t[]){ ids.ctx, 1, 64, 0 });
	call("valid-ctx-info", FAKE_FN_ctx_info,
	     (uint64_t[]){ ids.ctx, FAKE_PARAM_PROPS, 64, U(out), 0 });
	const char *srcs[2] = { "abc", "kernel" };
	uint64_t lens[2] = { 2, 0 };
	call("valid-sources", FAKE_FN_sources,
	     (uint64_t[]){ ids.ctx, 2, U(srcs), U(lens) });
	call("valid-create-buf", FAKE_FN_create_buf,
	     (uint64_t[]){ ids.ctx, 1, 4, U("abc"), U(&err) });
	uint64_t list[2] = { ids.ctx, ids.ctx };
	call("valid-use-ctxs", FAKE_FN_use_ctxs, (uint64_t[]){ 2, U(list) });
	call("valid-inout", FAKE_FN_inout, (uint64_t[]){ 3, U("xyz") });
	call("valid-release-buf", FAKE_FN_release_buf,
	     (uint64_t[]){ ids.buf });
}

/* A BATCH frame of the CALLs in b (frames back to back after a base). */
static void
save_batch(const char *name, const struct ava_buf *b)
{
	struct ava_frame_header h = { .magic = AVA_PROTOCOL_MAGIC,
		.version = AVA_PROTOCOL_VERSION, .type = AVA_MSG_BATCH,
		.api = fake_api.api_id, .len = b->len };
	uint8_t hdr[AVA_FRAME_HEADER_SIZE];
	ava_frame_header_encode(&h, hdr);
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		return;
	}
	fwrite(hdr, 1, sizeof(hdr), f);
	fwrite(b->data, 1, b->len, f);
	fclose(f);
}

static void
batch_call(struct ava_buf *batch, uint32_t fn, bool async, const uint64_t *v)
{
	struct ava_buf b;
	uint64_t ev[AVA_MAX_ARGS];
	ava_buf_init(&b);
	ava_marshal_call_encode(&fake_api, ava_api_fn(&fake_api, fn), v, &ops,
				ev, &b);
	struct ava_frame_header h = { .magic = AVA_PROTOCOL_MAGIC,
		.version = AVA_PROTOCOL_VERSION, .type = AVA_MSG_CALL,
		.api = fake_api.api_id, .fn = fn, .seq = 1,
		.flags = async ? AVA_FRAME_ASYNC : 0, .len = b.len };
	ava_batch_put_frame(batch, &h, b.data, b.len);
	ava_buf_finish(&b);
}

static void
batches(void)
{
	struct ava_buf b;
	char out[32];
	ava_buf_init(&b);
	ava_buf_put_u64(&b, 0);
	batch_call(&b, FAKE_FN_write, true,
		   (uint64_t[]){ ids.ctx, 5, U("hello") });
	batch_call(&b, FAKE_FN_write, true,
		   (uint64_t[]){ ids.ctx, 3, U("bye") });
	batch_call(&b, FAKE_FN_read, false,
		   (uint64_t[]){ ids.ctx, 32, U(out), 0 });
	save_batch("valid-batch", &b);
	/* The last frame claims more bytes than the batch holds. */
	ava_wire_put_le(b.data + b.len - 8 - 4 * 8, 1000, 8);
	save_batch("bad-batch-overrun", &b);
	ava_buf_finish(&b);
}

static void
invalid(void)
{
	struct ava_buf b;
	ava_buf_init(&b);
	ava_buf_put_u64(&b, ids.ctx);
	ava_buf_put_u64(&b, 8);
	ava_buf_put_u64(&b, 16);   /* nbytes disagrees with size */
	ava_buf_put_padded(&b, "0123456789abcdef", 16);
	save("bad-write-size", FAKE_FN_write, &b);
	ava_buf_reset(&b);
	ava_buf_put_u64(&b, ids.ctx);
	ava_buf_put_u64(&b, 3);
	ava_buf_put_padded(&b, "abc", 3);   /* no NUL */
	save("bad-string", FAKE_FN_set_name, &b);
	ava_buf_reset(&b);
	ava_buf_put_u64(&b, ids.ctx ^ 0x10000000000ull);  /* foreign */
	save("bad-handle", FAKE_FN_retain_ctx, &b);
	ava_buf_reset(&b);
	ava_buf_put_u64(&b, 1);
	ava_buf_put_u64(&b, UINT64_MAX / 8);   /* a count past the frame */
	save("bad-count", FAKE_FN_use_ctxs, &b);
	ava_buf_finish(&b);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make-wire-corpus DIR\n");
		return 2;
	}
	dir = argv[1];
	ava_handle_table_destroy(fuzz_table(&ids));
	valid();
	invalid();
	batches();
	return 0;
}
