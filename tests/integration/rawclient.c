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
 *
 * "closed": the server answers ERROR or closes the connection (no REPLY,
 * and no hang: every read has a timeout). "invalid-object": the call
 * returns the API's invalid-object error and the same session then
 * completes a valid call.
 *
 * Exit status: 0 the server behaved, 1 it did not (the line before says
 * how), 99 the test could not run (no connection, the valid baseline
 * failed).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>

#include "ava-desc.h"
#include "opencl-desc.h"
#include "protocol.h"

#define READ_TIMEOUT_MS 10000

struct conn {
	int fd;
	uint64_t seq;
};

/* What came back for one call. */
struct reply {
	int kind;                        /* AVA_MSG_REPLY, AVA_MSG_ERROR, 0: EOF */
	uint64_t ret;
	uint64_t out[AVA_MAX_ARGS];      /* OUT_SCALAR, OUT_HANDLE, counts */
	uint64_t ids[AVA_MAX_ARGS][8];   /* OUT_HANDLES: the first ids */
	uint8_t buf[AVA_MAX_ARGS][64];   /* OUT_BUF: the first bytes */
};

/* One argument as the caller gives it; see encode_arg() per kind. */
struct arg {
	uint64_t v;        /* scalar, id, or out-argument presence */
	const void *p;     /* in-buffers: the bytes; NULL sends AVA_WIRE_NULL */
	uint64_t n;        /* in-buffers: bytes; IN_HANDLES, IN_PROPS: words */
};

static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ---- bytes ------------------------------------------------------------- */

struct out {
	uint8_t *p;
	size_t len, cap;
};

static void
put(struct out *o, const void *p, size_t n)
{
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2 + 64;
		o->p = realloc(o->p, o->cap);
		if (o->p == NULL) {
			say("out of memory");
			exit(99);
		}
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

/* n <= 8 bytes of v, little-endian. */
static void
put_le(struct out *o, uint64_t v, unsigned n)
{
	uint8_t b[8];
	assert(n <= sizeof(b));
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(o, b, n);
}

static void
put_padded(struct out *o, const void *p, size_t n)
{
	static const uint8_t zero[8];
	put(o, p, n);
	put(o, zero, (8 - n % 8) % 8);
}

static uint64_t
get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void
header(struct out *o, uint8_t type, uint32_t fn, uint64_t seq, uint64_t len)
{
	put_le(o, AVA_PROTOCOL_MAGIC, 4);
	put_le(o, AVA_PROTOCOL_VERSION, 2);
	put_le(o, type, 1);
	put_le(o, ava_opencl_api.api_id, 1);
	put_le(o, fn, 4);
	put_le(o, 0, 4);  /* thread */
	put_le(o, 0, 4);  /* flags */
	put_le(o, 0, 4);  /* reserved */
	put_le(o, seq, 8);
	put_le(o, len, 8);
}

/* ---- the connection ---------------------------------------------------- */

static bool
send_all(struct conn *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		b += w;
		n -= (size_t)w;
	}
	return true;
}

/* 1: got n bytes; 0: end of file; -1: error or timeout (said). */
static int
recv_all(struct conn *c, void *p, size_t n)
{
	uint8_t *b = p;
	while (n > 0) {
		struct pollfd pf = { .fd = c->fd, .events = POLLIN };
		int r = poll(&pf, 1, READ_TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			say("no answer from the server in %d ms",
			    READ_TIMEOUT_MS);
			return -1;
		}
		ssize_t got = recv(c->fd, b, n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got == 0)
			return 0;
		if (got < 0)
			return errno == ECONNRESET ? 0 : -1;
		b += got;
		n -= (size_t)got;
	}
	return 1;
}

static bool
conn_open(const char *addr, struct conn *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strncmp(addr, "unix:", 5) != 0 ||
	    strlen(addr + 5) >= sizeof(sa.sun_path)) {
		say("bad address %s", addr);
		return false;
	}
	strcpy(sa.sun_path, addr + 5);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c->seq = 1;
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		say("connect %s: %s", addr, strerror(errno));
		return false;
	}
	return true;
}

/*
 * Receive one frame. Returns its type, 0 on end of file, -1 on a timeout
 * or a malformed answer. An ERROR frame's text is printed.
 */
