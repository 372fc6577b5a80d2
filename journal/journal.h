/*
 * journal.h - ava's call journal: writer, reader and verifier.
 *
 * A journal is a directory: an LMDB environment (data.mdb, lock.mdb) that
 * indexes sessions, call records and blobs, plus blobs/NNNNNNNN.seg,
 * append-only segment files holding payloads at or above the blob
 * threshold. doc/journal-format.md is the on-disk contract; doc/journal.md
 * says what each sync mode guarantees.
 *
 * Writer: ava_journal_append() copies the record into an in-memory ring and
 * a staging arena and returns; it never touches the disk. A journal thread
 * drains the ring and commits each batch in one LMDB write transaction,
 * after the batch's new blobs are written (through io_uring, or pwrite
 * where io_uring is unavailable) and, unless sync is NONE, fsynced. A full
 * ring or arena makes the appender wait (back-pressure); nothing is
 * dropped.
 *
 * Reader: open a journal (another process may be writing it), walk its
 * sessions and the calls of a session in sequence order, fetch payloads.
 *
 * Errors: every int function returns 0 (or a documented positive value) on
 * success, a negative errno or a negative AVA_E* code (runtime/ava-error.h)
 * on failure; ava_strerror() names them. Nothing sets errno. Corrupt or
 * foreign bytes on disk give AVA_ECORRUPT, another format version gives
 * AVA_EVERSION, a missing journal -ENOENT; never a crash.
 *
 * Threads: a struct ava_journal may be used by any number of threads at
 * once. A struct ava_journal_reader and its cursors belong to one thread
 * at a time.
 */
#ifndef AVA_JOURNAL_H
#define AVA_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ava-error.h"

/* The on-disk format version this build writes and reads. */
#define AVA_JOURNAL_FORMAT_VERSION 1

/* Bounds, checked before anything is copied or allocated. */
#define AVA_JOURNAL_MAX_FIELD (64u << 20)   /* args or outs bytes */
#define AVA_JOURNAL_MAX_PAYLOAD (1ull << 30) /* one input payload */
#define AVA_JOURNAL_MAX_ITEMS 4096          /* payloads, digests or tags */
#define AVA_JOURNAL_MAX_TEXT 65535          /* one session text field */

enum ava_journal_sync {
	/* No fsync. After a process crash the journal is consistent and
	 * holds every batch committed before it; after an OS crash or power
	 * loss anything not yet written back by the kernel may be lost. */
	AVA_JOURNAL_SYNC_NONE,
	/* Each batch's blobs are fsynced before the LMDB commit that
	 * references them, and that commit is synced: a committed batch
	 * survives power loss. Appends still return before commit. */
	AVA_JOURNAL_SYNC_BATCH,
	/* As BATCH, and every ava_journal_append() returns only once its
	 * record is committed and synced. */
	AVA_JOURNAL_SYNC_STRICT,
};

/*
 * What is recorded. The values equal those of enum ava_journal_mode in
 * runtime/server.h, so the server can convert with a cast.
 */
enum ava_journal_level {
	AVA_JOURNAL_LEVEL_OFF = 0,   /* nothing; the directory is not touched */
	AVA_JOURNAL_LEVEL_STATE = 1, /* only calls that create or write live
				      * objects, compacted as objects die */
	AVA_JOURNAL_LEVEL_FULL = 2,  /* every call with its payloads */
};

struct ava_journal_options {
	enum ava_journal_sync sync;  /* default BATCH */
	enum ava_journal_level level; /* default FULL */
	uint32_t ring_capacity;      /* records in flight; power of two */
	size_t arena_bytes;          /* staging bytes in flight */
	size_t blob_threshold;       /* payloads >= this become blobs */
	bool compress;               /* zstd blobs when it saves space */
	uint64_t segment_bytes;      /* start a new segment past this size */
	uint64_t map_bytes;          /* LMDB map size (address space) */
	/* Open without the journal thread: it starts at ava_journal_start(),
	 * or when something first needs it (a wait for a commit, a full
	 * ring, the close). Records appended before wait in the ring. For
	 * a caller whose open runs beside another thread's dlopen(), which
	 * holds up every thread's creation. */
	bool defer_start;
	/* One line per event worth an operator's attention (the pwrite
	 * fallback, a fatal error). NULL: stderr. Called from any thread. */
	void (*log)(void *log_data, const char *line);
	void *log_data;
};

/* Fill *opts with the defaults (BATCH, FULL, 64Ki records, 64 MiB arena,
 * 4 KiB threshold, no compression, 256 MiB segments, 64 GiB map). */
void
ava_journal_options_init(struct ava_journal_options *opts);

