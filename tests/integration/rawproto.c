/*
 * rawproto.c - a hand-made guest for the wire protocol (see rawproto.h).
 */
#include "rawproto.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void
raw_say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ---- bytes ------------------------------------------------------------- */

void
raw_put(struct raw_out *o, const void *p, size_t n)
{
	if (n == 0)
		return;   /* p may be NULL: an empty payload */
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2 + 64;
		o->p = realloc(o->p, o->cap);
		if (o->p == NULL) {
			raw_say("out of memory");
			exit(99);
		}
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

/* n <= 8 bytes of v, little-endian. */
void
raw_put_le(struct raw_out *o, uint64_t v, unsigned n)
{
	uint8_t b[8];
	assert(n <= sizeof(b));
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	raw_put(o, b, n);
}

static void
put_padded(struct raw_out *o, const void *p, size_t n)
{
	static const uint8_t zero[8];
	raw_put(o, p, n);
	raw_put(o, zero, (8 - n % 8) % 8);
}

uint64_t
raw_get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void
header_flags(struct raw_out *o, uint8_t type, uint32_t fn, uint32_t flags,
	     uint64_t seq, uint64_t len)
{
	raw_put_le(o, AVA_PROTOCOL_MAGIC, 4);
	raw_put_le(o, AVA_PROTOCOL_VERSION, 2);
	raw_put_le(o, type, 1);
	raw_put_le(o, ava_opencl_api.api_id, 1);
	raw_put_le(o, fn, 4);
	raw_put_le(o, 0, 4);  /* thread */
	raw_put_le(o, flags, 4);
	raw_put_le(o, 0, 4);  /* reserved */
	raw_put_le(o, seq, 8);
	raw_put_le(o, len, 8);
}

void
raw_header(struct raw_out *o, uint8_t type, uint32_t fn, uint64_t seq,
	   uint64_t len)
{
	header_flags(o, type, fn, 0, seq, len);
}

/* ---- the connection ---------------------------------------------------- */

bool
raw_send_all(struct raw_conn *c, const void *p, size_t n)
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
recv_all(struct raw_conn *c, void *p, size_t n)
{
	uint8_t *b = p;
	while (n > 0) {
		struct pollfd pf = { .fd = c->fd, .events = POLLIN };
		int r = poll(&pf, 1, READ_TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			raw_say("no answer from the server in %d ms",
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

bool
raw_conn_open(const char *addr, struct raw_conn *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strncmp(addr, "unix:", 5) != 0 ||
	    strlen(addr + 5) >= sizeof(sa.sun_path)) {
		raw_say("bad address %s", addr);
		return false;
	}
	strcpy(sa.sun_path, addr + 5);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	c->seq = 1;
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		raw_say("connect %s: %s", addr, strerror(errno));
		return false;
	}
	return true;
}

/*
 * Receive one frame. Returns its type, 0 on end of file, -1 on a timeout
 * or a malformed answer. An ERROR frame's text is printed.
 */
int
raw_recv_frame(struct raw_conn *c, uint8_t **payload, uint64_t *len)
{
	uint8_t h[AVA_FRAME_HEADER_SIZE];
	int r = recv_all(c, h, sizeof(h));
	if (r <= 0)
		return r;
	if (raw_get_le(h, 4) != AVA_PROTOCOL_MAGIC) {
		raw_say("answer with a bad magic");
		return -1;
	}
	uint8_t type = h[6];
	*len = raw_get_le(h + 32, 8);
	if (*len > (1u << 26)) {
		raw_say("answer of %" PRIu64 " bytes", *len);
		return -1;
	}
	*payload = malloc(*len + 1);
	if (*payload == NULL || (*len && recv_all(c, *payload, *len) <= 0)) {
		raw_say("answer cut short");
		return -1;
	}
	if (type == AVA_MSG_ERROR && *len >= 4)
		raw_say("server ERROR %d: %.*s",
			(int)(int32_t)raw_get_le(*payload, 4),
			(int)(*len - 4), *payload + 4);
	return type;
}

static uint64_t token;   /* the last WELCOME's */

bool
raw_hello(struct raw_conn *c, uint32_t spec_hash, uint64_t *session)
{
	struct raw_out o = { 0 };
	raw_header(&o, AVA_MSG_HELLO, 0, 0, 32);
	raw_put_le(&o, spec_hash, 4);
	raw_put_le(&o, (uint64_t)getpid(), 4);
	raw_put_le(&o, 0, 8);
	raw_put_le(&o, 0, 8);
	raw_put_le(&o, 0, 8);
	bool ok = raw_send_all(c, o.p, o.len);
	free(o.p);
	uint8_t *p = NULL;
	uint64_t len = 0;
	int t = ok ? raw_recv_frame(c, &p, &len) : -1;
	ok = t == AVA_MSG_WELCOME && len >= 32;
	if (ok && session != NULL)
		*session = raw_get_le(p, 8);
	if (ok)
		token = raw_get_le(p + 8, 8);
	free(p);
	return ok;
}

uint64_t
raw_token(void)
{
	return token;
}

bool
raw_hello_again(struct raw_conn *c, uint32_t spec_hash, uint64_t session,
		uint64_t tok, uint32_t kind, uint32_t thread, uint64_t answered)
{
	struct raw_out o = { 0 };
	bool resume = kind == AVA_HELLO_RESUME;
	raw_header(&o, AVA_MSG_HELLO, 0, 0, resume ? 40 : 32);
	raw_put_le(&o, spec_hash, 4);
	raw_put_le(&o, (uint64_t)getpid(), 4);
	raw_put_le(&o, session, 8);
	raw_put_le(&o, tok, 8);
	raw_put_le(&o, kind, 4);
	raw_put_le(&o, thread, 4);
	if (resume)
		raw_put_le(&o, answered, 8);
	bool ok = raw_send_all(c, o.p, o.len);
	free(o.p);
	uint8_t *p = NULL;
	uint64_t len = 0;
	int t = ok ? raw_recv_frame(c, &p, &len) : -1;
	free(p);
	return t == AVA_MSG_WELCOME;
}

/* ---- generic calls ----------------------------------------------------- */

const struct ava_fn_desc *
raw_fn_desc(uint32_t id)
{
	const struct ava_fn_desc *fn = ava_api_fn(&ava_opencl_api, id);
	if (fn == NULL) {
		raw_say("function %u is not in the descriptor table", id);
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
encode_arg(const struct ava_arg_desc *a, const struct raw_arg *x,
	   const uint64_t *ev, struct raw_out *o)
{
	static const uint64_t none[AVA_MAX_ARGS];
	uint64_t n;

	switch (a->kind) {
	case AVA_ARG_SCALAR:
	case AVA_ARG_HANDLE:
		raw_put_le(o, x->v, 8);
		break;
	case AVA_ARG_IN_BUF:
	case AVA_ARG_INOUT_BUF:
		if (x->p == NULL) {
			raw_put_le(o, AVA_WIRE_NULL, 8);
			break;
		}
		if (a->when != NULL && a->when(ev, none) == 0) {
			raw_put_le(o, 0, 8);
			break;
		}
		n = (a->count ? a->count(ev, none) : 1) * a->elem_size;
		if (n > x->n) {
			raw_say("%s needs %" PRIu64 " bytes, test gave %"
				PRIu64, a->name, n, x->n);
			exit(99);
		}
		raw_put_le(o, n, 8);
		put_padded(o, x->p, n);
		break;
	case AVA_ARG_IN_STRING:
		if (x->p == NULL) {
			raw_put_le(o, AVA_WIRE_NULL, 8);
			break;
		}
		raw_put_le(o, strlen(x->p) + 1, 8);
		put_padded(o, x->p, strlen(x->p) + 1);
		break;
	case AVA_ARG_IN_HANDLES:
	case AVA_ARG_IN_PROPS:
		if (x->p == NULL) {
			raw_put_le(o, AVA_WIRE_NULL, 8);
			break;
		}
		raw_put_le(o, x->n, 8);
		for (uint64_t i = 0; i < x->n; i++)
			raw_put_le(o, ((const uint64_t *)x->p)[i], 8);
		break;
	case AVA_ARG_USERDATA:
		raw_put_le(o, 0, 8);
		break;
	case AVA_ARG_IN_BUFS:
	case AVA_ARG_IN_KARG:
		raw_say("argument kind %d not supported by rawclient", a->kind);
		exit(99);
	default:  /* out kinds and callbacks: presence */
		raw_put_le(o, x->v != 0, 8);
		break;
	}
}

static bool
decode_reply(const struct ava_fn_desc *fn, const uint8_t *p, uint64_t len,
	     struct raw_reply *r)
{
	uint64_t at = 8;
	if (len < 8)
		return false;
	r->ret = raw_get_le(p, 8);
	for (int i = 0; i < fn->nargs; i++) {
		enum ava_arg_kind k = fn->args[i].kind;
		if (k != AVA_ARG_OUT_SCALAR && k != AVA_ARG_OUT_HANDLE &&
		    k != AVA_ARG_OUT_BUF && k != AVA_ARG_INOUT_BUF &&
		    k != AVA_ARG_OUT_HANDLES)
			continue;
		if (len - at < 8)
			return false;
		uint64_t v = raw_get_le(p + at, 8);
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
				r->ids[i][j] = raw_get_le(p + at + 8 * j, 8);
			at += 8 * v;
		}
	}
	return at == len;
}

/* The CALL payload of function id's arguments, into body. */
static void
encode_call(const struct ava_fn_desc *fn, const struct raw_arg *args,
	    struct raw_out *body)
{
	uint64_t ev[AVA_MAX_ARGS] = { 0 };
	for (int i = 0; i < fn->nargs; i++)
		ev[i] = is_pointer_kind(fn->args[i].kind) ?
			(args[i].p != NULL || args[i].v != 0) : args[i].v;
	for (int i = 0; i < fn->nargs; i++)
		encode_arg(&fn->args[i], &args[i], ev, body);
}

bool
raw_send_call(struct raw_conn *c, uint32_t id, const struct raw_arg *args,
	      uint32_t flags, const void *tail, size_t ntail)
{
	struct raw_out body = { 0 }, o = { 0 };
	encode_call(raw_fn_desc(id), args, &body);
	raw_put(&body, tail, ntail);
	header_flags(&o, AVA_MSG_CALL, id, flags, c->seq++, body.len);
	raw_put(&o, body.p, body.len);
	bool ok = raw_send_all(c, o.p, o.len);
	free(body.p);
	free(o.p);
	return ok;
}

/* The answer to a call of fn into r; past MOVED and DEFERRED frames
 * first when skip. Exits 1 on a timeout or a malformed REPLY. */
static void
answer(struct raw_conn *c, const struct ava_fn_desc *fn, bool skip,
       struct raw_reply *r)
{
	uint8_t *p = NULL;
	uint64_t len = 0;
	int t;
	while ((t = raw_recv_frame(c, &p, &len)) >= 0 && skip &&
	       (t == AVA_MSG_MOVED || t == AVA_MSG_DEFERRED)) {
		free(p);
		p = NULL;
	}
	if (t < 0)
		exit(1);
	r->kind = t;
	if (t == AVA_MSG_REPLY && !decode_reply(fn, p, len, r)) {
		raw_say("%s: malformed REPLY of %" PRIu64 " bytes", fn->name,
			len);
		exit(1);
	}
	free(p);
}

/*
 * Call function `id` with args[0..nargs). Returns the answer's kind in
 * r->kind: AVA_MSG_REPLY (decoded into r), AVA_MSG_ERROR or 0 (closed).
 * Exits 1 on a timeout or a malformed reply: the server misbehaved.
 */
void
raw_call(struct raw_conn *c, uint32_t id, const struct raw_arg *args,
	 struct raw_reply *r)
{
	const struct ava_fn_desc *fn = raw_fn_desc(id);
	struct raw_out body = { 0 }, o = { 0 };

	memset(r, 0, sizeof(*r));
	encode_call(fn, args, &body);
	raw_header(&o, AVA_MSG_CALL, id, c->seq++, body.len);
	raw_put(&o, body.p, body.len);
	if (!raw_send_all(c, o.p, o.len)) {
		r->kind = 0;
		goto out;
	}
	answer(c, fn, false, r);
out:
	free(body.p);
	free(o.p);
}

void
raw_batch(struct raw_conn *c, uint64_t base, bool async, uint32_t id,
	  const struct raw_arg *args, struct raw_reply *r)
{
	const struct ava_fn_desc *fn = raw_fn_desc(id);
	struct raw_out body = { 0 }, batch = { 0 }, o = { 0 };
	memset(r, 0, sizeof(*r));
	encode_call(fn, args, &body);
	raw_put_le(&batch, base, 8);
	header_flags(&batch, AVA_MSG_CALL, id, async ? AVA_FRAME_ASYNC : 0,
		     c->seq++, body.len);
	raw_put(&batch, body.p, body.len);
	raw_header(&o, AVA_MSG_BATCH, 0, 0, batch.len);
	raw_put(&o, batch.p, batch.len);
	bool sent = raw_send_all(c, o.p, o.len);
	free(body.p);
	free(batch.p);
	free(o.p);
	if (!sent || async) {
		r->kind = sent ? AVA_MSG_REPLY : 0;
		return;
	}
	answer(c, fn, true, r);
}

cl_int
raw_status(const struct raw_reply *r)
{
	return (cl_int)(uint32_t)r->ret;
}

/* The error out-argument of a creating call. */
cl_int
raw_errcode(const struct raw_reply *r, uint32_t id)
{
	const struct ava_fn_desc *fn = raw_fn_desc(id);
	for (int i = 0; i < fn->nargs; i++)
		if (fn->args[i].kind == AVA_ARG_OUT_SCALAR &&
		    (fn->args[i].flags & AVA_ARGF_ERRCODE))
			return (cl_int)(uint32_t)r->out[i];
	return (cl_int)(uint32_t)r->out[fn->nargs - 1];
}

void
raw_must_reply(const struct raw_reply *r, const char *what)
{
	if (r->kind != AVA_MSG_REPLY) {
		raw_say("%s: the session was closed", what);
		exit(1);
	}
}
