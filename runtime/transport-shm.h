/*
 * transport-shm.h - the layout of the `shm:` transport's shared region,
 * and hooks for tests. Not for callers: they use transport.h.
 *
 * One region per connection (that is, per guest thread), created by the
 * server with memfd_create(), sealed against shrinking and growing, and
 * passed to the guest over the connection's unix socket (SCM_RIGHTS):
 *
 *   0                      struct ava_shm_ring_ctl ctl[2]: [0] the command
 *                          ring (guest -> server), [1] the reply ring
 *   AVA_SHM_CTL_SIZE       the command ring's bytes (cmd_size)
 *   + cmd_size             the reply ring's bytes (reply_size)
 *   + reply_size           the bulk area (bulk_size, maybe 0): large
 *                          buffers of CALLs and REPLYs, in place
 *
 * Each ring is a single-producer single-consumer byte ring that carries
 * frames exactly as a unix socket does (40-byte header, then the
 * payload), wrapping at its end. Positions count bytes ever written or
 * read (mod 2^64); a byte at position p lives at p & (size - 1).
 *
 * Everything here is written by an untrusted peer at any time. Each side
 * keeps its own positions privately and only reads the peer's: a consumer
 * accepts head if 0 <= head - consumed <= size, a producer accepts tail if
 * tail <= published and written - tail <= size; anything else is
 * AVA_ESHM. Frame headers are copied out of the ring before they are
 * decoded. See doc/protocol.md, "The shm: transport".
 *
 * A frame whose header has AVA_SHM_FRAME_BULK set in the ring (a CALL or
 * a REPLY) is followed there by a ref table, `u64 n` then n times `u64
 * off, u64 len, u64 area_off`, and then by the payload without the bytes
 * of those n holes, which lie in the bulk area (transport.h, "In-place
 * bulk data"). The receiver copies the table out, checks it whole, and
 * clears the flag before anyone else sees the header.
 */
#ifndef AVA_TRANSPORT_SHM_H
#define AVA_TRANSPORT_SHM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport-private.h"

#define AVA_SHM_MAGIC 0x53415641u        /* "AVAS" little-endian */
#define AVA_SHM_VERSION 3              /* 3: streams and their window */
#define AVA_SHM_CTL_SIZE 4096u
#define AVA_SHM_RING_MIN 4096u
#define AVA_SHM_RING_MAX (64u << 20)
#define AVA_SHM_HANDSHAKE_SIZE 40        /* server -> guest, with the memfd */
#define AVA_SHM_BULK_DEFAULT (1ull << 30) /* AVA_FRAME_MAX: every call fits */
#define AVA_SHM_BULK_MAX (4ull << 30)
#define AVA_SHM_BULK_ALIGN 4096u         /* where refs' bytes start */
#define AVA_SHM_FRAME_BULK 0x80000000u   /* header flag, in the ring only */
#define AVA_SHM_FRAME_SINK 0x40000000u   /* CALL: takes an out-stream */
#define AVA_SHM_REF_STREAM UINT64_MAX    /* a ref's area_off: streamed */
#define AVA_SHM_WINDOW (4ull << 20)      /* the streams' window, a power of 2 */
#define AVA_SHM_PIECE (AVA_SHM_WINDOW / 4) /* what a producer publishes at once */
#define AVA_SHM_STREAM_MIN (4ull << 20)  /* smaller buffers are never streamed */
#define AVA_SHM_STREAM_CTL 256u          /* offset of the streams' control */

/* Values of a wait word: how a sleeping side wants to be woken. */
enum {
	AVA_SHM_AWAKE = 0,
	AVA_SHM_WAIT_FUTEX = 1,   /* FUTEX_WAKE the bell */
	AVA_SHM_WAIT_SOCKET = 2,  /* write one doorbell byte to the socket */
};

/* The byte a producer writes to the socket to wake a consumer that sleeps
 * in poll(); any other byte on the socket is a protocol violation. */
#define AVA_SHM_DOORBELL 0xDB
/* The byte a server's descriptor for the guest rides on (SCM_RIGHTS):
 * the session's shared heap (shared-heap.h), sent before WELCOME. */
#define AVA_SHM_FD_BYTE 0xFD

