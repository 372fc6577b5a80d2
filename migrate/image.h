/*
 * image.h - the checkpoint image: a stream of checksummed records that
 * holds everything needed to rebuild one guest session's API state on
 * any server (doc/checkpoint-format.md).
 *
 * The same stream serves three purposes: a file written by `ava
 * checkpoint`, the bytes `ava restore` sends to a server, and what one
 * server pushes to another during `ava migrate` (where STATE records of
 * a buffer may repeat: the later one wins). Nothing in it is trusted by
 * the reader: every length is checked against its record and against the
 * bounds below before anything is allocated, and every record carries an
 * XXH3-64 of its body, so a damaged image is refused at the first bad
 * record, with the record's number and offset.
 *
 * Layout (little-endian throughout):
 *   preamble   8 bytes "AVAIMG\r\n", u32 version (AVA_IMG_VERSION),
 *              u32 flags (0)
 *   record*    u32 type, u32 reserved (0), u64 len, u64 xxh3_64(body),
 *              body (len bytes)
 * The first record is HEADER, the last END; END's body holds the record
 * count and a running XXH3-64 over every earlier record's 24-byte header
 * (type, length and checksum alike), so a truncated or reordered stream,
 * or a record whose type was flipped, is caught as well as a flipped bit
 * in a body.
 *
 * Thread safety: a reader or a writer belongs to one thread at a time.
 */
#ifndef AVA_IMAGE_H
#define AVA_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AVA_IMG_VERSION 1
#define AVA_IMG_PREAMBLE_SIZE 16
#define AVA_IMG_RECORD_HEADER_SIZE 24
#define AVA_IMG_RECORD_MAX (64u << 20)   /* a record body's bound */
#define AVA_IMG_CHUNK (4u << 20)         /* STATE data per record, writers */
#define AVA_IMG_MAX_THREADS 4096         /* HEADER's thread table bound */
#define AVA_IMG_TEXT_MAX 256             /* HEADER's strings */

enum ava_img_type {
	AVA_IMG_HEADER = 1,
	AVA_IMG_CALL = 2,      /* a call that creates or configures objects */
	AVA_IMG_OBJECT = 3,    /* one object to exist after the calls */
	AVA_IMG_STATE = 4,     /* a chunk of one object's contents */
	AVA_IMG_DROP = 5,      /* migration: an object the guest released */
	AVA_IMG_END = 6,
	AVA_IMG_TYPE_COUNT
};

/* Per guest thread: the last call the session executed for it. */
struct ava_img_thread {
	uint32_t thread;
	uint64_t last_seq;
};

/*
 * HEADER body: u8 api_id, u8 pad[3], u32 spec_hash, u64 session,
 * u64 token, u16 owner, u16 pad, u32 nthreads, u64 async_done,
 * u64 created_ns (CLOCK_REALTIME), u64 live_bytes (sum of STATE sizes),
 * u32 len + source text (server address, pid), u32 len + device text,
 * then nthreads x (u32 thread, u32 pad, u64 last_seq).
 */
struct ava_img_header {
	uint8_t api_id;
	uint32_t spec_hash;
	uint64_t session;      /* the session's id on the server it came from */
	uint64_t token;        /* its join token: the guest resumes with it */
	uint16_t owner;        /* owner tag inside every handle id */
	uint64_t async_done;   /* ASYNC calls the session had run */
	uint64_t created_ns;
	uint64_t live_bytes;   /* bytes of object contents that follow */
	const char *source;    /* NUL-terminated, <= AVA_IMG_TEXT_MAX */
	const char *device;    /* likewise */
	uint32_t nthreads;
	const struct ava_img_thread *threads;
};

/*
 * CALL body: u64 seq, u32 thread, u32 fn, u64 call_len, call bytes
 * (padded to 8), u64 reply_len, reply bytes (padded to 8). `call` is the
 * CALL payload exactly as on the wire (protocol.h), with virtual ids;
 * `reply` holds the ids the call handed out, u64 each, in the order its
 * REPLY names them: restore runs the call again and binds the k-th
 * object it hands out to the k-th id.
 */
struct ava_img_call {
	uint64_t seq;
	uint32_t thread;
	uint32_t fn;
	const uint8_t *call;
	uint64_t call_len;
	const uint8_t *reply;
	uint64_t reply_len;
};

/* OBJECT flags. */
enum {
	AVA_IMG_OBJ_LIVE = 1u << 0,   /* the guest holds it; else it exists
				       * only because a live one was built
				       * from it, and restore drops it */
	AVA_IMG_OBJ_STATE = 1u << 1,  /* STATE records carry its contents */
	AVA_IMG_OBJ_SUBSTITUTE = 1u << 2, /* rebuilt without its creating
					   * call (a command's event: made
					   * as a completed user event) */
};

