/*
 * rawclient.c - a guest that speaks the wire protocol by hand.
 *
 * Usage: rawclient CASE unix:PATH
 *
 * It encodes frames itself from runtime/protocol.h and the generated
 * descriptor tables (function ids, argument kinds), independently of
 * runtime/'s marshaller, so that it can send what no real guest sends.
 * Each CASE checks what the server does with one kind of bad input:
 *
 *   valid             a well-behaved session (the baseline: if this fails,
 *                     the encoder here is wrong and the other cases prove
 *                     nothing)
 *   bad-hello         wrong magic in the first frame        -> closed
 *   bad-spec          HELLO with another spec hash          -> closed
 *   truncated-frame   a header promising more than is sent  -> closed
 *   truncated-payload a CALL whose arguments stop short     -> closed
 *   oversized         a header with len > AVA_FRAME_MAX     -> closed
 *   unknown-fn        a CALL with an unknown function id    -> closed
 *   huge-count        a handle array claiming 2^40 entries  -> closed
 *   call-before-hello a CALL as the first frame             -> closed
 *   forged-handle     made-up and wrong-type handle ids     -> invalid-object
 *   stale-handle      an id used after its release          -> invalid-object
 *   foreign-handle    another session's ids                 -> invalid-object
 *   lying-sizes       ava's own calls with sizes that disagree
 *                     with their region, mapping or list, and
 *                     staged writes and buffers of stages
 *                     never given                            -> refused
 *   named             queued creations that name their objects: the
 *                     object answers to its name; one that fails, or
 *                     that the server refuses, is deferred with its
 *                     error, and its name stays unknown      -> as named
 *   apart             (driven by mtest.py: RAWCLIENT_DIR names a
 *                     directory) a session migrated while its guest,
 *                     after the switch-over, sends the source two
 *                     queued writes on two connections, the later one
 *                     first: the destination must run both, in order,
 *                     and answer a read behind them     -> the bytes
 *   named-bad-K       one bad named creation, K from 0 (a name taken)
 *                     to 8 (see named_bad[]): names that are taken,
 *                     another session's, of another type or not the
 *                     guest's; NAMED on a call that makes no one
 *                     object, not queued, or without its name -> closed
 *
 * "closed": the server answers ERROR or closes the connection (no REPLY,
 * and no hang: every read has a timeout). "invalid-object": the call
 * returns the API's invalid-object error and the same session then
 * completes a valid call. "refused": the call fails with the error the
 * vendor gives for a NULL host pointer (CL_INVALID_VALUE), the server
 * having checked the size before trusting it, and the session goes on.
 *
 * Exit status: 0 the server behaved, 1 it did not (the line before says
 * how), 99 the test could not run (no connection, the valid baseline
 * failed).
 *
 * The frame plumbing is in rawproto.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rawproto.h"

/* ---- OpenCL calls by hand ---------------------------------------------- */

#define FN(name) AVA_OPENCL_FN_##name
#define PRESENT { .v = 1 }

static uint64_t
get_platform(struct raw_conn *c)
{
	struct raw_arg a[] = { { .v = 1 }, PRESENT, PRESENT };
	struct raw_reply r;
	raw_call(c, FN(clGetPlatformIDs), a, &r);
	raw_must_reply(&r, "clGetPlatformIDs");
	if (raw_status(&r) != CL_SUCCESS || r.out[1] == 0)
		return 0;
	return r.ids[1][0];
}

static uint64_t
get_device(struct raw_conn *c, uint64_t platform)
{
	struct raw_arg a[] = { { .v = platform }, { .v = CL_DEVICE_TYPE_ALL },
			   { .v = 1 }, PRESENT, PRESENT };
	struct raw_reply r;
	raw_call(c, FN(clGetDeviceIDs), a, &r);
	raw_must_reply(&r, "clGetDeviceIDs");
	if (raw_status(&r) != CL_SUCCESS || r.out[3] == 0)
		return 0;
	return r.ids[3][0];
}

static uint64_t
create_context(struct raw_conn *c, uint64_t device)
{
	struct raw_arg a[] = { { .p = NULL }, { .v = 1 },
			       { .p = &device, .n = 1 }, { .v = 0 },
			       { .v = 0 }, PRESENT };
	struct raw_reply r;
	raw_call(c, FN(clCreateContext), a, &r);
	raw_must_reply(&r, "clCreateContext");
	cl_int err = raw_errcode(&r, FN(clCreateContext));
	if (err != CL_SUCCESS)
		raw_say("clCreateContext: error %d", err);
	return err == CL_SUCCESS ? r.ret : 0;
}

