/*
 * replay-private.h - the pieces of the replay engine (replay.c): the
 * replay handle map (replay-map.c) and the comparison of one REPLY with
 * its record (replay-check.c). Not for other modules.
 *
 * Thread safety: none here; the engine holds its map lock around every
 * use of a map and of the check.
 */
#ifndef AVA_REPLAY_PRIVATE_H
#define AVA_REPLAY_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include "marshal.h"
#include "replay.h"
#include "u64map.h"
#include "wire.h"

/* ---- the replay handle map (replay-map.c) ------------------------------ */

/*
 * Recorded virtual ids <-> the real handles of this replay. Real handles
 * get ids of their own in a handle table run exactly like the server's
 * (same interning, same refcounts, same freeing), and a recorded id is
 * bound to one of those. A handle the current call hands out that no
 * recorded id is bound to yet goes on the wire as a *provisional* id: the
 * table's id with the owner field 0, which no recorded id has (owners are
 * nonzero). The check binds each provisional id to the recorded id at
 * the same place of the recorded REPLY.
 */
struct replay_map;

int
replay_map_create(const struct ava_api_desc *api, struct replay_map **out);

void
replay_map_destroy(struct replay_map *m);

/* The struct ava_handle_ops over m, for decode and encode. */
void
replay_map_ops(struct replay_map *m, struct ava_handle_ops *ops);

/* Forget the provisional ids of the previous call. */
void
replay_map_call_begin(struct replay_map *m);

/* Is the wire word w a provisional id? */
bool
replay_map_is_provisional(uint64_t w);

/*
 * Bind recorded id rec to the handle behind provisional id prov. Returns
 * 0, or AVA_EHANDLE if the types differ.
 */
int
replay_map_bind(struct replay_map *m, uint64_t rec, uint64_t prov);

/* The provisional ids handed out by this call and not bound yet. */
uint32_t
replay_map_unbound(struct replay_map *m, uint64_t *ids, uint32_t max);

/* The recorded id the server would have given provisional id prov (its
 * table and ours hand out ids alike), or 0 if no recorded owner is
 * known yet. */
uint64_t
replay_map_predict(const struct replay_map *m, uint64_t prov);

/* Keep prov for binding at the first use of an unknown recorded id of
 * its type (a handle first seen inside an out buffer). */
void
replay_map_defer(struct replay_map *m, uint64_t prov);

/* Ids bound at first use so far. */
uint64_t
replay_map_lazy_binds(const struct replay_map *m);

/* The recorded id bound to real handle `real` of type, or 0. */
uint64_t
replay_map_recorded_id(const struct replay_map *m, uint16_t type,
		       uint64_t real);

/* ---- memory the application never wrote (replay-undef.c) ----------------- */

/*
 * Which recorded buffers (handle types with `state buffer`) hold
 * contents the application defined: created from host bytes, written by
 * a call that `writes` them, or given to a kernel. Reading one that
 * holds none returns whatever the device had there: replay does not
 * compare those bytes (a note says so).
 */
struct replay_undef;

int
replay_undef_create(const struct ava_api_desc *api, struct replay_undef **out);

void
replay_undef_destroy(struct replay_undef *u);

/* Does decoded call c read a buffer whose contents were never written? */
bool
replay_undef_reads(struct replay_undef *u, const struct ava_call *c,
		   const struct replay_map *m);

/* After call c succeeded in the record (REPLY skeleton outs): note the
 * buffers it created with contents or wrote. */
void
replay_undef_update(struct replay_undef *u, const struct ava_call *c,
		    const struct replay_map *m, const uint8_t *outs,
		    size_t outs_len);

/* ---- recorded calls as jobs (replay-job.c) ------------------------------ */

/* One recorded call, ready to run: owned by the engine until it ran. */
struct replay_job {
	struct replay_job *next;
	uint64_t index;                 /* order of dispatch */
	uint64_t seq;
	uint32_t thread;
	const struct ava_fn_desc *fn;
	uint64_t start_ns, end_ns;      /* recorded, CLOCK_REALTIME */
	uint64_t dur_ns;
	struct ava_buf call;            /* the CALL payload, joined back */
	uint8_t *outs;
	size_t outs_len;
	uint64_t *digests;
	uint32_t ndigests;
	size_t bytes;
	uint64_t t_start;               /* replay, CLOCK_MONOTONIC */
};


/*
 * Make the job for call c (a call of fn, the index-th dispatched): its
 * CALL payload joined from the skeleton and the recorded payloads (blobs
 * read from r), and copies of its REPLY skeleton and digests. Returns 0,
 * -ENOMEM, or the journal's or the join's error.
 */
int
replay_job_make(struct ava_journal_reader *r, const struct ava_journal_call *c,
		const struct ava_fn_desc *fn, uint64_t index,
		struct replay_job **out);

/* Accepts NULL. */
void
replay_job_free(struct replay_job *j);

/*
 * The first byte at which got (len bytes) differs from the recorded
 * output whose digest is `digest`, if the recorded bytes are in the
 * journal after all: an input payload of the session with that length and
 * digest (an inout buffer's input, or the application writing back what
 * it read). -1 if none is.
 */
int64_t
replay_find_offset(struct ava_journal_reader *r, uint64_t session,
		   const uint8_t *got, uint64_t len, uint64_t digest);

/* ---- comparing one REPLY (replay-check.c) ------------------------------ */

struct replay_check {
	/* in */
	const struct ava_api_desc *api;
	const struct ava_fn_desc *fn;
	enum ava_replay_class cls;
	const char *why;                /* the class's reason, for notes */
	const uint64_t *ev;
	bool verify;
	const uint8_t *rec_outs;        /* recorded REPLY skeleton */
	size_t rec_outs_len;
	const uint64_t *rec_digests;
	uint32_t nrec_digests;
	struct replay_map *map;
	bool undefined;                 /* it reads never-written memory */
	/* scalar ids (replay.h, scalar_id): recorded -> replay, or NULL */
	const struct ava_replay_rules *rules;
	struct ava_u64map *sids;
	/* out */
	struct ava_replay_result *res;  /* counters, notes (seq below) */
	uint64_t seq;
	bool diverged;
	struct ava_replay_divergence div;
	/* The status (return value or error out-argument) on both sides. */
	bool have_status;
	int64_t rec_status, got_status;
	/* The replay's bytes of a differing out buffer (heap, or NULL), so
	 * that the engine can look for the recorded bytes and name the first
	 * differing offset. */
	uint8_t *got_bytes;
	uint64_t got_len;
	uint64_t want_digest;
};

/*
 * Compare the REPLY payload (n bytes at p, the replay's) with the record;
 * bind new handles. Rewrites p (provisional ids in typed buffers).
 * Returns 0 (see k->diverged), or -ENOMEM.
 */
int
replay_check_reply(struct replay_check *k, uint8_t *p, size_t n);

/* Append "NAME (VALUE)" for a status value. */
void
replay_format_status(const struct ava_api_desc *api, int64_t v, char *buf,
		     size_t len);

#endif