/* OBJECT body: u64 id, u16 type, u16 pad, u32 refs, u32 flags, u32 pad,
 * u64 size (STATE bytes, 0 if none), u64 parent (the id it was built
 * from for a SUBSTITUTE: the event's context; else 0). */
struct ava_img_object {
	uint64_t id;
	uint16_t type;         /* index into ava_api_desc.handles */
	uint32_t refs;         /* the guest's references (0 if not LIVE) */
	uint32_t flags;        /* AVA_IMG_OBJ_* */
	uint64_t size;
	uint64_t parent;
};

/* STATE body: u64 id, u64 offset, u64 total, then the bytes (the rest
 * of the body). offset + bytes <= total. */
struct ava_img_state {
	uint64_t id;
	uint64_t offset;
	uint64_t total;
	const uint8_t *data;
	uint64_t len;
};

/* DROP body: u64 id. END body: u64 records (before END), u64 chain. */
struct ava_img_rec {
	enum ava_img_type type;
	uint64_t index;        /* 0-based record number, for messages */
	uint64_t offset;       /* of the record header in the stream */
	union {
		struct ava_img_header header;
		struct ava_img_call call;
		struct ava_img_object object;
		struct ava_img_state state;
		uint64_t drop;
	} u;
};

/* Where bytes go and come from: a file, a socket, a frame stream. Return
 * 0 or a negative error; read must fill all n bytes or fail (AVA_ECLOSED
 * at a clean end of input before any byte of n). */
typedef int (*ava_img_write_fn)(void *ctx, const void *p, size_t n);
typedef int (*ava_img_read_fn)(void *ctx, void *p, size_t n);

struct ava_img_writer;
struct ava_img_reader;

/*
 * Writer: ava_img_writer_create() writes the preamble through write;
 * each put appends one record (buffered: writes of at least 1 MiB go
 * through, smaller records are gathered); ava_img_writer_finish() writes
 * END and flushes. Every function returns 0 or the first error, which
 * sticks. live_bytes and counts are the caller's.
 */
int
ava_img_writer_create(ava_img_write_fn write, void *ctx,
		      struct ava_img_writer **out);

int
ava_img_put_header(struct ava_img_writer *w, const struct ava_img_header *h);

int
ava_img_put_call(struct ava_img_writer *w, const struct ava_img_call *c);

int
ava_img_put_object(struct ava_img_writer *w, const struct ava_img_object *o);

/* One STATE record per call; the caller chunks at AVA_IMG_CHUNK. */
int
ava_img_put_state(struct ava_img_writer *w, const struct ava_img_state *s);

int
ava_img_put_drop(struct ava_img_writer *w, uint64_t id);

int
ava_img_writer_finish(struct ava_img_writer *w);

/* Write out the records gathered so far (a stream's reader is waiting
 * for them). Returns 0 or the sticky error. */
int
ava_img_writer_flush(struct ava_img_writer *w);

/* Bytes written so far (preamble included), for progress. */
uint64_t
ava_img_writer_bytes(const struct ava_img_writer *w);

void
ava_img_writer_destroy(struct ava_img_writer *w);

/*
 * Reader: ava_img_reader_create() reads and checks the preamble
 * (AVA_EVERSION for another version, AVA_ECORRUPT for anything that is
 * not an image). ava_img_read() decodes the next record into *rec, whose
 * pointers stay valid until the next read; it returns 1 for a record, 0
 * after END was read and checked, or a negative error: AVA_ECORRUPT
 * (checksum, structure, a record out of order: HEADER not first,
 * anything after END), AVA_ETOOBIG (a length over its bound), AVA_EPROTO
 * (a field out of range: unknown type, a STATE beyond its total), or the
 * read function's error (AVA_ECLOSED: the stream ended before END, i.e.
 * truncated). After an error, ava_img_reader_why() gives one line that
 * names the record number and offset.
 */
int
ava_img_reader_create(ava_img_read_fn read, void *ctx,
		      struct ava_img_reader **out);

int
ava_img_read(struct ava_img_reader *r, struct ava_img_rec *rec);

const char *
ava_img_reader_why(const struct ava_img_reader *r);

uint64_t
ava_img_reader_bytes(const struct ava_img_reader *r);

void
ava_img_reader_destroy(struct ava_img_reader *r);

/* The fd adapters: ctx points to an int fd. Short reads, EINTR handled. */
int
ava_img_fd_write(void *ctx, const void *p, size_t n);

int
ava_img_fd_read(void *ctx, void *p, size_t n);

/*
 * Read a whole image file and check it, without a device: the summary
 * `ava restore --check` prints. Returns 0 or the error ava_img_read()
 * gave, with why (may be NULL) filled.
 */
struct ava_img_summary {
	struct ava_img_header header;  /* strings and threads not kept */
	uint64_t calls, objects, live_objects, states, drops;
	uint64_t state_bytes, file_bytes;
};

int
ava_img_check_file(const char *path, struct ava_img_summary *sum,
		   char *why, size_t nwhy);

#endif