/* clCreateBuffer; *err receives the error out-argument. */
static uint64_t
create_buffer(struct raw_conn *c, uint64_t ctx, uint64_t size, cl_int *err)
{
	struct raw_arg a[] = { { .v = ctx }, { .v = CL_MEM_READ_WRITE },
			   { .v = size }, { .p = NULL }, PRESENT };
	struct raw_reply r;
	raw_call(c, FN(clCreateBuffer), a, &r);
	raw_must_reply(&r, "clCreateBuffer");
	*err = raw_errcode(&r, FN(clCreateBuffer));
	return r.ret;
}

/* clGetMemObjectInfo(CL_MEM_SIZE); returns the status. */
static cl_int
mem_size(struct raw_conn *c, uint64_t mem, uint64_t *size)
{
	struct raw_arg a[] = { { .v = mem }, { .v = CL_MEM_SIZE }, { .v = 8 },
			   PRESENT, PRESENT };
	struct raw_reply r;
	raw_call(c, FN(clGetMemObjectInfo), a, &r);
	raw_must_reply(&r, "clGetMemObjectInfo");
	*size = r.out[3] == 8 ? raw_get_le(r.buf[3], 8) : 0;
	return raw_status(&r);
}

static cl_int
release(struct raw_conn *c, uint32_t fn, uint64_t id)
{
	struct raw_arg a[] = { { .v = id } };
	struct raw_reply r;
	raw_call(c, fn, a, &r);
	raw_must_reply(&r, raw_fn_desc(fn)->name);
	return raw_status(&r);
}

static void
bye(struct raw_conn *c)
{
	struct raw_out o = { 0 };
	raw_header(&o, AVA_MSG_BYE, 0, c->seq++, 0);
	raw_send_all(c, o.p, o.len);
	free(o.p);
	close(c->fd);
}

/* ---- checks ------------------------------------------------------------ */

static int failures;

static void
expect(const char *what, cl_int got, cl_int want)
{
	raw_say("%s: %d (want %d) %s", what, got, want,
		got == want ? "ok" : "FAIL");
	if (got != want)
		failures++;
}

/* A fresh session with a context and a 4096-byte buffer, or exit 99. */
struct session {
	struct raw_conn c;
	uint64_t id, token;
	uint64_t platform, device, ctx, mem;
};

static void
open_session(const char *addr, struct session *s)
{
	cl_int err = CL_SUCCESS;
	if (!raw_conn_open(addr, &s->c))
		exit(99);
	if (!raw_hello(&s->c, ava_opencl_api.spec_hash, &s->id)) {
		raw_say("HELLO was not welcomed");
		exit(99);
	}
	s->token = raw_token();
	s->platform = get_platform(&s->c);
	s->device = s->platform ? get_device(&s->c, s->platform) : 0;
	s->ctx = s->device ? create_context(&s->c, s->device) : 0;
	s->mem = s->ctx ? create_buffer(&s->c, s->ctx, 4096, &err) : 0;
	if (s->mem == 0 || err != CL_SUCCESS) {
		raw_say("setup failed: platform %#" PRIx64 " device %#" PRIx64
			" context %#" PRIx64 " buffer %#" PRIx64 " (error %d)",
			s->platform, s->device, s->ctx, s->mem, err);
		exit(99);
	}
}

/* The session still answers a valid call on its own buffer. */
static void
still_usable(struct session *s)
{
	uint64_t size = 0;
	expect("valid call afterwards", mem_size(&s->c, s->mem, &size),
	       CL_SUCCESS);
	if (size != 4096) {
		raw_say("valid call afterwards: size %" PRIu64 ", want 4096",
			size);
		failures++;
	}
}

/* After bad input the server must answer ERROR or close: never REPLY. */
static int
expect_closed(struct raw_conn *c, const char *what)
{
	uint8_t *p = NULL;
	uint64_t len = 0;
	int t = raw_recv_frame(c, &p, &len);
	free(p);
	close(c->fd);
	if (t == 0 || t == AVA_MSG_ERROR) {
		raw_say("%s: session closed (%s): ok", what,
			t == 0 ? "end of file" : "ERROR frame");
		return 0;
	}
	raw_say("%s: FAIL: %s", what,
		t < 0 ? "no answer" : "the server answered");
	return 1;
}

static int
case_valid(const char *addr)
{
	struct session s;
	open_session(addr, &s);
	still_usable(&s);
	expect("clReleaseMemObject",
	       release(&s.c, FN(clReleaseMemObject), s.mem), CL_SUCCESS);
	expect("clReleaseContext", release(&s.c, FN(clReleaseContext), s.ctx),
	       CL_SUCCESS);
	bye(&s.c);
	return failures ? 1 : 0;
}

