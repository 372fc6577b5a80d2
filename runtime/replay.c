/*
 * replay.c - the replay engine: a reader that turns recorded calls into
 * jobs, one worker thread per recorded guest thread, and a gate that
 * lets each call start in the recorded order (replay.h).
 *
 * The calling thread reads the journal (a reader belongs to one thread)
 * and queues up to MAX_AHEAD calls ahead of execution, so reading and
 * executing overlap. Each worker runs its guest thread's calls in order;
 * the map lock serialises decode, encode and comparison (as the server's
 * session lock does), never the real call.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ava-error.h"
#include "handle-table.h"
#include "marshal-split.h"
#include "pretty.h"
#include "replay-private.h"
#include "server-ctx.h"

#define MAX_AHEAD 256
#define MAX_AHEAD_BYTES (256u << 20)
#define DEFAULT_STALL_S 30
/* After a divergence, how long running calls get to finish. */
#define DRAIN_MS 2000

struct engine;

struct worker {
	struct engine *e;
	pthread_t tid;
	bool started;
	uint32_t thread;                /* recorded guest thread */
	int slot;
	struct replay_job *head, *tail;
	struct replay_job *running;
	bool waiting;
	pthread_cond_t cv;
	struct ava_buf reply;
	struct ava_call c;
};

struct engine {
	const struct ava_api_desc *api;
	const struct ava_server_api *server;
	const struct ava_replay_rules *rules;
	const struct ava_replay_options *o;
	struct ava_replay_result *res;
	pthread_mutex_t lock;
	pthread_cond_t gate;            /* a call started or finished */
	pthread_cond_t room;            /* a call finished: room to read ahead */
	uint32_t gate_waiters;          /* workers waiting at the gate */
	bool room_waiting;              /* the reader waits for room */
	uint64_t next_start;            /* index of the next call to start */
	uint64_t dispatched, finished;
	size_t ahead_bytes;
	bool dispatch_done, stop;
	uint64_t div_index;
	struct worker *w[AVA_REPLAY_MAX_THREADS];
	uint32_t nw;
	struct replay_map *map;
	struct ava_handle_ops hops;
	uint64_t t0, t_end;             /* replay span, CLOCK_MONOTONIC */
	uint64_t rec_first, rec_last;   /* recorded span, CLOCK_REALTIME */
	uint8_t *got_bytes;             /* of the divergence, if a buffer */
	uint64_t got_len, want_digest;
	struct kept *kept;              /* argument storage still in use */
	struct ava_u64map sids;         /* scalar ids: recorded -> replay */
	struct replay_undef *undef;     /* buffers never written */
};

/* A CALL payload the implementation still points into. */
struct kept {
	struct kept *next;
	struct ava_buf buf;
};

static uint64_t
mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- divergence ------------------------------------------------------- */

/* Keep the earliest divergence (calls of several threads may diverge);
 * called with e->lock held. */
static void
diverge(struct engine *e, const struct replay_job *j,
	const struct ava_replay_divergence *d)
{
	struct ava_replay_result *res = e->res;
	if (!res->diverged || j->index < e->div_index) {
		res->diverged = true;
		e->div_index = j->index;
		res->div = *d;
		res->div.seq = j->seq;
		res->div.thread = j->thread;
		res->div.fn = j->fn->id;
	}
	e->stop = true;
	pthread_cond_broadcast(&e->gate);
	pthread_cond_broadcast(&e->room);
	for (uint32_t i = 0; i < e->nw; i++)
		pthread_cond_signal(&e->w[i]->cv);
}

static void
diverge_text(struct engine *e, const struct replay_job *j, const char *what,
	     const char *want, const char *got)
{
	struct ava_replay_divergence d = { .offset = -1 };
	snprintf(d.what, sizeof(d.what), "%s", what);
	snprintf(d.expected, sizeof(d.expected), "%s", want);
	snprintf(d.got, sizeof(d.got), "%s", got);
	diverge(e, j, &d);
}

