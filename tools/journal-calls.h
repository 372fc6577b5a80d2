/*
 * journal-calls.h - what a recorded call names, read from its skeletons
 * by the descriptor tables: the handle ids it uses and makes, and the
 * first word of each argument. `ava journal trim` and `ava journal diff`
 * walk journals with it.
 */
#ifndef AVA_JOURNAL_CALLS_H
#define AVA_JOURNAL_CALLS_H

#include <stdbool.h>
#include <stdint.h>

#include "ava-desc.h"
#include "journal.h"

#define CALL_MAX_IDS 512

struct call_ids {
	/* The CALL's first word per argument: a scalar's value, a handle's
	 * id, a buffer's length (AVA_WIRE_NULL: NULL), a presence flag. */
	uint64_t word[AVA_MAX_ARGS];
	uint64_t used[CALL_MAX_IDS];  /* ids the CALL names, in order */
	uint32_t nused;
	uint64_t karg;                /* an IN_KARG sent as a handle id, or 0 */
	uint64_t out[AVA_MAX_ARGS];   /* the REPLY's word per out-argument */
	uint64_t made[CALL_MAX_IDS];  /* ids the REPLY names, in order */
	uint32_t nmade;
	bool has_status;              /* a status or error out-argument */
	int64_t status;
	bool no_reply;                /* the call faulted: no REPLY */
};

/* Parse c (a call of fn) into *ids. Returns 0 or AVA_EPROTO for a
 * skeleton that does not fit the descriptor. */
int
call_ids_parse(const struct ava_api_desc *api, const struct ava_fn_desc *fn,
	       const struct ava_journal_call *c, struct call_ids *ids);

/* Did the recorded call succeed (no status: yes)? */
bool
call_ids_ok(const struct ava_api_desc *api, const struct call_ids *ids);

/* The index of fn's argument `name`, or -1. */
int
call_arg(const struct ava_fn_desc *fn, const char *name);

/* The handle type (index into api->handles) of an id, by its tag; 0 if
 * none. */
uint16_t
call_id_type(const struct ava_api_desc *api, uint64_t id);


struct journal_set;

/*
 * Run fn on the one session of set (opened from dir; NULL: named after
 * its journals) that `want` names
 * (0: the set must hold exactly one), with its journal open as r and that
 * journal's path.
 * Errors are printed ("ava journal SUB: ..." or "ava SUB: ..."). Returns
 * 0, an exit status (AVA_EXIT_FAILURE, AVA_EXIT_USAGE), or fn's return.
 */
int
journal_pick_session(struct journal_set *set, const char *dir,
		     const char *sub, uint64_t want,
		     int (*fn)(struct ava_journal_reader *r,
			       const struct ava_journal_session *s,
			       uint64_t own_id, const char *path, void *data),
		     void *data);

/* `ava journal trim` and `ava journal diff` (journal-trim.c,
 * journal-diff.c): "SUB [OPTION]..." after DIR, as cmd-journal.c runs
 * its subcommands. Return an exit status. */
int
journal_trim(struct journal_set *set, int argc, char **argv);

int
journal_diff(struct journal_set *set, int argc, char **argv);

#endif
