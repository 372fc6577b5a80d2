/*
 * session-rebuild.c - building a session from a captured state: run the
 * kept calls again in their order, with every id the image names bound
 * to the object the call makes here, put the contents back, set the
 * references the guest holds, and serve the session under its old id
 * (session-move.h).
 *
 * Each call goes through the server's own decoder and invoke(), as the
 * guest's did, so a kept call is checked like any other; one that fails
 * here (a device that cannot build the program) ends the restore with
 * that call named.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ava-error.h"
#include "session-move.h"
#include "session-private.h"
#include "u64map.h"

struct bound {
	uint64_t id, real;
	uint16_t type;
	uint32_t made;           /* references the rebuild holds */
	uint32_t refs;           /* the guest's, from OBJECT (0: drop) */
	bool listed;
};

struct ava_rebuild {
	struct ava_session *s;
	struct conn *c;          /* its ctx and builder; no transport */
	uint16_t owner;
	struct ava_u64map byid;  /* id -> index into b */
	struct bound *b;
	size_t n, cap;
	const struct ava_state_call *cur;
	uint32_t handed;
	char *why;
	size_t nwhy;
	int err;
};

/* Set while a kept call runs again (server-ctx.h). */
static _Thread_local bool rebuilding;

bool
ava_session_rebuilding(void)
{
	return rebuilding;
}

static uint16_t
type_of_id(const struct ava_api_desc *api, uint64_t id)
{
	for (uint16_t t = 1; t < api->nhandles; t++)
		if (api->handles[t].tag == ava_handle_id_tag(id))
			return t;
	return 0;
}

static struct bound *
bound_of(struct ava_rebuild *rb, uint64_t id)
{
	uint64_t i;
	return ava_u64map_get(&rb->byid, id, &i) ? &rb->b[i] : NULL;
}

static struct bound *
bind(struct ava_rebuild *rb, uint64_t id, uint16_t type, uint64_t real)
{
	if (rb->n == rb->cap) {
		size_t cap = rb->cap ? 2 * rb->cap : 64;
		struct bound *b = realloc(rb->b, cap * sizeof(*b));
		if (b == NULL)
			return NULL;
		rb->b = b;
		rb->cap = cap;
	}
	if (ava_u64map_put(&rb->byid, id, rb->n) < 0)
		return NULL;
	struct bound *b = &rb->b[rb->n++];
	*b = (struct bound){ .id = id, .real = real, .type = type };
	return b;
}