static int
case_bad_hello(const char *addr)
{
	struct raw_conn c;
	struct raw_out o = { 0 };
	if (!raw_conn_open(addr, &c))
		return 99;
	raw_header(&o, AVA_MSG_HELLO, 0, 0, 32);
	o.p[0] ^= 0xff;  /* the magic */
	raw_put_le(&o, ava_opencl_api.spec_hash, 4);
	raw_put_le(&o, (uint64_t)getpid(), 4);
	for (int i = 0; i < 3; i++)
		raw_put_le(&o, 0, 8);
	raw_send_all(&c, o.p, o.len);
	free(o.p);
	return expect_closed(&c, "HELLO with a bad magic");
}

static int
case_bad_spec(const char *addr)
{
	struct raw_conn c;
	if (!raw_conn_open(addr, &c))
		return 99;
	if (raw_hello(&c, ava_opencl_api.spec_hash ^ 0x5a5a5a5au, NULL)) {
		raw_say("HELLO with another spec hash: FAIL: welcomed");
		return 1;
	}
	raw_say("HELLO with another spec hash: not welcomed: ok");
	close(c.fd);
	return 0;
}

static int
case_truncated_frame(const char *addr)
{
	struct session s;
	struct raw_out o = { 0 };
	open_session(addr, &s);
	raw_header(&o, AVA_MSG_CALL, FN(clGetPlatformIDs), s.c.seq++, 64);
	raw_put_le(&o, 1, 8);
	raw_put_le(&o, 1, 8);
	raw_send_all(&s.c, o.p, o.len);
	free(o.p);
	shutdown(s.c.fd, SHUT_WR);  /* the other 48 bytes never come */
	return expect_closed(&s.c, "frame cut short");
}

static int
case_truncated_payload(const char *addr)
{
	struct session s;
	struct raw_out o = { 0 };
	open_session(addr, &s);
	/* A consistent frame whose payload holds only the first argument. */
	raw_header(&o, AVA_MSG_CALL, FN(clGetMemObjectInfo), s.c.seq++, 8);
	raw_put_le(&o, s.mem, 8);
	raw_send_all(&s.c, o.p, o.len);
	free(o.p);
	return expect_closed(&s.c, "arguments cut short");
}

static int
case_oversized(const char *addr)
{
	static const uint64_t lens[] = { AVA_FRAME_MAX + 1, UINT64_MAX };
	int rc = 0;
	for (size_t i = 0; i < 2; i++) {
		struct session s;
		struct raw_out o = { 0 };
		char what[64];
		open_session(addr, &s);
		raw_header(&o, AVA_MSG_CALL, FN(clGetPlatformIDs), s.c.seq++,
		       lens[i]);
		raw_put_le(&o, 1, 8);
		raw_send_all(&s.c, o.p, o.len);
		free(o.p);
		snprintf(what, sizeof(what), "frame length %#" PRIx64, lens[i]);
		rc |= expect_closed(&s.c, what);
	}
	return rc;
}

static int
case_unknown_fn(const char *addr)
{
	const uint32_t ids[] = { ava_opencl_api.nfns, 0x00ffffffu };
	int rc = 0;
	for (size_t i = 0; i < 2; i++) {
		struct session s;
		struct raw_out o = { 0 };
		char what[64];
		open_session(addr, &s);
		raw_header(&o, AVA_MSG_CALL, ids[i], s.c.seq++, 8);
		raw_put_le(&o, 0, 8);
		raw_send_all(&s.c, o.p, o.len);
		free(o.p);
		snprintf(what, sizeof(what), "function id %#x", ids[i]);
		rc |= expect_closed(&s.c, what);
	}
	return rc;
}

static int
case_huge_count(const char *addr)
{
	struct session s;
	struct raw_out body = { 0 }, o = { 0 };
	open_session(addr, &s);
	/* clCreateContext(NULL, 1, devices, ...) with devices claiming
	 * 2^40 ids in a frame that holds none: nothing may be allocated. */
	const struct ava_fn_desc *fn = raw_fn_desc(FN(clCreateContext));
	for (int i = 0; i < fn->nargs; i++) {
		enum ava_arg_kind k = fn->args[i].kind;
		if (k == AVA_ARG_IN_PROPS)
			raw_put_le(&body, AVA_WIRE_NULL, 8);
		else if (k == AVA_ARG_IN_HANDLES)
			raw_put_le(&body, 1ull << 40, 8);
		else
			raw_put_le(&body, k == AVA_ARG_SCALAR ? 1 : 0, 8);
	}
	raw_header(&o, AVA_MSG_CALL, FN(clCreateContext), s.c.seq++, body.len);
	raw_put(&o, body.p, body.len);
	raw_send_all(&s.c, o.p, o.len);
	free(body.p);
	free(o.p);
	return expect_closed(&s.c, "a count of 2^40 handles");
}

static int
case_call_before_hello(const char *addr)
{
	struct raw_conn c;
	struct raw_out o = { 0 };
	if (!raw_conn_open(addr, &c))
		return 99;
	raw_header(&o, AVA_MSG_CALL, FN(clGetPlatformIDs), 1, 24);
	raw_put_le(&o, 1, 8);
	raw_put_le(&o, 1, 8);
	raw_put_le(&o, 1, 8);
	raw_send_all(&c, o.p, o.len);
	free(o.p);
	return expect_closed(&c, "CALL before HELLO");
}

