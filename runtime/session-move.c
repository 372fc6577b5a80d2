/*
 * session-move.c - a running session's side of checkpoint and migration:
 * pause at a call boundary, then hand out what rebuilds its state
 * (session-move.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ava-error.h"
#include "session-move.h"
#include "session-private.h"
#include "u64map.h"

static const struct ava_control_ops *control_ops;

void
ava_server_set_control(const struct ava_control_ops *ops)
{
	control_ops = ops;
}

const struct ava_control_ops *
ava_server_control(void)
{
	return control_ops;
}

void
ava_session_info(struct ava_session *s, struct ava_session_info *out)
{
	pthread_mutex_lock(&s->lock);
	*out = (struct ava_session_info){ .id = s->id, .token = s->token,
		.owner = ava_handle_table_owner(s->handles),
		.async_done = ava_session_async_done(s->async),
		.guest_pid = s->guest_pid, .api = s->api, .cfg = s->cfg,
		.addr = s->addr };
	pthread_mutex_unlock(&s->lock);
}

/* ---- pause ------------------------------------------------------------ */

struct reals {
	uint16_t type;
	uint64_t *v;
	size_t n, cap;
};

static int
collect_type(void *ctx, uint64_t id, uint16_t type, uint64_t real,
	     uint32_t refs)
{
	struct reals *r = ctx;
	if (type != r->type)
		return 0;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		uint64_t *v = realloc(r->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = real;
	return 0;
}

/* Drain the session's device queues, each within timeout_ms. */
static int
drain(struct ava_session *s, int timeout_ms, char *why, size_t nwhy)
{
	const struct ava_state_ops *ops = ava_state_ops();
	if (ops == NULL || ops->quiesce == NULL)
		return 0;
	struct reals q = { .type = ops->queue_type };
	pthread_mutex_lock(&s->lock);
	int r = ava_handle_table_each(s->handles, collect_type, &q);
	pthread_mutex_unlock(&s->lock);
	if (r == 0)
		r = ops->quiesce(q.v, q.n, timeout_ms, why, nwhy);
	else
		snprintf(why, nwhy, "out of memory");
	free(q.v);
	return r;
}

int
ava_session_pause(struct ava_session *s, int timeout_ms, char *why,
		  size_t nwhy)
{
	struct timespec until;
	ava_deadline_in(&until, timeout_ms);
	int r = -pthread_rwlock_timedwrlock(&s->gate, &until);
	if (r < 0) {
		snprintf(why, nwhy, "a call of the guest did not finish within "
			 "%d ms (one blocked in the driver, such as a wait on "
			 "a user event, holds the session)", timeout_ms);
		return r;
	}
	if ((r = drain(s, timeout_ms, why, nwhy)) < 0)
		pthread_rwlock_unlock(&s->gate);
	return r;
}

void
ava_session_unpause(struct ava_session *s)
{
	pthread_rwlock_unlock(&s->gate);
}

/* ---- capture ---------------------------------------------------------- */

struct object {
	uint64_t id, real, size, parent;
	uint16_t type;
	uint32_t refs, flags;
};

struct objects {
	struct ava_session *s;
	struct object *v;
	size_t n, cap;
};

static int
add_object(struct objects *o, const struct object *x)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 64;
		struct object *v = realloc(o->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = *x;
	return 0;
}

static int
each_live(void *ctx, uint64_t id, uint16_t type, uint64_t real,
	  uint32_t refs)
{
	struct objects *o = ctx;
	const struct ava_api_desc *api = o->s->api;
	struct object x = { .id = id, .real = real, .type = type,
			    .refs = refs, .flags = AVA_CAPTURE_LIVE };
	if (api->handles[type].flags & AVA_HANDLE_STATIC)
		x.refs = 1;
	if (ava_state_is_substitute(o->s->state, id))
		x.flags |= AVA_CAPTURE_SUBSTITUTE;
	else if (api->handles[type].state != NULL)
		x.flags |= AVA_CAPTURE_STATE;
	return add_object(o, &x);
}

/* Sizes and parents need the driver: asked outside the session lock. */
static int
describe(struct ava_session *s, struct object *x, char *why, size_t nwhy)
{
	const struct ava_state_ops *ops = ava_state_ops();
	if (x->flags & AVA_CAPTURE_STATE) {
		if (ops == NULL || ops->state_size == NULL) {
			snprintf(why, nwhy, "the server cannot read the "
				 "contents of %s objects",
				 s->api->handles[x->type].name);
			return AVA_ENOTSUP;
		}
		int r = ops->state_size(x->real, &x->size, why, nwhy);
		if (r < 0)
			return r;
		if (x->size == 0)
			x->flags &= ~AVA_CAPTURE_STATE;
	}
	if (x->flags & AVA_CAPTURE_SUBSTITUTE) {
		uint64_t preal;
		uint16_t ptype;
		if (ops == NULL || ops->event_parent == NULL) {
			snprintf(why, nwhy, "the server cannot rebuild events");
			return AVA_ENOTSUP;
		}
		int r = ops->event_parent(x->real, &preal, &ptype, why, nwhy);
		if (r < 0)
			return r;
		pthread_mutex_lock(&s->lock);
		r = ava_handle_table_find(s->handles, preal, ptype, &x->parent);
		pthread_mutex_unlock(&s->lock);
		if (r < 0) {
			snprintf(why, nwhy, "event 0x%016" PRIx64 " belongs to "
				 "an object the guest never saw", x->id);
			return AVA_ENOTSUP;
		}
	}
	return 0;
}

/*
 * A round while the guest runs (pre-copy) reads objects the guest may
 * release meanwhile: one it drops between our listing and our reading
 * would be freed under us. So the listing is taken at a call boundary
 * (the gate, as a pause takes it, but only for the listing), and every
 * object listed is held by a reference of our own, through the API's
 * retain function (the handle type's retain_fn), until the round ends.
 */
static void
hold(struct ava_session *s, const struct object *x, bool take)
{
	const struct ava_handle_desc *t = &s->api->handles[x->type];
	int32_t fn = take ? t->retain_fn : t->release_fn;
	if (fn < 0 || (t->flags & AVA_HANDLE_STATIC))
		return;
	uint64_t v[AVA_MAX_ARGS] = { x->real };
	struct ava_server_ctx ctx = { .session = s, .server = s->server,
				      .session_id = s->id };
	s->server->invoke((uint32_t)fn, v, &ctx);
}

static void
hold_all(struct ava_session *s, const struct objects *o, bool take)
{
	for (size_t i = 0; i < o->n; i++)
		hold(s, &o->v[i], take);
}

/* For tests (mtest.py, release-race): an unpaused round waits this long
 * between its listing and its reading, so that the guest releases some
 * of what was listed meanwhile. */
static void
test_pause(void)
{
	const char *e = getenv("AVA_TEST_ROUND_PAUSE_MS");
	long ms = e != NULL ? strtol(e, NULL, 10) : 0;
	if (ms > 0 && ms <= 10000) {
		struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
		nanosleep(&t, NULL);
	}
}

static int
send_contents(struct ava_session *s, const struct ava_capture_sink *k,
	      const struct object *x, void *buf, char *why, size_t nwhy)
{
	const struct ava_state_ops *ops = ava_state_ops();
	for (uint64_t off = 0; off < x->size;) {
		size_t n = x->size - off < k->chunk ? (size_t)(x->size - off)
						    : k->chunk;
		int r = ops->state_read(x->real, off, buf, n, why, nwhy);
		if (r == 0)
			r = k->state(k->ctx, x->id, off, x->size, buf, n);
		if (r < 0)
			return r;
		off += n;
	}
	return 0;
}

int
ava_session_capture_round(struct ava_session *s,
			  const struct ava_capture_sink *k,
			  struct ava_capture_round *rd, char *why, size_t nwhy)
{
	struct objects o = { .s = s };
	struct ava_state_call *calls = NULL;
	size_t ncalls = 0, nth;
	uint32_t th[256];
	uint64_t seq[256];
	/* Unpaused: at a call boundary for the listing (see hold()). */
	bool held = !rd->paused;
	if (held) {
		struct timespec until;
		ava_deadline_in(&until, rd->timeout_ms);
		int e = -pthread_rwlock_timedwrlock(&s->gate, &until);
		if (e < 0) {
			snprintf(why, nwhy, "a call of the guest did not finish "
				 "within %d ms, for a round's listing",
				 rd->timeout_ms);
			return e;
		}
	}
	pthread_mutex_lock(&s->lock);
	const char *inc = ava_state_incomplete(s->state);
	int r = inc != NULL ? AVA_ENOTSUP : 0;
	if (r == 0)
		r = ava_state_needed(s->state, s->handles, &calls, &ncalls);
	if (r == 0)
		r = ava_handle_table_each(s->handles, each_live, &o);
	nth = ava_state_threads(s->state, th, seq, 256);
	pthread_mutex_unlock(&s->lock);
	if (held) {
		hold_all(s, &o, true);
		pthread_rwlock_unlock(&s->gate);
		test_pause();
	}
	if (inc != NULL)
		snprintf(why, nwhy, "a call to %s used more objects than a "
			 "checkpoint can track (%d)", inc, AVA_STATE_REC_IDS);
	else if (r < 0)
		snprintf(why, nwhy, "%s", ava_strerror(r));
	if (r == 0 && nth > 256) {
		snprintf(why, nwhy, "more than 256 guest threads");
		r = AVA_ENOTSUP;
	}
	for (size_t i = 0; i < o.n && r == 0; i++)
		r = describe(s, &o.v[i], why, nwhy);
	rd->live = 0;
	for (size_t i = 0; i < o.n; i++)
		if (o.v[i].flags & AVA_CAPTURE_STATE)
			rd->live += o.v[i].size;
	if (r == 0 && rd->header)
		r = k->threads(k->ctx, th, seq, nth, rd->live);
	rd->next = rd->since;
	for (size_t i = 0; i < ncalls && r == 0; i++) {
		if (calls[i].serial <= rd->since)
			continue;
		r = k->call(k->ctx, &calls[i]);
		rd->next = calls[i].serial;
	}
	for (size_t i = 0; i < o.n && r == 0 && rd->objects; i++)
		r = k->object(k->ctx, o.v[i].id, o.v[i].type, o.v[i].refs,
			      o.v[i].flags, o.v[i].size, o.v[i].parent);
	/* Which contents go: all, or those not sent yet and those written
	 * since. The marks are taken before the queues drain, so a command
	 * that writes one while it is read marks it again. */
	bool *go = calloc(o.n ? o.n : 1, sizeof(*go));
	if (r == 0 && go == NULL)
		r = -ENOMEM;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < o.n && r == 0; i++) {
		uint64_t dummy;
		if (!(o.v[i].flags & AVA_CAPTURE_STATE))
			continue;
		bool dirty = ava_state_take_dirty(s->state, o.v[i].id);
		go[i] = rd->sent == NULL || dirty ||
			!ava_u64map_get(rd->sent, o.v[i].id, &dummy);
	}
	pthread_mutex_unlock(&s->lock);
	if (r == 0 && !rd->paused)
		r = drain(s, rd->timeout_ms, why, nwhy);
	void *buf = r == 0 ? malloc(k->chunk) : NULL;
	if (r == 0 && buf == NULL)
		r = -ENOMEM;
	rd->bytes = 0;
	for (size_t i = 0; i < o.n && r == 0; i++) {
		if (!go[i])
			continue;
		r = send_contents(s, k, &o.v[i], buf, why, nwhy);
		if (r == 0 && rd->sent != NULL)
			r = ava_u64map_put(rd->sent, o.v[i].id, 1);
		rd->bytes += o.v[i].size;
	}
	rd->dirty = 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < o.n && r == 0; i++)
		if ((o.v[i].flags & AVA_CAPTURE_STATE) &&
		    ava_state_is_dirty(s->state, o.v[i].id))
			rd->dirty += o.v[i].size;
	pthread_mutex_unlock(&s->lock);
	if (r < 0 && why[0] == '\0')
		snprintf(why, nwhy, "%s", ava_strerror(r));
	const struct ava_state_ops *ops = ava_state_ops();
	if (ops != NULL && ops->state_done != NULL)
		ops->state_done();
	if (held)
		hold_all(s, &o, false);
	free(go);
	free(buf);
	free(o.v);
	free(calls);
	return r;
}

