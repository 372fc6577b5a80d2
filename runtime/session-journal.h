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
 * Thread safety: one per session, used by the session's thread only.
 */
#ifndef AVA_SESSION_JOURNAL_H
#define AVA_SESSION_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ava-desc.h"
#include "server.h"

struct ava_session_journal;

/* The name of session `id`'s journal inside a server's journal DIR. */
#define AVA_SESSION_JOURNAL_FMT "session-%llu"

/*
 * Open DIR/session-<id> (creating DIR if needed) and record the session's
 * start: guest is free text naming the guest (e.g. "pid 1234").
 * Returns 0 or a negative error; *why gets one line on failure.
 */
int
ava_session_journal_open(const char *dir, enum ava_journal_mode mode,
			 const struct ava_api_desc *api, uint64_t id,
			 const char *guest, char *why, size_t why_len,
			 struct ava_session_journal **out);

/*
 * Before a call is decoded (decoding rewrites handle ids in place): take
 * its skeleton and input spans from the CALL payload. The spans point into
 * payload, which must stay unchanged in its buffer bytes until
 * ava_session_journal_call_end(). A payload that does not split is still
 * recorded, with its bytes as one opaque payload.
 */
void
ava_session_journal_call_begin(struct ava_session_journal *sj,
			       const struct ava_fn_desc *fn, uint32_t thread,
			       uint64_t seq, uint8_t *payload, size_t len,
			       bool async);

/* An object the call created (its id), wrote, or released for good. */
void
ava_session_journal_tag(struct ava_session_journal *sj, uint8_t kind,
			uint64_t id);

/*
 * After the call: record it with its REPLY payload (reply, rlen). Returns
 * 0, or the journal's error; after an error the journal is closed and
 * later calls are no-ops (the session goes on, unjournaled, and the
 * failure has been logged once).
 */
int
ava_session_journal_call_end(struct ava_session_journal *sj, uint8_t *reply,
			     size_t rlen);

/* Record how the session ended, flush and close. Accepts NULL. */
void
ava_session_journal_close(struct ava_session_journal *sj, int how,
			  uint64_t fault_seq);

#endif