static int
case_forged_handle(const char *addr)
{
	struct session s;
	uint64_t size;
	cl_int err = CL_SUCCESS;
	open_session(addr, &s);
	expect("made-up mem id", mem_size(&s.c, 0xdeadbeefcafef00dull, &size),
	       CL_INVALID_MEM_OBJECT);
	expect("a context's id as a mem", mem_size(&s.c, s.ctx, &size),
	       CL_INVALID_MEM_OBJECT);
	expect("mem id, high bit flipped",
	       mem_size(&s.c, s.mem ^ (1ull << 63), &size),
	       CL_INVALID_MEM_OBJECT);
	expect("mem id, next index", mem_size(&s.c, s.mem + 1, &size),
	       CL_INVALID_MEM_OBJECT);
	uint64_t m = create_buffer(&s.c, 0x1234567812345678ull, 64, &err);
	expect("clCreateBuffer(made-up context id)", err, CL_INVALID_CONTEXT);
	if (m != 0) {
		raw_say("clCreateBuffer(made-up context id) returned %#"
			PRIx64, m);
		failures++;
	}
	expect("clReleaseMemObject(made-up id)",
	       release(&s.c, FN(clReleaseMemObject), 0x0101010101010101ull),
	       CL_INVALID_MEM_OBJECT);
	still_usable(&s);
	bye(&s.c);
	return failures ? 1 : 0;
}

static int
case_stale_handle(const char *addr)
{
	struct session s;
	uint64_t size;
	cl_int err = CL_SUCCESS;
	open_session(addr, &s);
	uint64_t old = create_buffer(&s.c, s.ctx, 128, &err);
	expect("clCreateBuffer(128)", err, CL_SUCCESS);
	expect("clReleaseMemObject", release(&s.c, FN(clReleaseMemObject), old),
	       CL_SUCCESS);
	expect("released id", mem_size(&s.c, old, &size),
	       CL_INVALID_MEM_OBJECT);
	/* A new object may take the old slot: the old id must stay dead. */
	uint64_t fresh = create_buffer(&s.c, s.ctx, 256, &err);
	expect("clCreateBuffer(256)", err, CL_SUCCESS);
	raw_say("old and new ids %s", old == fresh ? "EQUAL" : "differ");
	if (old == fresh)
		failures++;
	expect("released id after reuse", mem_size(&s.c, old, &size),
	       CL_INVALID_MEM_OBJECT);
	expect("new id", mem_size(&s.c, fresh, &size), CL_SUCCESS);
	if (size != 256) {
		raw_say("new id: size %" PRIu64 ", want 256", size);
		failures++;
	}
	expect("second release of the old id",
	       release(&s.c, FN(clReleaseMemObject), old),
	       CL_INVALID_MEM_OBJECT);
	still_usable(&s);
	bye(&s.c);
	return failures ? 1 : 0;
}

static int
case_foreign_handle(const char *addr)
{
	struct session a, b;
	uint64_t size;
	cl_int err = CL_SUCCESS;
	open_session(addr, &a);
	open_session(addr, &b);
	expect("other session's mem", mem_size(&b.c, a.mem, &size),
	       CL_INVALID_MEM_OBJECT);
	uint64_t m = create_buffer(&b.c, a.ctx, 64, &err);
	expect("clCreateBuffer(other session's context)", err,
	       CL_INVALID_CONTEXT);
	if (m != 0) {
		raw_say("clCreateBuffer(other session's context) returned "
			"an id");
		failures++;
	}
	expect("clReleaseMemObject(other session's mem)",
	       release(&b.c, FN(clReleaseMemObject), a.mem),
	       CL_INVALID_MEM_OBJECT);
	still_usable(&a);  /* its buffer survived the foreign release */
	still_usable(&b);
	bye(&a.c);
	bye(&b.c);
	return failures ? 1 : 0;
}

/* ---- named creations (doc/protocol.md, "Named creations") ------------- */

/* A guest-named id for handle type `type` in the session of `any`, an id
 * the server gave. */
static uint64_t
name_for(uint16_t type, uint64_t any, uint32_t n)
{
	return (uint64_t)ava_opencl_api.handles[type].tag << 56 |
	       (any & (0xffffull << 40)) | (1ull << 23) | n;
}

/* Queue clCreateBuffer(size) under name; false if the connection went. */
static bool
named_buffer(struct raw_conn *c, uint64_t ctx, uint64_t size, uint64_t name,
	     uint32_t flags)
{
	struct raw_arg a[] = { { .v = ctx }, { .v = CL_MEM_READ_WRITE },
			       { .v = size }, { .p = NULL }, PRESENT };
	uint8_t tail[8];
	for (int i = 0; i < 8; i++)
		tail[i] = (uint8_t)(name >> (8 * i));
	return raw_send_call(c, FN(clCreateBuffer), a, flags, tail, 8);
}

