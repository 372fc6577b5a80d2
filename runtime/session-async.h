/*
 * session-async.h - a session's async calls: the order in which the calls
 * of its BATCH frames run, and the failures the guest still has to hear
 * about (doc/protocol.md, "Batches").
 *
 * The guest numbers its ASYNC calls 0, 1, 2, ... across all its threads
 * and connections, in the order they were queued. Each connection thread
 * of the session waits here until the calls before its BATCH have run,
 * so the calls run in queue order whichever connection carried them. A
 * failed ASYNC call is kept for its guest thread and handed back when
 * that thread's next REPLY goes out (as DEFERRED frames).
 *
 * Thread safety: every function may be called from any connection thread
 * of the session; the object has its own lock.
 */
#ifndef AVA_SESSION_ASYNC_H
#define AVA_SESSION_ASYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ava-desc.h"

struct ava_session_async;

/* A failed ASYNC call, as the guest will hear of it. */
struct ava_deferred {
	uint32_t thread;   /* the guest thread that queued the call */
	uint32_t fn;       /* its function id */
	uint64_t seq;      /* its sequence number (frame header) */
	uint64_t ret;      /* its return value, as a REPLY would carry it */
};

/* Failures kept per session for guest threads that have not synced yet;
 * beyond this, failures are only counted (and logged at the end). */
#define AVA_SESSION_DEFERRED_MAX 256

/* id and pid name the session in log lines. Returns 0 or -ENOMEM. */
int
ava_session_async_create(uint64_t id, pid_t pid,
			 struct ava_session_async **out);

/*
 * Free sa (NULL is accepted). Failures no guest thread was told about are
 * logged first, one line each (up to 8, then a count): the guest thread
 * ended without another synchronizing call.
 */
void
ava_session_async_destroy(struct ava_session_async *sa,
			  const struct ava_api_desc *api);

/* A connection joined (+1) or left (-1) the session. */
void
ava_session_async_conns(struct ava_session_async *sa, int delta);

/*
 * Wait until `base` ASYNC calls of the session have run. With exact (the
 * BATCH carries ASYNC calls of its own), exactly `base` must have run:
 * more means the guest numbered two batches alike.
 * Returns 0; AVA_EPROTO (exact, and more have run); or AVA_EDEAD when the
 * wait can never end: the session is stopping, or every one of its
 * connections waits here, so none can bring the missing calls.
 */
int
ava_session_async_fence(struct ava_session_async *sa, uint64_t base,
			bool exact);

/* n more ASYNC calls of a BATCH have run. */
void
ava_session_async_ran(struct ava_session_async *sa, uint64_t n);

/* The session is stopping: every wait ends with AVA_EDEAD. */
void
ava_session_async_stop(struct ava_session_async *sa);

/* An ASYNC call failed: keep it for its thread (d->thread). */
void
ava_session_async_failed(struct ava_session_async *sa,
			 const struct ava_deferred *d);

/*
 * Move up to max failures kept for thread into out, oldest first.
 * Returns how many.
 */
size_t
ava_session_async_take(struct ava_session_async *sa, uint32_t thread,
		       struct ava_deferred *out, size_t max);

/* ASYNC calls run so far; a restored session starts from the count its
 * image had, so the guest's next BATCH finds the base it expects. A
 * seeded session's fences also wait up to 10 s before calling a wait
 * stuck: the guest's threads reconnect one by one, and the one still on
 * its way may carry the calls the others wait for. */
uint64_t
ava_session_async_done(struct ava_session_async *sa);

void
ava_session_async_seed(struct ava_session_async *sa, uint64_t done);

#endif
