/*
 * session-state.h - what a session must keep to rebuild its API state on
 * another server: the checkpoint's and migration's view of a session
 * (doc/migration.md, "What an image holds").
 *
 * The tracker watches every call the session serves, through the same
 * descriptors that drive the marshaller, and keeps:
 *   - the calls that made the live objects: a call that creates objects
 *     or hands out ids not seen before (clGetDeviceIDs), and a call that
 *     configures an object without contents of its own (clSetKernelArg,
 *     clBuildProgram), each as its CALL payload with virtual ids (less
 *     the initial contents a call that makes an object with contents
 *     carries, which a restore writes back from the image anyway);
 *   - for objects whose handle type has `state` in the spec (buffers),
 *     nothing of the calls that write them: their contents are read at
 *     checkpoint time instead, and a write only marks them dirty (for
 *     migration's pre-copy rounds);
 *   - per guest thread, the last sequence number the session ran.
 * Commands (calls that the API runs on a device queue and that hand out
 * an event, in OpenCL) are never kept: their effect is in the contents,
 * and their events are rebuilt as completed ones.
 *
 * A kept call that configures an object is dropped when a later call of
 * the same function on the same object with the same leading scalars
 * supersedes it (clSetKernelArg of the same argument), and calls nothing
 * live needs any more are dropped as the log grows, so the log follows
 * the live state, not the length of the run.
 *
 * Thread safety: the tracker is the session's; every function but the
 * ava_state_rec_* builders runs under the session's lock. A builder
 * belongs to one connection thread.
 */
#ifndef AVA_SESSION_STATE_H
#define AVA_SESSION_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ava-desc.h"
#include "handle-table.h"
#include "wire.h"

/* Most ids one kept call may use or hand out. */
#define AVA_STATE_REC_IDS 64

/*
 * What the server of one API tells the tracker and the checkpoint (for
 * OpenCL: runtime/opencl-state.c). Functions return 0 or a negative
 * error, with one line in why.
 */
struct ava_state_ops {
	/* fn runs on a device queue and hands out an event (not kept). */
	bool (*is_command)(const struct ava_fn_desc *fn);
	/* Finish every queue in reals[] (handle type queue_type), waiting
	 * at most timeout_ms for each. */
	uint16_t queue_type;
	int (*quiesce)(const uint64_t *reals, size_t n, int timeout_ms,
		       char *why, size_t nwhy);
	/* An object with `state`: *size its contents' bytes, 0 if none of
	 * its own (a sub-buffer shares its parent's). */
	int (*state_size)(uint64_t real, uint64_t *size, char *why,
			  size_t nwhy);
	int (*state_read)(uint64_t real, uint64_t offset, void *p, size_t n,
			  char *why, size_t nwhy);
	int (*state_write)(uint64_t real, uint64_t offset, const void *p,
			   size_t n, char *why, size_t nwhy);
	/* A capture or a restore is over: let go of what the transfers
	 * kept (may be NULL). */
	void (*state_done)(void);
	/* A command's event: the object it belongs to (its context), so
	 * that restore can make a completed one there. */
	uint16_t event_type;
	int (*event_parent)(uint64_t real, uint64_t *parent_real,
			    uint16_t *parent_type, char *why, size_t nwhy);
	int (*event_make)(uint64_t parent_real, uint64_t *real, char *why,
			  size_t nwhy);
};

/* Set once, before any session starts (server-opencl.c). */
void
ava_state_set_ops(const struct ava_state_ops *ops);

const struct ava_state_ops *
ava_state_ops(void);

struct ava_state;

/* One call as a connection thread sees it (session.c). */
struct ava_state_rec {
	const struct ava_fn_desc *fn;
	bool want;           /* may be kept: its payload is copied */
	bool command;
	bool overflow;       /* more ids than fit: the state is incomplete */
	bool introduced;     /* handed out an id the table did not know */
	uint32_t thread;
	uint64_t seq;
	struct ava_buf call; /* the CALL payload, virtual ids, less the cut */
	size_t call_len;     /* the payload's whole length */
	size_t cut_off, cut_len;  /* bytes left out of call (ava_state_cut) */
	uint64_t uses[AVA_STATE_REC_IDS];
	uint64_t ids[AVA_STATE_REC_IDS];     /* handed out, in REPLY order */
	uint64_t written[AVA_STATE_REC_IDS]; /* `writes` arguments */
	uint64_t created[AVA_STATE_REC_IDS]; /* of those ids, new objects */
	uint32_t nuses, nids, nwritten, ncreated;
};