static int
case_named(const char *addr)
{
	struct session s;
	uint64_t size = 0;
	open_session(addr, &s);
	uint32_t q = AVA_FRAME_ASYNC | AVA_FRAME_NAMED;
	uint64_t good = name_for(AVA_OPENCL_H_cl_mem, s.mem, 1);
	uint64_t bad = name_for(AVA_OPENCL_H_cl_mem, s.mem, 2);
	uint64_t refused = name_for(AVA_OPENCL_H_cl_mem, s.mem, 3);
	if (!named_buffer(&s.c, s.ctx, 512, good, q) ||
	    !named_buffer(&s.c, s.ctx, 0, bad, q) ||
	    !named_buffer(&s.c, 0x1234567812345678ull, 64, refused, q)) {
		raw_say("named: the connection went");
		return 1;
	}
	/* The failed creations come back first, oldest first, before the
	 * next REPLY: one the driver failed, one the server refused. */
	uint8_t *p = NULL;
	uint64_t len = 0;
	struct raw_arg a[] = { { .v = good }, { .v = CL_MEM_SIZE }, { .v = 8 },
			       PRESENT, PRESENT };
	raw_send_call(&s.c, FN(clGetMemObjectInfo), a, 0, NULL, 0);
	static const char *what[] = {
		"clCreateBuffer(0), named and queued: deferred",
		"clCreateBuffer(made-up context), named and queued: deferred",
	};
	static const cl_int want[] = { CL_INVALID_BUFFER_SIZE,
				       CL_INVALID_CONTEXT };
	int t;
	for (int k = 0; k < 2; k++) {
		t = raw_recv_frame(&s.c, &p, &len);
		cl_int deferred = t == AVA_MSG_DEFERRED && len == 8
				  ? (cl_int)raw_get_le(p, 8) : 0;
		free(p);
		expect(what[k], deferred, want[k]);
	}
	t = raw_recv_frame(&s.c, &p, &len);
	free(p);
	if (t != AVA_MSG_REPLY) {
		raw_say("named: no REPLY after the DEFERRED: FAIL");
		return 1;
	}
	expect("the named buffer", mem_size(&s.c, good, &size), CL_SUCCESS);
	if (size != 512) {
		raw_say("the named buffer: size %" PRIu64 ", want 512", size);
		failures++;
	}
	expect("the name whose creation failed", mem_size(&s.c, bad, &size),
	       CL_INVALID_MEM_OBJECT);
	expect("the name whose creation was refused",
	       mem_size(&s.c, refused, &size), CL_INVALID_MEM_OBJECT);
	expect("clReleaseMemObject(named)",
	       release(&s.c, FN(clReleaseMemObject), good), CL_SUCCESS);
	expect("the named buffer, released", mem_size(&s.c, good, &size),
	       CL_INVALID_MEM_OBJECT);
	still_usable(&s);
	bye(&s.c);
	return failures ? 1 : 0;
}

static const char *named_bad[] = {
	"a name taken", "another session's name", "a context's tag",
	"no named bit", "NAMED on clGetMemObjectInfo", "NAMED without ASYNC",
	"NAMED on clRetainMemObject", "a CALL without the name",
	"a payload shorter than a name",
};

/* One bad named creation per session: the server closes it, with one
 * line in its log. */
