/*
 * fake-api.h - a small hand-written descriptor table and a fake "driver"
 * behind it: the stand-in API for the runtime's unit tests and the wire
 * fuzzer. It exercises every argument kind the marshaller knows.
 */
#ifndef AVA_TEST_FAKE_API_H
#define AVA_TEST_FAKE_API_H

#include <stdint.h>

#include "ava-desc.h"
#include "ava-generated.h"

enum {
	FAKE_OK = 0,
	FAKE_E_VALUE = -30,
	FAKE_E_PLATFORM = -32,
	FAKE_E_CTX = -34,
	FAKE_E_BUF = -38,
	FAKE_E_TRANSPORT = -5,
	FAKE_E_UNSUPPORTED = -6,
};

enum { FAKE_H_PLAT = 1, FAKE_H_CTX, FAKE_H_BUF, FAKE_H_COUNT };

enum {
	FAKE_FN_get_plats, FAKE_FN_create_ctx, FAKE_FN_retain_ctx,
	FAKE_FN_release_ctx, FAKE_FN_write, FAKE_FN_read, FAKE_FN_set_name,
	FAKE_FN_set_arg, FAKE_FN_ctx_info, FAKE_FN_sources, FAKE_FN_negate,
	FAKE_FN_unsupported, FAKE_FN_build, FAKE_FN_create_buf,
	FAKE_FN_buf_ctx, FAKE_FN_use_ctxs, FAKE_FN_release_buf,
	FAKE_FN_override, FAKE_FN_inout, FAKE_FN_copy, FAKE_FN_COUNT
};

/* A fake_copy of exactly this many bytes, streamed out, fails halfway. */
#define FAKE_COPY_FAIL_N ((5u << 20) + 8)

#define FAKE_KEY_PLAT 0x1084u
#define FAKE_PARAM_PLATS 1u
#define FAKE_PARAM_PROPS 2u
#define FAKE_NPLATS 2

extern const struct ava_api_desc fake_api;
extern const struct ava_server_api fake_server;

/* The fake driver's objects, visible for assertions. */
struct fake_obj {
	int kind;              /* FAKE_H_* */
	int refs;
	char name[32];
	uint8_t data[64];
	uint64_t arg;          /* last kernel-style argument */
	struct fake_obj *ctx;  /* a buffer's context */
	uint64_t nsrc;         /* bytes received by sources */
};

extern struct fake_obj fake_plats[FAKE_NPLATS];

/* Live fake objects (contexts and buffers) the driver holds. */
int
fake_live_objects(void);

/* Free every object still alive (end of a test). */
void
fake_cleanup(void);

#endif