int
ava_state_create(const struct ava_api_desc *api, struct ava_state **out);

void
ava_state_destroy(struct ava_state *st);

void
ava_state_rec_init(struct ava_state_rec *r);

void
ava_state_rec_finish(struct ava_state_rec *r);

/*
 * The bytes of a CALL of fn that a kept copy of it will not hold: the
 * initial contents of the object it makes (an in-buffer of at least 4
 * KiB, the largest, of a call that returns an object with contents),
 * which a checkpoint reads from the object itself. True with
 * [cut->off, cut->off + cut->len) in payload; false (cut->len 0)
 * otherwise, or when st is NULL. Read before decode: only the payload's
 * lengths are looked at, so over shm: its holes need not be filled.
 */
struct ava_cut {
	size_t off, len;
};

bool
ava_state_cut(const struct ava_state *st, const struct ava_fn_desc *fn,
	      const uint8_t *payload, size_t len, struct ava_cut *cut);

/* Before decoding (which rewrites ids in place). st may be NULL. The
 * record's copy leaves out cut, ava_state_cut()'s answer for this
 * payload (NULL: it is worked out here). */
void
ava_state_rec_begin(struct ava_state *st, struct ava_state_rec *r,
		    const struct ava_fn_desc *fn, uint32_t thread,
		    uint64_t seq, const uint8_t *payload, size_t len,
		    const struct ava_cut *cut);

/* May a call of fn be kept (its payload is then copied at begin)?
 * False when st is NULL. */
bool
ava_state_wants(const struct ava_state *st, const struct ava_fn_desc *fn);

/* During the call (session lock held): an id it read, handed out
 * (fresh: new to the table; creates: a new object or reference), or
 * wrote. */
void
ava_state_rec_use(struct ava_state_rec *r, uint64_t id);

void
ava_state_rec_handed(struct ava_state_rec *r, uint64_t id, bool fresh,
		     bool creates);

void
ava_state_rec_written(struct ava_state_rec *r, uint64_t id);

/* After the REPLY is encoded, under the lock: keep the call if it
 * succeeded (ok) and matters, mark what it wrote dirty, and note the
 * thread's sequence number. t is the session's table (NULL: no
 * collection). A record ends once: r->fn is NULL after, and a second
 * end does nothing. */
void
ava_state_rec_end(struct ava_state *st, struct ava_state_rec *r, bool ok,
		  struct ava_handle_table *t);

/* ---- what a checkpoint reads (session lock held, calls paused) ------ */

struct ava_state_call {
	uint64_t serial;         /* order kept in: later calls, higher */
	uint64_t seq;
	uint32_t thread;
	uint32_t fn;
	const uint8_t *call;
	size_t call_len;
	const uint64_t *ids;
	uint32_t nids;
};

/* Why the state cannot be captured faithfully (a call that used more
 * ids than tracked), or NULL. */
const char *
ava_state_incomplete(const struct ava_state *st);

/*
 * The calls that rebuild every live object of t, in the order they ran
 * (objects they make that nothing live holds are not listed as objects:
 * restore drops them at the end). Returns 0 or -ENOMEM; the array is the
 * caller's to free (one free(): the calls' bytes and ids are copies in
 * the same block, so later calls of the session may go on meanwhile).
 */
int
ava_state_needed(struct ava_state *st, const struct ava_handle_table *t,
		 struct ava_state_call **calls, size_t *ncalls);

/* Objects that were handed out by a command (events): rebuilt as
 * completed ones, not by their call. */
bool
ava_state_is_substitute(const struct ava_state *st, uint64_t id);

/* The last sequence number run for each thread that made a call. */
size_t
ava_state_threads(const struct ava_state *st, uint32_t *threads,
		  uint64_t *seqs, size_t max);

/* The last sequence number run for thread, 0 if none. */
uint64_t
ava_state_thread_seq(const struct ava_state *st, uint32_t thread);

/* Dirty tracking for migration: take clears and returns the mark. */
bool
ava_state_take_dirty(struct ava_state *st, uint64_t id);

bool
ava_state_is_dirty(const struct ava_state *st, uint64_t id);

/* ---- restore: a fresh tracker learns the image's calls --------------
 * Restore runs each call through a builder as the session would, and
 * ends it with t NULL (no collection while the table is being built). */

void
ava_state_seed_thread(struct ava_state *st, uint32_t thread, uint64_t seq);

void
ava_state_seed_substitute(struct ava_state *st, uint64_t id);

#endif