static int
case_named_bad(const char *addr, size_t k)
{
	const char **what = named_bad;
	int bad = 0;
	{
		struct session s;
		open_session(addr, &s);
		uint32_t q = AVA_FRAME_ASYNC | AVA_FRAME_NAMED;
		uint64_t n = name_for(AVA_OPENCL_H_cl_mem, s.mem, 7);
		bool ok = true;
		switch (k) {
		case 0:
			ok = named_buffer(&s.c, s.ctx, 64, n, q) &&
			     named_buffer(&s.c, s.ctx, 64, n, q);
			break;
		case 1:
			ok = named_buffer(&s.c, s.ctx, 64, n ^ (1ull << 40), q);
			break;
		case 2:
			ok = named_buffer(&s.c, s.ctx, 64, name_for(
				AVA_OPENCL_H_cl_context, s.mem, 7), q);
			break;
		case 3:
			ok = named_buffer(&s.c, s.ctx, 64, n & ~(1ull << 23), q);
			break;
		case 4: {
			struct raw_arg a[] = { { .v = s.mem }, { .v = CL_MEM_SIZE },
					       { .v = 8 }, PRESENT, PRESENT };
			uint8_t tail[8] = { 1 };
			ok = raw_send_call(&s.c, FN(clGetMemObjectInfo), a, q,
					   tail, 8);
			break;
		}
		case 5:
			ok = named_buffer(&s.c, s.ctx, 64, n, AVA_FRAME_NAMED);
			break;
		case 6: {
			struct raw_arg a[] = { { .v = s.mem } };
			ok = raw_send_call(&s.c, FN(clRetainMemObject), a, q,
					   NULL, 0);
			break;
		}
		case 7: {
			struct raw_arg a[] = { { .v = s.ctx },
					       { .v = CL_MEM_READ_WRITE },
					       { .v = 64 }, { .p = NULL },
					       PRESENT };
			ok = raw_send_call(&s.c, FN(clCreateBuffer), a, q, NULL,
					   0);
			break;
		}
		default:
			ok = raw_send_call(&s.c, FN(clUnloadCompiler), NULL, q,
					   NULL, 0);
			break;
		}
		if (!ok) {
			raw_say("%s: the connection went before the call", what[k]);
			return 1;
		}
		/* A valid call after it: the server must not answer it. */
		struct raw_arg a[] = { { .v = s.mem }, { .v = CL_MEM_SIZE },
				       { .v = 8 }, PRESENT, PRESENT };
		raw_send_call(&s.c, FN(clGetMemObjectInfo), a, 0, NULL, 0);
		bad += expect_closed(&s.c, what[k]);
	}
	return bad ? 1 : 0;
}

static uint64_t
create_queue(struct raw_conn *c, uint64_t ctx, uint64_t device)
{
	struct raw_arg a[] = { { .v = ctx }, { .v = device }, { .v = 0 },
			       PRESENT };
	struct raw_reply r;
	raw_call(c, FN(clCreateCommandQueue), a, &r);
	raw_must_reply(&r, "clCreateCommandQueue");
	return raw_errcode(&r, FN(clCreateCommandQueue)) == CL_SUCCESS ? r.ret
								       : 0;
}

/* ---- batches passed on by a migration's source ------------------------- */

/* path in RAWCLIENT_DIR: made with text, or waited for (60 s at most). */
static bool
dir_file(const char *name, const char *text)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", getenv("RAWCLIENT_DIR"), name);
	if (text != NULL) {
		FILE *f = fopen(path, "w");
		if (f == NULL)
			return false;
		fputs(text, f);
		return fclose(f) == 0;
	}
	for (int i = 0; i < 6000; i++) {
		if (access(path, F_OK) == 0)
			return true;
		usleep(10000);
	}
	return false;
}

/* A queued clEnqueueWriteBuffer of 4 bytes at offset, numbered base. */
static void
queued_write(struct raw_conn *c, uint64_t base, uint64_t q, uint64_t mem,
	     uint64_t offset, const char *bytes)
{
	struct raw_arg a[] = { { .v = q }, { .v = mem }, { .v = CL_TRUE },
			       { .v = offset }, { .v = 4 },
			       { .p = bytes, .n = 4 }, { .v = 0 },
			       { .p = NULL }, { .v = 0 } };
	struct raw_reply r;
	raw_batch(c, base, true, FN(clEnqueueWriteBuffer), a, &r);
	if (r.kind != AVA_MSG_REPLY)
		raw_say("queued write at %" PRIu64 ": the connection went",
			offset);
}

static int
case_apart(const char *addr)
{
	uint32_t hash = ava_opencl_api.spec_hash;
	if (getenv("RAWCLIENT_DIR") == NULL) {
		raw_say("apart: RAWCLIENT_DIR is not set");
		return 99;
	}
	struct session s;
	struct raw_conn b, c;
	open_session(addr, &s);
	uint64_t q = create_queue(&s.c, s.ctx, s.device);
	if (q == 0 || !raw_conn_open(addr, &b) ||
	    !raw_hello_again(&b, hash, s.id, s.token, AVA_HELLO_GUEST, 0, 0)) {
		raw_say("apart: set-up failed");
		return 99;
	}
	char text[32];
	snprintf(text, sizeof(text), "%" PRIu64 "\n", s.id);
	if (!dir_file("ready", text) || !dir_file("moved", NULL)) {
		raw_say("apart: the migration never came");
		return 99;
	}
	/* Both connections were told MOVED, and neither has read it: the
	 * source passes the writes on, the later-numbered one first. */
	queued_write(&s.c, 1, q, s.mem, 4, "BBBB");
	usleep(300000);
	queued_write(&b, 0, q, s.mem, 0, "AAAA");
	uint8_t *p = NULL;
	uint64_t len = 0;
	if (raw_recv_frame(&s.c, &p, &len) != AVA_MSG_MOVED || len < 17 ||
	    len > 16 + 255) {
		raw_say("apart: no MOVED from the source");
		return 1;
	}
	char where[300];
	snprintf(where, sizeof(where), "%.*s", (int)(len - 16), p + 16);
	uint64_t id = raw_get_le(p, 8), token = raw_get_le(p + 8, 8);
	free(p);
	if (!raw_conn_open(where, &c) ||
	    !raw_hello_again(&c, hash, id, token, AVA_HELLO_RESUME, 0, 0)) {
		raw_say("apart: cannot resume at %s", where);
		return 1;
	}
	/* Behind both writes: a read, fenced at 2 queued calls run. */
	struct raw_arg a[] = { { .v = q }, { .v = s.mem }, { .v = CL_TRUE },
			       { .v = 0 }, { .v = 8 }, PRESENT, { .v = 0 },
			       { .p = NULL }, { .v = 0 } };
	struct raw_reply r;
	raw_batch(&c, 2, false, FN(clEnqueueReadBuffer), a, &r);
	if (r.kind != AVA_MSG_REPLY) {
		raw_say("apart: the destination did not answer the read: FAIL");
		return 1;
	}
	expect("clEnqueueReadBuffer at the destination", raw_status(&r),
	       CL_SUCCESS);
	bool same = r.out[5] == 8 && memcmp(r.buf[5], "AAAABBBB", 8) == 0;
	raw_say("both queued writes ran at the destination, in order: %s",
		same ? "ok" : "FAIL");
	close(b.fd);
	close(s.c.fd);
	bye(&c);
	return failures || !same ? 1 : 0;
}

