/*
 * session.c - one guest session inside its worker process: handshake, then
 * CALL -> validate -> invoke -> REPLY until the guest leaves.
 *
 * A protocol violation (bad frame, unknown function, malformed arguments)
 * closes the session with one log line: the guest is broken or hostile,
 * and nothing it sends later can be trusted. A bad handle is not a
 * violation: the call is answered with the API's invalid-object error and
 * the session goes on, as it would against the real driver.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ava-error.h"
#include "handle-table.h"
#include "server-ctx.h"
#include "server-private.h"

struct ava_session {
	uint64_t id;
	bool verbose;
	struct ava_conn *conn;
	const struct ava_server_api *server;
	const struct ava_api_desc *api;
	struct ava_handle_table *handles;
	struct ava_handle_ops hops;
	struct ava_frame in;
	struct ava_buf out;
	struct ava_call call;
	struct ava_server_ctx ctx;
	uint64_t ncalls;
	uint32_t nrefused;  /* calls refused for a bad handle, for the log */
};



void
ava_session_log(uint64_t id, pid_t pid, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One write per line, so lines of concurrent workers never mix. */
	dprintf(STDERR_FILENO, "ava server: session %" PRIu64 " (pid %d): %s\n",
		id, (int)pid, msg);
}

#define LOG(s, ...) ava_session_log((s)->id, getpid(), __VA_ARGS__)

/* ---- handle ops over the session's table ------------------------------ */

static int
hop_to_wire(void *ctx, uint16_t type, uint64_t real, bool creates,
	    uint64_t *id)
{
	struct ava_session *s = ctx;
	return ava_handle_table_intern(s->handles, type, real, creates, id);
}

static int
hop_from_wire(void *ctx, uint16_t type, uint64_t id, bool creates,
	      uint64_t *real, uint16_t *type_out)
{
	struct ava_session *s = ctx;
	return ava_handle_table_lookup(s->handles, id, type, real, type_out);
}

static void
hop_ref(void *ctx, uint64_t id, int delta)
{
	struct ava_session *s = ctx;
	ava_handle_table_ref(s->handles, id, delta, NULL);
}

/* ---- frames ----------------------------------------------------------- */

static int
send_frame(struct ava_session *s, uint8_t type, uint32_t fn, uint32_t thread,
	   uint64_t seq)
{
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = type, .api = s->api->api_id, .fn = fn,
		.thread = thread, .seq = seq, .len = s->out.len,
	};
	return ava_transport_conn_send(s->conn, &h, s->out.data);
}

static void
send_error(struct ava_session *s, int code, const char *text)
{
	ava_buf_reset(&s->out);
	uint8_t w[4];
	ava_wire_put_le(w, (uint32_t)code, 4);
	ava_buf_put_bytes(&s->out, w, 4);
	ava_buf_put_bytes(&s->out, text, strlen(text));
	send_frame(s, AVA_MSG_ERROR, 0, 0, 0);
}

/* Why a receive failed, in words, for the one log line. */
static void
describe_recv(int r, const struct ava_frame *f, char *buf, size_t n)
{
	const struct ava_frame_header *h = &f->h;
	if (r == AVA_ETOOBIG)
		snprintf(buf, n, "frame length %" PRIu64 " exceeds limit %llu",
			 h->len, (unsigned long long)AVA_FRAME_MAX);
	else if (r == AVA_EVERSION)
		snprintf(buf, n, "protocol version %u, expected %u",
			 h->version, AVA_PROTOCOL_VERSION);
	else if (r != AVA_EPROTO)
		snprintf(buf, n, "receive failed: %s", ava_strerror(r));
	else if (h->magic == 0 && f->got > 0)
		snprintf(buf, n, "truncated frame header (%zu of %d bytes)",
			 f->got, AVA_FRAME_HEADER_SIZE);
	else if (h->magic != AVA_PROTOCOL_MAGIC)
		snprintf(buf, n, "bad frame magic 0x%08" PRIx32, h->magic);
	else if (h->type == 0 || h->type >= AVA_MSG_TYPE_COUNT)
		snprintf(buf, n, "unknown message type %u", h->type);
	else if (h->reserved != 0)
		snprintf(buf, n, "nonzero reserved header field");
	else
		snprintf(buf, n, "truncated frame (%zu of %" PRIu64
			 " payload bytes)", f->got, h->len);
}

