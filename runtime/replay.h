/*
 * replay.h - re-execute one recorded session of a journal against the
 * real API, without the application, and compare every result with the
 * record.
 *
 * For each recorded call, in the session's global order (its sequence
 * numbers, the order in which calls started on the server), the engine
 * joins the CALL skeleton and the recorded input payloads back into the
 * CALL payload (ava_marshal_join), decodes it with the server's own
 * decoder against a replay handle map, invokes the real function through
 * the generated dispatch, encodes the REPLY as the server would and
 * compares it with the recorded REPLY skeleton and output digests.
 *
 * Handles. The map binds each recorded virtual id to the real handle that
 * replay created for it. A handle the call hands out is bound to the id at
 * the same position of the recorded REPLY (its return value, an out
 * handle, an element of an out handle array); ids inside typed out
 * buffers (CL_CONTEXT_DEVICES) are predicted from the server's
 * deterministic id assignment and confirmed by the buffer's digest, else
 * bound at first use (doc/replay.md, "Handles").
 *
 * Threads. Each recorded guest thread is replayed on a thread of its own,
 * in its recorded order. A call starts only once every call with a lower
 * sequence number has started, and once every earlier call that had
 * *finished* in the recorded run before it started has finished again:
 * the recorded run's happens-before order, taken from its timestamps. A
 * call that overlapped it in the record (clWaitForEvents on a user event
 * that another thread completes later) does not hold it back, so replay
 * cannot deadlock where the application did not.
 *
 * Thread safety: one replay per reader at a time; the engine owns the
 * reader during ava_replay_session() and uses it from the calling thread
 * only.
 */
#ifndef AVA_REPLAY_H
#define AVA_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ava-desc.h"
#include "ava-generated.h"
#include "journal.h"

/* Most guest threads one replay follows. */
#define AVA_REPLAY_MAX_THREADS 64

/*
 * How the results of one call are compared. The return status (or
 * returned handle) and the error out-argument are always compared
 * exactly; the class governs every other out-argument and out buffer.
 */
enum ava_replay_class {
	/* Determined by what the application did: compared exactly; a
	 * difference is a divergence. The default. */
	AVA_REPLAY_EXACT,
	/* Chosen by the implementation (device properties, work-group
	 * sizes, build logs, binaries): compared; a difference is a note,
	 * not a divergence, since the recorded calls that follow carry
	 * the values the application acted on. The status too. */
	AVA_REPLAY_NOTE,
	/* Differs between any two runs (timestamps, reference counts,
	 * host pointers): only the status is compared. */
	AVA_REPLAY_IGNORE,
	AVA_REPLAY_CLASS_COUNT
};

/* The API-specific part of the comparison (runtime/replay-opencl.c). */
struct ava_replay_rules {
	/* The class of call fn with expression values ev (scalars, ids,
	 * 0/1 presence). *why (may be NULL) receives a short reason for a
	 * class other than EXACT, for notes. */
	enum ava_replay_class (*classify)(const struct ava_api_desc *api,
					  const struct ava_fn_desc *fn,
					  const uint64_t *ev, const char **why);
	/* Advice for a divergence of fn's status (expected, got), or NULL. */
	const char *(*hint)(const struct ava_api_desc *api,
			    const struct ava_fn_desc *fn, int64_t expected,
			    int64_t got);
	/* Does the implementation keep using the call's argument storage
	 * after it returns (CL_MEM_USE_HOST_PTR)? Then the replay keeps it
	 * for the rest of the session. May be NULL. */
	bool (*keeps_args)(const struct ava_api_desc *api,
			   const struct ava_fn_desc *fn, const uint64_t *ev);
	/* Is argument i of fn a scalar that carries an id the implementation
	 * chose (ava's map ids): an out-argument that hands one out, or an
	 * argument that names one? Replay binds the recorded ids to its own,
	 * as it does handles. May be NULL. */
	bool (*scalar_id)(const struct ava_api_desc *api,
			  const struct ava_fn_desc *fn, int i);
	/* Start the implementation up before the first call, so that its
	 * start-up time (loading the driver, finding devices) is not
	 * counted against whichever call comes first. May be NULL. */
	void (*warm_up)(void);
};

