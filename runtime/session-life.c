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
#include "session-private.h"

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
	return session_send_frame(c, AVA_MSG_WELCOME, 0, 0, 0);
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
	session_conn_destroy(c);
}

/* Serve a connection to its end. */
static int
serve_conn(struct conn *c)
{
	struct ava_session *s = c->s;
	int r = welcome(c);
	if (r == 0)
		r = session_conn_loop(c);
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
	struct conn *c = session_conn_create(s, conn);
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
	session_send_error(c, code, why);
	return code;
}

/* Receive and check HELLO; *session and *token tell whether it joins. */
static int
hello(struct conn *c, uint64_t *session, uint64_t *token)
{
	char why[200];
	int r = session_recv_frame(c);
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
		session_conn_destroy(c);
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
	struct conn *c = session_conn_create(s, conn);
	if (c == NULL || s->addr == NULL) {
		if (c != NULL)
			session_conn_destroy(c);
		return finish_session(s, -ENOMEM);
	}
	uint64_t session = 0, token = 0;
	int r = hello(c, &session, &token);
	if (r == 0 && session == 0)
		return finish_session(s, run_session(c));
	if (r == 0)
		r = join(c, session, token);
	session_conn_destroy(c);
	return finish_session(s, r);
}
