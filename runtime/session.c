/*
 * session.c - serving one connection of a guest session inside its worker
 * process: CALL (or BATCH) -> validate -> invoke -> REPLY until the guest
 * leaves. The session's life around it is in session-life.c.
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
#include "session-fault.h"
#include "session-private.h"

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


/* ---- handle ops over the session's table (callers hold s->lock) ------- */

static int
hop_to_wire(void *ctx, uint16_t type, uint64_t real, bool creates,
	    uint64_t *id)
{
	struct conn *c = ctx;
	/* A new entry is one more live entry: no second lookup. */
	uint32_t before = ava_handle_table_count(c->s->handles);
	int r;
	if (creates && c->named != 0 && !c->claimed) {
		r = ava_handle_table_claim(c->s->handles, c->named, type, real);
		c->claimed = r == 0;
		*id = c->named;
	} else {
		r = ava_handle_table_intern(c->s->handles, type, real, creates,
					    id);
	}
	bool fresh = ava_handle_table_count(c->s->handles) > before;
	if (r == 0 && creates)
		ava_journal_rec_tag(&c->rec, AVA_JOURNAL_TAG_CREATED, *id);
	if (r == 0)
		ava_state_rec_handed(&c->srec, *id, fresh, creates);
	return r;
}

static int
hop_from_wire(void *ctx, uint16_t type, uint64_t id, bool creates,
	      uint64_t *real, uint16_t *type_out)
{
	struct conn *c = ctx;
	int r = ava_handle_table_lookup(c->s->handles, id, type, real,
					type_out);
	if (r == 0)
		ava_state_rec_use(&c->srec, id);
	return r;
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
	if (c->conn == NULL)   /* a batch served apart answers nobody */
		return AVA_ECLOSED;
	return ava_transport_conn_send(c->conn, &h, p);
}

/* c->out as the payload. */
int
session_send_frame(struct conn *c, uint8_t type, uint32_t fn, uint32_t thread,
	   uint64_t seq)
{
	return send_bytes(c, type, fn, thread, seq, c->out.data, c->out.len);
}

void
session_send_error(struct conn *c, int code, const char *text)
{
	uint8_t w[4];
	ava_wire_put_le(w, (uint32_t)code, 4);
	ava_buf_reset(&c->out);
	ava_buf_put_bytes(&c->out, w, 4);
	ava_buf_put_bytes(&c->out, text, strlen(text));
	session_send_frame(c, AVA_MSG_ERROR, 0, 0, 0);
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

int
session_recv_frame(struct conn *c)
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
	if (!(c->call.traits & AVA_TRAIT_WRITES))
		return;
	for (unsigned i = 0; i < fn->nargs; i++)
		if (fn->args[i].kind == AVA_ARG_HANDLE &&
		    (fn->args[i].flags & AVA_ARGF_WRITES)) {
			ava_journal_rec_tag(&c->rec, AVA_JOURNAL_TAG_WRITTEN,
					    c->call.ev[i]);
			ava_state_rec_written(&c->srec, c->call.ev[i]);
		}
}

/* Did the call in c->out succeed? Only then can it have made state. */
static bool
reply_ok(const struct ava_session *s, const struct ava_fn_desc *fn,
	 const struct ava_buf *out)
{
	if (out->len < 8)
		return false;
	uint64_t ret = ava_wire_get_le(out->data, 8);
	if (fn->ret == AVA_RET_STATUS)
		return (int64_t)ret == s->api->success;
	if (fn->ret == AVA_RET_HANDLE)
		return ret != 0;
	return true;
}

/* The real call runs unlocked, so one guest thread blocking in the
 * driver does not stall the others. */
