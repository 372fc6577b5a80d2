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
 * Call fn for each call of session (0: every session) with seq in
 * [from, until] (until 0: no bound), in order. Errors (a damaged record,
 * an unknown API) are reported as one line naming the record, prefixed
 * with "ava journal SUB: ". Returns 0, fn's nonzero return, or an error.
 */
int
journal_view_walk(struct ava_journal_reader *r, const char *sub,
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
journal_view_stats(struct ava_journal_reader *r, uint64_t session);

/* Write a Chrome trace (JSON) of the journal's calls to f. */
int
journal_view_chrome(struct ava_journal_reader *r, uint64_t session, FILE *f);

#endif
