/*
 * batch.c - the guest's async queue: calls that may be batched wait here,
 * in call order across all threads, until a BATCH frame carries them
 * (guest-private.h gives the rules, doc/protocol.md the frames).
 *
 * Why one queue for the process rather than one per thread: a queued
 * call's effects must be visible to whatever the application does after
 * the call returned, in any thread it synchronizes with (clSetKernelArg
 * in one thread, then clEnqueueNDRangeKernel in another after a mutex).
 * The guest cannot see those mutexes, so it keeps the one order that
 * respects them all: the order in which the stubs returned. The server
 * runs BATCHes by their base number, so whichever connection a batch
 * travels on, the calls run in that order; each call still carries its
 * own thread's number and sequence, for the journal and for the errors
 * it may defer.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ava-error.h"
#include "guest-private.h"
#include "marshal.h"
#include "pretty.h"

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t wake;     /* the flusher: a call was queued, or exit */
	pthread_cond_t sent;     /* exit: the flusher's send (or its
				  * connection's opening) is over */
	bool enabled;
	bool all;                /* AVA_BATCH=all: unchecked */
	struct ava_buf buf;      /* u64 base, then ASYNC frames */
	uint32_t n;              /* calls in buf */
	uint32_t limit;          /* send at this many calls */
	uint64_t since;          /* CLOCK_MONOTONIC ns: buf's oldest call */
	uint64_t next;           /* calls handed to a connection so far */
	bool started;            /* the flusher was started (under
				  * ava_batch_start's lock) */
	bool sleeping;           /* it waits with no deadline */
	bool sending;            /* it writes a batch */
	bool connecting;         /* it opens its connection */
	bool closed;             /* process exit: it stops */
	struct tconn *flusher;   /* its connection, once open */
};

static struct queue Q = { .lock = PTHREAD_MUTEX_INITIALIZER,
			  .sent = PTHREAD_COND_INITIALIZER };
static pthread_once_t q_once = PTHREAD_ONCE_INIT;

/*
 * Over shm:, the marshaller leaves a large in-buffer out of t->out (a
 * hole, marshal.h) and the transport copies it once, from the
 * application's memory into the shared area, when t->out is sent on the
 * thread's connection. A payload with a hole is larger than
 * BATCH_CALL_MAX, so it is never copied into a batch: it is not queued,
 * and it follows its batch alone.
 */
_Static_assert(BATCH_CALL_MAX <= AVA_BULK_MIN, "holes never reach a batch");

__attribute__((constructor)) static void
defer_bulk(void)
{
	ava_marshal_defer_bulk(true);
}

static void
q_init(void)
{
	const char *env = getenv("AVA_BATCH");
	Q.enabled = env == NULL || strcmp(env, "0") != 0;
	Q.all = env != NULL && strcmp(env, "all") == 0;
	/* The flusher sleeps until a deadline on the monotonic clock. */
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&Q.wake, &a);
	pthread_condattr_destroy(&a);
	ava_buf_init(&Q.buf);
}

bool
ava_batch_enabled(void)
{
	pthread_once(&q_once, q_init);
	return Q.enabled;
}

bool
ava_batch_unchecked(void)
{
	pthread_once(&q_once, q_init);
	return Q.all;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Move the queue into t->batch, numbered; returns where it ends. */
static uint64_t
take_locked(struct tconn *t)
{
	struct ava_buf tmp = t->batch;
	t->batch = Q.buf;
	Q.buf = tmp;
	ava_buf_reset(&Q.buf);
	ava_wire_put_le(t->batch.data, Q.next, 8);
	Q.next += Q.n;
	Q.n = 0;
	return Q.next;
}

static int
send_batch(struct tconn *t, uint64_t end)
{
	const struct ava_api_desc *api = ava_guest_api();
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = AVA_MSG_BATCH, .api = api->api_id,
		.thread = t->thread, .len = t->batch.len,
	};
	int r = ava_buf_error(&t->batch);
	if (r == 0)
		r = ava_guest_send(t, &h, t->batch.data);
	t->covered = end;
	return r;
}

