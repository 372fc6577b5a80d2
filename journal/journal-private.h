/*
 * journal-private.h - internals shared by the files of journal/.
 *
 * Threads: appenders touch the ring under `lock`; everything under
 * "journal thread only" belongs to the single journal thread once it has
 * started (and to open/close around it).
 */
#ifndef AVA_JOURNAL_PRIVATE_H
#define AVA_JOURNAL_PRIVATE_H

#include <liburing.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#include "journal-format.h"
#include "journal.h"

/* ---- LMDB environment (store.c) ---- */

struct jstore {
	MDB_env *env;
	MDB_dbi meta, sessions, calls, blobs, segments, objects, crefs;
	struct jf_meta info;
};

/* Map an LMDB or errno result to ava's convention. */
int
store_err(int rc);

/* Open (writer: create if needed) the environment in dir. */
int
store_open(const char *dir, bool writer, const struct ava_journal_options *o,
	   char *why, size_t why_len, struct jstore *st);

void
store_close(struct jstore *st);

void
set_why(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

uint64_t
now_ns(void);

/* ---- I/O: io_uring, or pwrite (io.c) ---- */

#define JIO_DEPTH 32

struct jio_req {
	int fd;
	int op;             /* 0 write, 1 fdatasync */
	const uint8_t *buf;
	size_t len;         /* bytes still to write */
	uint64_t off;
	struct jio_req *next_free;
};

struct jio {
	bool uring;
	struct io_uring ring;
	unsigned inflight;  /* submitted, not yet reaped */
	unsigned queued;    /* prepared, not yet submitted */
	struct jio_req reqs[JIO_DEPTH];
	struct jio_req *free;
	int err;            /* first failure since the last jio_wait */
	uint64_t submissions, completions, pwrites, fsyncs;
};

/* Pick io_uring unless it fails or AVA_JOURNAL_NO_URING=1; logs a line
 * when it falls back. */
void
jio_init(struct jio *io, void (*log)(void *, const char *), void *log_data);

void
jio_finish(struct jio *io);

/* Queue a write of buf (which must stay valid until jio_wait). */
int
jio_write(struct jio *io, int fd, const void *buf, size_t len, uint64_t off);

/* Queue an fdatasync of fd; call after jio_wait() of its writes. */
int
jio_fsync(struct jio *io, int fd);

/* Submit everything and wait for it; the first error, or 0. */
int
jio_wait(struct jio *io);

/* ---- ring slots (writer.c) ---- */

enum slot_type { SLOT_CALL, SLOT_BEGIN, SLOT_END };

struct slot {
	uint8_t type;
	bool heap;           /* data is a private malloc'ed copy */
	uint32_t thread, fn;
	uint64_t session, seq;
	int64_t ret, deferred;
	uint64_t start_ns, duration_ns;
	uint32_t flags;      /* CALL: async; END: how */
	uint32_t args_len, outs_len, ndigests, npayloads, ntags;
	uint8_t *data;       /* staged bytes, see stage_call() */
	uint64_t arena_end;  /* arena position after this record */
};

/* ---- blob segments (blob.c) ---- */

struct seginfo {
	uint32_t id;
	struct jf_segrec rec;
	int fd;              /* open while written this batch, or current */
	bool dirty;          /* record must be written this batch */
	bool dead;           /* record deleted this batch; unlink after */
	bool touched;        /* written this batch: fsync before commit */
};

struct blobstore {
	int dirfd;           /* DIR/blobs */
	struct seginfo *segs;
	size_t nsegs, cap;
	int cur;             /* index of the segment being appended, or -1 */
	uint32_t last_id;    /* the highest segment id seen: never reused */
	bool new_file;       /* a segment file was created this batch */
	void **scratch;      /* buffers that must live until jio_wait */
	size_t nscratch, scratch_cap;
};

struct ava_journal;

/* A session whose record this batch rewrites. */
struct batch_session {
	struct ava_journal_session s;
	bool found;          /* the record exists (or this batch begins it) */
};

/* Load the segment table; resume the open segment. On failure a reason
 * goes to `why`. */
int
blob_open(struct ava_journal *j, MDB_txn *txn, char *why, size_t why_len);

void
blob_close(struct blobstore *bs);

/* Take a reference on payload p (hash already set), storing its bytes
 * if no blob has that hash yet. */
int
blob_add(struct ava_journal *j, MDB_txn *txn, const uint8_t *data,
	 const struct ava_journal_payload *p);

/* Add delta (+1 or -1) to a blob's refcount; freeing it at zero. */
int
blob_ref(struct ava_journal *j, MDB_txn *txn, const uint8_t hash[16],
	 int delta);

/* Before commit: wait for writes, fsync per sync mode, write segment
 * records. After commit: unlink dead segments, drop scratch. */
int
blob_precommit(struct ava_journal *j, MDB_txn *txn);

void
blob_postcommit(struct ava_journal *j);

void
blob_abort(struct ava_journal *j);

/* ---- the journal ---- */

struct ava_journal {
	struct ava_journal_options opt;
	bool off;
	char *dir;
	struct jstore st;

	pthread_mutex_t lock;
	pthread_cond_t space_cv;  /* appenders wait for room */
	pthread_cond_t work_cv;   /* the journal thread waits for records */
	pthread_cond_t done_cv;   /* durable waiters */
	struct slot *slots;
	atomic_uchar *ready;      /* per slot: filled and published */
	uint64_t mask;
	uint64_t head, tail;      /* tickets: oldest unreleased, next free */
	uint8_t *arena;
	uint64_t arena_cap, arena_head, arena_tail;
	uint64_t committed;       /* tickets below this are committed */
	atomic_int sleeping;
	int waiters;              /* threads waiting for a commit */
	bool stop;
	int fatal;
	_Atomic uint64_t next_session;
	struct ava_journal_stats stats;
	pthread_t thread;
	bool thread_started;
	bool sync_init;           /* lock and condvars initialized */

	/* journal thread only */
	struct jio io;
	struct blobstore bs;
	uint8_t last_key[16];     /* highest call key: MDB_APPEND above it */
	bool have_last_key;
	struct batch_session *bsess; /* sessions touched by this batch */
	size_t nbsess, bsess_cap;
	struct ava_journal_payload *pl; /* payload scratch for one call */
	size_t pl_cap;
	struct ava_journal_stats tstats; /* merged into stats per batch */
};

/* writer.c: start and stop the journal thread. */
int
writer_start(struct ava_journal *j);

void
writer_stop(struct ava_journal *j);

/* commit.c: commit slots [first, first + n) in one transaction. */
int
commit_batch(struct ava_journal *j, uint64_t first, uint64_t n);

/* state.c: STATE-level bookkeeping for one stored call. */
int
state_track(struct ava_journal *j, MDB_txn *txn,
	    const struct ava_journal_call *c, bool stored);

/* Whether a call is kept at STATE level: it created or wrote something. */
bool
state_keeps(const struct ava_journal_tag *tags, uint32_t ntags);

void
jlog(struct ava_journal *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
