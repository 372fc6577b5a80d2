/*
 * protocol.h - the ava wire protocol, version 1.
 *
 * Every message is one frame: a fixed 40-byte little-endian header followed
 * by `len` payload bytes. Receivers check every length against the frame
 * before use; nothing here is trusted.
 *
 * Message flow on one connection:
 *   guest -> server  HELLO     payload: struct ava_hello
 *   server -> guest  WELCOME   payload: struct ava_welcome
 *   guest -> server  CALL      fn = function id, payload: encoded arguments
 *   server -> guest  REPLY     fn, seq echo the CALL; payload: encoded results
 *   server -> guest  ERROR     payload: int32 code + UTF-8 text (no NUL);
 *                              the server closes the connection after it.
 *   guest -> server  BYE       empty; the guest is leaving cleanly.
 *   guest -> server  BATCH     payload: u64 base, then whole CALL frames
 *                              (header and payload each), back to back:
 *                              every one but the last ASYNC. See below.
 *   server -> guest  DEFERRED  fn, thread, seq of an ASYNC call that
 *                              failed; payload: u64 its return value. Sent
 *                              only right before a REPLY to that thread.
 *   guest -> server  CALLBACK  empty: this connection is the guest's
 *                              callback channel; it sends nothing more.
 *   server -> guest  CALLBACK  on the callback channel: the driver called
 *                              a `remote` callback; payload: u64 the
 *                              guest's cookie, then the callback's
 *                              arguments as the API's glue encodes them.
 *
 * CALL payload: for each argument of the function's descriptor, in order:
 *   SCALAR            u64 value
 *   HANDLE            u64 virtual id (0 = NULL)
 *   IN_BUF, INOUT_BUF u64 nbytes, or AVA_WIRE_NULL; then nbytes bytes,
 *                     padded with zeros to a multiple of 8. nbytes must
 *                     equal count() * elem_size on the receiving side.
 *   IN_STRING         u64 nbytes (including the NUL) or AVA_WIRE_NULL; bytes
 *                     padded to 8. The last byte must be NUL.
 *   IN_HANDLES        u64 count or AVA_WIRE_NULL; then count u64 ids
 *   IN_BUFS           u64 count or AVA_WIRE_NULL; then per buffer: u64
 *                     nbytes or AVA_WIRE_NULL, then bytes padded to 8
 *   IN_PROPS          u64 nwords (including the terminating 0) or
 *                     AVA_WIRE_NULL; then nwords u64 words, handle values
 *                     as ids
 *   IN_KARG           u64 nbytes or AVA_WIRE_NULL; u64 is_handle; then
 *                     either one u64 id (is_handle = 1) or bytes padded to 8
 *   OUT_BUF, OUT_HANDLES, OUT_SCALAR, OUT_HANDLE, CALLBACK
 *                     u64 present (0 or 1); the server sizes outputs from
 *                     the descriptor's expressions, never from the guest
 *   USERDATA          u64 0 (user data never leaves the guest)
 *
 * REPLY payload: u64 return value (status, scalar or id), then for each
 * out-direction argument, in order:
 *   OUT_SCALAR        u64 value (0 when absent)
 *   OUT_HANDLE        u64 id (0 when absent)
 *   OUT_BUF, INOUT    u64 nbytes (<= the guest's capacity), bytes padded to 8
 *   OUT_HANDLES       u64 count (<= capacity), then count u64 ids
 *
 * Bounds: a frame payload is at most AVA_FRAME_MAX bytes; every count is
 * checked against the bytes remaining in the frame before anything is
 * allocated.
 *
 * Async calls and batches (doc/protocol.md, "Batches"). The ASYNC calls of
 * a session are numbered 0, 1, 2, ... in the order the guest queued them,
 * across all its threads and connections; a BATCH's `base` is the number
 * of its first ASYNC call. The server runs a BATCH only once exactly
 * `base` ASYNC calls of the session have run (at least `base` if the
 * BATCH holds no ASYNC call: then it is a fence for its last, synchronous
 * call), so async calls run in queue order whichever connection carried
 * them. A failed ASYNC call is reported by DEFERRED before the next REPLY
 * to its thread. ASYNC is only allowed for functions marked AVA_FN_ASYNC.
 *
 * The USERDATA of a callback the spec marks `remote` (AVA_CB_REMOTE)
 * carries the guest's cookie for it, not 0; see doc/protocol.md,
 * "Callbacks".
 */
#ifndef AVA_PROTOCOL_H
#define AVA_PROTOCOL_H

#include <stdint.h>

#define AVA_PROTOCOL_MAGIC 0x31415641u /* "AVA1" little-endian */
#define AVA_PROTOCOL_VERSION 1
#define AVA_FRAME_HEADER_SIZE 40
#define AVA_FRAME_MAX (1ull << 30)        /* 1 GiB payload */
#define AVA_WIRE_NULL UINT64_MAX          /* a NULL pointer argument */

enum ava_msg_type {
	AVA_MSG_HELLO = 1,
	AVA_MSG_WELCOME = 2,
	AVA_MSG_CALL = 3,
	AVA_MSG_REPLY = 4,
	AVA_MSG_ERROR = 5,
	AVA_MSG_BYE = 6,
	AVA_MSG_BATCH = 7,
	AVA_MSG_DEFERRED = 8,
	AVA_MSG_CALLBACK = 9,
	AVA_MSG_CONTROL = 10,  /* operator or peer server: fn = ava_ctl_op */
	AVA_MSG_IMAGE = 11,    /* a piece of a checkpoint image stream */
	AVA_MSG_MOVED = 12,    /* server -> guest: the session moved */
	AVA_MSG_TYPE_COUNT
};