static struct ava_frame_header
call_header(const struct tconn *t, const struct ava_fn_desc *fn, bool async,
	    uint64_t seq)
{
	return (struct ava_frame_header){
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = AVA_MSG_CALL, .api = ava_guest_api()->api_id,
		.fn = fn->id, .thread = t->thread,
		.flags = async ? AVA_FRAME_ASYNC : 0, .seq = seq,
		.len = t->out.len,
	};
}

/* ---- the flusher ------------------------------------------------------ */

/*
 * Sends the queue once its oldest call is BATCH_DELAY_NS old and nobody
 * sent it meanwhile. While calls keep coming it wakes once per deadline;
 * with nothing queued it sleeps until a call is queued, so an idle guest
 * costs no CPU.
 *
 * It opens its own connection first, off the application's threads: the
 * join is a round trip through the server to the session's worker (about
 * 1 ms on the project's VM), which the first queued call used to wait
 * for. A failure is reported by ava_guest_conn_open() like any other (the
 * guest is then dead); until the connection is up, a queue goes out with
 * whichever call fills or synchronizes it.
 */
static void *
flusher(void *arg)
{
	struct tconn *t = NULL;
	pthread_setname_np(pthread_self(), "ava-flush");
	int r = ava_guest_conn_open(&t);
	pthread_mutex_lock(&Q.lock);
	Q.connecting = false;
	if (r == 0)
		Q.flusher = t;
	pthread_cond_broadcast(&Q.sent);
	while (r == 0 && !Q.closed) {
		if (Q.n == 0) {
			Q.sleeping = true;
			pthread_cond_wait(&Q.wake, &Q.lock);
			Q.sleeping = false;
			continue;
		}
		uint64_t due = Q.since + BATCH_DELAY_NS;
		if (now_ns() < due) {
			struct timespec ts = { .tv_sec = (time_t)(due / 1000000000u),
				.tv_nsec = (long)(due % 1000000000u) };
			pthread_cond_timedwait(&Q.wake, &Q.lock, &ts);
			continue;
		}
		uint64_t end = take_locked(t);
		Q.sending = true;
		pthread_mutex_unlock(&Q.lock);
		r = send_batch(t, end);
		pthread_mutex_lock(&Q.lock);
		Q.sending = false;
		pthread_cond_broadcast(&Q.sent);
		if (r < 0)
			ava_guest_lost(r);
	}
	pthread_mutex_unlock(&Q.lock);
	return NULL;
}

/*
 * Start the flusher, once per process, as soon as a thread's connection
 * is up: before any call can be queued. The flusher takes no signals:
 * they belong to the application's threads.
 */