/* A packed rectangle whose size is not region[0] * region[1] * region[2]. */
static cl_int
rect_with_size(struct session *s, uint64_t q, uint32_t fn, uint64_t size)
{
	static const uint64_t origin[3] = { 0, 0, 0 }, region[3] = { 16, 8, 1 };
	static uint8_t data[256];
	bool write = fn == FN(avaclEnqueueWriteBufferRect);
	struct raw_arg a[] = { { .v = q }, { .v = s->mem },
		{ .p = origin, .n = sizeof(origin) },
		{ .p = region, .n = sizeof(region) }, { .v = 0 }, { .v = 0 },
		{ .v = size }, write ? (struct raw_arg){ .p = data, .n = size }
				    : (struct raw_arg)PRESENT,
		{ .v = 0 }, { .p = NULL }, { .v = 0 } };
	struct raw_reply r;
	raw_call(&s->c, fn, a, &r);
	raw_must_reply(&r, raw_fn_desc(fn)->name);
	return raw_status(&r);
}

static cl_int
unmap_with(struct session *s, uint64_t q, uint64_t map_id, uint64_t size)
{
	static uint8_t data[64];
	struct raw_arg a[] = { { .v = q }, { .v = s->mem }, { .v = map_id },
		{ .v = size }, { .p = data, .n = size }, { .v = 0 },
		{ .p = NULL }, { .v = 0 } };
	struct raw_reply r;
	raw_call(&s->c, FN(avaclEnqueueUnmapMemObject), a, &r);
	raw_must_reply(&r, "avaclEnqueueUnmapMemObject");
	return raw_status(&r);
}