static int
recv_frame(struct conn *c, uint8_t **payload, uint64_t *len)
{
	uint8_t h[AVA_FRAME_HEADER_SIZE];
	int r = recv_all(c, h, sizeof(h));
	if (r <= 0)
		return r;
	if (get_le(h, 4) != AVA_PROTOCOL_MAGIC) {
		say("answer with a bad magic");
		return -1;
	}
	uint8_t type = h[6];
	*len = get_le(h + 32, 8);
	if (*len > (1u << 26)) {
		say("answer of %" PRIu64 " bytes", *len);
		return -1;
	}
	*payload = malloc(*len + 1);
	if (*payload == NULL || (*len && recv_all(c, *payload, *len) <= 0)) {
		say("answer cut short");
		return -1;
	}
	if (type == AVA_MSG_ERROR && *len >= 4)
		say("server ERROR %d: %.*s", (int)(int32_t)get_le(*payload, 4),
		    (int)(*len - 4), *payload + 4);
	return type;
}

static bool
hello(struct conn *c, uint32_t spec_hash, uint64_t *session)
{
	struct out o = { 0 };
	header(&o, AVA_MSG_HELLO, 0, 0, 32);
	put_le(&o, spec_hash, 4);
	put_le(&o, (uint64_t)getpid(), 4);
	put_le(&o, 0, 8);
	put_le(&o, 0, 8);
	put_le(&o, 0, 8);
	bool ok = send_all(c, o.p, o.len);
	free(o.p);
	uint8_t *p = NULL;
	uint64_t len = 0;
	int t = ok ? recv_frame(c, &p, &len) : -1;
	ok = t == AVA_MSG_WELCOME && len >= 24;
	if (ok && session != NULL)
		*session = get_le(p, 8);
	free(p);
	return ok;
}

/* ---- generic calls ----------------------------------------------------- */

static const struct ava_fn_desc *
fn_desc(uint32_t id)
{
	const struct ava_fn_desc *fn = ava_api_fn(&ava_opencl_api, id);
	if (fn == NULL) {
		say("function %u is not in the descriptor table", id);
		exit(99);
	}
	return fn;
}

static bool
is_pointer_kind(enum ava_arg_kind k)
{
	return k != AVA_ARG_SCALAR && k != AVA_ARG_HANDLE;
}

static void
encode_arg(const struct ava_arg_desc *a, const struct arg *x,
	   const uint64_t *ev, struct out *o)
{
	static const uint64_t none[AVA_MAX_ARGS];
	uint64_t n;

	switch (a->kind) {
	case AVA_ARG_SCALAR:
	case AVA_ARG_HANDLE:
		put_le(o, x->v, 8);
		break;
	case AVA_ARG_IN_BUF:
	case AVA_ARG_INOUT_BUF:
		if (x->p == NULL) {
			put_le(o, AVA_WIRE_NULL, 8);
			break;
		}
		if (a->when != NULL && a->when(ev, none) == 0) {
			put_le(o, 0, 8);
			break;
		}
		n = (a->count ? a->count(ev, none) : 1) * a->elem_size;
		if (n > x->n) {
			say("%s needs %" PRIu64 " bytes, test gave %" PRIu64,
			    a->name, n, x->n);
			exit(99);
		}
		put_le(o, n, 8);
		put_padded(o, x->p, n);
		break;
	case AVA_ARG_IN_STRING:
		if (x->p == NULL) {
			put_le(o, AVA_WIRE_NULL, 8);
			break;
		}
		put_le(o, strlen(x->p) + 1, 8);
		put_padded(o, x->p, strlen(x->p) + 1);
		break;
	case AVA_ARG_IN_HANDLES:
	case AVA_ARG_IN_PROPS:
		if (x->p == NULL) {
			put_le(o, AVA_WIRE_NULL, 8);
			break;
		}
		put_le(o, x->n, 8);
		for (uint64_t i = 0; i < x->n; i++)
			put_le(o, ((const uint64_t *)x->p)[i], 8);
		break;
	case AVA_ARG_USERDATA:
		put_le(o, 0, 8);
		break;
	case AVA_ARG_IN_BUFS:
	case AVA_ARG_IN_KARG:
		say("argument kind %d not supported by rawclient", a->kind);
		exit(99);
	default:  /* out kinds and callbacks: presence */
		put_le(o, x->v != 0, 8);
		break;
	}
}

