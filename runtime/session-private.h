/*
 * session-private.h - what the two halves of a worker session share:
 * session.c serves calls on a connection, session-life.c runs the
 * session's life (connections joining and leaving, the handshake, stop
 * requests, the journal's open and close).
 */
#ifndef AVA_SESSION_PRIVATE_H
#define AVA_SESSION_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "handle-table.h"
#include "server-ctx.h"
#include "server-private.h"
#include "session-async.h"
#include "session-callback.h"
#include "session-journal.h"
#include "session-state.h"

/* Where a migrated session went (session-move.c sets it while paused). */
struct ava_moved {
	char addr[256];          /* the destination, as the guest reaches it */
	uint64_t session, token;
	pthread_mutex_t lock;    /* fwd's sends */
	struct ava_conn *fwd;    /* queued calls that come late go here */
};

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
	struct ava_state *state;          /* what a checkpoint needs */
	struct ava_moved *moved;          /* after a migration: where to */
	pthread_rwlock_t gate;            /* calls read-lock it; a pause
					   * write-locks it (session-move.c) */
	uint64_t journal_id;              /* names its journal (= id, but for
					   * a restored session) */
	struct ava_listener *joins;
	struct ava_listener *controls;   /* the operator's, handed off */
	uint32_t nctl;                   /* control requests being served */
	struct conn *conns;      /* live connections, for a stop request */
	bool stopping;           /* the server asked the session to end */
	bool stop_asked;         /* a stop signal came (even with no conn) */
	bool joined;             /* a connection came, ever */
	bool ended;              /* no connection left: joins are refused */
	uint32_t nconns;
	uint64_t ncalls;
	uint32_t nrefused;
};

/* One CALL of a BATCH: its header and its payload, in the BATCH. */
struct batch_frame {
	struct ava_frame_header h;
	uint8_t *p;
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
	struct ava_state_rec srec;
	uint8_t *payload;            /* the CALL being served: in `in`, */
	size_t len;                  /* or inside a BATCH there */
	uint64_t named;              /* the id its new object takes, or 0 */
	bool claimed;                /* and that object took it */
	bool callbacks;              /* the guest's callback channel */
	bool source;                 /* a migration's source, passing on
				      * queued calls (session_batch_apart) */
	struct ava_buf inline_cbs;   /* callbacks made inside the call */
	struct batch_frame *frames;  /* the BATCH being served, parsed once */
	size_t capframes;
	struct conn *next;           /* in s->conns */
};

#define LOG(s, ...) ava_session_log((s)->id, getpid(), __VA_ARGS__)

/* A connection's frames (session.c). */
int
session_send_frame(struct conn *c, uint8_t type, uint32_t fn, uint32_t thread,
		   uint64_t seq);

void
session_send_error(struct conn *c, int code, const char *text);

/* Tell the guest on c, unasked, where its session moved. */
void
session_tell_moved(struct conn *c);

int
session_recv_frame(struct conn *c);

/* Serve the BATCH in c->in (session.c). */
int
session_serve_batch(struct conn *c);

/*
 * The BATCH in c->in, from a migration's source: served by a thread of
 * its own, which takes the payload (session-life.c). Returns 0, or an
 * error when it could not be served.
 */
int
session_batch_apart(struct conn *c);

/* Serve calls on c until the guest leaves or breaks the protocol. */
int
session_conn_loop(struct conn *c);

/* A connection of s, and its end; create takes ownership of conn (it is
 * destroyed on failure, which returns NULL). */
struct conn *
session_conn_create(struct ava_session *s, struct ava_conn *conn);

void
session_conn_destroy(struct conn *c);

/* A session's life (session-life.c). */
struct ava_session *
session_alloc(uint64_t id, const struct ava_server_api *server,
	      const struct ava_server_config *cfg, const char *addr);

/* Free s once its control requests are over; returns r. */
int
session_free(struct ava_session *s, int r);

/* Serve a session built by restore: guest threads resume it through its
 * join listener; it ends when they are gone, or after wait_ms if none
 * came. source (may be NULL): a migration's source, served as one more
 * connection (it passes on queued calls that reached it late). */
int
session_run_restored(struct ava_session *s, int wait_ms,
		     struct ava_conn *source);

/* Make the session's shared heap (session-life.c) if it may have one
 * and has none yet: at its first connection over shm:, or before a
 * restore rebuilds buffers on a server that listens on shm:. */
void
session_heap_prepare(struct ava_session *s);

#endif
