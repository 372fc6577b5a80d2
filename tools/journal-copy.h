/*
 * journal-copy.h - write a new journal holding one recorded session, or
 * the calls of it a filter keeps, through the journal writer API. `ava
 * journal trim` uses it, and so does the replay tests' tampering tool.
 */
#ifndef AVA_JOURNAL_COPY_H
#define AVA_JOURNAL_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"

struct journal_copy {
	/* Keep call c? NULL: every call. */
	bool (*keep)(const struct ava_journal_call *c, void *data);
	/* Change the entry about to be appended (its digests are a
	 * writable copy). NULL: none. */
	void (*edit)(struct ava_journal_entry *e, uint64_t *digests,
		     void *data);
	void *data;
};

/*
 * Copy session own_id of the journal at src (open as r) into a new
 * journal at dst (which must not exist, or be an empty directory): the
 * session's text fields and start, the calls kept (same sequence
 * numbers, payloads re-read and stored again), the session's end (a
 * fault only if its call is kept), and its fault note if any. *copied (may be NULL) gets the calls written.
 * Returns 0 or a negative error, with one line in why.
 */
int
journal_copy_session(struct ava_journal_reader *r, const char *src,
		     uint64_t own_id, const char *dst,
		     const struct journal_copy *how, uint64_t *copied,
		     char *why, size_t why_len);

#endif