/* ---- one call --------------------------------------------------------- */

static int64_t
invalid_error(const struct ava_api_desc *api, uint16_t type)
{
	if (type != 0 && type < api->nhandles)
		return api->handles[type].invalid_error;
	return api->unsupported_error;
}

/* Decode under the lock; a refused handle is answered as the server
 * did. *ran: the real function is to be called. */
static int
decode(struct engine *e, struct worker *w, struct replay_job *j, bool *ran)
{
	const struct ava_fn_desc *fn = j->fn;
	*ran = false;
	if (fn->flags & AVA_FN_UNSUPPORTED) {
		memset(&w->c, 0, sizeof(w->c));
		w->c.fn = fn;
		w->c.bad_arg = -1;
		return ava_marshal_reply_reject(fn, fn->unsupported_error,
						&w->reply);
	}
	int r = ava_marshal_call_decode(e->api, fn, j->call.data, j->call.len,
					&e->hops, &w->c);
	if (r == AVA_EHANDLE)
		return ava_marshal_reply_reject(
			fn, invalid_error(e->api, w->c.bad_type), &w->reply);
	*ran = r == 0;
	return r;
}

static void
fault_expected(struct engine *e, struct replay_job *j, struct worker *w, bool ran)
{
	char st[96] = "";
	uint64_t ret = w->reply.len >= 8 ? ava_wire_get_le(w->reply.data, 8) : 0;
	if (ran && j->fn->ret == AVA_RET_STATUS)
		replay_format_status(e->api, (int64_t)ret, st, sizeof(st));
	struct ava_replay_divergence d = { .offset = -1, .fault = true };
	snprintf(d.what, sizeof(d.what), "outcome");
	snprintf(d.expected, sizeof(d.expected), "a fault in the driver (the "
		 "recorded run died in this call; no reply was recorded)");
	snprintf(d.got, sizeof(d.got), "the call returned%s%s",
		 st[0] ? " " : "", st);
	diverge(e, j, &d);
}

/* The replay refused the call for a handle it has no object for. */
static void
refused_hint(struct engine *e, struct worker *w,
	     struct ava_replay_divergence *d)
{
	struct ava_buf b;
	ava_buf_init(&b);
	ava_pretty_handle(e->api, w->c.bad_id, &b);
	snprintf(d->hint, sizeof(d->hint), "argument %s names %.*s, which "
		 "this replay has no object for: the call that made it is not "
		 "in the journal (trimmed away?) or did not make it here",
		 w->c.fn->args[w->c.bad_arg].name, b.err ? 0 : (int)b.len,
		 b.err ? "" : (const char *)b.data);
	ava_buf_finish(&b);
}

/* Compare w->reply with the record; called with e->lock held. */
static void
compare(struct engine *e, struct worker *w, struct replay_job *j, bool ran)
{
	const char *why = NULL;
	enum ava_replay_class cls = AVA_REPLAY_EXACT;
	if (e->rules != NULL && e->rules->classify != NULL)
		cls = e->rules->classify(e->api, j->fn, w->c.ev, &why);
	struct replay_check k = {
		.api = e->api, .fn = j->fn, .cls = cls, .why = why,
		.ev = w->c.ev, .verify = e->o->verify, .rec_outs = j->outs,
		.rec_outs_len = j->outs_len, .rec_digests = j->digests,
		.nrec_digests = j->ndigests, .map = e->map, .res = e->res,
		.rules = e->rules, .sids = e->rules != NULL &&
		e->rules->scalar_id != NULL ? &e->sids : NULL,
		.seq = j->seq, .div = { .offset = -1 },
		.undefined = ran && replay_undef_reads(e->undef, &w->c, e->map),
	};
	if (replay_check_reply(&k, w->reply.data, w->reply.len) < 0) {
		diverge_text(e, j, "comparison", "the recorded results",
			     "out of memory");
		return;
	}
	if (ran && (!k.have_status || k.rec_status == e->api->success))
		replay_undef_update(e->undef, &w->c, e->map, j->outs,
				    j->outs_len);
	if (!k.diverged) {
		free(k.got_bytes);
		return;
	}
	const char *h = NULL;
	if (k.have_status && e->rules != NULL && e->rules->hint != NULL)
		h = e->rules->hint(e->api, j->fn, k.rec_status, k.got_status);
	if (h != NULL)
		snprintf(k.div.hint, sizeof(k.div.hint), "%s", h);
	else if (w->c.bad_arg >= 0)
		refused_hint(e, w, &k.div);
	bool first = !e->res->diverged || j->index < e->div_index;
	diverge(e, j, &k.div);
	if (first) {
		free(e->got_bytes);
		e->got_bytes = k.got_bytes;
		e->got_len = k.got_len;
		e->want_digest = k.want_digest;
	} else {
		free(k.got_bytes);
	}
}

