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
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ava-error.h"
#include "handle-table.h"
#include "server-ctx.h"
#include "server-private.h"
#include "session-async.h"
#include "session-callback.h"
#include "session-journal.h"

/*
 * One guest process's session, shared by the worker's connection threads:
 * the guest opens one connection per thread (see guest/guest.c), and each
 * is served by its own thread here, so a call that blocks in the driver
 * stalls only its own guest thread. `lock` guards the handle table and the
 * counters; the real calls run without it.
 */
struct ava_session {
	uint64_t id;
	uint64_t token;          /* a joining connection must present it */
	bool verbose;
	bool said_bye;           /* the first connection ended with BYE */
	uint32_t guest_pid;
	const struct ava_server_config *cfg;
	struct ava_session_journal *journal;  /* NULL: not journaled */
	const struct ava_server_api *server;
	const struct ava_api_desc *api;
	char *addr;
	pthread_mutex_t lock;
	pthread_cond_t idle;     /* signalled when nconns drops */
	struct ava_handle_table *handles;
	struct ava_session_async *async;  /* BATCH order, deferred errors */
	struct ava_listener *joins;
	struct conn *conns;      /* live connections, for a stop request */
	bool stopping;           /* the server asked the session to end */
	uint32_t nconns;
	uint64_t ncalls;
	uint32_t nrefused;
};

/* One connection (one guest thread) and what serving it needs. */
struct conn {
	struct ava_session *s;
	struct ava_conn *conn;
	struct ava_frame in;
	struct ava_buf out;
	struct ava_call call;
	struct ava_server_ctx ctx;
	struct ava_handle_ops hops;  /* ctx: this conn, for journal tags */
	struct ava_journal_rec rec;
	uint8_t *payload;            /* the CALL being served: in `in`, */
	size_t len;                  /* or inside a BATCH there */
	bool callbacks;              /* the guest's callback channel */
	struct ava_buf inline_cbs;   /* callbacks made inside the call */
	struct conn *next;           /* in s->conns */
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

/* ---- handle ops over the session's table (callers hold s->lock) ------- */

static int
hop_to_wire(void *ctx, uint16_t type, uint64_t real, bool creates,
	    uint64_t *id)
{
	struct conn *c = ctx;
	int r = ava_handle_table_intern(c->s->handles, type, real, creates, id);
	if (r == 0 && creates)
		ava_journal_rec_tag(&c->rec, AVA_JOURNAL_TAG_CREATED, *id);
	return r;
}

static int
hop_from_wire(void *ctx, uint16_t type, uint64_t id, bool creates,
	      uint64_t *real, uint16_t *type_out)
{
	struct conn *c = ctx;
	return ava_handle_table_lookup(c->s->handles, id, type, real,
				       type_out);
}

static void
hop_ref(void *ctx, uint64_t id, int delta)
{
	struct conn *c = ctx;
	bool freed = false;
	ava_handle_table_ref(c->s->handles, id, delta, &freed);
	if (freed)
		ava_journal_rec_tag(&c->rec, AVA_JOURNAL_TAG_RELEASED, id);
}

/* ---- frames ----------------------------------------------------------- */

static int
send_bytes(struct conn *c, uint8_t type, uint32_t fn, uint32_t thread,
	   uint64_t seq, const void *p, size_t n)
{
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = type, .api = c->s->api->api_id, .fn = fn,
		.thread = thread, .seq = seq, .len = n,
	};
	return ava_transport_conn_send(c->conn, &h, p);
}

/* c->out as the payload. */
static int
send_frame(struct conn *c, uint8_t type, uint32_t fn, uint32_t thread,
	   uint64_t seq)
{
	return send_bytes(c, type, fn, thread, seq, c->out.data, c->out.len);
}

