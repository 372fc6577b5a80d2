/*
 * replay-report.h - what `ava replay` says: the session it replays, the
 * summary or the divergence on stdout, and the same as JSON (--report).
 */
#ifndef AVA_REPLAY_REPORT_H
#define AVA_REPLAY_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "journal.h"
#include "replay.h"

/* The session being replayed, as read before the replay starts. */
struct replay_target {
	const char *dir;        /* as the user named it (borrowed) */
	char *path;             /* the journal that holds the session */
	uint64_t id;            /* the session as the tools name it */
	uint64_t own_id;        /* its id inside that journal */
	char *api;
	enum ava_journal_end end;
	uint64_t ncalls, first_seq, last_seq;
	uint64_t fault_seq;     /* END_FAULT: the call it died in */
	int fault_sig;          /* from the fault note; 0 if unknown */
	bool fault_noted;       /* a fault note was read */
	bool fault_in_call;     /* the note: the fault was in that call's thread */
};

/* Fill t from session s (own_id inside its journal); 0 or -ENOMEM. */
int
replay_target_set(struct replay_target *t, const char *path,
		  const struct ava_journal_session *s, uint64_t id,
		  uint64_t own_id);

/* Read the fault note beside the journal, if the session has one. */
void
replay_target_load_fault(struct replay_target *t);

void
replay_target_finish(struct replay_target *t);

/* Print the outcome of a replay that ran (to its end or a divergence),
 * write the JSON report to report_path if not NULL; returns the exit
 * status (0 or 1). */
int
replay_report(const struct replay_target *t, struct ava_journal_reader *r,
	      const struct ava_replay_options *o,
	      const struct ava_replay_result *res, const char *report_path);

/* A replay process that died by a signal. */
struct replay_crash {
	int sig;
	uint64_t seq;          /* the call in flight (or the last started) */
	bool in_flight;
	uint64_t completed;    /* calls that had finished */
	bool reproduced;       /* the record died the same way in that call */
};

void
replay_report_crash(const struct replay_target *t,
		    const struct ava_replay_options *o,
		    const struct replay_crash *c, const char *report_path);

#endif