struct ava_journal;

/*
 * Open the journal in `dir`, creating it (and the directory) if absent,
 * and start its journal thread (unless defer_start). opts NULL means
 * the defaults. Refuses a directory that holds other files (-ENOTEMPTY),
 * a journal of another format version (AVA_EVERSION) or of the other
 * level (-EINVAL). With level OFF nothing is opened and every append
 * succeeds without effect.
 * On failure, if `why` is not NULL, a one-line reason is written there.
 * The caller owns *out and ends it with ava_journal_close().
 */
int
ava_journal_open(const char *dir, const struct ava_journal_options *opts,
		 char *why, size_t why_len, struct ava_journal **out);

/* Start the journal thread of one opened with defer_start; 0 if it runs
 * already, or for level OFF. */
int
ava_journal_start(struct ava_journal *j);

/*
 * Commit everything appended, stop the journal thread, free `j`. Returns
 * the first fatal error the journal thread met, else 0. Accepts NULL.
 */
int
ava_journal_close(struct ava_journal *j);

/* Session text fields, borrowed for the duration of the call; NULL means
 * empty. Each is at most AVA_JOURNAL_MAX_TEXT bytes. */
struct ava_journal_session_info {
	const char *guest;        /* guest identity: VM, container, pid */
	const char *api;          /* "opencl" */
	const char *host;         /* server host name */
	const char *ava_version;
	const char *devices;      /* free text, one device a line */
	uint64_t start_ns;        /* CLOCK_REALTIME nanoseconds */
};

enum ava_journal_end {
	AVA_JOURNAL_END_NONE = 0,     /* still running, or the writer died */
	AVA_JOURNAL_END_CLEAN = 1,    /* the guest said goodbye */
	AVA_JOURNAL_END_VANISHED = 2, /* the connection dropped */
	AVA_JOURNAL_END_FAULT = 3,    /* the server faulted at fault_seq */
	AVA_JOURNAL_END_SERVER_STOP = 4, /* the server was shut down */
	AVA_JOURNAL_END_COUNT
};

/*
 * Begin a session. *session receives its id (1, 2, ... in this journal),
 * which later appends name. Queued like a call record.
 */
int
ava_journal_session_begin(struct ava_journal *j,
			  const struct ava_journal_session_info *info,
			  uint64_t *session);

/* End a session: `how`, the call it faulted at (END_FAULT, else 0), and
 * the end time in CLOCK_REALTIME nanoseconds. */
int
ava_journal_session_end(struct ava_journal *j, uint64_t session,
			enum ava_journal_end how, uint64_t fault_seq,
			uint64_t end_ns);

/* A caller buffer, borrowed for the duration of the call. */
struct ava_journal_buf {
	const void *data;
	size_t len;
};

/* State-mode tags: what a call did to which object (a virtual id). */
enum ava_journal_tag_kind {
	AVA_JOURNAL_TAG_CREATED = 1,
	AVA_JOURNAL_TAG_WRITTEN = 2,
	/* The object is dead (its last reference is gone): in STATE level
	 * the calls that created or wrote it are dropped. */
	AVA_JOURNAL_TAG_RELEASED = 3,
};

struct ava_journal_tag {
	uint8_t kind;    /* enum ava_journal_tag_kind */
	uint64_t object; /* virtual handle id */
};

/*
 * One call to append. Every pointer is borrowed for the duration of
 * ava_journal_append(): the journal copies what it keeps.
 */
struct ava_journal_entry {
	uint64_t session;        /* from ava_journal_session_begin() */
	uint64_t seq;            /* the session's sequence number; unique */
	uint32_t thread;         /* guest thread */
	uint32_t fn;             /* function id */
	const void *args;        /* encoded arguments, handles as virtual ids */
	size_t args_len;         /* <= AVA_JOURNAL_MAX_FIELD */
	const struct ava_journal_buf *payloads; /* input payloads */
	uint32_t npayloads;      /* <= AVA_JOURNAL_MAX_ITEMS */
	int64_t ret;             /* return value, widened */
	const void *outs;        /* encoded out-arguments */
	size_t outs_len;         /* <= AVA_JOURNAL_MAX_FIELD */
	const uint64_t *digests; /* ava_journal_digest() of each out buffer */
	uint32_t ndigests;       /* <= AVA_JOURNAL_MAX_ITEMS */
	uint64_t start_ns;       /* CLOCK_REALTIME nanoseconds */
	uint64_t duration_ns;
	bool async;              /* the guest batched this call */
	int64_t deferred_error;  /* async failure reported later; 0 if none */
	const struct ava_journal_tag *tags; /* STATE bookkeeping; kept in FULL */
	uint32_t ntags;          /* <= AVA_JOURNAL_MAX_ITEMS */
};

