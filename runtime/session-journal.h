/*
 * session-journal.h - a worker session's journal: every call it serves is
 * recorded, with handles as virtual ids, input buffers as (deduplicated)
 * payloads and output buffers as digests.
 *
 * A server started with --journal DIR gives each guest session its own
 * journal, DIR/session-N, written by that session's worker process alone:
 * LMDB and the blob segments then never see two writer processes, and one
 * guest's crash cannot damage another's record. `ava journal` reads DIR as
 * the set of those journals (doc/journal.md).
 *
 * Thread safety: a session journal is shared by the session's connection
 * threads; each thread records its calls through its own struct
 * ava_journal_rec. The journal's global sequence numbers follow the order
 * in which calls started on the server.
 */
#ifndef AVA_SESSION_JOURNAL_H
#define AVA_SESSION_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ava-desc.h"
#include "server.h"

#include "marshal-split.h"
#include "journal.h"

struct ava_session_journal;

#define AVA_JOURNAL_REC_MAX_TAGS 64

/* One call being recorded: per connection thread, reused for each call. */
struct ava_journal_rec {
	bool in_call;              /* call_begin split the payload */
	const struct ava_fn_desc *fn;
	uint32_t thread;
	uint64_t seq;
	bool async;
	int64_t deferred_error;    /* an async call's failure, reported later */
	uint64_t start_ns;         /* CLOCK_REALTIME, for the record */
	uint64_t t0;               /* CLOCK_MONOTONIC ns, for the duration */
	struct ava_buf args, outs;
	struct ava_span in[AVA_MARSHAL_MAX_SPANS], out[AVA_MARSHAL_MAX_SPANS];
	uint32_t nin, nout;
	struct ava_journal_buf payloads[AVA_MARSHAL_MAX_SPANS];
	uint64_t digests[AVA_MARSHAL_MAX_SPANS];
	struct ava_journal_tag tags[AVA_JOURNAL_REC_MAX_TAGS];
	uint32_t ntags;
};

void
ava_journal_rec_init(struct ava_journal_rec *rec);

void
ava_journal_rec_finish(struct ava_journal_rec *rec);

/* The name of session `id`'s journal inside a server's journal DIR. */
#define AVA_SESSION_JOURNAL_FMT "session-%llu"

/*
 * Open DIR/session-<id> (creating DIR if needed) and record the session's
 * start: guest is free text naming the guest (e.g. "pid 1234").
 * Returns 0 or a negative error; *why gets one line on failure.
 * With defer, the journal's thread is not started yet (a spare worker
 * opens the journal while another thread loads the vendor library, and a
 * thread's creation waits for that): ava_session_journal_start() starts
 * it.
 */
int
ava_session_journal_open(const char *dir, enum ava_journal_mode mode,
			 enum ava_journal_sync_mode sync,
			 const struct ava_api_desc *api, uint64_t id,
			 const char *guest, bool defer, char *why,
			 size_t why_len, struct ava_session_journal **out);

/* Start the journal's thread; 0, or a negative error with one line in
 * *why. Until then, records wait in the journal's ring. */
int
ava_session_journal_start(struct ava_session_journal *sj, char *why,
			  size_t why_len);

/*
 * Before a call is decoded (sj may be NULL: no journal) (decoding rewrites handle ids in place): take
 * its skeleton and input spans from the CALL payload. The spans point into
 * payload, which must stay unchanged in its buffer bytes until
 * ava_session_journal_call_end(). A payload that does not split is still
 * recorded, with its bytes as one opaque payload.
 */
void
ava_session_journal_call_begin(struct ava_session_journal *sj,
			       struct ava_journal_rec *rec,
			       const struct ava_fn_desc *fn, uint32_t thread,
			       uint8_t *payload, size_t len, bool async);

/* An object the call created (its id), wrote, or released for good. */
void
ava_journal_rec_tag(struct ava_journal_rec *rec, uint8_t kind, uint64_t id);

/*
 * After the call: record it with its REPLY payload (reply, rlen). Returns
 * 0, or the journal's error; after an error the journal is closed and
 * later calls are no-ops (the session goes on, unjournaled, and the
 * failure has been logged once).
 */
int
ava_session_journal_call_end(struct ava_session_journal *sj,
			     struct ava_journal_rec *rec, uint8_t *reply,
			     size_t rlen);

/*
 * A call that moved bytes through the shared heap (doc/protocol.md,
 * "Shared buffers") is recorded as the plain call that does the same
 * (doc/journal.md, "Transfers through the shared heap"): fn with
 * arguments v, scalars as they are and handles as ids (0: NULL), every
 * pointer argument absent (an out-argument present if its v is nonzero)
 * except argument buf, whose bytes are [bytes, bytes + len), and
 * argument list, a handle list of the nids ids at ids. An in-buffer's
 * bytes go with the call, an out-buffer's are the reply's (as a digest,
 * in the record), and only if ok (the call succeeded). The reply gives
 * out[i] for an out-scalar or out-handle (an id) i, and ret, the value
 * the call returned (an id for a handle).
 */
struct ava_journal_as {
	const struct ava_fn_desc *fn;
	uint64_t v[AVA_MAX_ARGS];
	uint64_t out[AVA_MAX_ARGS];
	int buf;
	const void *bytes;
	uint64_t len;
	int list;
	const uint64_t *ids;
	uint32_t nids;
	int64_t ret;
	bool ok;
};

/*
 * After the call, in place of ava_session_journal_call_end(): record as
 * in the call's place, with its sequence number, thread and times.
 * Returns as ava_session_journal_call_end().
 */
int
ava_session_journal_call_as(struct ava_session_journal *sj,
			    struct ava_journal_rec *rec,
			    const struct ava_journal_as *as);

/*
 * After the call, in place of ava_session_journal_call_end(): record
 * nothing yet. The guest thread's next call, on whichever connection
 * (an async one may come in a batch on another), takes this one's place
 * in the journal: its sequence number and start. For a transfer whose
 * bytes the guest copies between two calls, and for a call the guest
 * follows with the plain call. With AVA_JOURNAL_HELD threads holding one
 * already, the place is given up (a gap in the numbers).
 */
#define AVA_JOURNAL_HELD 64

void
ava_session_journal_call_hold(struct ava_session_journal *sj,
			      struct ava_journal_rec *rec);

/* Record how the session ended, flush and close. Accepts NULL. With
 * AVA_JOURNAL_STATS=1 in the environment, first log one line of the
 * journal's counters ("journal stats: io=io_uring|pwrite ..."). */
void
ava_session_journal_close(struct ava_session_journal *sj, int how,
			  uint64_t fault_seq);

#endif