static bool
decode_reply(const struct ava_fn_desc *fn, const uint8_t *p, uint64_t len,
	     struct reply *r)
{
	uint64_t at = 8;
	if (len < 8)
		return false;
	r->ret = get_le(p, 8);
	for (int i = 0; i < fn->nargs; i++) {
		enum ava_arg_kind k = fn->args[i].kind;
		if (k != AVA_ARG_OUT_SCALAR && k != AVA_ARG_OUT_HANDLE &&
		    k != AVA_ARG_OUT_BUF && k != AVA_ARG_INOUT_BUF &&
		    k != AVA_ARG_OUT_HANDLES)
			continue;
		if (len - at < 8)
			return false;
		uint64_t v = get_le(p + at, 8);
		at += 8;
		r->out[i] = v;
		if (k == AVA_ARG_OUT_BUF || k == AVA_ARG_INOUT_BUF) {
			uint64_t padded = (v + 7) & ~(uint64_t)7;
			if (v > len || padded > len - at)
				return false;
			memcpy(r->buf[i], p + at, v < 64 ? v : 64);
			at += padded;
		} else if (k == AVA_ARG_OUT_HANDLES) {
			if (v > (len - at) / 8)
				return false;
			for (uint64_t j = 0; j < v && j < 8; j++)
				r->ids[i][j] = get_le(p + at + 8 * j, 8);
			at += 8 * v;
		}
	}
	return at == len;
}

/*
 * Call function `id` with args[0..nargs). Returns the answer's kind in
 * r->kind: AVA_MSG_REPLY (decoded into r), AVA_MSG_ERROR or 0 (closed).
 * Exits 1 on a timeout or a malformed reply: the server misbehaved.
 */
static void
call(struct conn *c, uint32_t id, const struct arg *args, struct reply *r)
{
	const struct ava_fn_desc *fn = fn_desc(id);
	uint64_t ev[AVA_MAX_ARGS] = { 0 };
	struct out body = { 0 }, o = { 0 };

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < fn->nargs; i++)
		ev[i] = is_pointer_kind(fn->args[i].kind) ?
			(args[i].p != NULL || args[i].v != 0) : args[i].v;
	for (int i = 0; i < fn->nargs; i++)
		encode_arg(&fn->args[i], &args[i], ev, &body);
	header(&o, AVA_MSG_CALL, id, c->seq++, body.len);
	put(&o, body.p, body.len);
	if (!send_all(c, o.p, o.len)) {
		r->kind = 0;
		goto out;
	}
	uint8_t *p = NULL;
	uint64_t len = 0;
	int t = recv_frame(c, &p, &len);
	if (t < 0)
		exit(1);
	r->kind = t;
	if (t == AVA_MSG_REPLY && !decode_reply(fn, p, len, r)) {
		say("%s: malformed REPLY of %" PRIu64 " bytes", fn->name, len);
		exit(1);
	}
	free(p);
out:
	free(body.p);
	free(o.p);
}

static cl_int
status_of(const struct reply *r)
{
	return (cl_int)(uint32_t)r->ret;
}

/* The error out-argument of a creating call. */
static cl_int
errcode_of(const struct reply *r, uint32_t id)
{
	const struct ava_fn_desc *fn = fn_desc(id);
	for (int i = 0; i < fn->nargs; i++)
		if (fn->args[i].kind == AVA_ARG_OUT_SCALAR &&
		    (fn->args[i].flags & AVA_ARGF_ERRCODE))
			return (cl_int)(uint32_t)r->out[i];
	return (cl_int)(uint32_t)r->out[fn->nargs - 1];
}

static void
must_reply(const struct reply *r, const char *what)
{
	if (r->kind != AVA_MSG_REPLY) {
		say("%s: the session was closed", what);
		exit(1);
	}
}

/* ---- OpenCL calls by hand ---------------------------------------------- */

#define FN(name) AVA_OPENCL_FN_##name
#define PRESENT { .v = 1 }

static uint64_t
get_platform(struct conn *c)
{
	struct arg a[] = { { .v = 1 }, PRESENT, PRESENT };
	struct reply r;
	call(c, FN(clGetPlatformIDs), a, &r);
	must_reply(&r, "clGetPlatformIDs");
	if (status_of(&r) != CL_SUCCESS || r.out[1] == 0)
		return 0;
	return r.ids[1][0];
}

static uint64_t
get_device(struct conn *c, uint64_t platform)
{
	struct arg a[] = { { .v = platform }, { .v = CL_DEVICE_TYPE_ALL },
			   { .v = 1 }, PRESENT, PRESENT };
	struct reply r;
	call(c, FN(clGetDeviceIDs), a, &r);
	must_reply(&r, "clGetDeviceIDs");
	if (status_of(&r) != CL_SUCCESS || r.out[3] == 0)
		return 0;
	return r.ids[3][0];
}