static int
case_lying_sizes(const char *addr)
{
	struct session s;
	open_session(addr, &s);
	uint64_t q = create_queue(&s.c, s.ctx, s.device);
	if (q == 0)
		return 99;
	expect("avaclEnqueueReadBufferRect, size 10 for 128",
	       rect_with_size(&s, q, FN(avaclEnqueueReadBufferRect), 10),
	       CL_INVALID_VALUE);
	expect("avaclEnqueueWriteBufferRect, size 200 for 128",
	       rect_with_size(&s, q, FN(avaclEnqueueWriteBufferRect), 200),
	       CL_INVALID_VALUE);
	expect("avaclEnqueueWriteBufferRect, size 128",
	       rect_with_size(&s, q, FN(avaclEnqueueWriteBufferRect), 128),
	       CL_SUCCESS);
	expect("avaclEnqueueUnmapMemObject, unknown map id",
	       unmap_with(&s, q, 12345, 0), CL_INVALID_VALUE);
	struct raw_arg m[] = { { .v = q }, { .v = s.mem }, { .v = CL_MAP_WRITE },
		{ .v = 0 }, { .v = 64 }, PRESENT, PRESENT, { .v = 0 },
		{ .p = NULL }, { .v = 0 } };
	struct raw_reply r;
	raw_call(&s.c, FN(avaclEnqueueMapBuffer), m, &r);
	raw_must_reply(&r, "avaclEnqueueMapBuffer");
	expect("avaclEnqueueMapBuffer", raw_status(&r), CL_SUCCESS);
	uint64_t id = r.out[6];
	expect("avaclEnqueueUnmapMemObject, 32 bytes back for 64",
	       unmap_with(&s, q, id, 32), CL_INVALID_VALUE);
	expect("avaclEnqueueUnmapMemObject, 64 bytes back",
	       unmap_with(&s, q, id, 64), CL_SUCCESS);
	/* No heap over unix:, so no stage; and a stage never given enqueues
	 * nothing. */
	struct raw_arg sb[] = { { .v = 1u << 20 }, PRESENT, PRESENT, PRESENT };
	raw_call(&s.c, FN(avaclStageBytes), sb, &r);
	raw_must_reply(&r, "avaclStageBytes");
	expect("avaclStageBytes", raw_status(&r), CL_SUCCESS);
	expect("avaclStageBytes without a heap: heap 0",
	       r.out[1] == 0 && r.out[3] == 0 ? 0 : -1, 0);
	for (uint64_t stage = 0; stage < 2; stage++) {
		struct raw_arg ws[] = { { .v = q }, { .v = s.mem }, { .v = 0 },
			{ .v = 64 }, { .v = stage ? 12345 : 0 }, { .v = 0 },
			{ .p = NULL }, { .v = 0 } };
		raw_call(&s.c, FN(avaclEnqueueWriteStaged), ws, &r);
		raw_must_reply(&r, "avaclEnqueueWriteStaged");
		expect(stage ? "avaclEnqueueWriteStaged, a stage never given"
			     : "avaclEnqueueWriteStaged, stage 0",
		       raw_status(&r), CL_INVALID_VALUE);
	}
	/* No heap over unix:, so no range for a direct write. */
	struct raw_arg ai[] = { { .v = q }, { .v = s.mem }, { .v = 0 },
		{ .v = 64 }, PRESENT, PRESENT };
	raw_call(&s.c, FN(avaclAcquireIdle), ai, &r);
	raw_must_reply(&r, "avaclAcquireIdle");
	expect("avaclAcquireIdle", raw_status(&r), CL_SUCCESS);
	expect("avaclAcquireIdle without a heap: heap 0",
	       r.out[4] == 0 && r.out[5] == 0 ? 0 : -1, 0);
	/* A buffer made over a stage never given, or without
	 * COPY_HOST_PTR: nothing is made. */
	for (int k = 0; k < 2; k++) {
		struct raw_arg cs[] = { { .v = s.ctx },
			{ .v = k ? CL_MEM_READ_WRITE
				 : CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR },
			{ .v = 1u << 20 }, { .v = 12345 }, PRESENT };
		raw_call(&s.c, FN(avaclCreateBufferStaged), cs, &r);
		raw_must_reply(&r, "avaclCreateBufferStaged");
		expect(k ? "avaclCreateBufferStaged without COPY_HOST_PTR"
			 : "avaclCreateBufferStaged, a stage never given",
		       raw_errcode(&r, FN(avaclCreateBufferStaged)),
		       CL_INVALID_VALUE);
		expect("avaclCreateBufferStaged refused: no buffer",
		       r.ret == 0 ? 0 : -1, 0);
	}
	static const intptr_t open_list[2] = { CL_DEVICE_PARTITION_EQUALLY, 1 };
	struct raw_arg d[] = { { .v = s.device },
		{ .p = open_list, .n = sizeof(open_list) }, { .v = 2 },
		{ .v = 4 }, PRESENT, PRESENT };
	raw_call(&s.c, FN(avaclCreateSubDevices), d, &r);
	raw_must_reply(&r, "avaclCreateSubDevices");
	expect("avaclCreateSubDevices, list without its 0",
	       raw_status(&r), CL_INVALID_VALUE);
	still_usable(&s);
	bye(&s.c);
	return failures ? 1 : 0;
}

static const struct {
	const char *name;
	int (*run)(const char *addr);
} cases[] = {
	{ "valid", case_valid },
	{ "bad-hello", case_bad_hello },
	{ "bad-spec", case_bad_spec },
	{ "truncated-frame", case_truncated_frame },
	{ "truncated-payload", case_truncated_payload },
	{ "oversized", case_oversized },
	{ "unknown-fn", case_unknown_fn },
	{ "huge-count", case_huge_count },
	{ "call-before-hello", case_call_before_hello },
	{ "forged-handle", case_forged_handle },
	{ "stale-handle", case_stale_handle },
	{ "foreign-handle", case_foreign_handle },
	{ "lying-sizes", case_lying_sizes },
	{ "named", case_named },
	{ "apart", case_apart },
};

int
main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: rawclient CASE unix:PATH\n");
		return 99;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(argv[1], cases[i].name) == 0)
			return cases[i].run(argv[2]);
	for (size_t k = 0; k < sizeof(named_bad) / sizeof(named_bad[0]); k++) {
		char name[32];
		snprintf(name, sizeof(name), "named-bad-%zu", k);
		if (strcmp(argv[1], name) == 0)
			return case_named_bad(argv[2], k);
	}
	fprintf(stderr, "rawclient: unknown case %s\n", argv[1]);
	return 99;
}