/* Keep the job's CALL payload for the rest of the session. Lock held. */
static void
keep_call(struct engine *e, struct replay_job *j)
{
	struct kept *k = malloc(sizeof(*k));
	if (k == NULL)
		return;  /* freed with the job: best effort */
	k->buf = j->call;
	ava_buf_init(&j->call);
	k->next = e->kept;
	e->kept = k;
}

/* Arguments that name an id the implementation chose get this replay's
 * id for the recorded one (an unknown one stays: it fails as recorded). */
static void
translate_ids(struct engine *e, struct ava_call *c)
{
	if (e->rules == NULL || e->rules->scalar_id == NULL)
		return;
	for (int i = 0; i < c->fn->nargs; i++) {
		uint64_t v;
		if (c->fn->args[i].kind == AVA_ARG_SCALAR &&
		    e->rules->scalar_id(e->api, c->fn, i) &&
		    ava_u64map_get(&e->sids, c->ev[i], &v))
			c->v[i] = v;
	}
}

/* One call: decode, invoke (unlocked), encode and compare. Called and
 * returns with e->lock held. */
static void
run_job(struct engine *e, struct worker *w, struct replay_job *j)
{
	ava_buf_reset(&w->reply);
	bool ran = false;
	int r = ava_buf_error(&j->call);
	if (r == 0)
		r = decode(e, w, j, &ran);
	if (r < 0) {
		diverge_text(e, j, "arguments", "the recorded arguments",
			     r == -ENOMEM ? "out of memory"
			     : "arguments that do not decode (a damaged record)");
		ava_call_finish(&w->c);
		return;
	}
	uint64_t ret = 0;
	if (ran) {
		struct ava_server_ctx ctx = {
			.server = e->server, .thread = j->thread, .seq = j->seq,
			.call = &w->c,
		};
		ava_marshal_call_override(&w->c);
		translate_ids(e, &w->c);
		pthread_mutex_unlock(&e->lock);
		ret = e->server->invoke(j->fn->id, w->c.v, &ctx);
		pthread_mutex_lock(&e->lock);
	}
	replay_map_call_begin(e->map);
	if (ran)
		r = ava_marshal_reply_encode(&w->c, ret, &e->hops, &w->reply);
	if (r < 0)
		diverge_text(e, j, "results", "the recorded results",
			     "results that cannot be encoded");
	else if (j->outs_len == 0 && e->o->fault_elsewhere)
		e->res->unverified++;  /* the fault is the driver's to come */
	else if (j->outs_len == 0)
		fault_expected(e, j, w, ran);
	else
		compare(e, w, j, ran);
	if (ran && e->rules != NULL && e->rules->keeps_args != NULL &&
	    e->rules->keeps_args(e->api, j->fn, w->c.ev))
		keep_call(e, j);
	ava_call_finish(&w->c);
}

/* ---- the gate ---------------------------------------------------------- */

/* May j start? Every earlier call has started, and none still running
 * had finished before j started in the record. Lock held. */
