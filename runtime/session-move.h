/*
 * session-move.h - what migrate/ sees of a worker session: pausing it at
 * a call boundary, reading its state out, and building a session from a
 * state read elsewhere. The image format, the operator's commands and
 * the peers' protocol are migrate/'s; this is the session's side.
 *
 * The server does not link migrate/: the `ava` tool registers migrate's
 * control handlers with ava_server_set_control() before the server
 * starts, and a server without them refuses CONTROL connections.
 */
#ifndef AVA_SESSION_MOVE_H
#define AVA_SESSION_MOVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ava-generated.h"
#include "server.h"
#include "session-state.h"
#include "transport.h"

struct ava_session;

struct ava_control_ops {
	/* A CONTROL connection that names no session (a restore, an
	 * incoming migration), in a worker process of its own; local_id is
	 * the number the server gave it. Returns when the connection and
	 * any session it built are over. Owns conn. */
	int (*serve_new)(struct ava_conn *conn, uint64_t local_id,
			 const struct ava_server_api *server,
			 const struct ava_server_config *cfg);
	/* A CONTROL connection for session s, on a thread of its worker.
	 * Owns conn. */
	void (*serve_session)(struct ava_session *s, struct ava_conn *conn);
	/* A CONTROL connection for a session this server does not have:
	 * admitted first (so that an unauthenticated peer learns nothing
	 * of which sessions exist), then refused with one line. Owns conn;
	 * returns the refusal's code. */
	int (*serve_missing)(struct ava_conn *conn, uint64_t local_id,
			     uint64_t session,
			     const struct ava_server_config *cfg);
};

void
ava_server_set_control(const struct ava_control_ops *ops);

const struct ava_control_ops *
ava_server_control(void);

/* The abstract socket name of session's control listener. */
void
ava_session_control_name(uint64_t session, char *buf, size_t n);

/* ---- a running session -------------------------------------------------- */

struct ava_session_info {
	uint64_t id, token;
	uint16_t owner;
	uint64_t async_done;
	uint32_t guest_pid;
	const struct ava_api_desc *api;
	const struct ava_server_config *cfg;
	const char *addr;        /* where its guest connected */
};

void
ava_session_info(struct ava_session *s, struct ava_session_info *out);

/*
 * Pause: wait (at most timeout_ms) for the calls running now to finish,
 * hold every new one at the door, then finish the device queues.
 * Returns 0, or -ETIMEDOUT (a call did not finish: one blocked in the
 * driver, waiting on a user event) or the API's error, with why.
 */
int
ava_session_pause(struct ava_session *s, int timeout_ms, char *why,
		  size_t nwhy);

void
ava_session_unpause(struct ava_session *s);

/* What a paused session hands out, in this order. */
struct ava_capture_sink {
	void *ctx;
	/* First: the guest threads' last calls, and the contents' bytes
	 * to come. */
	int (*threads)(void *ctx, const uint32_t *threads,
		       const uint64_t *seqs, size_t n, uint64_t live_bytes);
	int (*call)(void *ctx, const struct ava_state_call *c);
	int (*object)(void *ctx, uint64_t id, uint16_t type, uint32_t refs,
		      uint32_t flags, uint64_t size, uint64_t parent);
	/* Contents, in chunks of at most chunk bytes; data is valid during
	 * the call only. */
	int (*state)(void *ctx, uint64_t id, uint64_t offset, uint64_t total,
		     const void *data, size_t n);
	size_t chunk;
};

/* Object flags, as the image has them (migrate/image.h). */
enum {
	AVA_CAPTURE_LIVE = 1u << 0,
	AVA_CAPTURE_STATE = 1u << 1,
	AVA_CAPTURE_SUBSTITUTE = 1u << 2,
};

/*
 * Hand out a paused session's state: threads, the calls that rebuild it,
 * every object to exist after them, then the contents of those with
 * state.
 * Returns 0, a sink's error, or the API's, with why.
 */
int
ava_session_capture(struct ava_session *s, const struct ava_capture_sink *k,
		    char *why, size_t nwhy);

/*
 * One round of a migration's pre-copy, or its last: the calls kept after
 * `since`, then contents (of everything, without `sent`; else of objects
 * not in `sent` and those written since they were), with the threads
 * first if `header` and the object list if `objects`. Not `paused`: the
 * queues are drained (at most timeout_ms) before contents are read, and
 * a command running meanwhile marks what it writes again.
 */
struct ava_capture_round {
	uint64_t since;          /* calls kept after this serial */
	uint64_t next;           /* out: the last serial handed out */
	bool header, objects, paused;
	int timeout_ms;
	struct ava_u64map *sent; /* ids whose contents went before */
	uint64_t bytes;          /* out: contents handed out */
	uint64_t dirty;          /* out: contents written again since */
	uint64_t live;           /* out: all contents */
};

struct ava_u64map;

int
ava_session_capture_round(struct ava_session *s,
			  const struct ava_capture_sink *k,
			  struct ava_capture_round *rd, char *why, size_t nwhy);

/*
 * The switch-over, while paused: from now on synchronous calls are
 * answered MOVED (session, token, addr), queued calls that come late go
 * to fwd, and every connection is told at once. Takes fwd.
 */
int
ava_session_switch(struct ava_session *s, const char *addr, uint64_t session,
		   uint64_t token, struct ava_conn *fwd);

/* The last call run per guest thread (at most max; returns how many). */
size_t
ava_session_threads(struct ava_session *s, uint32_t *threads, uint64_t *seqs,
		    size_t max);

/* ---- building a session from a captured state ----------------------- */

struct ava_rebuild;

int
ava_rebuild_create(const struct ava_server_api *server,
		   const struct ava_server_config *cfg, uint16_t owner,
		   struct ava_rebuild **out);

/* Run one kept call again, in the captured order. */
int
ava_rebuild_call(struct ava_rebuild *rb, const struct ava_state_call *c,
		 char *why, size_t nwhy);

int
ava_rebuild_thread(struct ava_rebuild *rb, uint32_t thread, uint64_t seq);

int
ava_rebuild_object(struct ava_rebuild *rb, uint64_t id, uint16_t type,
		   uint32_t refs, uint32_t flags, uint64_t parent, char *why,
		   size_t nwhy);

int
ava_rebuild_state(struct ava_rebuild *rb, uint64_t id, uint64_t offset,
		  uint64_t total, const void *data, size_t n, char *why,
		  size_t nwhy);

/*
 * Every record is in: set the objects' references as the guest holds
 * them, drop those it no longer holds, and give every object the id it
 * had. Then `ready` is told (0, or the error and why) and, on success,
 * the session runs as session `id` with `token` until its guest leaves
 * (or, if no guest thread resumes it within wait_ms, ends). Frees rb.
 */
struct ava_rebuild_session {
	uint64_t id, token, local_id, async_done;
	uint32_t guest_pid;
	int wait_ms;
	/* A migration's source, which passes on late queued calls: served
	 * as one of the session's connections (NULL: none). */
	struct ava_conn *source;
	void (*ready)(void *ctx, int r, const char *why);
	void *ctx;
};

int
ava_rebuild_finish(struct ava_rebuild *rb,
		   const struct ava_rebuild_session *rs);

/* Give up: release everything built so far. Accepts NULL. */
void
ava_rebuild_destroy(struct ava_rebuild *rb);

#endif