/*
 * One direction's control block: two cache lines, each written by one
 * side only (an honest one). Bells are 32-bit futex words.
 */
struct ava_shm_ring_ctl {
	/* written by the producer */
	uint64_t head;         /* bytes published */
	uint32_t data_bell;    /* bumped to wake the consumer */
	uint32_t space_wait;   /* AVA_SHM_WAIT_FUTEX while waiting for space */
	uint64_t rung_ns;      /* CLOCK_MONOTONIC when it last woke the
				* consumer: when that data came */
	uint8_t pad0[40];
	/* written by the consumer */
	uint64_t tail;         /* bytes consumed */
	uint32_t space_bell;   /* bumped to wake the producer */
	uint32_t data_wait;    /* AVA_SHM_WAIT_* while waiting for data */
	uint32_t tail_cpu;     /* a hint: the CPU it last consumed on */
	uint8_t pad1[44];
};

_Static_assert(sizeof(struct ava_shm_ring_ctl) == 128, "two cache lines");

/* One stream's control block: [0] guest -> server (a write's bytes), [1]
 * server -> guest (a read's), at AVA_SHM_STREAM_CTL. Positions count bytes
 * ever published and released; a byte at position p is at window offset
 * p & (AVA_SHM_WINDOW - 1). */
struct ava_shm_stream_ctl {
	uint64_t head;         /* producer: bytes published */
	uint8_t pad0[56];
	uint64_t tail;         /* consumer: bytes released */
	uint8_t pad1[56];
};

_Static_assert(AVA_SHM_STREAM_CTL + 2 * sizeof(struct ava_shm_stream_ctl) <=
	       AVA_SHM_CTL_SIZE, "in the control page");

/* ---- internals of the transport-shm*.c files ------------------------ */

/* One direction as this side sees it. */
struct ava_shm_ring {
	struct ava_shm_ring_ctl *ctl;
	uint8_t *data;
	uint64_t size;     /* a power of two */
	uint64_t pos;      /* ours: bytes written (tx) or read (rx) */
	uint64_t shared;   /* the last pos stored in ctl (head or tail) */
	uint64_t known;    /* tx: free bytes seen; rx: bytes available seen */
	uint64_t spin_ns;  /* the next spin's budget */
};

/*
 * One stream as this side sees it, all private but the two words. A
 * transfer runs from `base` to `end`; `pos` and `next` never leave it.
 */
struct ava_shm_stream {
	uint64_t *head, *tail;   /* in the region */
	uint64_t pos;      /* producer: published; consumer: released */
	uint64_t next;     /* producer: reserved; consumer: taken */
	uint64_t seen;     /* producer: the tail, consumer: the head, last
			    * accepted */
	uint64_t base, end;
	uint8_t *dst;      /* a guest's sink: the application's memory */
	bool active;       /* a transfer is on */
};

struct ava_shm_conn {
	struct ava_conn base;    /* base.fd: the unix socket */
	int memfd;               /* -1 until the region is there */
	uint8_t *map;
	size_t map_len;
	uint8_t *area;           /* the bulk area, inside map; NULL if none */
	uint64_t area_size;      /* its bytes for refs: without the window */
	uint8_t *win;            /* the window, the area's last
				  * AVA_SHM_WINDOW bytes; NULL if none */
	bool win_warm;           /* the window is mapped in this process */
	struct ava_shm_stream in, out;  /* the streams we consume, produce */
	pthread_t in_owner;      /* server: the thread that took the CALL */
	bool stream_off;         /* a guest that never streams (AVA_SHM_STREAM) */
	bool sink_offered;       /* server: the last CALL takes an out-stream */
	bool sink_done;          /* guest: this REPLY's sink took sink_got */
	uint64_t sink_got;
	bool server;             /* rx is the command ring */
	struct ava_shm_ring tx, rx;
	unsigned spin_us;
	bool yield;              /* one usable CPU: spin by sched_yield() */
	int ready;               /* atomic: the region is mapped */
	int shut;                /* atomic: ava_transport_conn_shutdown() */
	int eof;                 /* atomic: the socket hung up */
	int err;                 /* atomic, sticky: AVA_ESHM, or why the
				  * region never came */
	pthread_mutex_t setup;   /* a guest's first send and recv race */
	int passed_fd;           /* guest: a descriptor the server sent and
				  * a drain took, until recv_fd; -1: none */
	uint64_t soon_ns;        /* the next wait for data may spin this
				  * long (ava_transport_conn_expect) */
};