static uint64_t
create_context(struct conn *c, uint64_t device)
{
	struct arg a[] = { { .p = NULL }, { .v = 1 }, { .p = &device, .n = 1 },
			   { .v = 0 }, { .v = 0 }, PRESENT };
	struct reply r;
	call(c, FN(clCreateContext), a, &r);
	must_reply(&r, "clCreateContext");
	cl_int err = errcode_of(&r, FN(clCreateContext));
	if (err != CL_SUCCESS)
		say("clCreateContext: error %d", err);
	return err == CL_SUCCESS ? r.ret : 0;
}

/* clCreateBuffer; *err receives the error out-argument. */
static uint64_t
create_buffer(struct conn *c, uint64_t ctx, uint64_t size, cl_int *err)
{
	struct arg a[] = { { .v = ctx }, { .v = CL_MEM_READ_WRITE },
			   { .v = size }, { .p = NULL }, PRESENT };
	struct reply r;
	call(c, FN(clCreateBuffer), a, &r);
	must_reply(&r, "clCreateBuffer");
	*err = errcode_of(&r, FN(clCreateBuffer));
	return r.ret;
}

/* clGetMemObjectInfo(CL_MEM_SIZE); returns the status. */
static cl_int
mem_size(struct conn *c, uint64_t mem, uint64_t *size)
{
	struct arg a[] = { { .v = mem }, { .v = CL_MEM_SIZE }, { .v = 8 },
			   PRESENT, PRESENT };
	struct reply r;
	call(c, FN(clGetMemObjectInfo), a, &r);
	must_reply(&r, "clGetMemObjectInfo");
	*size = r.out[3] == 8 ? get_le(r.buf[3], 8) : 0;
	return status_of(&r);
}

static cl_int
release(struct conn *c, uint32_t fn, uint64_t id)
{
	struct arg a[] = { { .v = id } };
	struct reply r;
	call(c, fn, a, &r);
	must_reply(&r, fn_desc(fn)->name);
	return status_of(&r);
}

static void
bye(struct conn *c)
{
	struct out o = { 0 };
	header(&o, AVA_MSG_BYE, 0, c->seq++, 0);
	send_all(c, o.p, o.len);
	free(o.p);
	close(c->fd);
}

/* ---- checks ------------------------------------------------------------ */

static int failures;

static void
expect(const char *what, cl_int got, cl_int want)
{
	say("%s: %d (want %d) %s", what, got, want, got == want ? "ok" : "FAIL");
	if (got != want)
		failures++;
}

/* A fresh session with a context and a 4096-byte buffer, or exit 99. */
struct session {
	struct conn c;
	uint64_t platform, device, ctx, mem;
};

