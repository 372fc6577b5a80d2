/*
 * session-life.c - a worker session's life: its first connection's
 * handshake, the guest's further connections joining it, a stop request
 * from the server, and the journal's open and close.
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
#include "session-move.h"
#include "session-private.h"
#include "shared-heap.h"

/* The session's shared heap (one session per worker process), made when
 * its first connection that can take it arrives. */
static struct ava_heap *heap;
static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static bool heap_tried;

struct ava_heap *
ava_session_heap(void)
{
	return __atomic_load_n(&heap, __ATOMIC_ACQUIRE);
}

void
session_heap_prepare(struct ava_session *s)
{
	pthread_mutex_lock(&heap_lock);
	if (!heap_tried) {
		heap_tried = true;
		uint64_t size = ava_heap_setting();
		struct ava_heap *h = NULL;
		int r = size ? ava_heap_create(size, &h) : 0;
		if (h != NULL)
			ava_heap_set_keep(h, ava_heap_keep_setting());
		if (r < 0)
			LOG(s, "no shared heap (%s): large transfers take "
			    "two copies", ava_strerror(r));
		__atomic_store_n(&heap, h, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&heap_lock);
}

/* Offer the shared heap on c: its size, or 0 if there is none for it
 * (only a transport that passes descriptors, shm:, can take it). */
static uint64_t
offer_heap(struct conn *c)
{
	if (!ava_transport_conn_passes_fds(c->conn))
		return 0;
	session_heap_prepare(c->s);
	struct ava_heap *h = ava_session_heap();
	if (h == NULL ||
	    ava_transport_conn_send_fd(c->conn, ava_heap_fd(h)) < 0)
		return 0;
	return ava_heap_size(h);
}

static int
welcome(struct conn *c)
{
	struct ava_session *s = c->s;
	uint8_t w[32] = { 0 };
	ava_wire_put_le(w, s->id, 8);
	ava_wire_put_le(w + 8, s->token, 8);
	ava_wire_put_le(w + 16, ava_handle_table_owner(s->handles), 4);
	ava_wire_put_le(w + 24, offer_heap(c), 8);
	ava_buf_reset(&c->out);
	ava_buf_put_bytes(&c->out, w, sizeof(w));
	return session_send_frame(c, AVA_MSG_WELCOME, 0, 0, 0);
}

/*
 * Count c as one of the session's connections, from before its WELCOME:
 * the session does not end while it is counted. False if the session
 * has ended already (end_life() saw no connection left): a join the
 * worker accepted just then must not be welcomed by a session that is
 * going away, which would close it with no word (after a migration, not
 * even MOVED) and lose whatever the guest sent on it.
 */
static bool
add_conn(struct ava_session *s)
{
	pthread_mutex_lock(&s->lock);
	bool ok = !s->ended;
	if (ok) {
		s->nconns++;
		s->joined = true;
		pthread_cond_broadcast(&s->idle);  /* a restored session waits */
		ava_session_async_conns(s->async, 1);
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/*
 * After its WELCOME, c joins the list that a stop request and a
 * migration's switch-over go through. A connection that joins after the
 * switch-over is told MOVED here, so that, like every other, it hears
 * where the session went before anything else: the guest thread learns
 * it even if this worker ends or dies right after. Listed only now, c
 * cannot be told MOVED before its WELCOME.
 */
static void
list_conn(struct ava_session *s, struct conn *c)
{
	pthread_mutex_lock(&s->lock);
	c->next = s->conns;
	s->conns = c;
	if (s->stopping)
		ava_transport_conn_shutdown(c->conn);
	else if (s->moved != NULL)
		session_tell_moved(c);
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
	session_conn_destroy(c);
}

/* Serve a connection to its end. */
static int
serve_conn(struct conn *c)
{
	struct ava_session *s = c->s;
	int r = welcome(c);
	if (r == 0) {
		list_conn(s, c);
		r = session_conn_loop(c);
	}
	drop_conn(s, c);
	return r;
}

static void *
conn_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "ava-serve");
	serve_conn(arg);
	return NULL;
}

/* ---- batches a migration's source passes on ---------------------------- */

/*
 * The source passes on the batches that reach it after the switch-over,
 * from all of the guest's connections, in the order its threads get to
 * them: a batch may then come before one whose calls it waits for, on
 * this same connection. Served in the connection's thread, it would wait
 * for good (and every batch after it, until the fence gave up). So each
 * is served by a thread of its own, which counts as a connection of the
 * session while it runs (the fence's "stuck" and the session's end).
 */
static void
apart_done(struct conn *c)
{
	struct ava_session *s = c->s;
	pthread_mutex_lock(&s->lock);
	s->nconns--;
	ava_session_async_conns(s->async, -1);
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	session_conn_destroy(c);
}

static void *
apart_thread(void *arg)
{
	struct conn *c = arg;
	pthread_setname_np(pthread_self(), "ava-apart");
	session_serve_batch(c);   /* a failure is logged */
	apart_done(c);
	return NULL;
}

int
session_batch_apart(struct conn *src)
{
	struct ava_session *s = src->s;
	struct conn *c = session_conn_create(s, NULL);
	if (c == NULL) {
		LOG(s, "closed: out of memory for a batch the source passed on");
		return -ENOMEM;
	}
	c->ctx.journal = s->journal;
	c->in.h = src->in.h;
	struct ava_buf mine = c->in.payload;
	c->in.payload = src->in.payload;
	src->in.payload = mine;
	pthread_mutex_lock(&s->lock);
	s->nconns++;
	ava_session_async_conns(s->async, 1);
	pthread_mutex_unlock(&s->lock);
	pthread_t t;
	if (pthread_create(&t, NULL, apart_thread, c) == 0) {
		pthread_detach(t);
		return 0;
	}
	/* No thread: here, then, as before. */
	int r = session_serve_batch(c);
	apart_done(c);
	return r;
}

/* The abstract socket through which a guest's further connections reach
 * this worker: named by the accept loop's pid, the session and part of
 * its token, so that a session restored from another server (which keeps
 * its id and token) never takes the name of one started here. Once the
 * session has moved away, its worker answers joins under the name with
 * "-moved" (it tells them where the session went), and leaves the plain
 * name to the session should it come back here. */
static void
join_name(uint64_t session, uint64_t token, bool moved, char *buf, size_t n)
{
	snprintf(buf, n, "ava-server-%d-session-%" PRIu64 "-%08" PRIx32 "%s",
		 (int)getppid(), session, (uint32_t)token,
		 moved ? "-moved" : "");
}

/* Where the operator's control connections for a session go: they name
 * the session only. */
void
ava_session_control_name(uint64_t session, char *buf, size_t n)
{
	snprintf(buf, n, "ava-server-%d-control-%" PRIu64, (int)getppid(),
		 session);
}

static void
start_conn(struct ava_session *s, struct ava_conn *conn, bool source)
{
	struct conn *c = session_conn_create(s, conn);
	pthread_t t;
	if (c == NULL)
		return;
	c->ctx.journal = s->journal;
	c->source = source;
	if (!add_conn(s)) {
		/* What the accept loop answers once this worker is gone: a
		 * guest thread that resumes tries again where its session
		 * went. */
		char why[120];
		snprintf(why, sizeof(why), "cannot join session %" PRIu64
			 ": no such session here", s->id);
		session_send_error(c, AVA_EADDR, why);
		session_conn_destroy(c);
		return;
	}
	if (pthread_create(&t, NULL, conn_thread, c) == 0) {
		pthread_detach(t);
		return;
	}
	LOG(s, "cannot start a thread for a joining connection");
	drop_conn(s, c);
}

/* A join's message: session, token, u32 kind, u32 thread, and for a
 * RESUME the guest thread's pending and last answered sequence numbers. */
#define JOIN_MSG 40

/*
 * A guest thread resumes after its server died or its session moved: it
 * will send again the call it was waiting on (seq `pending`). That is
 * exactly once only if this session has not run it, and has run every
 * call the guest saw answered (up to `answered`).
 */
static bool
resume_ok(struct ava_session *s, struct ava_conn *conn, uint32_t thread,
	  uint64_t pending, uint64_t answered)
{
	char why[200];
	pthread_mutex_lock(&s->lock);
	uint64_t last = ava_state_thread_seq(s->state, thread);
	pthread_mutex_unlock(&s->lock);
	if (last < answered)
		snprintf(why, sizeof(why), "cannot resume guest thread %" PRIu32
			 ": it saw call #%" PRIu64 " answered, but this session "
			 "holds its state only up to call #%" PRIu64 " (the "
			 "checkpoint is older than the guest)", thread,
			 answered, last);
	else if (pending != 0 && last >= pending)
		snprintf(why, sizeof(why), "cannot resume guest thread %" PRIu32
			 ": its call #%" PRIu64 " already ran here, and its "
			 "answer is lost", thread, pending);
	else
		return true;
	LOG(s, "%s", why);
	struct conn *c = session_conn_create(s, conn);
	if (c != NULL) {
		session_send_error(c, AVA_EDEAD, why);
		session_conn_destroy(c);
	}
	return false;
}

/* Accept the guest's further connections for as long as the worker runs. */
static void *
join_thread(void *arg)
{
	struct ava_session *s = arg;
	pthread_setname_np(pthread_self(), "ava-join");
	struct ava_listener *l = s->joins;
	for (;;) {
		uint8_t msg[JOIN_MSG];
		struct ava_conn *conn;
		int r = ava_transport_handoff_accept(l, s->addr, msg,
						     sizeof(msg), &conn);
		if (r == -EINVAL || r == -EBADF) {
			/* Shut down: the session is over, or it moved and
			 * listens under its other name now. */
			pthread_mutex_lock(&s->lock);
			struct ava_listener *now = s->joins;
			pthread_mutex_unlock(&s->lock);
			if (now == l)
				break;
			ava_transport_listener_destroy(l);
			l = now;
			continue;
		}
		if (r < 0)
			continue;
		if (ava_wire_get_le(msg, 8) != s->id ||
		    ava_wire_get_le(msg + 8, 8) != s->token) {
			LOG(s, "refused a joining connection: wrong token");
			ava_transport_conn_destroy(conn);
			continue;
		}
		if (ava_wire_get_le(msg + 16, 4) == AVA_HELLO_RESUME &&
		    !resume_ok(s, conn, (uint32_t)ava_wire_get_le(msg + 20, 4),
			       ava_wire_get_le(msg + 24, 8),
			       ava_wire_get_le(msg + 32, 8)))
			continue;
		start_conn(s, conn, false);
	}
	return NULL;
}

/* ---- handshake and the session's life --------------------------------- */

int
session_free(struct ava_session *s, int r)
{
	pthread_mutex_lock(&s->lock);
	while (s->nctl > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	if (s->async != NULL)
		ava_session_async_destroy(s->async, s->api);
	if (s->moved != NULL) {
		ava_transport_conn_destroy(s->moved->fwd);
		pthread_mutex_destroy(&s->moved->lock);
		free(s->moved);
	}
	ava_state_destroy(s->state);
	pthread_rwlock_destroy(&s->gate);
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
	session_send_error(c, code, why);
	return code;
}

/* What a HELLO asks for. */
struct hello {
	uint64_t session, token;
	uint32_t kind, thread;
	uint64_t pending, answered;  /* RESUME */
};

/* Receive and check HELLO. */
static int
hello(struct conn *c, struct hello *hl)
{
	char why[200];
	int r = session_recv_frame(c);
	if (r < 0)
		return r;
	const uint8_t *p = c->in.payload.data;
	uint32_t kind = c->in.h.len >= 32 ?
			(uint32_t)ava_wire_get_le(p + 24, 4) : 0;
	if (c->in.h.type != AVA_MSG_HELLO ||
	    c->in.h.len != (kind == AVA_HELLO_RESUME ? 40 : 32) ||
	    kind > AVA_HELLO_RESUME)
		return refuse_hello(c, AVA_EPROTO, "expected HELLO");
	uint32_t hash = (uint32_t)ava_wire_get_le(p, 4);
	if (hash != c->s->api->spec_hash) {
		snprintf(why, sizeof(why), "spec mismatch: guest spec_hash "
			 "0x%08" PRIx32 ", server 0x%08" PRIx32 " (build the "
			 "guest library and the server from the same spec)",
			 hash, c->s->api->spec_hash);
		return refuse_hello(c, AVA_ESPEC, why);
	}
	*hl = (struct hello){ .session = ava_wire_get_le(p + 8, 8),
		.token = ava_wire_get_le(p + 16, 8), .kind = kind,
		.thread = (uint32_t)ava_wire_get_le(p + 28, 4),
		.pending = c->in.h.seq,
		.answered = kind == AVA_HELLO_RESUME ?
			    ava_wire_get_le(p + 32, 8) : 0 };
	c->s->guest_pid = (uint32_t)ava_wire_get_le(p + 4, 4);
	if (c->s->verbose)
		LOG(c->s, "%s pid %u %s on %s",
		    kind == AVA_HELLO_CONTROL ? "control client" : "guest",
		    (unsigned)ava_wire_get_le(p + 4, 4),
		    kind == AVA_HELLO_RESUME ? "resumes" :
		    hl->session ? "joins" : "connected",
		    ava_transport_conn_addr(c->conn));
	return 0;
}

/* A further connection of a guest: pass it to its session's worker. */
static int
join(struct conn *c, const struct hello *hl)
{
	char name[80], why[120];
	uint8_t msg[JOIN_MSG];
	join_name(hl->session, hl->token, false, name, sizeof(name));
	ava_wire_put_le(msg, hl->session, 8);
	ava_wire_put_le(msg + 8, hl->token, 8);
	ava_wire_put_le(msg + 16, hl->kind, 4);
	ava_wire_put_le(msg + 20, hl->thread, 4);
	ava_wire_put_le(msg + 24, hl->pending, 8);
	ava_wire_put_le(msg + 32, hl->answered, 8);
	int r = ava_transport_conn_handoff(c->conn, name, msg, sizeof(msg));
	if (r == -ECONNREFUSED || r == -ENOENT) {
		/* Moved away from here: its old worker says where. */
		join_name(hl->session, hl->token, true, name, sizeof(name));
		r = ava_transport_conn_handoff(c->conn, name, msg,
					       sizeof(msg));
	}
	if (r == 0)
		return 0;
	snprintf(why, sizeof(why), "cannot %s session %" PRIu64 ": %s",
		 hl->kind == AVA_HELLO_RESUME ? "resume" : "join", hl->session,
		 r == -ECONNREFUSED || r == -ENOENT ? "no such session here"
						    : ava_strerror(r));
	return refuse_hello(c, r, why);
}

static int
listen_joins(struct ava_session *s, pthread_t *t)
{
	char name[80];
	join_name(s->id, s->token, false, name, sizeof(name));
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
	pthread_setname_np(pthread_self(), "ava-stop");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	int sig;
	if (sigwait(&set, &sig) != 0)
		return NULL;
	pthread_mutex_lock(&s->lock);
	s->stop_asked = true;
	pthread_cond_broadcast(&s->idle);
	/* A guest that is already leaving (its goodbye may still be in the
	 * socket) gets a moment to do so, so its end is recorded as it was;
	 * `ava run` stops its server right after the command exits. */
	struct timespec until;
	ava_deadline_in(&until, STOP_GRACE_MS);
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
	/* Its thread starts after the vendor library's loading
	 * (start_journal()). */
	int r = ava_session_journal_open(cfg->journal_dir, cfg->journal_mode,
					 cfg->journal_sync, s->api,
					 s->journal_id, guest, true, why,
					 sizeof(why), &s->journal);
	if (r == 0) {
		c->ctx.journal = s->journal;
		return 0;
	}
	snprintf(text, sizeof(text), "journal unavailable: %s",
		 why[0] ? why : ava_strerror(r));
	return refuse_hello(c, r, text);
}

/* After the vendor library's loading: a thread's creation waits for it. */
static int
start_journal(struct conn *c)
{
	char why[160], text[200];
	if (c->s->journal == NULL)
		return 0;
	int r = ava_session_journal_start(c->s->journal, why, sizeof(why));
	if (r == 0)
		return 0;
	ava_session_journal_close(c->s->journal, AVA_JOURNAL_END_SERVER_STOP,
				  0);
	c->s->journal = c->ctx.journal = NULL;
	snprintf(text, sizeof(text), "journal unavailable: %s", why);
	return refuse_hello(c, r, text);
}

/* The threads around a session's connections. */
struct life {
	pthread_t joins, control, stopper;
	bool has_joins, has_control, has_stopper;
};

/* The session moved: join_thread() goes on under the moved name, and the
 * plain one is free (the old listener is closed by join_thread). Not once
 * the session has ended, which its guest may do before the migration's
 * last word: end_life() shut the listener, and join_thread() would wait
 * on the new one for good. s->lock held. */
static void
moved_joins(struct ava_session *s)
{
	char name[80];
	struct ava_listener *l;
	join_name(s->id, s->token, true, name, sizeof(name));
	if (s->joins == NULL || s->ended ||
	    ava_transport_handoff_listen(name, &l) < 0)
		return;   /* joins keep the plain name: no worse than before */
	struct ava_listener *old = s->joins;
	s->joins = l;
	ava_transport_listener_shutdown(old);
}

static void *
control_thread(void *arg)
{
	struct ava_session *s = arg;
	pthread_setname_np(pthread_self(), "ava-control");
	const struct ava_control_ops *ops = ava_server_control();
	for (;;) {
		uint8_t msg[JOIN_MSG];
		struct ava_conn *conn;
		int r = ava_transport_handoff_accept(s->controls, s->addr, msg,
						     sizeof(msg), &conn);
		if (r == -EINVAL || r == -EBADF)
			break;
		if (r < 0)
			continue;
		if (ava_wire_get_le(msg, 8) != s->id || ops == NULL) {
			ava_transport_conn_destroy(conn);
			continue;
		}
		pthread_mutex_lock(&s->lock);
		s->nctl++;
		pthread_mutex_unlock(&s->lock);
		/* One operator request at a time: it pauses the session. */
		ops->serve_session(s, conn);
		pthread_mutex_lock(&s->lock);
		s->nctl--;
		pthread_cond_broadcast(&s->idle);
		bool moved = s->moved != NULL;
		if (moved) {
			/* The session lives on elsewhere, perhaps back here:
			 * its control name is free for it at once, and so is
			 * its join name (joins find this worker under its
			 * moved name, join_name()). */
			ava_transport_listener_destroy(s->controls);
			s->controls = NULL;
			moved_joins(s);
		}
		pthread_mutex_unlock(&s->lock);
		if (moved)
			break;
	}
	return NULL;
}

static void
start_life(struct ava_session *s, struct life *l)
{
	char name[80];
	*l = (struct life){ 0 };
	l->has_joins = listen_joins(s, &l->joins) == 0;
	ava_session_control_name(s->id, name, sizeof(name));
	if (ava_transport_handoff_listen(name, &s->controls) == 0) {
		l->has_control = pthread_create(&l->control, NULL,
						control_thread, s) == 0;
		if (!l->has_control) {
			ava_transport_listener_destroy(s->controls);
			s->controls = NULL;
		}
	} else if (s->verbose) {
		LOG(s, "no control listener: %s is taken", name);
	}
	l->has_stopper = pthread_create(&l->stopper, NULL, stop_thread,
					s) == 0;
}

/* Wait until the last connection is gone (or, with wait_ms >= 0, until
 * none came in that time), then stop the threads. */
static void
end_life(struct ava_session *s, struct life *l, int wait_ms)
{
	pthread_mutex_lock(&s->lock);
	if (wait_ms >= 0) {
		struct timespec until;
		ava_deadline_in(&until, wait_ms);
		while (!s->joined && !s->stop_asked &&
		       pthread_cond_timedwait(&s->idle, &s->lock,
					      &until) == 0)
			;
		if (!s->joined && !s->stop_asked)
			LOG(s, "no guest resumed the session within %d ms; "
			    "discarded", wait_ms);
	}
	while (s->nconns > 0)
		pthread_cond_wait(&s->idle, &s->lock);
	/* Joins accepted from now on are refused, and the listener is the
	 * last one (moved_joins()). */
	s->ended = true;
	if (l->has_joins)
		ava_transport_listener_shutdown(s->joins);
	pthread_mutex_unlock(&s->lock);
	if (l->has_joins) {
		pthread_join(l->joins, NULL);
		ava_transport_listener_destroy(s->joins);
	}
	if (l->has_control) {
		pthread_mutex_lock(&s->lock);
		if (s->controls != NULL)
			ava_transport_listener_shutdown(s->controls);
		pthread_mutex_unlock(&s->lock);
		pthread_join(l->control, NULL);
		ava_transport_listener_destroy(s->controls);
		s->controls = NULL;
	}
	if (l->has_stopper) {
		pthread_kill(l->stopper, SIGTERM);  /* wakes its sigwait() */
		pthread_join(l->stopper, NULL);
	}
}

int
session_run_restored(struct ava_session *s, int wait_ms,
		     struct ava_conn *source)
{
	const struct ava_server_config *cfg = s->cfg;
	struct life life;
	if (cfg->journal_dir != NULL && cfg->journal_mode != AVA_JOURNAL_OFF) {
		char guest[64], why[256] = "";
		snprintf(guest, sizeof(guest), "pid %u (restored session %"
			 PRIu64 ")", (unsigned)s->guest_pid, s->id);
		int r = ava_session_journal_open(cfg->journal_dir,
				cfg->journal_mode, cfg->journal_sync, s->api,
				s->journal_id, guest, false, why, sizeof(why),
				&s->journal);
		if (r < 0)
			LOG(s, "journal unavailable: %s; the restored session "
			    "is not recorded", why[0] ? why : ava_strerror(r));
	}
	start_life(s, &life);
	if (source != NULL) {
		/* It counts as a connection, but not as the guest's return:
		 * the wait below is for the guest. */
		start_conn(s, source, true);
		pthread_mutex_lock(&s->lock);
		s->joined = false;
		pthread_mutex_unlock(&s->lock);
	}
	end_life(s, &life, wait_ms);
	if (s->verbose)
		LOG(s, "restored session closed after %" PRIu64 " calls",
		    s->ncalls);
	ava_session_journal_close(s->journal, s->stopping
				  ? AVA_JOURNAL_END_SERVER_STOP
				  : s->said_bye ? AVA_JOURNAL_END_CLEAN
				  : AVA_JOURNAL_END_VANISHED, 0);
	return 0;
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
		r = ava_state_create(s->api, &s->state);
	if (r == 0)
		r = open_journal(c);
	/* A spare worker may still be loading the vendor library: the
	 * journal's open above went beside it, the journal's thread, the
	 * WELCOME (whose heap offer asks what the loading found) and the
	 * calls wait for it. */
	ava_server_await_warm();
	if (r == 0)
		r = start_journal(c);
	if (r < 0) {
		session_conn_destroy(c);
		return r;
	}
	struct life life;
	start_life(s, &life);
	add_conn(s);   /* the first: the session has not ended */
	r = serve_conn(c);
	end_life(s, &life, -1);
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

struct ava_session *
session_alloc(uint64_t id, const struct ava_server_api *server,
	      const struct ava_server_config *cfg, const char *addr)
{
	struct ava_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	*s = (struct ava_session){ .id = id, .journal_id = id,
		.verbose = cfg->verbose, .cfg = cfg, .server = server,
		.api = server->api, .addr = strdup(addr) };
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	/* A pause must not wait behind a stream of new calls. */
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->gate, &ra);
	pthread_rwlockattr_destroy(&ra);
	if (s->addr == NULL) {
		session_free(s, 0);
		return NULL;
	}
	return s;
}

/* The operator's connection: migrate/ serves it (session-move.h). */
static int
control(struct conn *c, const struct hello *hl, uint64_t id)
{
	const struct ava_control_ops *ops = ava_server_control();
	char name[80];
	uint8_t msg[JOIN_MSG] = { 0 };
	if (ops == NULL)
		return refuse_hello(c, AVA_ENOTSUP, "this server does not "
				    "take control connections");
	if (hl->session == 0) {
		struct ava_session *s = c->s;
		struct ava_conn *conn = c->conn;
		c->conn = NULL;
		session_conn_destroy(c);
		return ops->serve_new(conn, id, s->server, s->cfg);
	}
	ava_session_control_name(hl->session, name, sizeof(name));
	ava_wire_put_le(msg, hl->session, 8);
	ava_wire_put_le(msg + 16, AVA_HELLO_CONTROL, 4);
	int r = ava_transport_conn_handoff(c->conn, name, msg, sizeof(msg));
	if (r < 0 && ops->serve_missing != NULL) {
		const struct ava_server_config *cfg = c->s->cfg;
		struct ava_conn *conn = c->conn;
		c->conn = NULL;
		session_conn_destroy(c);
		return ops->serve_missing(conn, id, hl->session, cfg);
	}
	if (r < 0) {
		char why[120];
		snprintf(why, sizeof(why), "no session %" PRIu64 " on this "
			 "server", hl->session);
		refuse_hello(c, AVA_EADDR, why);
	}
	session_conn_destroy(c);
	return r;
}

int
ava_session_serve(struct ava_conn *conn, uint64_t id,
		  const struct ava_server_api *server,
		  const struct ava_server_config *cfg)
{
	struct ava_session *s = session_alloc(id, server, cfg,
					      ava_transport_conn_addr(conn));
	if (s == NULL) {
		ava_transport_conn_destroy(conn);
		return -ENOMEM;
	}
	struct conn *c = session_conn_create(s, conn);
	if (c == NULL)
		return session_free(s, -ENOMEM);
	struct hello hl;
	int r = hello(c, &hl);
	if (r != 0 || hl.kind != AVA_HELLO_GUEST || hl.session != 0)
		ava_server_await_warm();  /* run_session() waits later */
	if (r == 0 && hl.kind == AVA_HELLO_CONTROL)
		return session_free(s, control(c, &hl, id));
	if (r == 0 && hl.kind == AVA_HELLO_GUEST && hl.session == 0)
		return session_free(s, run_session(c));
	if (r == 0)
		r = join(c, &hl);
	session_conn_destroy(c);
	return session_free(s, r);
}