void
ava_batch_start(void)
{
	static pthread_mutex_t once = PTHREAD_MUTEX_INITIALIZER;
	if (!ava_batch_enabled())
		return;
	pthread_mutex_lock(&once);
	if (!Q.started) {
		sigset_t all, old;
		pthread_t th;
		Q.started = true;
		pthread_mutex_lock(&Q.lock);
		Q.connecting = true;
		pthread_mutex_unlock(&Q.lock);
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (pthread_create(&th, NULL, flusher, NULL) == 0) {
			pthread_detach(th);
		} else {
			pthread_mutex_lock(&Q.lock);
			Q.connecting = false;
			pthread_mutex_unlock(&Q.lock);
			dprintf(STDERR_FILENO, "ava: cannot start the batch "
				"flusher; queued calls go out with the next "
				"synchronous call\n");
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_mutex_unlock(&once);
}

/* ---- queueing and sending --------------------------------------------- */

int
ava_batch_queue(struct tconn *t, const struct ava_fn_desc *fn, bool flush,
		bool named)
{
	/* The flusher was started with this thread's connection. */
	struct ava_frame_header h = call_header(t, fn, true, ++t->seq);
	if (named)
		h.flags |= AVA_FRAME_NAMED;
	ava_transport_bulk_unstage(t->out.data, t->out.len);  /* none, see top */
	pthread_mutex_lock(&Q.lock);
	if (Q.n == 0) {
		ava_buf_reset(&Q.buf);
		ava_buf_put_u64(&Q.buf, 0);
		Q.since = now_ns();
		if (Q.sleeping)
			pthread_cond_signal(&Q.wake);
	}
	ava_batch_put_frame(&Q.buf, &h, t->out.data, t->out.len);
	Q.n++;
	/* Right after a synchronous call the server idles: a small first
	 * batch puts it to work early, and batches grow from there. */
	if (Q.limit < BATCH_MIN_CALLS)
		Q.limit = BATCH_MIN_CALLS;
	bool send = flush || Q.n >= Q.limit || Q.buf.len >= BATCH_MAX_BYTES;
	if (send && !flush && Q.limit < BATCH_MAX_CALLS)
		Q.limit *= 2;
	uint64_t end = send ? take_locked(t) : 0;
	pthread_mutex_unlock(&Q.lock);
	return send ? send_batch(t, end) : 0;
}

int
ava_batch_send_call(struct tconn *t, const struct ava_fn_desc *fn)
{
	struct ava_frame_header h = call_header(t, fn, false, ++t->seq);
	t->call_h = h;
	t->pending = true;
	t->need = 0;
	if (!ava_batch_enabled())
		return ava_guest_send(t, &h, t->out.data);
	bool batch = true;
	uint64_t end;
	pthread_mutex_lock(&Q.lock);
	Q.limit = BATCH_MIN_CALLS;
	if (Q.n > 0) {
		end = take_locked(t);
	} else {
		end = Q.next;
		/* Calls that went out on other connections must have run
		 * first: a batch of none, with the call, is that fence. */
		batch = t->covered < end;
		if (batch) {
			ava_buf_reset(&t->batch);
			ava_buf_put_u64(&t->batch, end);
		}
	}
	pthread_mutex_unlock(&Q.lock);
	t->need = end;
	if (!batch)
		return ava_guest_send(t, &h, t->out.data);
	/* A large call follows its batch in a frame of its own rather than
	 * be copied into it: the server runs them in that order. */
	bool alone = t->out.len > BATCH_CALL_MAX;
	if (!alone)
		ava_batch_put_frame(&t->batch, &h, t->out.data, t->out.len);
	int r = send_batch(t, end);
	if (r == 0 && alone)
		r = ava_guest_send(t, &h, t->out.data);
	return r;
}

/* ---- deferred errors --------------------------------------------------- */

int
ava_batch_deferred(struct tconn *t)
{
	const struct ava_api_desc *api = ava_guest_api();
	const struct ava_frame_header *h = &t->in.h;
	const struct ava_fn_desc *fn = ava_api_fn(api, h->fn);
	if (fn == NULL || t->in.payload.len != 8)
		return AVA_EPROTO;
	uint64_t ret = ava_wire_get_le(t->in.payload.data, 8);
	const char *name = ava_pretty_status(api, fn, ret);
	char num[64];
	snprintf(num, sizeof(num), "%s%s%" PRId64 "%s", name ? name : "",
		 name ? " (" : "", (int64_t)ret, name ? ")" : "");
	dprintf(STDERR_FILENO, "ava: %s (queued, thread %" PRIu32 " call %"
		PRIu64 ") failed with %s; the thread's next synchronizing "
		"call returns it\n", fn->name, h->thread, h->seq, num);
	if (!t->deferred_pending) {
		t->deferred_pending = true;
		t->deferred = ret;
	}
	return 0;
}

/* ---- exit ------------------------------------------------------------- */

void
ava_batch_exit(struct tconn *t)
{
	if (!ava_batch_enabled())
		return;
	pthread_mutex_lock(&Q.lock);
	Q.closed = true;
	pthread_cond_signal(&Q.wake);
	while (Q.sending || Q.connecting)
		pthread_cond_wait(&Q.sent, &Q.lock);
	if (t == NULL)
		t = Q.flusher;
	uint32_t lost = t == NULL ? Q.n : 0;
	uint64_t end = Q.n > 0 && t != NULL ? take_locked(t) : 0;
	struct tconn *f = Q.flusher;
	pthread_mutex_unlock(&Q.lock);
	/* Only where the exiting thread never connected and the flusher
	 * could not (it failed before it could report, out of memory). */
	if (lost > 0)
		dprintf(STDERR_FILENO, "ava: %" PRIu32 " queued calls were not "
			"sent at exit: no connection to send them on\n", lost);
	if (end > 0 && send_batch(t, end) < 0) {
		/* The server is gone: nothing left to tell it. */
	}
	/* The flusher's connection says goodbye too: its server thread
	 * then ends at once rather than when it next looks at the ring. */
	if (f != NULL && f != t)
		ava_guest_bye(f, 0);
}