static int
run_call(struct conn *c, bool queued)
{
	struct ava_session *s = c->s;
	tag_writes(c);
	ava_marshal_call_override(&c->call);
	c->call.queued = queued;
	c->ctx.call = &c->call;
	uint64_t ret = s->server->invoke(c->call.fn->id, c->call.v, &c->ctx);
	/* The REPLY's handles and the state tracker's record, in one hold
	 * of the lock: two per call rather than three (doc/performance.md). */
	pthread_mutex_lock(&s->lock);
	int r = ava_marshal_reply_encode(&c->call, ret, &c->hops, &c->out);
	ava_state_rec_end(s->state, &c->srec,
			  r >= 0 && reply_ok(s, c->call.fn, &c->out), s->handles);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static int
answer_call(struct conn *c, const struct ava_fn_desc *fn, bool queued)
{
	if (fn->flags & AVA_FN_UNSUPPORTED)
		return ava_marshal_reply_reject(fn, fn->unsupported_error,
						&c->out);
	bool answered = false;
	int r = decode(c, fn, &answered);
	if (r < 0 || answered)
		return r;
	return run_call(c, queued);
}

/* A named creation that made nothing: the error its out-argument holds
 * in the REPLY just encoded (a refused call's too): the return value,
 * then one word per out-argument, the error's among them. The guest
 * always sends that argument with a named call. */
static uint64_t
named_error(const struct conn *c, const struct ava_fn_desc *fn)
{
	int e = ava_marshal_errcode_arg(fn);
	size_t at = 8;
	for (int i = 0; i < fn->nargs && e >= 0; i++) {
		enum ava_arg_kind k = fn->args[i].kind;
		if (k != AVA_ARG_OUT_SCALAR && k != AVA_ARG_OUT_HANDLE)
			continue;   /* nameable: no other out-arguments */
		if (i == e && c->out.len >= at + 8)
			return (uint64_t)(int64_t)(int32_t)
				ava_wire_get_le(c->out.data + at, 8);
		at += 8;
	}
	return (uint64_t)c->s->api->transport_error;
}

/*
 * A CALL that names the object it creates (AVA_FRAME_NAMED): the id, off
 * the payload's end, once the function may be named and the id is one
 * the guest may give it. Returns 0 or AVA_EPROTO, logged.
 */
static int
take_name(struct conn *c, const struct ava_frame_header *h,
	  const struct ava_fn_desc *fn)
{
	struct ava_session *s = c->s;
	uint16_t type;
	int arg, r = AVA_EPROTO;
	const char *why = "it makes no single object";
	if (!(h->flags & AVA_FRAME_ASYNC))
		why = "it is not queued";
	else if (c->len < 8)
		why = "its payload is too short";
	else if (ava_marshal_nameable(s->api, fn, &type, &arg))
		r = 0;
	if (r == 0) {
		c->named = ava_wire_get_le(c->payload + c->len - 8, 8);
		pthread_mutex_lock(&s->lock);
		r = ava_handle_table_claimable(s->handles, c->named, type);
		pthread_mutex_unlock(&s->lock);
		why = r == -EEXIST ? "the id is taken" : "the id is not the guest's";
		r = r == 0 ? 0 : AVA_EPROTO;
	}
	if (r < 0) {
		LOG(s, "closed: named call to %s refused: %s (seq %" PRIu64 ")",
		    fn->name, why, h->seq);
		c->named = 0;
		return r;
	}
	c->len -= 8;
	return 0;
}

/* The ASYNC call just answered in c->out failed: its thread hears of it
 * before its next REPLY, and the journal keeps the error with the call. */
static void
note_async_failure(struct conn *c, const struct ava_frame_header *h,
		   const struct ava_fn_desc *fn)
{
	struct ava_session *s = c->s;
	uint64_t ret;
	if (c->named != 0 && fn->ret != AVA_RET_STATUS) {
		if (c->claimed)
			return;
		ret = named_error(c, fn);
	} else {
		if (fn->ret != AVA_RET_STATUS || c->out.len < 8)
			return;
		ret = ava_wire_get_le(c->out.data, 8);
		if ((int64_t)ret == s->api->success)
			return;
	}
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

/*
 * Does anything keep this CALL's payload beyond the call: the journal,
 * or the state tracker? Over
 * shm:, a large buffer's bytes may still be in the shared area (a hole
 * in the payload, transport.h "In-place bulk data"); a kept payload gets
 * them copied in, and a journaled REPLY carries its bytes inline. The
 * tracker keeps no object's initial contents (ava_state_cut()): when
 * they are the only bytes in the area, the driver reads them there, and
 * the payload never holds them (a 4 MiB COPY_HOST_PTR buffer: two
 * copies into fresh memory fewer, doc/performance.md).
 */
static bool
payload_kept(const struct conn *c, const struct ava_fn_desc *fn,
	     const struct ava_cut *cut)
{
	const struct ava_session *s = c->s;
	if (s->journal != NULL)
		return true;
	return ava_state_wants(s->state, fn) &&
	       (cut->len == 0 ||
		(c->conn != NULL &&   /* none: a batch served apart */
		 !ava_transport_conn_bulk_within(c->conn, c->payload, c->len,
						 cut->off, cut->len)));
}

/* After a migration's switch-over, a synchronous call is not run here:
 * the guest hears where its session went and sends it there again. */
static int
send_moved(struct conn *c, const struct ava_frame_header *h)
{
	const struct ava_moved *m = c->s->moved;
	size_t n = strlen(m->addr);
	uint8_t buf[16 + sizeof(m->addr)];
	ava_wire_put_le(buf, m->session, 8);
	ava_wire_put_le(buf + 8, m->token, 8);
	memcpy(buf + 16, m->addr, n);
	return send_bytes(c, AVA_MSG_MOVED, h != NULL ? h->fn : 0,
			  h != NULL ? h->thread : 0, h != NULL ? h->seq : 0,
			  buf, 16 + n);
}

void
session_tell_moved(struct conn *c)
{
	if (send_moved(c, NULL) < 0) {
		/* The guest is gone or will find out at its next call. */
	}
}

static _Thread_local unsigned expect_us;

void
ava_session_expect_next(unsigned us)
{
	expect_us = us;
}

/* The call being served on this thread, and what the journal records
 * for it: the call itself, the call its implementation named
 * (ava_session_journal_as()), or nothing yet, its place held for the
 * guest thread's next call (ava_session_journal_hold()). */
static _Thread_local struct {
	const struct ava_session *s;
	bool other, hold;
	struct ava_session_as as;
	uint64_t objs[AVA_SESSION_AS_LIST];   /* its list: real, then ids */
} instead;

bool
ava_session_journaled(void)
{
	return instead.s != NULL && instead.s->journal != NULL;
}

void
ava_session_journal_as(const struct ava_session_as *as)
{
	if (!ava_session_journaled())
		return;
	/* A longer list cannot be named: the call served is recorded. */
	instead.other = as->list < 0 || as->nobjs <= AVA_SESSION_AS_LIST;
	instead.as = *as;
	for (uint32_t k = 0; instead.other && as->list >= 0 && k < as->nobjs;
	     k++)
		instead.objs[k] = (uint64_t)(uintptr_t)as->objs[k];
}

void
ava_session_journal_hold(void)
{
	if (ava_session_journaled())
		instead.hold = true;
}

/* Real object to id (0 stays 0); false if the table does not know it.
 * s->lock held. */
static bool
as_id(const struct ava_session *s, uint16_t type, uint64_t real,
      uint64_t *id)
{
	*id = 0;
	return real == 0 ||
	       ava_handle_table_find(s->handles, real, type, id) == 0;
}

/* What a named call makes and writes, for its tags. */
struct as_tags {
	uint64_t id[AVA_MAX_ARGS + 1];
	int kind[AVA_MAX_ARGS + 1];
	unsigned n;
};

static void
as_tag(struct as_tags *t, int kind, uint64_t id)
{
	if (id != 0 && t->n < AVA_MAX_ARGS + 1) {
		t->id[t->n] = id;
		t->kind[t->n++] = kind;
	}
}

/* instead.as, with ids for handles, into *as (its list's ids in place
 * of instead.objs), and what it makes and writes into *t; false if a
 * handle is unknown. s->lock held. */
static bool
name_as(const struct ava_session *s, struct ava_journal_as *as,
	struct as_tags *t)
{
	const struct ava_session_as *in = &instead.as;
	const struct ava_fn_desc *fn = as->fn;
	bool ok = true;
	for (unsigned i = 0; ok && i < fn->nargs; i++) {
		const struct ava_arg_desc *a = &fn->args[i];
		as->v[i] = in->v[i];
		switch (a->kind) {
		case AVA_ARG_HANDLE:
			ok = as_id(s, a->handle_type, in->v[i], &as->v[i]);
			if (a->flags & AVA_ARGF_WRITES)
				as_tag(t, AVA_JOURNAL_TAG_WRITTEN, as->v[i]);
			break;
		case AVA_ARG_OUT_HANDLE:
			as->v[i] = in->v[i] != 0;
			ok = as_id(s, a->handle_type, in->v[i], &as->out[i]);
			as_tag(t, AVA_JOURNAL_TAG_CREATED, as->out[i]);
			break;
		case AVA_ARG_OUT_SCALAR:
			as->out[i] = in->v[i] ? in->out[i] : 0;
			break;
		case AVA_ARG_IN_HANDLES:
			for (uint32_t k = 0; ok && (int)i == in->list &&
			     k < in->nobjs; k++)
				ok = instead.objs[k] != 0 &&
				     as_id(s, a->handle_type, instead.objs[k],
					   &instead.objs[k]);
			break;
		default:
			break;
		}
	}
	as->ret = in->ret;
	if (ok && fn->ret == AVA_RET_HANDLE) {
		uint64_t id;
		ok = as_id(s, fn->ret_handle_type, (uint64_t)in->ret, &id);
		as->ret = (int64_t)id;
		as_tag(t, AVA_JOURNAL_TAG_CREATED, id);
	}
	return ok;
}

/*
 * Record the call c served, or what its implementation named in its
 * place (ava_session_journal_as()): handles become ids, and what the
 * named call makes and writes is tagged for the state mode. A named call
 * the API lacks, or a handle with no id, records the call as it was,
 * which a replay then reports. Or hold the call's place.
 */
static void
journal_call_end(struct conn *c)
{
	struct ava_session *s = c->s;
	if (instead.hold) {
		ava_session_journal_call_hold(s->journal, &c->rec);
		return;
	}
	const struct ava_fn_desc *fn =
		instead.other ? ava_api_fn(s->api, instead.as.fn) : NULL;
	bool named = fn != NULL && fn->nargs <= AVA_MAX_ARGS;
	struct as_tags t;
	struct ava_journal_as as;
	if (named) {   /* most calls name none: nothing to set up */
		t.n = 0;
		as = (struct ava_journal_as){ .fn = fn,
			.buf = instead.as.buf, .bytes = instead.as.bytes,
			.len = instead.as.len, .list = instead.as.list,
			.ids = instead.objs,
			.nids = instead.as.list >= 0 ? instead.as.nobjs : 0 };
		pthread_mutex_lock(&s->lock);
		named = name_as(s, &as, &t);
		pthread_mutex_unlock(&s->lock);
	}
	if (!named) {
		ava_session_journal_call_end(s->journal, &c->rec, c->out.data,
					     c->out.len);
		return;
	}
	c->rec.ntags = 0;   /* the served call's are not the named call's */
	for (unsigned i = 0; i < t.n; i++)
		ava_journal_rec_tag(&c->rec, t.kind[i], t.id[i]);
	as.ok = as.fn->ret == AVA_RET_STATUS ? as.ret == s->api->success
		: as.fn->ret != AVA_RET_HANDLE || as.ret != 0;
	ava_session_journal_call_as(s->journal, &c->rec, &as);
}

/* What the call being served asked to run once its REPLY is out. */
static _Thread_local struct {
	void (*fn)(void *);
	void *arg;
} after_reply;

void
ava_session_after_reply(void (*fn)(void *), void *arg)
{
	if (after_reply.fn != NULL)   /* one per call: run the older now */
		after_reply.fn(after_reply.arg);
	after_reply.fn = fn;
	after_reply.arg = arg;
}

static void
run_after_reply(void)
{
	void (*fn)(void *) = after_reply.fn;
	after_reply.fn = NULL;
	if (fn != NULL)
		fn(after_reply.arg);
}

static int
serve_call(struct conn *c, const struct ava_frame_header *h, uint8_t *payload,
	   bool gated)
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
	c->named = 0;
	c->claimed = false;
	c->payload = payload;
	c->len = (size_t)h->len;
	if ((h->flags & AVA_FRAME_NAMED) && take_name(c, h, fn) < 0)
		return AVA_EPROTO;
	if (async && !(fn->flags & AVA_FN_ASYNC) && c->named == 0) {
		/* It has results, or it creates objects: the guest could
		 * never learn them. */
		LOG(s, "closed: queued call to %s, which is never async (seq %"
		    PRIu64 ")", fn->name, h->seq);
		return AVA_EPROTO;
	}
	c->ctx.thread = h->thread;
	c->ctx.seq = h->seq;
	ava_buf_reset(&c->out);
	/* The journal takes its view of the CALL before decoding rewrites
	 * handle ids in place, and of the REPLY before it is sent. */
	if (!gated)
		pthread_rwlock_rdlock(&s->gate);
	if (s->moved != NULL) {
		if (!gated)
			pthread_rwlock_unlock(&s->gate);
		return send_moved(c, h);
	}
	struct ava_cut cut;
	ava_state_cut(s->state, fn, payload, c->len, &cut);
	if (c->conn != NULL && payload_kept(c, fn, &cut))
		ava_transport_conn_bulk_inline(c->conn, payload, c->len);
	ava_session_journal_call_begin(s->journal, &c->rec, fn, h->thread,
				       payload, c->len, async);
	ava_state_rec_begin(s->state, &c->srec, fn, h->thread, h->seq,
			    payload, c->len, &cut);
	/* Callbacks the driver makes inside a synchronous call go back
	 * with its REPLY (session-callback.h). */
	ava_buf_reset(&c->inline_cbs);
	ava_session_callback_inline(async ? NULL : &c->inline_cbs);
	instead.s = s;
	instead.other = instead.hold = false;
	int r = answer_call(c, fn, async);
	instead.s = NULL;
	ava_session_callback_inline(NULL);
	if (r >= 0 && async)
		note_async_failure(c, h, fn);
	if (r >= 0)
		journal_call_end(c);
	if (c->srec.fn != NULL) {   /* refused, or not run: not ended */
		pthread_mutex_lock(&s->lock);
		ava_state_rec_end(s->state, &c->srec,
				  r >= 0 && reply_ok(s, fn, &c->out), s->handles);
		pthread_mutex_unlock(&s->lock);
	}
	ava_call_finish(&c->call);
	c->named = 0;   /* hop_to_wire() serves other paths too */
	if (r < 0) {
		LOG(s, "closed: %s in call to %s (seq %" PRIu64 ")",
		    r == AVA_EPROTO ? "malformed arguments" : ava_strerror(r),
		    fn->name, h->seq);
	} else {
		__atomic_add_fetch(&s->ncalls, 1, __ATOMIC_RELAXED);
	}
	/* The REPLY goes out before a migration's switch-over can tell the
	 * guest to go: a call that ran here is answered from here. */
	if (r >= 0 && !async) {
		r = send_deferred(c, h->thread);
		if (r == 0)
			r = send_inline_callbacks(c);
		if (r == 0)
			r = session_send_frame(c, AVA_MSG_REPLY, h->fn,
					       h->thread, h->seq);
		if (r < 0)
			LOG(s, "closed: cannot send reply: %s",
			    ava_strerror(r));
		if (r == 0 && expect_us != 0)
			ava_transport_conn_expect(c->conn, expect_us);
	}
	expect_us = 0;
	/* Whether or not the REPLY went out; before a migration may drain
	 * the queues, which may wait for what this releases. */
	run_after_reply();
	if (!gated)
		pthread_rwlock_unlock(&s->gate);
	return r;
}

/*
 * Check a BATCH's frames before anything runs: each a CALL within the
 * batch, all ASYNC but perhaps the last. *has_async: any ASYNC at all.
 * The frames, parsed, go to c->frames (*n of them), so that serving them
 * does not parse them again.
 */
static int
check_batch(struct conn *c, struct ava_batch_reader br, bool *has_async,
	    size_t *n)
{
	struct ava_frame_header h;
	uint8_t *p;
	bool sync_seen = false;
	int r;
	*has_async = false;
	*n = 0;
	while ((r = ava_batch_next(&br, &h, &p)) > 0) {
		if (sync_seen) {
			LOG(c->s, "closed: a synchronous call inside a batch");
			return AVA_EPROTO;
		}
		sync_seen = !(h.flags & AVA_FRAME_ASYNC);
		*has_async |= !sync_seen;
		if (*n == c->capframes) {
			size_t cap = c->capframes ? 2 * c->capframes : 64;
			struct batch_frame *f = realloc(c->frames,
							cap * sizeof(*f));
			if (f == NULL) {
				LOG(c->s, "closed: no memory for a batch");
				return -ENOMEM;
			}
			c->frames = f;
			c->capframes = cap;
		}
		c->frames[(*n)++] = (struct batch_frame){ h, p };
	}
	if (r < 0)
		LOG(c->s, "closed: malformed batch: %s", ava_strerror(r));
	return r;
}

/*
 * A BATCH that came after a migration's switch-over: its queued calls go
 * to the destination, whose fence orders them as this one would have,
 * and its synchronous last call, if any, is answered MOVED.
 */
static int
forward_batch(struct conn *c, struct ava_batch_reader br)
{
	struct ava_moved *m = c->s->moved;
	struct ava_frame_header h, last;
	uint8_t *p, *start = br.p, *end = br.p;
	bool sync = false;
	int r;
	while ((r = ava_batch_next(&br, &h, &p)) > 0) {
		if (!(h.flags & AVA_FRAME_ASYNC)) {
			sync = true;
			last = h;
			break;
		}
		end = p + h.len;
	}
	if (r < 0)
		return r;
	if (end > start) {
		struct ava_frame_header fh = {
			.magic = AVA_PROTOCOL_MAGIC,
			.version = AVA_PROTOCOL_VERSION, .type = AVA_MSG_BATCH,
			.api = c->s->api->api_id, .thread = c->in.h.thread,
			.len = 8 + (uint64_t)(end - start),
		};
		/* The payload as received, cut after the queued calls: base
		 * (the 8 bytes before them), then their frames. */
		uint8_t *payload = start - 8;
		pthread_mutex_lock(&m->lock);
		r = m->fwd != NULL ? ava_transport_conn_send(m->fwd, &fh, payload)
				   : AVA_ECLOSED;
		pthread_mutex_unlock(&m->lock);
		if (r < 0) {
			LOG(c->s, "cannot pass queued calls to %s: %s; they are "
			    "lost", m->addr, ava_strerror(r));
			return r;
		}
	}
	return sync ? send_moved(c, &last) : 0;
}

/*
 * A BATCH (doc/protocol.md, "Batches"): wait until the session's ASYNC
 * calls before it have run, wherever they came from, then serve its calls
 * in order.
 */
int
session_serve_batch(struct conn *c)
{
	struct ava_session *s = c->s;
	struct ava_batch_reader br;
	uint64_t base;
	bool has_async;
	size_t n;
	int r = ava_batch_begin(&br, c->in.payload.data, c->in.payload.len,
				&base);
	if (r < 0) {
		LOG(s, "closed: malformed batch: no base");
		return r;
	}
	if ((r = check_batch(c, br, &has_async, &n)) < 0)
		return r;
	r = ava_session_async_fence(s->async, base, has_async);
	if (r < 0 && s->moved != NULL)
		return forward_batch(c, br);
	if (r < 0) {
		LOG(s, "closed: %s %" PRIu64, r == AVA_EDEAD ?
		    "a batch waits for queued calls that never came: base" :
		    "a batch numbered twice: base", base);
		return r;
	}
	/* The queued calls run as one, between two pauses of a migration:
	 * never half of them here and half at the destination. */
	pthread_rwlock_rdlock(&s->gate);
	if (s->moved != NULL) {
		pthread_rwlock_unlock(&s->gate);
		return forward_batch(c, br);
	}
	/* The count goes up once, before a synchronous last call: that one
	 * may block (clWaitForEvents), and other connections' batches must
	 * not wait for it. Fences only ever wait for whole batches. */
	uint64_t ran = 0;
	bool gated = true;
	r = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ava_frame_header *h = &c->frames[i].h;
		bool async = h->flags & AVA_FRAME_ASYNC;
		if (!async && gated) {
			if (ran > 0)
				ava_session_async_ran(s->async, ran);
			ran = 0;
			pthread_rwlock_unlock(&s->gate);
			gated = false;
		}
		if ((r = serve_call(c, h, c->frames[i].p, gated)) < 0)
			break;
		ran += async;
	}
	if (ran > 0)
		ava_session_async_ran(s->async, ran);
	if (gated)
		pthread_rwlock_unlock(&s->gate);
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

int
session_conn_loop(struct conn *c)
{
	for (;;) {
		int r = session_recv_frame(c);
		if (r == 0 && c->in.h.type == AVA_MSG_BYE &&
		    !(c->in.h.flags & AVA_FRAME_THREAD))
			c->s->said_bye = true;
		if (r == AVA_ECLOSED ||
		    (r == 0 && c->in.h.type == AVA_MSG_BYE))
			return 0;
		if (r < 0)
			return r;
		ava_session_fault_frame();
		if (c->in.h.type == AVA_MSG_BATCH)
			r = c->source ? session_batch_apart(c)
				      : session_serve_batch(c);
		else if (c->in.h.type == AVA_MSG_CALL)
			r = serve_call(c, &c->in.h, c->in.payload.data, false);
		else if (c->in.h.type == AVA_MSG_CALLBACK && !c->callbacks)
			become_callbacks(c);
		else {
			LOG(c->s, "closed: unexpected message type %u",
			    c->in.h.type);
			return AVA_EPROTO;
		}
		if (r < 0)
			return r;
		/* The frame is served: large buffers go back in time. */
		ava_buf_done(&c->in.payload);
		ava_buf_done(&c->out);
		ava_buf_done(&c->srec.call);
		ava_buf_done(&c->rec.args);
		ava_buf_done(&c->rec.outs);
	}
}

/* ---- connections ------------------------------------------------------ */

struct conn *
session_conn_create(struct ava_session *s, struct ava_conn *conn)
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
	ava_state_rec_init(&c->srec);
	ava_buf_init(&c->out);
	ava_buf_init(&c->inline_cbs);
	ava_buf_init(&c->in.payload);
	return c;
}

void
session_conn_destroy(struct conn *c)
{
	ava_journal_rec_finish(&c->rec);
	ava_state_rec_finish(&c->srec);
	ava_buf_finish(&c->out);
	ava_buf_finish(&c->inline_cbs);
	ava_buf_finish(&c->in.payload);
	free(c->frames);
	ava_transport_conn_destroy(c->conn);
	free(c);
}