/* Frame flags. */
enum {
	AVA_FRAME_ASYNC = 1u << 0, /* CALL: no REPLY is sent (batched) */
	AVA_FRAME_THREAD = 1u << 1, /* BYE: one thread ended, not the guest */
	AVA_FRAME_NAMED = 1u << 2,  /* CALL, with ASYNC: the payload ends with
				     * the u64 id the object it creates takes
				     * (doc/protocol.md, "Named creations") */
};

/*
 * The header as it is on the wire (little-endian, no padding). Use
 * ava_frame_header_encode/decode (runtime/wire.h) rather than casting.
 */
struct ava_frame_header {
	uint32_t magic;     /* AVA_PROTOCOL_MAGIC */
	uint16_t version;   /* AVA_PROTOCOL_VERSION */
	uint8_t type;       /* enum ava_msg_type */
	uint8_t api;        /* ava_api_desc.api_id */
	uint32_t fn;        /* function id (CALL, REPLY) */
	uint32_t thread;    /* guest thread number */
	uint32_t flags;     /* AVA_FRAME_* */
	uint32_t reserved;  /* 0 */
	uint64_t seq;       /* per-session sequence number */
	uint64_t len;       /* payload bytes that follow */
};

/* HELLO payload (little-endian, 32 bytes). */
struct ava_hello {
	uint32_t spec_hash;   /* must equal the server's ava_api_desc.spec_hash */
	uint32_t pid;         /* guest process id, for logs */
	uint64_t session;     /* 0: new session; else the session to join */
	uint64_t token;       /* secret returned in WELCOME, to join a session */
	uint32_t kind;        /* enum ava_hello_kind */
	uint32_t thread;      /* AVA_HELLO_RESUME: the guest thread number */
};

/*
 * What a connection is for. A GUEST connection creates or joins a
 * session. A CONTROL connection is the operator's (`ava checkpoint`,
 * `ava restore`, `ava migrate`) or a peer server's: session names the
 * session it acts on (0: a new one, for a restore or an incoming
 * migration); see doc/migration.md. A RESUME connection is a guest
 * thread coming back after its session moved (MOVED) or its server was
 * restored: session and token are those the session had, thread the
 * guest thread it carries on for.
 */
enum ava_hello_kind {
	AVA_HELLO_GUEST = 0,
	AVA_HELLO_CONTROL = 1,
	AVA_HELLO_RESUME = 2,
};

/*
 * CONTROL frames: fn is the operation; payloads are little-endian.
 *   AUTH_CHALLENGE  server -> client: 32-byte nonce (the server holds a
 *                   shared secret; without one, READY comes instead)
 *   AUTH_PROOF      client -> server: 32-byte nonce, 32-byte
 *                   HMAC-SHA256(secret, "ava-auth-client" | both nonces)
 *   AUTH_OK         server -> client: 32-byte HMAC-SHA256(secret,
 *                   "ava-auth-server" | both nonces): the server proves
 *                   it holds the secret too
 *   READY           server -> client: empty; requests may follow
 *   CHECKPOINT      client -> server: empty; IMAGE frames follow, then
 *                   DONE
 *   RESTORE         client -> server: empty, or u32 flags (1: an
 *                   incoming migration); the client sends IMAGE frames,
 *                   the last one empty; a migration then sends SWITCH;
 *                   then DONE, whose text is "SESSION TOKEN" in decimal.
 *                   A migration's connection then stays open: the source
 *                   passes late BATCH frames of the guest on it
 *   SYNC            source -> destination, between IMAGE frames: empty;
 *                   the destination answers SYNC once it has applied
 *                   every record before it (the source pauses the guest
 *                   only then, so the pause does not wait for that)
 *   SWITCH          source -> destination: u64 ASYNC calls run, u32 n,
 *                   u32 0, then n x (u32 thread, u32 0, u64 last seq)
 *   MIGRATE         client -> server: u32 flags, then the destination
 *                   address, a newline, and the address the guest is to
 *                   use there; PROGRESS frames follow, then DONE
 *   PROGRESS        server -> client: u64 round, bytes moved, dirty
 *                   bytes, live bytes, elapsed ns
 *   DONE            server -> client: i32 status (0, an AVA_E code or -errno),
 *                   then UTF-8 text (no NUL)
 */
enum ava_ctl_op {
	AVA_CTL_AUTH_CHALLENGE = 1,
	AVA_CTL_AUTH_PROOF = 2,
	AVA_CTL_AUTH_OK = 3,
	AVA_CTL_READY = 4,
	AVA_CTL_CHECKPOINT = 5,
	AVA_CTL_RESTORE = 6,
	AVA_CTL_MIGRATE = 7,
	AVA_CTL_PROGRESS = 8,
	AVA_CTL_DONE = 9,
	AVA_CTL_SWITCH = 10,
	AVA_CTL_SYNC = 11,
};

/* MOVED payload: u64 session, u64 token, then the address (no NUL) the
 * guest resumes at. fn, thread and seq echo the call it answers (0 when
 * sent unasked, at the switch-over). */

/* WELCOME payload (little-endian, 24 bytes). */
struct ava_welcome {
	uint64_t session;     /* the session id */
	uint64_t token;       /* needed to join it from another connection */
	uint32_t owner;       /* the session's owner tag inside handle ids */
	uint32_t reserved;
};

#endif