static bool
may_start(struct engine *e, const struct replay_job *j)
{
	if (e->next_start != j->index)
		return false;
	for (uint32_t i = 0; i < e->nw; i++) {
		const struct replay_job *r = e->w[i]->running;
		if (r != NULL && r->index < j->index && r->end_ns <= j->start_ns)
			return false;
	}
	return true;
}

static void
pace(struct engine *e, const struct replay_job *j)
{
	uint64_t due = e->t0 + (j->start_ns - e->rec_first);
	uint64_t now = mono_ns();
	if (!e->o->recorded_speed || j->start_ns < e->rec_first || due <= now)
		return;
	struct timespec ts = { (time_t)((due - now) / 1000000000u),
			       (long)((due - now) % 1000000000u) };
	pthread_mutex_unlock(&e->lock);
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&e->lock);
}

static void
started(struct engine *e, struct worker *w, struct replay_job *j)
{
	struct ava_replay_progress *p = e->o->progress;
	j->t_start = mono_ns();
	if (e->next_start == 0)
		e->t0 = j->t_start;
	e->next_start++;
	w->running = j;
	if (p != NULL) {
		__atomic_store_n(&p->in_flight[w->slot], j->seq, __ATOMIC_RELAXED);
		__atomic_store_n(&p->last_started, j->seq, __ATOMIC_RELAXED);
	}
	if (e->gate_waiters > 0)
		pthread_cond_broadcast(&e->gate);
}