/* append flags */
enum {
	/* Return only once the record is committed (and, unless sync is
	 * NONE, synced). Implied by AVA_JOURNAL_SYNC_STRICT. */
	AVA_JOURNAL_APPEND_DURABLE = 1u << 0,
};

/*
 * Append one call record. Copies it into the ring and returns without
 * disk I/O, unless the ring is full (waits for room) or the record must
 * be durable (see above). Returns 0, -EINVAL (bad field), AVA_ETOOBIG (a
 * bound exceeded), -ENOENT (unknown session), -ENOMEM, or the fatal error
 * that stopped the journal thread (later calls fail the same way).
 */
int
ava_journal_append(struct ava_journal *j, const struct ava_journal_entry *e,
		   uint32_t flags);

/* Wait until everything appended before this call is committed (and
 * synced unless sync is NONE). Returns 0 or the fatal error. */
int
ava_journal_flush(struct ava_journal *j);

/* The digest ava stores for an output buffer (XXH3-64). */
uint64_t
ava_journal_digest(const void *data, size_t len);

/* Counters; they only grow. appended == committed + in flight + lost. */
struct ava_journal_stats {
	uint64_t appended;          /* calls accepted by append */
	uint64_t committed;         /* calls whose batch committed */
	uint64_t state_skipped;     /* STATE: committed calls not stored
				     * (they created/wrote nothing) */
	uint64_t compacted;         /* STATE: stored calls later dropped */
	uint64_t lost;              /* accepted, then a fatal error hit */
	uint64_t duplicates;        /* (session, seq) already present */
	uint64_t batches;           /* LMDB write transactions */
	uint64_t backpressure_waits;
	uint64_t heap_staged;       /* records too big for the arena */
	uint64_t arena_rewinds;     /* empty arena restarted at its start */
	uint64_t arena_wraps;       /* a record started over at the start,
				     * beside records in flight */
	uint64_t inline_payloads;
	uint64_t blobs_written;
	uint64_t blobs_deduped;     /* payloads that matched a stored blob */
	uint64_t blobs_freed;       /* STATE: blobs no record references */
	uint64_t blob_bytes_raw;    /* bytes of new blobs before zstd */
	uint64_t blob_bytes_stored; /* bytes of new blobs on disk */
	uint64_t segments_deleted;
	uint64_t uring_submissions; /* SQEs submitted to io_uring */
	uint64_t uring_completions;
	uint64_t pwrite_calls;      /* fallback writes */
	uint64_t fsyncs;
};

void
ava_journal_get_stats(struct ava_journal *j, struct ava_journal_stats *out);

/* Whether blob writes go through io_uring (false: the pwrite fallback,
 * chosen when io_uring_queue_init fails or AVA_JOURNAL_NO_URING=1). */
bool
ava_journal_uses_uring(struct ava_journal *j);

/* ---- reading ---------------------------------------------------------- */

struct ava_journal_reader;

/*
 * Open `dir` for reading. A writer (another process) may be appending;
 * the reader sees what was committed. Returns -ENOENT (no journal there),
 * AVA_ECORRUPT, AVA_EVERSION, or an LMDB failure mapped to an errno. On
 * failure, if `why` is not NULL, a one-line reason is written there.
 */
int
ava_journal_reader_open(const char *dir, char *why, size_t why_len,
			struct ava_journal_reader **out);

/* A reader over the journal `j` has open in this process (LMDB forbids
 * opening one environment twice in a process). Valid until
 * ava_journal_reader_close(), which must come before ava_journal_close(). */
int
ava_journal_reader_from(struct ava_journal *j,
			struct ava_journal_reader **out);

/* Accepts NULL. */
void
ava_journal_reader_close(struct ava_journal_reader *r);

struct ava_journal_info {
	uint32_t format_version;
	enum ava_journal_level level;
	uint64_t created_ns;
	uint64_t sessions;
	uint64_t calls;       /* stored call records */
	uint64_t blobs;
	uint64_t blob_bytes;  /* stored (possibly compressed) blob bytes */
	uint32_t segments;
};

int
ava_journal_reader_info(struct ava_journal_reader *r,
			struct ava_journal_info *out);

/* Session metadata. Strings are NUL-terminated and owned by the struct. */
struct ava_journal_session {
	uint64_t id;
	char *guest, *api, *host, *ava_version, *devices;
	uint64_t start_ns;
	uint64_t end_ns;            /* 0 while END_NONE */
	enum ava_journal_end end;
	uint64_t fault_seq;         /* END_FAULT */
	uint64_t ncalls;            /* calls appended (before compaction) */
	uint64_t first_seq, last_seq; /* of those calls; 0 if none */
};