extern const struct ava_conn_ops ava_shm_conn_ops;

/* A connection on socket fd (owned from now on) without its region;
 * ava_shm_conn_free() is its destroy. */
int
ava_shm_conn_alloc(int fd, const char *addr, struct ava_shm_conn **out);

void
ava_shm_conn_free(struct ava_conn *c);

/* Take what the socket holds, without waiting: doorbells, a guest's
 * passed descriptor (kept in passed_fd), or the end of the connection
 * (eof). 0, or AVA_ESHM for any other byte. */
int
ava_shm_sock_drain(struct ava_shm_conn *c);

/* The transport's send_fd and recv_fd (transport.h). */
int
ava_shm_send_fd(struct ava_conn *c, int fd);

int
ava_shm_recv_fd(struct ava_conn *c, int *fd);

/* Check memfd (owned from now on) against the geometry and map it. */
int
ava_shm_conn_map(struct ava_shm_conn *c, int memfd, bool server,
		 uint64_t cmd, uint64_t reply, uint64_t bulk);

/* A guest's region arrives with the server's handshake, which a connect
 * does not wait for (as a unix connect does not wait for accept): the
 * first operation that needs it takes it. 0 or why it cannot. */
int
ava_shm_conn_attach_slow(struct ava_shm_conn *c);

static inline int
ava_shm_conn_attach(struct ava_shm_conn *c)
{
	if (__atomic_load_n(&c->ready, __ATOMIC_ACQUIRE))
		return 0;
	return ava_shm_conn_attach_slow(c);
}

int
ava_shm_conn_export(struct ava_conn *c, struct ava_conn_export *e);

/* Publish what was written, release what was read (before a handoff). */
void
ava_shm_conn_flush(struct ava_shm_conn *c);

/*
 * The rings' helpers that the streams share (transport-shm.c): the
 * monotonic clock in ns; mark c broken, giving AVA_ESHM; read an atomic
 * flag (shut, eof); after publishing or consuming, wake the peer if its
 * wait word says it sleeps; whether the incoming ring has bytes (>0, in
 * rx.known), none yet (0) or an error (<0). The waits give what ready(c)
 * gives once it is not 0, or an error of their own (-EPIPE; -ETIMEDOUT
 * past deadline, on that clock, 0: none), sleeping on the bells of the
 * incoming ring (data) or the outgoing one (space), which a stream of
 * that direction shares.
 */
uint64_t
ava_shm_now_ns(void);

int
ava_shm_broken(struct ava_shm_conn *c);

bool
ava_shm_load_flag(const int *p);

void
ava_shm_notify(struct ava_shm_conn *c, uint32_t *bell, const uint32_t *wait);

void
ava_shm_notify_data(struct ava_shm_conn *c);

int
ava_shm_rx_ready(struct ava_shm_conn *c);

int
ava_shm_wait_data(struct ava_shm_conn *c,
		  int (*ready)(struct ava_shm_conn *c), uint64_t deadline);

int
ava_shm_wait_space(struct ava_shm_conn *c,
		   int (*ready)(struct ava_shm_conn *c), uint64_t deadline);

/*
 * The streams' side that the rings call (transport-shm-stream.c): start
 * a transfer of len bytes on s (dst: a guest's sink, else NULL); a
 * guest's write of len bytes from src through the window, 0 or an error;
 * a guest's wait for its ring or its sink's stream (as
 * ava_shm_rx_ready); copy what the stream holds into the sink; end the
 * sink when its REPLY comes, 0 or an error.
 */
void
ava_shm_stream_start(struct ava_shm_conn *c, struct ava_shm_stream *s,
		     uint64_t len, uint8_t *dst);

int
ava_shm_produce(struct ava_shm_conn *c, const uint8_t *src, uint64_t len);

int
ava_shm_sink_ready(struct ava_shm_conn *c);

