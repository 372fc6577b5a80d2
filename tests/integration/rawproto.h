/*
 * rawproto.h - a hand-made guest for the wire protocol (runtime/protocol.h),
 * for tests that must send what no real guest sends.
 *
 * Frames are encoded here byte by byte from protocol.h and the generated
 * descriptor tables, independently of runtime/'s marshaller. Every read
 * has a timeout: a server that does not answer is a failure, never a hang.
 * Not thread-safe; one test process, one thread.
 */
#ifndef RAWPROTO_H
#define RAWPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>

#include "ava-desc.h"
#include "opencl-desc.h"
#include "protocol.h"

/* How long any read waits for the server. */
#define READ_TIMEOUT_MS 10000

struct raw_conn {
	int fd;
	uint64_t seq;
};

/* What came back for one call. */
struct raw_reply {
	int kind;                        /* AVA_MSG_REPLY, _ERROR, 0: EOF */
	uint64_t ret;
	uint64_t out[AVA_MAX_ARGS];      /* OUT_SCALAR, OUT_HANDLE, counts */
	uint64_t ids[AVA_MAX_ARGS][8];   /* OUT_HANDLES: the first ids */
	uint8_t buf[AVA_MAX_ARGS][64];   /* OUT_BUF: the first bytes */
};

/* One argument as the caller gives it; see encode_arg() per kind. */
struct raw_arg {
	uint64_t v;        /* scalar, id, or out-argument presence */
	const void *p;     /* in-buffers: the bytes; NULL sends AVA_WIRE_NULL */
	uint64_t n;        /* in-buffers: bytes; IN_HANDLES, IN_PROPS: words */
};

struct raw_out {
	uint8_t *p;
	size_t len, cap;
};

/* printf to stdout, with a newline, flushed at once. */
void
raw_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Append bytes, n <= 8 little-endian bytes of v, or a frame header. The
 * buffer grows as needed; the process exits 99 when memory runs out. */
void
raw_put(struct raw_out *o, const void *p, size_t n);

void
raw_put_le(struct raw_out *o, uint64_t v, unsigned n);

void
raw_header(struct raw_out *o, uint8_t type, uint32_t fn, uint64_t seq,
	   uint64_t len);

uint64_t
raw_get_le(const uint8_t *p, unsigned n);

/* Connect to "unix:PATH"; false (said why) on failure. */
bool
raw_conn_open(const char *addr, struct raw_conn *c);

/* Send all n bytes; false if the connection is gone. */
bool
raw_send_all(struct raw_conn *c, const void *p, size_t n);

/*
 * Receive one frame: returns its type, 0 at end of file, -1 on a timeout or
 * a malformed answer. *payload (malloc'd, the caller frees) holds *len
 * bytes. An ERROR frame's text is printed.
 */
int
raw_recv_frame(struct raw_conn *c, uint8_t **payload, uint64_t *len);

/* HELLO with spec_hash; true if WELCOMEd (*session, if not NULL, set;
 * raw_token() then gives the session's token). */
bool
raw_hello(struct raw_conn *c, uint32_t spec_hash, uint64_t *session);

uint64_t
raw_token(void);

/* The descriptor of function id; exits 99 if the table lacks it. */
const struct ava_fn_desc *
raw_fn_desc(uint32_t id);

/*
 * Call function id with one struct raw_arg per argument, encoded per the
 * argument kinds of its descriptor. r->kind tells what came back:
 * AVA_MSG_REPLY (decoded into r), AVA_MSG_ERROR or 0 (closed). Exits 1 on
 * a timeout or a malformed REPLY: the server misbehaved.
 */
void
raw_call(struct raw_conn *c, uint32_t id, const struct raw_arg *args,
	 struct raw_reply *r);

/*
 * Send a CALL of function id without waiting: flags (AVA_FRAME_*) in its
 * header, and the ntail bytes at tail after its arguments (a named
 * creation's id). Returns false if the connection is gone.
 */
bool
raw_send_call(struct raw_conn *c, uint32_t id, const struct raw_arg *args,
	      uint32_t flags, const void *tail, size_t ntail);

/*
 * A BATCH of base `base` on c: one ASYNC call of function id when async,
 * else only the synchronous call, whose answer comes back in r as from
 * raw_call() (a fence: it runs once `base` queued calls have run).
 */
void
raw_batch(struct raw_conn *c, uint64_t base, bool async, uint32_t id,
	  const struct raw_arg *args, struct raw_reply *r);

/* HELLO to join (kind AVA_HELLO_GUEST) or resume (AVA_HELLO_RESUME, for
 * guest thread `thread`, which saw call `answered` answered) a session;
 * true if WELCOMEd. */
bool
raw_hello_again(struct raw_conn *c, uint32_t spec_hash, uint64_t session,
		uint64_t token, uint32_t kind, uint32_t thread,
		uint64_t answered);

/* The returned status, and the error out-argument of a creating call. */
cl_int
raw_status(const struct raw_reply *r);

cl_int
raw_errcode(const struct raw_reply *r, uint32_t id);

/* Exit 1 unless r is a REPLY: the session was closed under the test. */
void
raw_must_reply(const struct raw_reply *r, const char *what);

#endif