static int
recv_frame(struct ava_session *s)
{
	int r = ava_transport_conn_recv(s->conn, &s->in);
	if (r == AVA_ECLOSED || r == 0)
		return r;
	char why[200];
	describe_recv(r, &s->in, why, sizeof(why));
	LOG(s, "closed: %s", why);
	return r;
}

/* ---- handshake -------------------------------------------------------- */

static uint64_t
random_u64(void)
{
	uint64_t x = 0;
	while (getrandom(&x, sizeof(x), 0) < 0 && errno == EINTR)
		;
	return x;
}

static int
refuse_hello(struct ava_session *s, int code, const char *why)
{
	LOG(s, "closed: %s", why);
	send_error(s, code, why);
	return code;
}

static int
welcome(struct ava_session *s)
{
	uint16_t owner;
	do
		owner = (uint16_t)random_u64();
	while (owner == 0);
	int r = ava_handle_table_create(s->api, owner, &s->handles);
	if (r < 0)
		return refuse_hello(s, r, "cannot create the handle table");
	uint8_t w[24] = { 0 };
	ava_wire_put_le(w, s->id, 8);
	ava_wire_put_le(w + 8, random_u64(), 8);
	ava_wire_put_le(w + 16, owner, 4);
	ava_buf_reset(&s->out);
	ava_buf_put_padded(&s->out, w, sizeof(w));
	return send_frame(s, AVA_MSG_WELCOME, 0, 0, 0);
}

static int
handshake(struct ava_session *s)
{
	char why[200];
	int r = recv_frame(s);
	if (r < 0)
		return r;
	const uint8_t *p = s->in.payload.data;
	if (s->in.h.type != AVA_MSG_HELLO || s->in.h.len != 32)
		return refuse_hello(s, AVA_EPROTO, "expected HELLO");
	uint32_t hash = (uint32_t)ava_wire_get_le(p, 4);
	if (hash != s->api->spec_hash) {
		snprintf(why, sizeof(why), "spec mismatch: guest spec_hash "
			 "0x%08" PRIx32 ", server 0x%08" PRIx32 " (build the "
			 "guest library and the server from the same spec)",
			 hash, s->api->spec_hash);
		return refuse_hello(s, AVA_ESPEC, why);
	}
	if (ava_wire_get_le(p + 8, 8) != 0)
		return refuse_hello(s, AVA_ENOTSUP,
				    "joining a session is not supported yet");
	if (s->verbose)
		LOG(s, "guest pid %u connected on %s",
		    (unsigned)ava_wire_get_le(p + 4, 4),
		    ava_transport_conn_addr(s->conn));
	return welcome(s);
}

/* ---- calls ------------------------------------------------------------ */

static int64_t
invalid_error(const struct ava_session *s, uint16_t type)
{
	if (type != 0 && type < s->api->nhandles)
		return s->api->handles[type].invalid_error;
	return s->api->unsupported_error;
}

/* Run a decoded call. The journal hook will sit between invoke() and the
 * reply, where arguments, result and outputs are all known. */
static int
run_call(struct ava_session *s)
{
	struct ava_call *c = &s->call;
	ava_marshal_call_override(c);
	s->ctx.call = c;
	uint64_t ret = s->server->invoke(c->fn->id, c->v, &s->ctx);
	return ava_marshal_reply_encode(c, ret, &s->hops, &s->out);
}

/* The first refused call of a session is logged: an operator wants to
 * see a guest probing ids, a developer a use after release. Later ones
 * are only counted (verbose mode reports the count at the end), so a
 * guest cannot flood the log. */