static int
fail(struct ava_rebuild *rb, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail(struct ava_rebuild *rb, int err, const char *fmt, ...)
{
	va_list ap;
	if (rb->err == 0) {
		va_start(ap, fmt);
		vsnprintf(rb->why, rb->nwhy, fmt, ap);
		va_end(ap);
		rb->err = err;
	}
	return err;
}

/* ---- handle ops while a kept call runs again ----------------------------- */

static int
hop_from_wire(void *ctx, uint16_t type, uint64_t id, bool creates,
	      uint64_t *real, uint16_t *type_out)
{
	struct ava_rebuild *rb = ctx;
	struct bound *b = bound_of(rb, id);
	if (b == NULL || (type != 0 && b->type != type))
		return fail(rb, AVA_ECORRUPT, "call #%" PRIu64 " (%s) names "
			    "object 0x%016" PRIx64 ", which no earlier call of "
			    "the image made", rb->cur->seq,
			    rb->s->api->fns[rb->cur->fn].name, id);
	*real = b->real;
	if (type_out != NULL)
		*type_out = b->type;
	ava_state_rec_use(&rb->c->srec, id);
	return 0;
}

/* The call hands out its objects in the order it did the first time:
 * the k-th gets the k-th id the image lists for it. */
static int
hop_to_wire(void *ctx, uint16_t type, uint64_t real, bool creates,
	    uint64_t *id)
{
	struct ava_rebuild *rb = ctx;
	const struct ava_state_call *c = rb->cur;
	uint32_t k = rb->handed++;
	if (k >= c->nids) {
		*id = 0;  /* more than the first time (another device) */
		return 0;
	}
	*id = c->ids[k];
	if (type_of_id(rb->s->api, *id) != type)
		return fail(rb, AVA_ECORRUPT, "call #%" PRIu64 " (%s): the "
			    "image gives object 0x%016" PRIx64 " the wrong "
			    "type", c->seq, rb->s->api->fns[c->fn].name, *id);
	struct bound *b = bound_of(rb, *id);
	bool fresh = b == NULL;
	if (fresh && (b = bind(rb, *id, type, real)) == NULL)
		return fail(rb, -ENOMEM, "out of memory");
	if (!fresh && b->real != real && creates)
		return fail(rb, AVA_ECORRUPT, "call #%" PRIu64 " (%s) made "
			    "object 0x%016" PRIx64 " twice", c->seq,
			    rb->s->api->fns[c->fn].name, *id);
	if (creates)
		b->made++;
	ava_state_rec_handed(&rb->c->srec, *id, fresh, creates);
	return 0;
}

static void
hop_ref(void *ctx, uint64_t id, int delta)
{
	/* Kept calls neither retain nor release. */
}

int
ava_rebuild_create(const struct ava_server_api *server,
		   const struct ava_server_config *cfg, uint16_t owner,
		   struct ava_rebuild **out)
{
	struct ava_rebuild *rb = calloc(1, sizeof(*rb));
	if (rb == NULL)
		return -ENOMEM;
	rb->owner = owner;
	ava_u64map_init(&rb->byid);
	rb->s = session_alloc(0, server, cfg, "restore");
	int r = rb->s == NULL ? -ENOMEM : 0;
	if (r == 0)
		r = ava_state_create(server->api, &rb->s->state);
	if (r == 0)
		r = ava_session_async_create(0, getpid(), &rb->s->async);
	if (r == 0 && (rb->c = session_conn_create(rb->s, NULL)) == NULL)
		r = -ENOMEM;
	/* Buffers rebuilt for a guest over shm: go to the shared heap, as
	 * they would have, had they been made here. */
	for (size_t i = 0; r == 0 && i < cfg->nlisten; i++)
		if (strncmp(cfg->listen[i], "shm:", 4) == 0)
			session_heap_prepare(rb->s);
	if (r < 0 || owner == 0) {
		ava_rebuild_destroy(rb);
		return r < 0 ? r : -EINVAL;
	}
	rb->c->hops = (struct ava_handle_ops){ .to_wire = hop_to_wire,
		.from_wire = hop_from_wire, .ref = hop_ref, .ctx = rb };
	*out = rb;
	return 0;
}

static bool
status_ok(const struct ava_api_desc *api, const struct ava_fn_desc *fn,
	  const struct ava_buf *out, int64_t *status)
{
	*status = out->len >= 8 ? (int64_t)ava_wire_get_le(out->data, 8) : 0;
	if (fn->ret == AVA_RET_STATUS)
		return *status == api->success;
	if (fn->ret == AVA_RET_HANDLE)
		return *status != 0;
	return true;
}

int
ava_rebuild_call(struct ava_rebuild *rb, const struct ava_state_call *k,
		 char *why, size_t nwhy)
{
	struct ava_session *s = rb->s;
	struct conn *c = rb->c;
	const struct ava_fn_desc *fn = ava_api_fn(s->api, k->fn);
	rb->why = why;
	rb->nwhy = nwhy;
	rb->err = 0;
	if (fn == NULL || (fn->flags & (AVA_FN_UNSUPPORTED | AVA_FN_EMULATED)))
		return fail(rb, AVA_ENOFN, "call #%" PRIu64 ": function %"
			    PRIu32 " cannot be run", k->seq, k->fn);
	rb->cur = k;
	rb->handed = 0;
	/* Decoding rewrites ids in place: a copy of the image's bytes. */
	ava_buf_reset(&c->in.payload);
	ava_buf_put_bytes(&c->in.payload, k->call, k->call_len);
	if (ava_buf_error(&c->in.payload))
		return fail(rb, -ENOMEM, "out of memory");
	ava_state_rec_begin(s->state, &c->srec, fn, k->thread, k->seq,
			    c->in.payload.data, k->call_len, NULL);
	int r = ava_marshal_call_decode(s->api, fn, c->in.payload.data,
					k->call_len, &c->hops, &c->call);
	if (r < 0) {
		ava_call_finish(&c->call);
		return fail(rb, r == AVA_EHANDLE ? AVA_ECORRUPT : r,
			    "call #%" PRIu64 " (%s) does not decode: %s",
			    k->seq, fn->name, ava_strerror(r));
	}
	for (unsigned i = 0; i < fn->nargs; i++)
		if (fn->args[i].kind == AVA_ARG_HANDLE &&
		    (fn->args[i].flags & AVA_ARGF_WRITES))
			ava_state_rec_written(&c->srec, c->call.ev[i]);
	ava_marshal_call_override(&c->call);
	c->ctx.call = &c->call;
	c->ctx.thread = k->thread;
	c->ctx.seq = k->seq;
	rebuilding = true;
	uint64_t ret = s->server->invoke(fn->id, c->call.v, &c->ctx);
	rebuilding = false;
	ava_buf_reset(&c->out);
	r = ava_marshal_reply_encode(&c->call, ret, &c->hops, &c->out);
	ava_call_finish(&c->call);
	int64_t status = 0;
	bool ok = r == 0 && status_ok(s->api, fn, &c->out, &status);
	ava_state_rec_end(s->state, &c->srec, ok, NULL);
	if (rb->err != 0)
		return rb->err;
	if (r < 0)
		return fail(rb, r, "call #%" PRIu64 " (%s): %s", k->seq,
			    fn->name, ava_strerror(r));
	if (!ok)
		return fail(rb, AVA_EDEAD, "call #%" PRIu64 " (%s) failed on "
			    "this server (%" PRId64 ") where it had succeeded",
			    k->seq, fn->name, status);
	return 0;
}

int
ava_rebuild_thread(struct ava_rebuild *rb, uint32_t thread, uint64_t seq)
{
	ava_state_seed_thread(rb->s->state, thread, seq);
	return 0;
}

int
ava_rebuild_object(struct ava_rebuild *rb, uint64_t id, uint16_t type,
		   uint32_t refs, uint32_t flags, uint64_t parent, char *why,
		   size_t nwhy)
{
	const struct ava_api_desc *api = rb->s->api;
	const struct ava_state_ops *ops = ava_state_ops();
	rb->why = why;
	rb->nwhy = nwhy;
	rb->err = 0;
	if (type == 0 || type >= api->nhandles || type_of_id(api, id) != type ||
	    ava_handle_id_owner(id) != rb->owner || refs == 0 ||
	    !(flags & AVA_CAPTURE_LIVE))
		return fail(rb, AVA_ECORRUPT, "object 0x%016" PRIx64 ": bad "
			    "type, owner or references", id);
	struct bound *b = bound_of(rb, id);
	if (flags & AVA_CAPTURE_SUBSTITUTE) {
		struct bound *p = bound_of(rb, parent);
		uint64_t real;
		if (b != NULL || p == NULL || ops == NULL ||
		    ops->event_make == NULL)
			return fail(rb, AVA_ECORRUPT, "event 0x%016" PRIx64
				    " cannot be rebuilt", id);
		int r = ops->event_make(p->real, &real, why, nwhy);
		if (r < 0)
			return rb->err = r;
		if ((b = bind(rb, id, type, real)) == NULL)
			return fail(rb, -ENOMEM, "out of memory");
		b->made = 1;
		ava_state_seed_substitute(rb->s->state, id);
	}
	if (b == NULL)
		return fail(rb, AVA_ECORRUPT, "object 0x%016" PRIx64 " (%s) "
			    "is listed, but no call of the image made it", id,
			    api->handles[type].name);
	if (b->listed)
		return fail(rb, AVA_ECORRUPT, "object 0x%016" PRIx64 " is "
			    "listed twice", id);
	b->listed = true;
	b->refs = refs;
	return 0;
}

int
ava_rebuild_state(struct ava_rebuild *rb, uint64_t id, uint64_t offset,
		  uint64_t total, const void *data, size_t n, char *why,
		  size_t nwhy)
{
	const struct ava_state_ops *ops = ava_state_ops();
	rb->why = why;
	rb->nwhy = nwhy;
	rb->err = 0;
	struct bound *b = bound_of(rb, id);
	uint64_t size = 0;
	/* A migration's pre-copy sends contents before the object list:
	 * the object must exist, not yet be listed. */
	if (b == NULL || ops == NULL || ops->state_write == NULL)
		return fail(rb, AVA_ECORRUPT, "contents for object 0x%016"
			    PRIx64 ", which no call of the image made", id);
	int r = ops->state_size(b->real, &size, why, nwhy);
	if (r < 0)
		return rb->err = r;
	if (size != total || offset > total || n > total - offset)
		return fail(rb, AVA_ECORRUPT, "contents of object 0x%016"
			    PRIx64 ": %" PRIu64 " bytes at %" PRIu64 " of %"
			    PRIu64 ", but the object here has %" PRIu64, id,
			    (uint64_t)n, offset, total, size);
	r = ops->state_write(b->real, offset, data, n, why, nwhy);
	return r < 0 ? (rb->err = r) : 0;
}

/* Retain or release real until the rebuild holds `want` references. */
static void
set_refs(struct ava_rebuild *rb, struct bound *b, uint32_t want)
{
	const struct ava_handle_desc *h = &rb->s->api->handles[b->type];
	if (h->flags & AVA_HANDLE_STATIC)
		return;
	while (b->made != want) {
		int32_t fn = b->made < want ? h->retain_fn : h->release_fn;
		if (fn < 0)
			return;
		uint64_t v[AVA_MAX_ARGS] = { b->real };
		rb->s->server->invoke((uint32_t)fn, v, &rb->c->ctx);
		b->made += b->made < want ? 1 : -1;
	}
}

int
ava_rebuild_finish(struct ava_rebuild *rb,
		   const struct ava_rebuild_session *rs)
{
	struct ava_session *s = rb->s;
	const struct ava_state_ops *ops = ava_state_ops();
	char why[300] = "";
	if (ops != NULL && ops->state_done != NULL)
		ops->state_done();
	int r = ava_handle_table_create(s->api, rb->owner, &s->handles);
	/* The guest's references on what it holds; the rest go last, once
	 * nothing made from them needs them. */
	for (size_t i = 0; i < rb->n && r == 0; i++)
		if (rb->b[i].listed)
			set_refs(rb, &rb->b[i], rb->b[i].refs);
	for (size_t i = rb->n; i-- > 0 && r == 0;)
		if (!rb->b[i].listed)
			set_refs(rb, &rb->b[i], 0);
	for (size_t i = 0; i < rb->n && r == 0; i++) {
		struct bound *b = &rb->b[i];
		if (!b->listed)
			continue;
		r = ava_handle_table_bind(s->handles, b->id, b->type, b->real,
					  b->refs);
		if (r < 0)
			snprintf(why, sizeof(why), "object 0x%016" PRIx64
				 " cannot take its id: %s", b->id,
				 ava_strerror(r));
	}
	if (r == 0)
		ava_handle_table_bind_done(s->handles);
	if (r < 0 && why[0] == '\0')
		snprintf(why, sizeof(why), "%s", ava_strerror(r));
	s->id = rs->id;
	s->token = rs->token;
	s->journal_id = rs->local_id;
	s->guest_pid = rs->guest_pid;
	ava_session_async_seed(s->async, rs->async_done);
	rs->ready(rs->ctx, r, why);
	struct conn *c = rb->c;
	rb->c = NULL;
	rb->s = NULL;
	session_conn_destroy(c);
	ava_u64map_finish(&rb->byid);
	free(rb->b);
	free(rb);
	if (r == 0)
		r = session_run_restored(s, rs->wait_ms, rs->source);
	else
		ava_transport_conn_destroy(rs->source);
	return session_free(s, r);
}

void
ava_rebuild_destroy(struct ava_rebuild *rb)
{
	if (rb == NULL)
		return;
	const struct ava_state_ops *ops = ava_state_ops();
	if (ops != NULL && ops->state_done != NULL)
		ops->state_done();
	/* The destination keeps nothing of a restore that failed. */
	for (size_t i = rb->n; rb->c != NULL && i-- > 0;)
		set_refs(rb, &rb->b[i], 0);
	if (rb->c != NULL)
		session_conn_destroy(rb->c);
	if (rb->s != NULL)
		session_free(rb->s, 0);
	ava_u64map_finish(&rb->byid);
	free(rb->b);
	free(rb);
}
