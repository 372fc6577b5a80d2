/*
 * session-fault.h - record the call a worker was in when the vendor
 * library killed it (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP).
 *
 * A journaled worker installs handlers, on an alternate stack per
 * connection thread. The handler:
 *
 *   1. writes DIR/session-N/fault.note with write() alone: the signal,
 *      the call in flight (seq, guest thread, function) and its CALL
 *      skeleton and input payloads, so that the record survives even if
 *      nothing else does;
 *   2. if the faulting thread is not inside the journal's own code,
 *      appends the faulting call (no REPLY: it never returned), ends the
 *      session as FAULT at that call and waits for the journal thread to
 *      commit: the calls still in the journal's ring would otherwise die
 *      with the process. An alarm bounds the wait: this step is not
 *      async-signal-safe in general, only when no journal lock is held
 *      by the faulting thread, which is the case inside a call;
 *   3. re-raises the signal with its default action.
 *
 * The server's accept loop, which sees the worker die by the signal,
 * seals the session from the note if step 2 did not finish
 * (ava_session_fault_seal()).
 *
 * A fault in a thread that is not serving a call (a driver thread running
 * a kernel) is attributed to the latest call in flight, else to the
 * latest call started; the note says `in_call 0`.
 */
#ifndef AVA_SESSION_FAULT_H
#define AVA_SESSION_FAULT_H

#include <stdint.h>

#include "journal.h"

struct ava_journal_rec;

/* The note's name inside a session's journal directory. */
#define AVA_SESSION_FAULT_NOTE "fault.note"

/* In a worker: watch for faults while journal j (its session jsession,
 * directory path) records. One journal per process. */
void
ava_session_fault_arm(struct ava_journal *j, uint64_t jsession,
		      const char *path);

/* Stop before the journal closes; handlers then only re-raise. */
void
ava_session_fault_disarm(void);

/* A call recorded in rec has started / ended on this thread. The first
 * call after ava_session_fault_frame() makes sure the handlers are still
 * ours (see rearm() in session-fault.c). */
void
ava_session_fault_enter(struct ava_journal_rec *rec);

/* This thread serves a new frame from its guest (a call, or a batch). */
void
ava_session_fault_frame(void);

void
ava_session_fault_leave(struct ava_journal_rec *rec);

/*
 * In the server, once the worker of session `id` died by a signal: if
 * DIR/session-<id> has a fault note and the session has no end yet,
 * append the faulting call from the note (unless recorded) and end the
 * session as FAULT at it. *seq (may be NULL) gets the note's call, 0
 * without a note. Returns 1 if it sealed, 0 if there was nothing to do
 * (no note, or the worker sealed it), or a negative error.
 */
int
ava_session_fault_seal(const char *dir, uint64_t id, uint64_t *seq);

#endif