/*
 * What a watching parent process can read after the replaying process
 * died: put it in shared memory (mmap MAP_SHARED) and pass it in
 * options. Written with relaxed atomics as calls start and finish.
 */
struct ava_replay_progress {
	uint64_t last_started;                 /* seq of the latest call started */
	uint64_t completed;                    /* calls finished */
	uint64_t in_flight[AVA_REPLAY_MAX_THREADS]; /* per replay thread: seq or 0 */
};

struct ava_replay_options {
	uint64_t until;         /* replay calls up to this seq; 0: all */
	bool verify;            /* compare with the record (--no-verify: false) */
	bool recorded_speed;    /* keep the recorded gaps between call starts */
	uint32_t stall_s;       /* a call running this long beyond 4x its
				 * recorded time is a stall; 0: 30 s */
	/* The recorded run faulted in a driver thread, not in the call it
	 * blamed: that call, recorded without a reply, may return here. */
	bool fault_elsewhere;
	struct ava_replay_progress *progress; /* may be NULL */
};

/* One difference that is not a divergence (AVA_REPLAY_NOTE). */
struct ava_replay_note {
	uint64_t seq;
	char text[240];
};

#define AVA_REPLAY_NOTES_KEPT 32

struct ava_replay_divergence {
	uint64_t seq;
	uint32_t thread, fn;
	char what[160];        /* "return value", "output buffer ptr (4000 bytes)" */
	char expected[256];
	char got[256];
	int64_t offset;        /* first differing byte of an out buffer, or -1 */
	char hint[256];        /* advice, or "" */
	bool stalled;          /* the call did not return */
	bool fault;            /* the recorded run faulted in this call */
};

struct ava_replay_result {
	uint64_t session;
	uint64_t calls;            /* calls replayed */
	uint64_t calls_recorded;   /* calls in the session (up to `until`) */
	uint32_t threads;
	uint64_t first_seq, last_seq;
	/* What was compared. */
	uint64_t returns, values, buffers, handles;
	uint64_t not_compared;     /* values of IGNORE-class calls */
	uint64_t unverified;       /* buffers whose digest could not be checked */
	uint64_t lazy_binds;       /* ids bound at first use */
	uint64_t notes;
	struct ava_replay_note note[AVA_REPLAY_NOTES_KEPT];
	/* Time. */
	uint64_t startup_ns;       /* warm_up(), before the first call */
	uint64_t replay_ns;        /* first call start to last call end */
	uint64_t replay_busy_ns;   /* sum of the calls' own times */
	uint64_t recorded_span_ns; /* the same, as recorded */
	uint64_t recorded_busy_ns;
	/* The outcome: diverged, or every call matched. */
	bool diverged;
	struct ava_replay_divergence div;
	/* Set by the engine's caller for a call with no recorded REPLY:
	 * the session ended in a fault at this call. */
	uint64_t fault_seq;
	char why[256];             /* an error's reason */
};

/*
 * Replay session `session` (the id inside r's journal) through server.
 * rules may be NULL (everything exact). Returns 0 when the replay ran to
 * its end or to a divergence (res->diverged says which), or a negative
 * error when the journal could not be read (res->why says why). A call
 * the recorded run faulted in (no REPLY recorded) is a divergence if it
 * returns. Blocked threads are abandoned after a divergence: the caller
 * should end the process rather than tear down the API.
 */
int
ava_replay_session(struct ava_journal_reader *r, uint64_t session,
		   const struct ava_server_api *server,
		   const struct ava_replay_rules *rules,
		   const struct ava_replay_options *o,
		   struct ava_replay_result *res);

/* The OpenCL rules (runtime/replay-opencl.c, in the OpenCL server). */
extern const struct ava_replay_rules ava_opencl_replay_rules;

#endif
