/*
 * journal-view.h - what `ava journal` and `ava replay` show of a journal:
 * walking calls, the dump line of a call, per-function statistics and the
 * Chrome trace export.
 */
#ifndef AVA_JOURNAL_VIEW_H
#define AVA_JOURNAL_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ava-desc.h"
#include "journal.h"
#include "wire.h"

/* The descriptor tables of an API recorded as `name`, or NULL. */
const struct ava_api_desc *
journal_view_api(const char *name);

/*
 * A journal as the tools see it: either one journal directory (data.mdb
 * inside), or a server's --journal DIR holding one journal per guest
 * session, DIR/session-N. In the second form, session N is the server's
 * session number, and that is the id the tools show and accept.
 */
struct journal_set;

/* Open dir; on failure print one line ("ava journal SUB: ...") and
 * return an error. */
int
journal_set_open(const char *sub, const char *dir, struct journal_set **out);

void
journal_set_close(struct journal_set *set);

/* The journal directories of the set, in session order. */
size_t
journal_set_count(const struct journal_set *set);

const char *
journal_set_path(const struct journal_set *set, size_t i);

/* The server's session number of journal i (DIR/session-N: N), or 0 when
 * the set is one journal, whose sessions keep their own ids. */
uint64_t
journal_set_id(const struct journal_set *set, size_t i);

/*
 * Note that `sub` is about to read the journal at `path`. The journal's
 * B-tree pages carry no checksum, so a damaged data.mdb can hold a record
 * whose length points past the end of the file, and reading it faults
 * the mapping (SIGBUS). The first call installs a handler that turns such
 * a fault into one line, "ava: journal SUB: PATH: damaged: ...", and exit
 * status 1. `sub` and `path` must stay valid until the next call.
 */
void
journal_view_guard(const char *sub, const char *path);

/*
 * Call fn for each session (0: every one; else only that one, which must
 * exist) with the session as the tools name it, and its id inside its own
 * journal (for cursors). Returns 0, fn's nonzero
 * return, or an error (reported).
 */
int
journal_set_sessions(struct journal_set *set, const char *sub,
		     uint64_t session,
		     int (*fn)(struct ava_journal_reader *r,
			       const struct ava_journal_session *s,
			       uint64_t own_id, void *data),
		     void *data);

/*
 * Call fn for each call of session (0: every session) with seq in
 * [from, until] (until 0: no bound), in order. Errors reading the journal
 * (a damaged record; at FULL level, fewer records than the session
 * counts) are reported as one line naming the record, prefixed with
 * "ava: journal SUB: "; fn reports its own. Returns 0, fn's negative
 * return, or an error.
 */
int
journal_view_walk(struct journal_set *set, const char *sub,
		  uint64_t session, uint64_t from, uint64_t until,
		  int (*fn)(const struct ava_journal_session *s,
			    const struct ava_journal_call *c, void *data),
		  void *data);

/* Append the dump line of c (text, or a JSON object) to out. */
int
journal_view_format(const struct ava_journal_session *s,
		    const struct ava_journal_call *c, bool json,
		    struct ava_buf *out);

/* Print calls, time and bytes per function and per session. */
int
journal_view_stats(struct journal_set *set, uint64_t session);

/* Write a Chrome trace (JSON) of the journal's calls to f. */
int
journal_view_chrome(struct journal_set *set, uint64_t session, FILE *f);

#endif