static void
log_refusal(struct ava_session *s, const struct ava_fn_desc *fn, int64_t err)
{
	const struct ava_call *c = &s->call;
	if (++s->nrefused > 1)
		return;
	const char *type = c->bad_type && c->bad_type < s->api->nhandles ?
			   s->api->handles[c->bad_type].name : "handle";
	LOG(s, "%s (seq %" PRIu64 "): argument %s: invalid %s id 0x%016"
	    PRIx64 ", answered %" PRId64 " (later ones in this session are "
	    "not logged)", fn->name, s->ctx.seq, fn->args[c->bad_arg].name,
	    type, c->bad_id, err);
}

static int
answer_call(struct ava_session *s, const struct ava_fn_desc *fn)
{
	if (fn->flags & AVA_FN_UNSUPPORTED)
		return ava_marshal_reply_reject(fn, fn->unsupported_error,
						&s->out);
	int r = ava_marshal_call_decode(s->api, fn, s->in.payload.data,
					s->in.payload.len, &s->hops, &s->call);
	if (r == AVA_EHANDLE) {
		int64_t err = invalid_error(s, s->call.bad_type);
		log_refusal(s, fn, err);
		return ava_marshal_reply_reject(fn, err, &s->out);
	}
	if (r < 0)
		return r;
	return run_call(s);
}

static int
serve_call(struct ava_session *s)
{
	const struct ava_frame_header *h = &s->in.h;
	const struct ava_fn_desc *fn = ava_api_fn(s->api, h->fn);
	if (h->api != s->api->api_id || fn == NULL) {
		LOG(s, "closed: unknown %s %" PRIu32 " (seq %" PRIu64 ")",
		    fn == NULL ? "function id" : "api id",
		    fn == NULL ? h->fn : h->api, h->seq);
		return AVA_ENOFN;
	}
	s->ctx.thread = h->thread;
	s->ctx.seq = h->seq;
	ava_buf_reset(&s->out);
	int r = answer_call(s, fn);
	ava_call_finish(&s->call);
	if (r < 0) {
		LOG(s, "closed: %s in call to %s (seq %" PRIu64 ")",
		    r == AVA_EPROTO ? "malformed arguments" : ava_strerror(r),
		    fn->name, h->seq);
		return r;
	}
	s->ncalls++;
	if (h->flags & AVA_FRAME_ASYNC)
		return 0;
	r = send_frame(s, AVA_MSG_REPLY, h->fn, h->thread, h->seq);
	if (r < 0)
		LOG(s, "closed: cannot send reply: %s", ava_strerror(r));
	return r;
}

static int
loop(struct ava_session *s)
{
	for (;;) {
		int r = recv_frame(s);
		if (r == AVA_ECLOSED || (r == 0 && s->in.h.type == AVA_MSG_BYE)) {
			if (s->verbose)
				LOG(s, "closed by guest after %" PRIu64
				    " calls (%" PRIu32 " refused for invalid "
				    "handles)", s->ncalls, s->nrefused);
			return 0;
		}
		if (r < 0)
			return r;
		if (s->in.h.type != AVA_MSG_CALL) {
			LOG(s, "closed: unexpected message type %u",
			    s->in.h.type);
			return AVA_EPROTO;
		}
		if ((r = serve_call(s)) < 0)
			return r;
	}
}

int
ava_session_serve(struct ava_conn *conn, uint64_t id,
		  const struct ava_server_api *server, bool verbose)
{
	struct ava_session *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		ava_transport_conn_destroy(conn);
		return -ENOMEM;
	}
	s->id = id;
	s->verbose = verbose;
	s->conn = conn;
	s->server = server;
	s->api = server->api;
	s->hops = (struct ava_handle_ops){ .to_wire = hop_to_wire,
		.from_wire = hop_from_wire, .ref = hop_ref, .ctx = s };
	s->ctx = (struct ava_server_ctx){ .session = s, .server = server,
		.session_id = id };
	ava_buf_init(&s->out);
	ava_buf_init(&s->in.payload);
	int r = handshake(s);
	if (r == 0)
		r = loop(s);
	ava_buf_finish(&s->out);
	ava_buf_finish(&s->in.payload);
	ava_handle_table_destroy(s->handles);
	ava_transport_conn_destroy(s->conn);
	free(s);
	return r;
}