static void
open_session(const char *addr, struct session *s)
{
	cl_int err = CL_SUCCESS;
	if (!conn_open(addr, &s->c))
		exit(99);
	if (!hello(&s->c, ava_opencl_api.spec_hash, NULL)) {
		say("HELLO was not welcomed");
		exit(99);
	}
	s->platform = get_platform(&s->c);
	s->device = s->platform ? get_device(&s->c, s->platform) : 0;
	s->ctx = s->device ? create_context(&s->c, s->device) : 0;
	s->mem = s->ctx ? create_buffer(&s->c, s->ctx, 4096, &err) : 0;
	if (s->mem == 0 || err != CL_SUCCESS) {
		say("setup failed: platform %#" PRIx64 " device %#" PRIx64
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
		say("valid call afterwards: size %" PRIu64 ", want 4096", size);
		failures++;
	}
}

/* After bad input the server must answer ERROR or close: never REPLY. */
static int
expect_closed(struct conn *c, const char *what)
{
	uint8_t *p = NULL;
	uint64_t len = 0;
	int t = recv_frame(c, &p, &len);
	free(p);
	close(c->fd);
	if (t == 0 || t == AVA_MSG_ERROR) {
		say("%s: session closed (%s): ok", what,
		    t == 0 ? "end of file" : "ERROR frame");
		return 0;
	}
	say("%s: FAIL: %s", what, t < 0 ? "no answer" : "the server answered");
	return 1;
}

static int
case_valid(const char *addr)
{
	struct session s;
	open_session(addr, &s);
	still_usable(&s);
	expect("clReleaseMemObject", release(&s.c, FN(clReleaseMemObject), s.mem),
	       CL_SUCCESS);
	expect("clReleaseContext", release(&s.c, FN(clReleaseContext), s.ctx),
	       CL_SUCCESS);
	bye(&s.c);
	return failures ? 1 : 0;
}

static int
case_bad_hello(const char *addr)
{
	struct conn c;
	struct out o = { 0 };
	if (!conn_open(addr, &c))
		return 99;
	header(&o, AVA_MSG_HELLO, 0, 0, 32);
	o.p[0] ^= 0xff;  /* the magic */
	put_le(&o, ava_opencl_api.spec_hash, 4);
	put_le(&o, (uint64_t)getpid(), 4);
	for (int i = 0; i < 3; i++)
		put_le(&o, 0, 8);
	send_all(&c, o.p, o.len);
	free(o.p);
	return expect_closed(&c, "HELLO with a bad magic");
}

static int
case_bad_spec(const char *addr)
{
	struct conn c;
	if (!conn_open(addr, &c))
		return 99;
	if (hello(&c, ava_opencl_api.spec_hash ^ 0x5a5a5a5au, NULL)) {
		say("HELLO with another spec hash: FAIL: welcomed");
		return 1;
	}
	say("HELLO with another spec hash: not welcomed: ok");
	close(c.fd);
	return 0;
}

static int
case_truncated_frame(const char *addr)
{
	struct session s;
	struct out o = { 0 };
	open_session(addr, &s);
	header(&o, AVA_MSG_CALL, FN(clGetPlatformIDs), s.c.seq++, 64);
	put_le(&o, 1, 8);
	put_le(&o, 1, 8);
	send_all(&s.c, o.p, o.len);
	free(o.p);
	shutdown(s.c.fd, SHUT_WR);  /* the other 48 bytes never come */
	return expect_closed(&s.c, "frame cut short");
}

static int
case_truncated_payload(const char *addr)
{
	struct session s;
	struct out o = { 0 };
	open_session(addr, &s);
	/* A consistent frame whose payload holds only the first argument. */
	header(&o, AVA_MSG_CALL, FN(clGetMemObjectInfo), s.c.seq++, 8);
	put_le(&o, s.mem, 8);
	send_all(&s.c, o.p, o.len);
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
		struct out o = { 0 };
		char what[64];
		open_session(addr, &s);
		header(&o, AVA_MSG_CALL, FN(clGetPlatformIDs), s.c.seq++,
		       lens[i]);
		put_le(&o, 1, 8);
		send_all(&s.c, o.p, o.len);
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
		struct out o = { 0 };
		char what[64];
		open_session(addr, &s);
		header(&o, AVA_MSG_CALL, ids[i], s.c.seq++, 8);
		put_le(&o, 0, 8);
		send_all(&s.c, o.p, o.len);
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
	struct out body = { 0 }, o = { 0 };
	open_session(addr, &s);
	/* clCreateContext(NULL, 1, devices, ...) with devices claiming
	 * 2^40 ids in a frame that holds none: nothing may be allocated. */
	const struct ava_fn_desc *fn = fn_desc(FN(clCreateContext));
	for (int i = 0; i < fn->nargs; i++) {
		enum ava_arg_kind k = fn->args[i].kind;
		if (k == AVA_ARG_IN_PROPS)
			put_le(&body, AVA_WIRE_NULL, 8);
		else if (k == AVA_ARG_IN_HANDLES)
			put_le(&body, 1ull << 40, 8);
		else
			put_le(&body, k == AVA_ARG_SCALAR ? 1 : 0, 8);
	}
	header(&o, AVA_MSG_CALL, FN(clCreateContext), s.c.seq++, body.len);
	put(&o, body.p, body.len);
	send_all(&s.c, o.p, o.len);
	free(body.p);
	free(o.p);
	return expect_closed(&s.c, "a count of 2^40 handles");
}

static int
case_call_before_hello(const char *addr)
{
	struct conn c;
	struct out o = { 0 };
	if (!conn_open(addr, &c))
		return 99;
	header(&o, AVA_MSG_CALL, FN(clGetPlatformIDs), 1, 24);
	put_le(&o, 1, 8);
	put_le(&o, 1, 8);
	put_le(&o, 1, 8);
	send_all(&c, o.p, o.len);
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
		say("clCreateBuffer(made-up context id) returned %#" PRIx64, m);
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
	say("old and new ids %s", old == fresh ? "EQUAL" : "differ");
	if (old == fresh)
		failures++;
	expect("released id after reuse", mem_size(&s.c, old, &size),
	       CL_INVALID_MEM_OBJECT);
	expect("new id", mem_size(&s.c, fresh, &size), CL_SUCCESS);
	if (size != 256) {
		say("new id: size %" PRIu64 ", want 256", size);
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
		say("clCreateBuffer(other session's context) returned an id");
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
	fprintf(stderr, "rawclient: unknown case %s\n", argv[1]);
	return 99;
}