static void
send_error(struct conn *c, int code, const char *text)
{
	uint8_t w[4];
	ava_wire_put_le(w, (uint32_t)code, 4);
	ava_buf_reset(&c->out);
	ava_buf_put_bytes(&c->out, w, 4);
	ava_buf_put_bytes(&c->out, text, strlen(text));
	send_frame(c, AVA_MSG_ERROR, 0, 0, 0);
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
recv_frame(struct conn *c)
{
	int r = ava_transport_conn_recv(c->conn, &c->in);
	if (r == AVA_ECLOSED || r == 0)
		return r;
	char why[200];
	describe_recv(r, &c->in, why, sizeof(why));
	LOG(c->s, "closed: %s", why);
	return r;
}

/* ---- calls ------------------------------------------------------------ */

static int64_t
invalid_error(const struct ava_session *s, uint16_t type)
{
	if (type != 0 && type < s->api->nhandles)
		return s->api->handles[type].invalid_error;
	return s->api->unsupported_error;
}

/* The first refused call of a session is logged: an operator wants to
 * see a guest probing ids, a developer a use after release. Later ones
 * are only counted (verbose mode reports the count at the end), so a
 * guest cannot flood the log. Called with s->lock held. */
static void
log_refusal(struct conn *c, const struct ava_fn_desc *fn, int64_t err)
{
	struct ava_session *s = c->s;
	const struct ava_call *k = &c->call;
	if (++s->nrefused > 1)
		return;
	const char *type = k->bad_type && k->bad_type < s->api->nhandles ?
			   s->api->handles[k->bad_type].name : "handle";
	LOG(s, "%s (seq %" PRIu64 "): argument %s: invalid %s id 0x%016"
	    PRIx64 ", answered %" PRId64 " (later ones in this session are "
	    "not logged)", fn->name, c->ctx.seq, fn->args[k->bad_arg].name,
	    type, k->bad_id, err);
}

/* Decode under the session lock; a bad handle is answered right here. */
static int
decode(struct conn *c, const struct ava_fn_desc *fn, bool *ran)
{
	struct ava_session *s = c->s;
	pthread_mutex_lock(&s->lock);
	int r = ava_marshal_call_decode(s->api, fn, c->payload, c->len,
					&c->hops, &c->call);
	if (r == AVA_EHANDLE) {
		int64_t err = invalid_error(s, c->call.bad_type);
		log_refusal(c, fn, err);
		r = ava_marshal_reply_reject(fn, err, &c->out);
		*ran = true;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Objects the spec says this call writes, for the journal's state mode. */
static void
tag_writes(struct conn *c)
{
	const struct ava_fn_desc *fn = c->call.fn;
	for (unsigned i = 0; i < fn->nargs; i++)
		if (fn->args[i].kind == AVA_ARG_HANDLE &&
		    (fn->args[i].flags & AVA_ARGF_WRITES))
			ava_journal_rec_tag(&c->rec, AVA_JOURNAL_TAG_WRITTEN,
					    c->call.ev[i]);
}

/* The real call runs unlocked, so one guest thread blocking in the
 * driver does not stall the others. */
static int
run_call(struct conn *c)
{
	struct ava_session *s = c->s;
	tag_writes(c);
	ava_marshal_call_override(&c->call);
	c->ctx.call = &c->call;
	uint64_t ret = s->server->invoke(c->call.fn->id, c->call.v, &c->ctx);
	pthread_mutex_lock(&s->lock);
	int r = ava_marshal_reply_encode(&c->call, ret, &c->hops, &c->out);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int
answer_call(struct conn *c, const struct ava_fn_desc *fn)
{
	if (fn->flags & AVA_FN_UNSUPPORTED)
		return ava_marshal_reply_reject(fn, fn->unsupported_error,
						&c->out);
	bool answered = false;
	int r = decode(c, fn, &answered);
	if (r < 0 || answered)
		return r;
	return run_call(c);
}

/* The ASYNC call just answered in c->out failed: its thread hears of it
 * before its next REPLY, and the journal keeps the error with the call. */
static void
note_async_failure(struct conn *c, const struct ava_frame_header *h,
		   const struct ava_fn_desc *fn)
{
	struct ava_session *s = c->s;
	if (fn->ret != AVA_RET_STATUS || c->out.len < 8)
		return;
	uint64_t ret = ava_wire_get_le(c->out.data, 8);
	if ((int64_t)ret == s->api->success)
		return;
	c->rec.deferred_error = (int64_t)ret;
	struct ava_deferred d = { .thread = h->thread, .fn = h->fn,
				  .seq = h->seq, .ret = ret };
	ava_session_async_failed(s->async, &d);
	if (s->verbose)
		LOG(s, "%s (thread %" PRIu32 ", seq %" PRIu64 ", queued) "
		    "failed with %" PRId64 "; deferred to the thread's next "
		    "synchronizing call", fn->name, h->thread, h->seq,
		    (int64_t)ret);
}

/* Before a REPLY to thread: the failures of its queued calls, oldest
 * first (doc/protocol.md, "Deferred errors"). */
static int
send_deferred(struct conn *c, uint32_t thread)
{
	struct ava_deferred d[16];
	size_t n;
	uint8_t w[8];
	int r = 0;
	while (r == 0 && (n = ava_session_async_take(c->s->async, thread, d,
						     16)) > 0) {
		for (size_t i = 0; i < n && r == 0; i++) {
			ava_wire_put_le(w, d[i].ret, 8);
			r = send_bytes(c, AVA_MSG_DEFERRED, d[i].fn, thread,
				       d[i].seq, w, sizeof(w));
		}
	}
	return r;
}

/* The callbacks the driver made inside the call, before its REPLY. */
static int
send_inline_callbacks(struct conn *c)
{
	struct ava_reader rd;
	uint64_t n;
	uint8_t *p;
	int r = ava_buf_error(&c->inline_cbs);
	ava_reader_init(&rd, c->inline_cbs.data, c->inline_cbs.len);
	while (r == 0 && rd.left > 0 && ava_reader_u64(&rd, &n) == 0 &&
	       ava_reader_bytes(&rd, n, &p) == 0)
		r = send_bytes(c, AVA_MSG_CALLBACK, 0, 0, 0, p, (size_t)n);
	return r;
}

static int
serve_call(struct conn *c, const struct ava_frame_header *h, uint8_t *payload)
{
	struct ava_session *s = c->s;
	const struct ava_fn_desc *fn = ava_api_fn(s->api, h->fn);
	bool async = h->flags & AVA_FRAME_ASYNC;
	if (h->api != s->api->api_id || fn == NULL) {
		LOG(s, "closed: unknown %s %" PRIu32 " (seq %" PRIu64 ")",
		    fn == NULL ? "function id" : "api id",
		    fn == NULL ? h->fn : h->api, h->seq);
		return AVA_ENOFN;
	}
	if (async && !(fn->flags & AVA_FN_ASYNC)) {
		/* It has results, or it creates objects: the guest could
		 * never learn them. */
		LOG(s, "closed: queued call to %s, which is never async (seq %"
		    PRIu64 ")", fn->name, h->seq);
		return AVA_EPROTO;
	}
	c->ctx.thread = h->thread;
	c->ctx.seq = h->seq;
	c->payload = payload;
	c->len = (size_t)h->len;
	ava_buf_reset(&c->out);
	/* The journal takes its view of the CALL before decoding rewrites
	 * handle ids in place, and of the REPLY before it is sent. */
	ava_session_journal_call_begin(s->journal, &c->rec, fn, h->thread,
				       payload, c->len, async);
	/* Callbacks the driver makes inside a synchronous call go back
	 * with its REPLY (session-callback.h). */
	ava_buf_reset(&c->inline_cbs);
	ava_session_callback_inline(async ? NULL : &c->inline_cbs);
	int r = answer_call(c, fn);
	ava_session_callback_inline(NULL);
	if (r >= 0 && async)
		note_async_failure(c, h, fn);
	if (r >= 0)
		ava_session_journal_call_end(s->journal, &c->rec, c->out.data,
					     c->out.len);
	ava_call_finish(&c->call);
	if (r < 0) {
		LOG(s, "closed: %s in call to %s (seq %" PRIu64 ")",
		    r == AVA_EPROTO ? "malformed arguments" : ava_strerror(r),
		    fn->name, h->seq);
		return r;
	}
	__atomic_add_fetch(&s->ncalls, 1, __ATOMIC_RELAXED);
	if (async)
		return 0;
	r = send_deferred(c, h->thread);
	if (r == 0)
		r = send_inline_callbacks(c);
	if (r == 0)
		r = send_frame(c, AVA_MSG_REPLY, h->fn, h->thread, h->seq);
	if (r < 0)
		LOG(s, "closed: cannot send reply: %s", ava_strerror(r));
	return r;
}

/*
 * Check a BATCH's frames before anything runs: each a CALL within the
 * batch, all ASYNC but perhaps the last. *has_async: any ASYNC at all.
 */
static int
check_batch(struct conn *c, struct ava_batch_reader br, bool *has_async)
{
	struct ava_frame_header h;
	uint8_t *p;
	bool sync_seen = false;
	int r;
	*has_async = false;
	while ((r = ava_batch_next(&br, &h, &p)) > 0) {
		if (sync_seen) {
			LOG(c->s, "closed: a synchronous call inside a batch");
			return AVA_EPROTO;
		}
		sync_seen = !(h.flags & AVA_FRAME_ASYNC);
		*has_async |= !sync_seen;
	}
	if (r < 0)
		LOG(c->s, "closed: malformed batch: %s", ava_strerror(r));
	return r;
}

/*
 * A BATCH (doc/protocol.md, "Batches"): wait until the session's ASYNC
 * calls before it have run, wherever they came from, then serve its calls
 * in order.
 */
static int
serve_batch(struct conn *c)
{
	struct ava_session *s = c->s;
	struct ava_batch_reader br;
	struct ava_frame_header h;
	uint8_t *p;
	uint64_t base;
	bool has_async;
	int r = ava_batch_begin(&br, c->in.payload.data, c->in.payload.len,
				&base);
	if (r < 0) {
		LOG(s, "closed: malformed batch: no base");
		return r;
	}
	if ((r = check_batch(c, br, &has_async)) < 0)
		return r;
	r = ava_session_async_fence(s->async, base, has_async);
	if (r < 0) {
		LOG(s, "closed: %s %" PRIu64, r == AVA_EDEAD ?
		    "a batch waits for queued calls that never came: base" :
		    "a batch numbered twice: base", base);
		return r;
	}
	/* The count goes up once, before a synchronous last call: that one
	 * may block (clWaitForEvents), and other connections' batches must
	 * not wait for it. Fences only ever wait for whole batches. */
	uint64_t ran = 0;
	while ((r = ava_batch_next(&br, &h, &p)) > 0) {
		bool async = h.flags & AVA_FRAME_ASYNC;
		if (!async && ran > 0) {
			ava_session_async_ran(s->async, ran);
			ran = 0;
		}
		if ((r = serve_call(c, &h, p)) < 0)
			return r;
		ran += async;
	}
	if (ran > 0)
		ava_session_async_ran(s->async, ran);
	return r;
}

/* c is the guest's callback channel from now on. It brings no batch, so
 * it does not count for the batches' fences. */
static void
become_callbacks(struct conn *c)
{
	c->callbacks = true;
	ava_session_async_conns(c->s->async, -1);
	ava_session_callback_attach(c->conn, c->s->api->api_id);
	/* The answer: from now on no callback is lost for want of it. */
	ava_session_callback_send(0, NULL, 0);
}

static int
loop(struct conn *c)
{
	for (;;) {
		int r = recv_frame(c);
		if (r == 0 && c->in.h.type == AVA_MSG_BYE)
			c->s->said_bye = true;
		if (r == AVA_ECLOSED ||
		    (r == 0 && c->in.h.type == AVA_MSG_BYE))
			return 0;
		if (r < 0)
			return r;
		if (c->in.h.type == AVA_MSG_BATCH)
			r = serve_batch(c);
		else if (c->in.h.type == AVA_MSG_CALL)
			r = serve_call(c, &c->in.h, c->in.payload.data);
		else if (c->in.h.type == AVA_MSG_CALLBACK && !c->callbacks)
			become_callbacks(c);
		else {
			LOG(c->s, "closed: unexpected message type %u",
			    c->in.h.type);
			return AVA_EPROTO;
		}
		if (r < 0)
			return r;
	}
}

/* ---- connections ------------------------------------------------------ */

static struct conn *
conn_create(struct ava_session *s, struct ava_conn *conn)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		ava_transport_conn_destroy(conn);
		return NULL;
	}
	c->s = s;
	c->conn = conn;
	c->ctx = (struct ava_server_ctx){ .session = s, .server = s->server,
		.session_id = s->id, .journal = s->journal };
	c->hops = (struct ava_handle_ops){ .to_wire = hop_to_wire,
		.from_wire = hop_from_wire, .ref = hop_ref, .ctx = c };
	ava_journal_rec_init(&c->rec);
	ava_buf_init(&c->out);
	ava_buf_init(&c->inline_cbs);
	ava_buf_init(&c->in.payload);
	return c;
}

static void
conn_destroy(struct conn *c)
{
	ava_journal_rec_finish(&c->rec);
	ava_buf_finish(&c->out);
	ava_buf_finish(&c->inline_cbs);
	ava_buf_finish(&c->in.payload);
	ava_transport_conn_destroy(c->conn);
	free(c);
}

static int
welcome(struct conn *c)
{
	struct ava_session *s = c->s;
	uint8_t w[24] = { 0 };
	ava_wire_put_le(w, s->id, 8);
	ava_wire_put_le(w + 8, s->token, 8);
	ava_wire_put_le(w + 16, ava_handle_table_owner(s->handles), 4);
	ava_buf_reset(&c->out);
	ava_buf_put_bytes(&c->out, w, sizeof(w));
	return send_frame(c, AVA_MSG_WELCOME, 0, 0, 0);
}

static void
add_conn(struct ava_session *s, struct conn *c)
{
	pthread_mutex_lock(&s->lock);
	c->next = s->conns;
	s->conns = c;
	s->nconns++;
	ava_session_async_conns(s->async, 1);
	if (s->stopping)
		ava_transport_conn_shutdown(c->conn);
	pthread_mutex_unlock(&s->lock);
}

/* Unlink and free c; the session ends when its last connection goes. */
static void
drop_conn(struct ava_session *s, struct conn *c)
{
	pthread_mutex_lock(&s->lock);
	for (struct conn **p = &s->conns; *p != NULL; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	s->nconns--;
	if (c->callbacks)
		ava_session_callback_detach(c->conn);
	else
		ava_session_async_conns(s->async, -1);
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	conn_destroy(c);
}

/* Serve a connection to its end. */
static int
serve_conn(struct conn *c)
{
	struct ava_session *s = c->s;
	int r = welcome(c);
	if (r == 0)
		r = loop(c);
	drop_conn(s, c);
	return r;
}

static void *
conn_thread(void *arg)
{
	serve_conn(arg);
	return NULL;
}

/* The abstract socket through which a guest's further connections reach
 * this worker: named by the accept loop's pid and the session. */
static void
join_name(uint64_t session, char *buf, size_t n)
{
	snprintf(buf, n, "ava-server-%d-session-%" PRIu64, (int)getppid(),
		 session);
}

static void
start_conn(struct ava_session *s, struct ava_conn *conn)
{
	struct conn *c = conn_create(s, conn);
	pthread_t t;
	if (c == NULL)
		return;
	add_conn(s, c);
	if (pthread_create(&t, NULL, conn_thread, c) == 0) {
		pthread_detach(t);
		return;
	}
	LOG(s, "cannot start a thread for a joining connection");
	drop_conn(s, c);
}

/* Accept the guest's further connections for as long as the worker runs. */
static void *
join_thread(void *arg)
{
	struct ava_session *s = arg;
	for (;;) {
		uint8_t msg[16];
		struct ava_conn *conn;
		int r = ava_transport_handoff_accept(s->joins, s->addr, msg,
						     sizeof(msg), &conn);
		if (r == -EINVAL || r == -EBADF)
			break;  /* shut down: the session is over */
		if (r < 0)
			continue;
		if (ava_wire_get_le(msg, 8) != s->id ||
		    ava_wire_get_le(msg + 8, 8) != s->token) {
			LOG(s, "refused a joining connection: wrong token");
			ava_transport_conn_destroy(conn);
			continue;
		}
		start_conn(s, conn);
	}
	return NULL;
}

/* ---- handshake and the session's life --------------------------------- */

static int
finish_session(struct ava_session *s, int r)
{
	ava_session_async_destroy(s->async, s->api);
	ava_handle_table_destroy(s->handles);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	free(s->addr);
	free(s);
	return r;
}

static uint64_t
random_u64(void)
{
	uint64_t x = 0;
	while (getrandom(&x, sizeof(x), 0) < 0 && errno == EINTR)
		;
	return x;
}

static int
refuse_hello(struct conn *c, int code, const char *why)
{
	LOG(c->s, "closed: %s", why);
	send_error(c, code, why);
	return code;
}

/* Receive and check HELLO; *session and *token tell whether it joins. */
static int
hello(struct conn *c, uint64_t *session, uint64_t *token)
{
	char why[200];
	int r = recv_frame(c);
	if (r < 0)
		return r;
	const uint8_t *p = c->in.payload.data;
	if (c->in.h.type != AVA_MSG_HELLO || c->in.h.len != 32)
		return refuse_hello(c, AVA_EPROTO, "expected HELLO");
	uint32_t hash = (uint32_t)ava_wire_get_le(p, 4);
	if (hash != c->s->api->spec_hash) {
		snprintf(why, sizeof(why), "spec mismatch: guest spec_hash "
			 "0x%08" PRIx32 ", server 0x%08" PRIx32 " (build the "
			 "guest library and the server from the same spec)",
			 hash, c->s->api->spec_hash);
		return refuse_hello(c, AVA_ESPEC, why);
	}
	*session = ava_wire_get_le(p + 8, 8);
	*token = ava_wire_get_le(p + 16, 8);
	c->s->guest_pid = (uint32_t)ava_wire_get_le(p + 4, 4);
	if (c->s->verbose)
		LOG(c->s, "guest pid %u %s on %s",
		    (unsigned)ava_wire_get_le(p + 4, 4),
		    *session ? "joins" : "connected",
		    ava_transport_conn_addr(c->conn));
	return 0;
}

/* A further connection of a guest: pass it to its session's worker. */
static int
join(struct conn *c, uint64_t session, uint64_t token)
{
	char name[80], why[120];
	uint8_t msg[16];
	join_name(session, name, sizeof(name));
	ava_wire_put_le(msg, session, 8);
	ava_wire_put_le(msg + 8, token, 8);
	int r = ava_transport_conn_handoff(c->conn, name, msg, sizeof(msg));
	if (r == 0)
		return 0;
	snprintf(why, sizeof(why), "cannot join session %" PRIu64 ": %s",
		 session, ava_strerror(r));
	return refuse_hello(c, r, why);
}

static int
listen_joins(struct ava_session *s, pthread_t *t)
{
	char name[80];
	join_name(s->id, name, sizeof(name));
	int r = ava_transport_handoff_listen(name, &s->joins);
	if (r == 0 && (r = -pthread_create(t, NULL, join_thread, s)) < 0) {
		ava_transport_listener_destroy(s->joins);
		s->joins = NULL;
	}
	if (r < 0)
		LOG(s, "guest threads beyond the first cannot join: %s",
		    ava_strerror(r));
	return r;
}

/* How long a stop request waits for guests that are leaving anyway. */
#define STOP_GRACE_MS 300

/*
 * The worker blocks SIGTERM and SIGINT in every thread (server.c); this
 * thread takes them. On the server's stop request the session closes its
 * connections, so each thread finishes the call it is in, and the journal
 * records the end. Once the session is over, run_session() wakes this
 * thread with a SIGTERM of its own, which then finds nconns at 0.
 */
static void *
stop_thread(void *arg)
{
	struct ava_session *s = arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	int sig;
	if (sigwait(&set, &sig) != 0)
		return NULL;
	pthread_mutex_lock(&s->lock);
	/* A guest that is already leaving (its goodbye may still be in the
	 * socket) gets a moment to do so, so its end is recorded as it was;
	 * `ava run` stops its server right after the command exits. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += STOP_GRACE_MS * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	while (s->nconns > 0 &&
	       pthread_cond_timedwait(&s->idle, &s->lock, &until) == 0)
		;
	ava_session_async_stop(s->async);
	if (s->nconns > 0) {
		s->stopping = true;
		for (struct conn *c = s->conns; c != NULL; c = c->next)
			ava_transport_conn_shutdown(c->conn);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* With --journal, a session that cannot be recorded is refused: the
 * operator asked for every call to be kept. */
static int
open_journal(struct conn *c)
{
	struct ava_session *s = c->s;
	const struct ava_server_config *cfg = s->cfg;
	if (cfg->journal_dir == NULL || cfg->journal_mode == AVA_JOURNAL_OFF)
		return 0;
	char guest[32], why[256] = "", text[320];
	snprintf(guest, sizeof(guest), "pid %u", (unsigned)s->guest_pid);
	int r = ava_session_journal_open(cfg->journal_dir, cfg->journal_mode,
					 cfg->journal_sync, s->api, s->id, guest, why,
					 sizeof(why), &s->journal);
	if (r == 0) {
		c->ctx.journal = s->journal;
		return 0;
	}
	snprintf(text, sizeof(text), "journal unavailable: %s",
		 why[0] ? why : ava_strerror(r));
	return refuse_hello(c, r, text);
}

/* A new session: serve its first connection, accept the guest's further
 * ones, and end when the last of them closes. */
static int
run_session(struct conn *c)
{
	struct ava_session *s = c->s;
	uint16_t owner;
	do
		owner = (uint16_t)random_u64();
	while (owner == 0);
	s->token = random_u64();
	int r = ava_handle_table_create(s->api, owner, &s->handles);
	if (r == 0)
		r = ava_session_async_create(s->id, getpid(), &s->async);
	if (r == 0)
		r = open_journal(c);
	if (r < 0) {
		conn_destroy(c);
		return r;
	}
	pthread_t t, st;
	bool joins = listen_joins(s, &t) == 0;
	bool stopper = pthread_create(&st, NULL, stop_thread, s) == 0;
	add_conn(s, c);
	r = serve_conn(c);
	pthread_mutex_lock(&s->lock);
	while (s->nconns > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (joins) {
		ava_transport_listener_shutdown(s->joins);
		pthread_join(t, NULL);
		ava_transport_listener_destroy(s->joins);
	}
	if (stopper) {
		pthread_kill(st, SIGTERM);  /* wakes its sigwait() */
		pthread_join(st, NULL);
	}
	if (s->verbose && r == 0)
		LOG(s, "closed %s after %" PRIu64 " calls (%" PRIu32
		    " refused for invalid handles)",
		    s->stopping ? "by the server" : "by guest", s->ncalls,
		    s->nrefused);
	ava_session_journal_close(s->journal, s->stopping
				  ? AVA_JOURNAL_END_SERVER_STOP
				  : s->said_bye ? AVA_JOURNAL_END_CLEAN
				  : AVA_JOURNAL_END_VANISHED, 0);
	return r;
}

int
ava_session_serve(struct ava_conn *conn, uint64_t id,
		  const struct ava_server_api *server,
		  const struct ava_server_config *cfg)
{
	struct ava_session *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		ava_transport_conn_destroy(conn);
		return -ENOMEM;
	}
	*s = (struct ava_session){ .id = id, .verbose = cfg->verbose,
		.cfg = cfg, .server = server, .api = server->api,
		.addr = strdup(ava_transport_conn_addr(conn)) };
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	struct conn *c = conn_create(s, conn);
	if (c == NULL || s->addr == NULL) {
		if (c != NULL)
			conn_destroy(c);
		return finish_session(s, -ENOMEM);
	}
	uint64_t session = 0, token = 0;
	int r = hello(c, &session, &token);
	if (r == 0 && session == 0)
		return finish_session(s, run_session(c));
	if (r == 0)
		r = join(c, session, token);
	conn_destroy(c);
	return finish_session(s, r);
}