/*
 * Call fn(s, data) for every session in id order. `s` is valid only during
 * the callback. A nonzero return from fn stops the walk and is returned.
 */
int
ava_journal_session_foreach(struct ava_journal_reader *r,
			    int (*fn)(const struct ava_journal_session *s,
				      void *data),
			    void *data);

/* Fetch one session; -ENOENT if absent. Free with
 * ava_journal_session_free(). */
int
ava_journal_session_get(struct ava_journal_reader *r, uint64_t id,
			struct ava_journal_session **out);

void
ava_journal_session_free(struct ava_journal_session *s);

/* An input payload as recorded: inline bytes, or a blob reference. */
struct ava_journal_payload {
	bool is_blob;
	uint64_t len;              /* uncompressed length */
	uint8_t hash[16];          /* is_blob: XXH3-128, canonical bytes */
	const uint8_t *data;       /* !is_blob: the bytes */
};

/* One decoded call. Pointers are owned by the cursor (or the decoder's
 * caller) and valid until the next cursor step or its destruction. */
struct ava_journal_call {
	uint64_t session, seq;
	uint32_t thread, fn;
	int64_t ret;
	int64_t deferred_error;
	uint64_t start_ns, duration_ns;
	bool async;
	const uint8_t *args;
	uint32_t args_len;
	const uint8_t *outs;
	uint32_t outs_len;
	uint32_t ndigests;
	const uint8_t *digests;    /* ndigests x u64 little-endian */
	uint32_t npayloads;
	const struct ava_journal_payload *payloads;
	uint32_t ntags;
	const struct ava_journal_tag *tags;
};

/* Digest i of a decoded call (i < ndigests). */
uint64_t
ava_journal_call_digest(const struct ava_journal_call *c, uint32_t i);

struct ava_journal_cursor;

/*
 * Iterate the calls of `session` in sequence order from `from_seq` on
 * (0 or 1: from the start). Free with ava_journal_cursor_destroy().
 */
int
ava_journal_cursor_create(struct ava_journal_reader *r, uint64_t session,
			  uint64_t from_seq, struct ava_journal_cursor **out);

/*
 * Step. Returns 1 and sets *call, 0 at the end, or a negative error
 * (AVA_ECORRUPT for a record that fails its checksum or decoding; the
 * cursor then stays on it). *call lives until the next step.
 */
int
ava_journal_cursor_next(struct ava_journal_cursor *c,
			const struct ava_journal_call **call);

/* Accepts NULL. */
void
ava_journal_cursor_destroy(struct ava_journal_cursor *c);

/* Callback form of the cursor: fn's nonzero return stops and is
 * returned. */
int
ava_journal_call_foreach(struct ava_journal_reader *r, uint64_t session,
			 uint64_t from_seq,
			 int (*fn)(const struct ava_journal_call *c, void *data),
			 void *data);

/* Fetch call (session, seq) into a heap copy; -ENOENT if absent. Free
 * with ava_journal_call_free(). */
int
ava_journal_call_get(struct ava_journal_reader *r, uint64_t session,
		     uint64_t seq, struct ava_journal_call **out);

void
ava_journal_call_free(struct ava_journal_call *c);

/*
 * Read a payload's bytes (inline or blob) into a new heap buffer the
 * caller frees with free(). A blob is checked (checksum, length, content
 * hash) on the way: AVA_ECORRUPT if it fails, -ENOENT if missing.
 */
int
ava_journal_payload_read(struct ava_journal_reader *r,
			 const struct ava_journal_payload *p,
			 void **data, size_t *len);

/* Same, by blob hash. */
int
ava_journal_blob_read(struct ava_journal_reader *r, const uint8_t hash[16],
		      void **data, size_t *len);

/* ---- verification ---------------------------------------------------- */

struct ava_journal_verify_report {
	uint64_t sessions, calls, blobs, blob_refs;
	uint64_t problems;
	uint64_t warnings;       /* harmless, e.g. an orphan segment file */
	char first[256];         /* the first problem, or "" */
};

/*
 * Check every record (checksum, decoding, key agreement), every blob
 * reference (present, length, checksum, content hash), blob refcounts and
 * session consistency. Returns 0 if sound, AVA_ECORRUPT if a problem was
 * found (rep->first names the first one, e.g. "session 2 call #1234:
 * blob 9f3e...: checksum mismatch"), or the error that prevented the walk
 * (rep->first says why).
 */
int
ava_journal_verify(const char *dir, struct ava_journal_verify_report *rep);

#endif