void
ava_shm_sink_pump(struct ava_shm_conn *c);

int
ava_shm_sink_finish(struct ava_shm_conn *c);

/*
 * Streams (transport-shm-stream.c), for the marshaller's stream ops, on the
 * thread that received the CALL. Server: take the next bytes of the
 * CALL's in-stream (at most AVA_SHM_PIECE, contiguous in the window;
 * with wait, waiting for them), then release the oldest taken; reserve
 * room for the next bytes of the out-stream, then publish the oldest
 * reserved. Each returns the bytes (> 0), 0 (none now without wait; all
 * the window taken and nothing released; the transfer is over) or an
 * error, after which the connection is unusable: AVA_ESHM, -ETIMEDOUT
 * (the guest made no progress for the stream deadline), AVA_ECLOSED or
 * -EPIPE; a reserve before the call's in-stream is all taken and
 * released, AVA_EPROTO (the streams share the window).
 */
int
ava_shm_in_take(struct ava_shm_conn *c, bool wait, const uint8_t **at);

void
ava_shm_in_release(struct ava_shm_conn *c, uint64_t n);

int
ava_shm_out_reserve(struct ava_shm_conn *c, bool wait, uint8_t **at);

void
ava_shm_out_publish(struct ava_shm_conn *c, uint64_t n);

/* Server: start the out-stream of n bytes for the CALL just received;
 * end it (with its REPLY), giving the bytes published. */
void
ava_shm_out_start(struct ava_shm_conn *c, uint64_t n);

uint64_t
ava_shm_out_end(struct ava_shm_conn *c);

/* Server: take the rest of the in-stream into dst (NULL: discard it),
 * as the journal needs; 0 or an error as above (dst's rest is zeroed). */
int
ava_shm_in_drain(struct ava_shm_conn *c, uint8_t *dst);

/* The per-thread bulk sets (transport-shm-setup.c), for the ring code:
 * after a receive on c, its set (NULL or n = 0: none); before a send, the
 * set staged for that payload (false: none); c going away. */
void
ava_shm_bulk_received(struct ava_shm_conn *c, const struct ava_bulk *b);

bool
ava_shm_bulk_staged(const void *payload, uint64_t len, struct ava_bulk *out);

/* Before a send of payload: the ref that may stream (-1: none), and the
 * sink it offers (NULL: none), as the encoder staged them. */
int
ava_shm_bulk_stream_ref(void);

void *
ava_shm_bulk_sink(const void *payload, uint64_t len, uint64_t *n);

void
ava_shm_bulk_forget(struct ava_shm_conn *c);

/* Do the n bytes at p lie inside c's bulk area? */
static inline bool
ava_shm_in_area(const struct ava_shm_conn *c, const void *p, uint64_t n)
{
	const uint8_t *q = p;
	return c != NULL && c->area != NULL && q >= c->area &&
	       n <= c->area_size && (uint64_t)(q - c->area) <= c->area_size - n;
}

/* ---- for tests: act as a misbehaving peer ---------------------------- */

struct ava_shm_view {
	int memfd;                      /* borrowed */
	uint8_t *base;                  /* the whole region, mapped */
	struct ava_shm_ring_ctl *ctl;   /* ctl[0] command, ctl[1] reply */
	size_t cmd_size, reply_size;
	uint8_t *area;                  /* the bulk area, or NULL */
	size_t area_size;               /* its part for refs */
	uint8_t *win;                   /* the streams' window, or NULL */
};

/* How long a server waits for a stream's guest to make progress, in ms
 * (default 10 s); for tests. */
void
ava_shm_set_stream_deadline(unsigned ms);

/* The region behind an shm: connection; false for other transports. */
bool
ava_shm_conn_view(struct ava_conn *c, struct ava_shm_view *v);

/* Write n raw bytes into c's outgoing ring and publish them (a frame cut
 * short, a bad header). Returns 0 or what ava_transport_conn_send would. */
int
ava_shm_conn_write_raw(struct ava_conn *c, const void *p, size_t n);

/* Wake the peer's receiver however it sleeps (futex and doorbell), as
 * after a publish, whatever the wait words say. */
void
ava_shm_conn_kick(struct ava_conn *c);

#endif