int
ava_session_capture(struct ava_session *s, const struct ava_capture_sink *k,
		    char *why, size_t nwhy)
{
	struct ava_capture_round rd = { .header = true, .objects = true,
					.paused = true };
	return ava_session_capture_round(s, k, &rd, why, nwhy);
}

int
ava_session_switch(struct ava_session *s, const char *addr, uint64_t session,
		   uint64_t token, struct ava_conn *fwd)
{
	struct ava_moved *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	snprintf(m->addr, sizeof(m->addr), "%s", addr);
	m->session = session;
	m->token = token;
	m->fwd = fwd;
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_lock(&s->lock);
	s->moved = m;
	/* Batches waiting for queued calls that will now go elsewhere
	 * stop waiting, and go there too. */
	ava_session_async_stop(s->async);
	/* Every connection hears it at once, even an idle one, so that the
	 * guest learns it even if this server dies before its next call;
	 * one still on its way in hears it after its WELCOME (list_conn()
	 * in session-life.c). */
	for (struct conn *c = s->conns; c != NULL; c = c->next)
		if (!c->callbacks)
			session_tell_moved(c);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

size_t
ava_session_threads(struct ava_session *s, uint32_t *threads, uint64_t *seqs,
		    size_t max)
{
	pthread_mutex_lock(&s->lock);
	size_t n = ava_state_threads(s->state, threads, seqs, max);
	pthread_mutex_unlock(&s->lock);
	return n;
}