static void
finished(struct engine *e, struct worker *w, struct replay_job *j)
{
	struct ava_replay_progress *p = e->o->progress;
	uint64_t now = mono_ns();
	e->res->replay_busy_ns += now - j->t_start;
	e->res->calls++;
	if (now > e->t_end)
		e->t_end = now;
	w->running = NULL;
	e->finished++;
	e->ahead_bytes -= j->bytes;
	if (p != NULL) {
		__atomic_store_n(&p->in_flight[w->slot], 0, __ATOMIC_RELAXED);
		__atomic_add_fetch(&p->completed, 1, __ATOMIC_RELAXED);
	}
	/* Wake only who waits: with one guest thread, nobody does. */
	if (e->gate_waiters > 0)
		pthread_cond_broadcast(&e->gate);
	if (e->room_waiting)
		pthread_cond_signal(&e->room);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct engine *e = w->e;
	pthread_setname_np(pthread_self(), "ava-replay");
	pthread_mutex_lock(&e->lock);
	for (;;) {
		while (!e->stop && w->head == NULL && !e->dispatch_done) {
			w->waiting = true;
			pthread_cond_wait(&w->cv, &e->lock);
			w->waiting = false;
		}
		struct replay_job *j = w->head;
		if (e->stop || j == NULL)
			break;
		if ((w->head = j->next) == NULL)
			w->tail = NULL;
		while (!e->stop && !may_start(e, j)) {
			e->gate_waiters++;
			pthread_cond_wait(&e->gate, &e->lock);
			e->gate_waiters--;
		}
		if (!e->stop)
			pace(e, j);
		if (e->stop) {
			replay_job_free(j);
			break;
		}
		started(e, w, j);
		run_job(e, w, j);   /* called locked, returns locked */
		finished(e, w, j);
		replay_job_free(j);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* ---- reading the journal ------------------------------------------------ */

static struct worker *
worker_for(struct engine *e, uint32_t thread)
{
	for (uint32_t i = 0; i < e->nw; i++)
		if (e->w[i]->thread == thread)
			return e->w[i];
	if (e->nw == AVA_REPLAY_MAX_THREADS)
		return NULL;
	struct worker *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	*w = (struct worker){ .e = e, .thread = thread, .slot = (int)e->nw };
	pthread_cond_init(&w->cv, NULL);
	ava_buf_init(&w->reply);
	if (pthread_create(&w->tid, NULL, worker_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		free(w);
		return NULL;
	}
	w->started = true;
	e->w[e->nw++] = w;
	return w;
}

/* A call running far past its recorded time: report it. Lock held. */
static void
check_stall(struct engine *e)
{
	uint64_t now = mono_ns();
	uint64_t grace = (uint64_t)(e->o->stall_s ? e->o->stall_s
				    : DEFAULT_STALL_S) * 1000000000u;
	for (uint32_t i = 0; i < e->nw && !e->stop; i++) {
		struct replay_job *j = e->w[i]->running;
		if (j == NULL || now - j->t_start < grace + 4 * j->dur_ns)
			continue;
		struct ava_replay_divergence d = { .offset = -1,
						   .stalled = true };
		snprintf(d.what, sizeof(d.what), "outcome");
		snprintf(d.expected, sizeof(d.expected), "the call returns "
			 "(it took %.3f ms in the recorded run)",
			 j->dur_ns / 1e6);
		snprintf(d.got, sizeof(d.got), "no return after %.1f s",
			 (now - j->t_start) / 1e9);
		diverge(e, j, &d);
	}
}

/* The reader waits for room (or the end) a second at a time, looking
 * for stalled calls in between. */
static void
wait_room(struct engine *e)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	e->room_waiting = true;
	pthread_cond_timedwait(&e->room, &e->lock, &ts);
	e->room_waiting = false;
	check_stall(e);
}

/* Hand j to its thread's worker, waiting for room to read ahead. */
static int
dispatch(struct engine *e, struct replay_job *j)
{
	pthread_mutex_lock(&e->lock);
	while (!e->stop && e->dispatched - e->finished > 0 &&
	       (e->dispatched - e->finished >= MAX_AHEAD ||
		e->ahead_bytes + j->bytes > MAX_AHEAD_BYTES))
		wait_room(e);
	struct worker *w = e->stop ? NULL : worker_for(e, j->thread);
	int err = e->stop ? 0 : w == NULL ? -EAGAIN : 0;
	if (w != NULL) {
		if (e->dispatched == 0)
			e->rec_first = j->start_ns;
		if (j->end_ns > e->rec_last)
			e->rec_last = j->end_ns;
		e->res->recorded_busy_ns += j->dur_ns;
		e->dispatched++;
		e->ahead_bytes += j->bytes;
		if (w->tail != NULL)
			w->tail->next = j;
		else
			w->head = j;
		w->tail = j;
		if (w->waiting)
			pthread_cond_signal(&w->cv);
		j = NULL;
	}
	pthread_mutex_unlock(&e->lock);
	replay_job_free(j);
	return err;
}

static int
read_calls(struct engine *e, struct ava_journal_reader *r, uint64_t session)
{
	struct ava_journal_cursor *cur;
	const struct ava_journal_call *c;
	uint64_t last = 0;
	int err = ava_journal_cursor_create(r, session, 1, &cur);
	if (err != 0)
		return err;
	while (!e->stop && (err = ava_journal_cursor_next(cur, &c)) == 1) {
		if (e->o->until != 0 && c->seq > e->o->until)
			break;
		last = c->seq;
		const struct ava_fn_desc *fn = ava_api_fn(e->api, c->fn);
		struct replay_job *j;
		if (fn == NULL) {
			snprintf(e->res->why, sizeof(e->res->why), "call #%"
				 PRIu64 ": function %u is unknown to this build",
				 c->seq, c->fn);
			err = AVA_ENOFN;
			break;
		}
		if ((err = replay_job_make(r, c, fn, e->dispatched, &j)) != 0) {
			snprintf(e->res->why, sizeof(e->res->why), "call #%"
				 PRIu64 ": %s", c->seq, ava_strerror(err));
			break;
		}
		if ((err = dispatch(e, j)) != 0)
			break;
		e->res->calls_recorded++;
		if (e->res->first_seq == 0)
			e->res->first_seq = c->seq;
		e->res->last_seq = c->seq;
	}
	if (err < 0 && e->res->why[0] == '\0')
		snprintf(e->res->why, sizeof(e->res->why), "reading the call "
			 "after #%" PRIu64 ": %s", last, ava_strerror(err));
	ava_journal_cursor_destroy(cur);
	return err < 0 ? err : 0;
}

/* ---- the session -------------------------------------------------------- */

/* Wait for the calls in flight: all of them, or after a divergence the
 * ones that return within DRAIN_MS. True if every worker is idle. */
static bool
drain(struct engine *e)
{
	uint64_t t0 = mono_ns();
	pthread_mutex_lock(&e->lock);
	e->dispatch_done = true;
	for (uint32_t i = 0; i < e->nw; i++)
		pthread_cond_signal(&e->w[i]->cv);
	while (e->finished < e->dispatched) {
		bool busy = false;
		for (uint32_t i = 0; i < e->nw; i++)
			busy |= e->w[i]->running != NULL;
		if (e->stop && (!busy || mono_ns() - t0 > DRAIN_MS * 1000000ull))
			break;
		wait_room(e);
	}
	bool idle = true;
	for (uint32_t i = 0; i < e->nw; i++)
		idle &= e->w[i]->running == NULL;
	e->stop = true;
	pthread_cond_broadcast(&e->gate);
	for (uint32_t i = 0; i < e->nw; i++)
		pthread_cond_signal(&e->w[i]->cv);
	pthread_mutex_unlock(&e->lock);
	return idle;
}

static void
engine_free(struct engine *e, bool join)
{
	for (uint32_t i = 0; i < e->nw; i++) {
		struct worker *w = e->w[i];
		if (!join) {
			pthread_detach(w->tid);
			continue;
		}
		pthread_join(w->tid, NULL);
		for (struct replay_job *j = w->head, *n; j != NULL; j = n) {
			n = j->next;
			replay_job_free(j);
		}
		ava_buf_finish(&w->reply);
		pthread_cond_destroy(&w->cv);
		free(w);
	}
	if (!join)
		return;  /* blocked threads still use it: leave it */
	replay_map_destroy(e->map);
	ava_u64map_finish(&e->sids);
	replay_undef_destroy(e->undef);
	free(e->got_bytes);
	for (struct kept *k = e->kept, *n; k != NULL; k = n) {
		n = k->next;
		ava_buf_finish(&k->buf);
		free(k);
	}
	pthread_cond_destroy(&e->gate);
	pthread_cond_destroy(&e->room);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

int
ava_replay_session(struct ava_journal_reader *r, uint64_t session,
		   const struct ava_server_api *server,
		   const struct ava_replay_rules *rules,
		   const struct ava_replay_options *o,
		   struct ava_replay_result *res)
{
	memset(res, 0, sizeof(*res));
	res->session = session;
	res->div.offset = -1;
	struct engine *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	*e = (struct engine){ .api = server->api, .server = server,
		.rules = rules, .o = o, .res = res };
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->gate, NULL);
	pthread_cond_init(&e->room, NULL);
	ava_u64map_init(&e->sids);
	int err = replay_map_create(e->api, &e->map);
	if (err == 0)
		err = replay_undef_create(e->api, &e->undef);
	if (err == 0 && rules != NULL && rules->warm_up != NULL) {
		uint64_t t0 = mono_ns();
		rules->warm_up();
		res->startup_ns = mono_ns() - t0;
	}
	if (err == 0) {
		replay_map_ops(e->map, &e->hops);
		err = read_calls(e, r, session);
	}
	bool idle = drain(e);
	pthread_mutex_lock(&e->lock);
	res->threads = e->nw;
	res->lazy_binds = e->map ? replay_map_lazy_binds(e->map) : 0;
	res->replay_ns = e->t_end > e->t0 ? e->t_end - e->t0 : 0;
	res->recorded_span_ns = e->rec_last > e->rec_first
				? e->rec_last - e->rec_first : 0;
	pthread_mutex_unlock(&e->lock);
	if (res->diverged && e->got_bytes != NULL)
		res->div.offset = replay_find_offset(r, session, e->got_bytes,
						     e->got_len, e->want_digest);
	engine_free(e, idle);
	return err;
}
