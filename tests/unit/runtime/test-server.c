/*
 * test-server.c - the real server loop (accept, fork a worker per
 * session, handshake, calls) over the transport named by argv[1] (unix,
 * shm or tcp), driven with raw frames and the stand-in API: good sessions are
 * served while broken ones are closed with one log line each; SIGTERM
 * shuts down cleanly. Over shm:, guests that scribble on the shared
 * region are closed the same way, and the server serves on.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ava-error.h"
#include "fake-api.h"
#include "rt-test.h"
#include "server-private.h"
#include "transport-private.h"
#include "transport-shm.h"
#include "wire.h"

static char addr[96], addr0[96], logpath[80];  /* addr0: as given */
static const char *path;   /* the socket, inside addr */
static bool shm;
static pid_t server;

/* A failed check exits: never leave the server behind. */
static void
stop_server(void)
{
	if (server > 0 && kill(server, SIGKILL) == 0)
		waitpid(server, NULL, 0);
}

static bool spare;          /* start_server(): with a spare worker */
static bool spare_dies;     /* the spare's warm-up aborts */

/* The stand-in API's warm-up: says where it ran. */
static void
fake_warm(void)
{
	fprintf(stderr, "warm-up in pid %d\n", (int)getpid());
	if (spare_dies)
		abort();
}

static void
start_server(void)
{
	int ready[2];
	memcpy(addr, addr0, sizeof(addr));   /* tcp: port 0 again */
	CHECK(pipe(ready) == 0);
	server = fork();
	CHECK(server >= 0);
	if (server == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, STDERR_FILENO);
		close(ready[0]);
		const char *listen[1] = { addr };
		struct ava_server_config cfg = { .listen = listen,
			.nlisten = 1, .ready_fd = ready[1], .verbose = true,
			.spare = spare };
		_exit(ava_server_run_api(&cfg, &fake_server) == 0 ? 0 : 3);
	}
	close(ready[1]);
	/* tcp: port 0: "listening ADDR" comes first, then "ready". */
	char buf[256] = { 0 };
	size_t got = 0;
	ssize_t n;
	while (got < sizeof(buf) - 1 &&
	       (n = read(ready[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(ready[0]);
	char *at = strstr(buf, "listening ");
	if (at != NULL)
		snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(at + 10, "\n"),
			 at + 10);
	CHECK(got >= 6 && strcmp(buf + got - 6, "ready\n") == 0);
}

static int
send_msg(struct ava_conn *c, uint8_t type, uint32_t fn, uint64_t seq,
	 const void *p, size_t n)
{
	struct ava_frame_header h = { .magic = AVA_PROTOCOL_MAGIC,
		.version = AVA_PROTOCOL_VERSION, .type = type, .api = 7,
		.fn = fn, .seq = seq, .len = n };
	return ava_transport_conn_send(c, &h, p);
}

/* HELLO on a new connection; *r gets the answer's receive result. */
static struct ava_conn *
join_r(uint32_t hash, uint64_t session, uint64_t token, struct ava_frame *f,
       int *r)
{
	struct ava_conn *c;
	CHECK_EQ(ava_transport_connect(addr, &c), 0);
	uint8_t w[32] = { 0 };
	ava_wire_put_le(w, hash, 4);
	ava_wire_put_le(w + 8, session, 8);
	ava_wire_put_le(w + 16, token, 8);
	CHECK_EQ(send_msg(c, AVA_MSG_HELLO, 0, 0, w, sizeof(w)), 0);
	*r = ava_transport_conn_recv(c, f);
	return c;
}

static struct ava_conn *
join(uint32_t hash, uint64_t session, uint64_t token, struct ava_frame *f)
{
	int r;
	struct ava_conn *c = join_r(hash, session, token, f, &r);
	CHECK_EQ(r, 0);
	return c;
}

static struct ava_conn *
hello(uint32_t hash, struct ava_frame *f)
{
	return join(hash, 0, 0, f);
}

/* A connection with a finished handshake, for writing broken frames. */
static struct ava_conn *
raw_session(struct ava_frame *f)
{
	return hello(fake_api.spec_hash, f);
}

/* Bytes below the frame layer, as a broken guest writes them. */
static void
write_raw(struct ava_conn *c, const void *p, size_t n)
{
	if (shm)
		CHECK_EQ(ava_shm_conn_write_raw(c, p, n), 0);
	else
		CHECK_EQ(ava_io_write_full(c->fd, p, n), 0);
}

/* get_plats(0, NULL, &num): the smallest useful call. */
static void
call_ok(struct ava_conn *c, struct ava_frame *f, uint64_t seq)
{
	uint64_t w[3] = { 0, 0, 1 };
	CHECK_EQ(send_msg(c, AVA_MSG_CALL, FAKE_FN_get_plats, seq, w,
			  sizeof(w)), 0);
	CHECK_EQ(ava_transport_conn_recv(c, f), 0);
	CHECK_EQ(f->h.type, AVA_MSG_REPLY);
	CHECK_EQ(f->h.seq, seq);
	CHECK_EQ(f->payload.len, 24);   /* ret, plats count, num */
	CHECK_EQ(ava_wire_get_le(f->payload.data + 16, 8), FAKE_NPLATS);
}

static void
expect_closed(struct ava_conn *c, struct ava_frame *f)
{
	CHECK_EQ(ava_transport_conn_recv(c, f), AVA_ECLOSED);
	ava_transport_conn_destroy(c);
}

/* create_ctx({PLAT, plat, 0}, &err) on c; returns the context's id. */
static uint64_t
create_ctx(struct ava_conn *c, struct ava_frame *f, uint64_t plat)
{
	uint64_t w[6] = { 3, FAKE_KEY_PLAT, plat, 0, 1 };
	CHECK_EQ(send_msg(c, AVA_MSG_CALL, FAKE_FN_create_ctx, 9, w,
			  5 * 8), 0);
	CHECK_EQ(ava_transport_conn_recv(c, f), 0);
	CHECK_EQ(f->h.type, AVA_MSG_REPLY);
	CHECK_EQ(ava_wire_get_le(f->payload.data + 8, 8), 0);   /* err */
	return ava_wire_get_le(f->payload.data, 8);
}

static uint64_t
first_plat(struct ava_conn *c, struct ava_frame *f)
{
	uint64_t w[3] = { 1, 1, 0 };
	CHECK_EQ(send_msg(c, AVA_MSG_CALL, FAKE_FN_get_plats, 8, w,
			  sizeof(w)), 0);
	CHECK_EQ(ava_transport_conn_recv(c, f), 0);
	CHECK_EQ(ava_wire_get_le(f->payload.data + 8, 8), 1);   /* count */
	return ava_wire_get_le(f->payload.data + 16, 8);
}

/* A guest's further threads join its session: they share its handles. */
static void
joined_connections(void)
{
	struct ava_frame f;
	ava_buf_init(&f.payload);
	struct ava_conn *a = hello(fake_api.spec_hash, &f);
	uint64_t session = ava_wire_get_le(f.payload.data, 8);
	uint64_t token = ava_wire_get_le(f.payload.data + 8, 8);
	uint64_t ctx = create_ctx(a, &f, first_plat(a, &f));
	CHECK(ctx != 0);
	struct ava_conn *b = join(fake_api.spec_hash, session, token, &f);
	CHECK_EQ(f.h.type, AVA_MSG_WELCOME);
	CHECK_EQ(ava_wire_get_le(f.payload.data, 8), session);
	uint64_t w[1] = { ctx };
	CHECK_EQ(send_msg(b, AVA_MSG_CALL, FAKE_FN_release_ctx, 1, w, 8), 0);
	CHECK_EQ(ava_transport_conn_recv(b, &f), 0);
	CHECK_EQ(ava_wire_get_le(f.payload.data, 8), FAKE_OK);
	/* Released through b, so stale through a. */
	CHECK_EQ(send_msg(a, AVA_MSG_CALL, FAKE_FN_retain_ctx, 10, w, 8), 0);
	CHECK_EQ(ava_transport_conn_recv(a, &f), 0);
	CHECK_EQ((int64_t)ava_wire_get_le(f.payload.data, 8), FAKE_E_CTX);
	/* A wrong token does not join; nor does a session that is gone. */
	int r;
	struct ava_conn *x = join_r(fake_api.spec_hash, session, token ^ 1,
				    &f, &r);
	/* The join listener's name holds the token's low bits: a token
	 * wrong there finds no session; one wrong above them reaches the
	 * worker, which closes it. */
	CHECK_EQ(r, 0);
	CHECK_EQ(f.h.type, AVA_MSG_ERROR);
	ava_transport_conn_destroy(x);
	x = join_r(fake_api.spec_hash, session, token ^ (1ull << 40), &f, &r);
	CHECK_EQ(r, AVA_ECLOSED);
	ava_transport_conn_destroy(x);
	struct ava_conn *y = join(fake_api.spec_hash, 999, token, &f);
	CHECK_EQ(f.h.type, AVA_MSG_ERROR);
	ava_transport_conn_destroy(y);
	ava_transport_conn_destroy(a);
	ava_transport_conn_destroy(b);
	ava_buf_finish(&f.payload);
}

/* The server's log so far (its first 64 KiB), NUL-terminated. */
static const char *
read_log(void)
{
	static char buf[1 << 16];
	memset(buf, 0, sizeof(buf));
	int fd = open(logpath, O_RDONLY);
	if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = '\0';
	if (fd >= 0)
		close(fd);
	return buf;
}

static bool
log_has(const char *s)
{
	return strstr(read_log(), s) != NULL;
}

static void
sessions(void)
{
	struct ava_frame f;
	ava_buf_init(&f.payload);
	struct ava_conn *a = hello(fake_api.spec_hash, &f);
	CHECK_EQ(f.h.type, AVA_MSG_WELCOME);
	CHECK_EQ(f.payload.len, 32);
	CHECK(ava_wire_get_le(f.payload.data + 16, 4) != 0);   /* owner */
	call_ok(a, &f, 1);

	/* Spec mismatch: an ERROR frame that says so, then close. */
	struct ava_conn *b = hello(0x1234, &f);
	CHECK_EQ(f.h.type, AVA_MSG_ERROR);
	CHECK_EQ((int32_t)ava_wire_get_le(f.payload.data, 4), AVA_ESPEC);
	CHECK(memmem(f.payload.data, f.payload.len, "spec mismatch", 13));
	expect_closed(b, &f);

	/* Truncated frame, then oversized length: each session is closed. */
	struct ava_conn *r = raw_session(&f);
	struct ava_frame_header h = { .magic = AVA_PROTOCOL_MAGIC,
		.version = AVA_PROTOCOL_VERSION, .type = AVA_MSG_CALL,
		.api = 7, .len = 100 };
	uint8_t hdr[AVA_FRAME_HEADER_SIZE + 10] = { 0 };
	ava_frame_header_encode(&h, hdr);
	write_raw(r, hdr, sizeof(hdr));
	shutdown(r->fd, SHUT_WR);
	expect_closed(r, &f);
	r = raw_session(&f);
	h.len = 9999999999ull;
	ava_frame_header_encode(&h, hdr);
	write_raw(r, hdr, AVA_FRAME_HEADER_SIZE);
	expect_closed(r, &f);
	/* Garbage instead of a frame. */
	r = raw_session(&f);
	memset(hdr, 0xA5, sizeof(hdr));
	write_raw(r, hdr, AVA_FRAME_HEADER_SIZE);
	expect_closed(r, &f);

	/* Unknown function id. */
	struct ava_conn *e = hello(fake_api.spec_hash, &f);
	CHECK_EQ(send_msg(e, AVA_MSG_CALL, 999, 1, NULL, 0), 0);
	expect_closed(e, &f);

	/* A bad handle is answered, and the session goes on. */
	uint64_t w[1] = { 0x12ffff0000000001ull };
	CHECK_EQ(send_msg(a, AVA_MSG_CALL, FAKE_FN_retain_ctx, 2, w,
			  sizeof(w)), 0);
	CHECK_EQ(ava_transport_conn_recv(a, &f), 0);
	CHECK_EQ((int64_t)ava_wire_get_le(f.payload.data, 8), FAKE_E_CTX);
	call_ok(a, &f, 3);

	/* An unsupported function is answered with its error. */
	CHECK_EQ(send_msg(a, AVA_MSG_CALL, FAKE_FN_unsupported, 4, NULL, 0), 0);
	CHECK_EQ(ava_transport_conn_recv(a, &f), 0);
	CHECK_EQ((int64_t)ava_wire_get_le(f.payload.data, 8),
		 FAKE_E_UNSUPPORTED);
	CHECK_EQ(send_msg(a, AVA_MSG_BYE, 0, 5, NULL, 0), 0);
	expect_closed(a, &f);
	ava_buf_finish(&f.payload);
}

/* A BATCH frame's payload under construction: base, then frames. */
static void
batch_init(struct ava_buf *b, uint64_t base)
{
	ava_buf_init(b);
	ava_buf_put_u64(b, base);
}

static void
batch_add(struct ava_buf *b, uint32_t fn, uint32_t thread, uint64_t seq,
	  bool async, const uint64_t *w, size_t n)
{
	struct ava_frame_header h = { .magic = AVA_PROTOCOL_MAGIC,
		.version = AVA_PROTOCOL_VERSION, .type = AVA_MSG_CALL,
		.api = 7, .fn = fn, .thread = thread,
		.flags = async ? AVA_FRAME_ASYNC : 0, .seq = seq, .len = n * 8 };
	CHECK_EQ(ava_batch_put_frame(b, &h, w, n * 8), 0);
}

/* write(ctx, 4 or 100 bytes): 100 fails with FAKE_E_VALUE. */
static void
batch_write(struct ava_buf *b, uint64_t ctx, uint32_t thread, uint64_t seq,
	    const char *four, bool big)
{
	uint64_t w[3 + 13] = { ctx, big ? 100 : 4, big ? 100 : 4 };
	memcpy(&w[3], four, 4);
	batch_add(b, FAKE_FN_write, thread, seq, true, w, big ? 16 : 4);
}

/* read(ctx, 4, data): the sync call at the end of a batch. */
static void
batch_read(struct ava_buf *b, uint32_t thread, uint64_t seq, uint64_t ctx)
{
	uint64_t w[4] = { ctx, 4, 1, 0 };
	batch_add(b, FAKE_FN_read, thread, seq, false, w, 4);
}

static void
send_batch(struct ava_conn *c, struct ava_buf *b)
{
	CHECK_EQ(send_msg(c, AVA_MSG_BATCH, 0, 0, b->data, b->len), 0);
	ava_buf_finish(b);
}

/* The REPLY of a read: its data. */
static void
expect_read(struct ava_conn *c, struct ava_frame *f, uint64_t seq,
	    const char *four)
{
	CHECK_EQ(ava_transport_conn_recv(c, f), 0);
	CHECK_EQ(f->h.type, AVA_MSG_REPLY);
	CHECK_EQ(f->h.seq, seq);
	CHECK_EQ(ava_wire_get_le(f->payload.data, 8), FAKE_OK);
	CHECK(memcmp(f->payload.data + 16, four, 4) == 0);
}

/*
 * Batches: queued calls run in order, a failed one is reported before
 * the next REPLY to its thread, and a batch on one connection waits for
 * the queued calls numbered before it that travel on another.
 */
static void
batches(void)
{
	struct ava_frame f;
	struct ava_buf b;
	ava_buf_init(&f.payload);
	struct ava_conn *a = hello(fake_api.spec_hash, &f);
	uint64_t session = ava_wire_get_le(f.payload.data, 8);
	uint64_t token = ava_wire_get_le(f.payload.data + 8, 8);
	uint64_t ctx = create_ctx(a, &f, first_plat(a, &f));

	batch_init(&b, 0);
	batch_write(&b, ctx, 1, 11, "abcd", false);
	batch_write(&b, ctx, 1, 12, "xxxx", true);     /* fails */
	batch_read(&b, 1, 13, ctx);
	send_batch(a, &b);
	CHECK_EQ(ava_transport_conn_recv(a, &f), 0);
	CHECK_EQ(f.h.type, AVA_MSG_DEFERRED);
	CHECK_EQ(f.h.fn, FAKE_FN_write);
	CHECK_EQ(f.h.seq, 12);
	CHECK_EQ((int64_t)ava_wire_get_le(f.payload.data, 8), FAKE_E_VALUE);
	expect_read(a, &f, 13, "abcd");

	/* b's batch (a fence: no queued call of its own) needs call #3,
	 * which comes later on a. */
	struct ava_conn *c = join(fake_api.spec_hash, session, token, &f);
	batch_init(&b, 3);
	batch_read(&b, 2, 1, ctx);
	send_batch(c, &b);
	usleep(50000);
	batch_init(&b, 2);
	batch_write(&b, ctx, 1, 14, "WXYZ", false);
	send_batch(a, &b);
	expect_read(c, &f, 1, "WXYZ");

	/* Numbered twice: a protocol violation. */
	batch_init(&b, 2);
	batch_write(&b, ctx, 1, 15, "abcd", false);
	send_batch(a, &b);
	expect_closed(a, &f);
	/* A sync call before the end of a batch. */
	batch_init(&b, 3);
	batch_read(&b, 2, 2, ctx);
	batch_write(&b, ctx, 2, 3, "abcd", false);
	send_batch(c, &b);
	expect_closed(c, &f);

	/* Alone, waiting for calls no connection brings: closed. */
	struct ava_conn *d = hello(fake_api.spec_hash, &f);
	batch_init(&b, 5);
	batch_read(&b, 1, 1, ctx);
	send_batch(d, &b);
	expect_closed(d, &f);
	/* A queued call to a function that is never async. */
	d = hello(fake_api.spec_hash, &f);
	uint64_t w[3] = { 0, 0, 1 };
	struct ava_frame_header h = { .magic = AVA_PROTOCOL_MAGIC,
		.version = AVA_PROTOCOL_VERSION, .type = AVA_MSG_CALL,
		.api = 7, .fn = FAKE_FN_get_plats, .flags = AVA_FRAME_ASYNC,
		.seq = 1, .len = sizeof(w) };
	CHECK_EQ(ava_transport_conn_send(d, &h, w), 0);
	expect_closed(d, &f);
	ava_buf_finish(&f.payload);
}

/* shm: guests that scribble on their region: each session is closed
 * with one log line, and the server serves the next guest. */
static void
shm_scribbles(void)
{
	struct ava_frame f;
	struct ava_shm_view v;
	ava_buf_init(&f.payload);
	/* A command ring head beyond the ring. */
	struct ava_conn *a = hello(fake_api.spec_hash, &f);
	CHECK(ava_shm_conn_view(a, &v));
	v.ctl[0].head += (uint64_t)1 << 40;
	ava_shm_conn_kick(a);
	expect_closed(a, &f);
	/* A reply ring tail ahead of what the server wrote. */
	a = hello(fake_api.spec_hash, &f);
	CHECK(ava_shm_conn_view(a, &v));
	v.ctl[1].tail += 4096;
	uint64_t w[3] = { 0, 0, 1 };
	CHECK_EQ(send_msg(a, AVA_MSG_CALL, FAKE_FN_get_plats, 1, w,
			  sizeof(w)), 0);
	expect_closed(a, &f);
	/* Garbage over the command ring and its control block, mid-session
	 * (the reply ring's stays intact, so that this guest can tell). */
	a = hello(fake_api.spec_hash, &f);
	call_ok(a, &f, 1);
	CHECK(ava_shm_conn_view(a, &v));
	uint32_t x = 12345;
	for (size_t i = 0; i < AVA_SHM_CTL_SIZE + v.cmd_size; i += 4) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		if (i < sizeof(v.ctl[0]) || i >= AVA_SHM_CTL_SIZE)
			memcpy(v.base + i, &x, 4);
	}
	ava_shm_conn_kick(a);
	expect_closed(a, &f);
	/* Bells rung at random while a good session runs: no harm. */
	a = hello(fake_api.spec_hash, &f);
	CHECK(ava_shm_conn_view(a, &v));
	for (int i = 1; i <= 50; i++) {
		v.ctl[0].data_bell += 7;
		v.ctl[1].space_bell ^= 0x5a5a;
		call_ok(a, &f, (uint64_t)i);
	}
	CHECK_EQ(send_msg(a, AVA_MSG_BYE, 0, 51, NULL, 0), 0);
	expect_closed(a, &f);
	ava_buf_finish(&f.payload);
}

/* Workers log asynchronously, some only after the guest saw its
 * connection close: each line gets up to 5 s to appear. */
static bool
log_soon(const char *s)
{
	for (int i = 0; i < 250; i++) {
		if (log_has(s))
			return true;
		usleep(20000);
	}
	return false;
}

static void
logs_and_shutdown(void)
{
	CHECK(log_soon("closed: spec mismatch: guest spec_hash 0x00001234"));
	CHECK(log_soon("closed: frame length 9999999999 exceeds limit"));
	CHECK(log_soon("closed: unknown function id 999"));
	CHECK(log_soon("closed: truncated frame (10 of 100 payload bytes)"));
	CHECK(log_soon("closed: bad frame magic 0xa5a5a5a5"));
	CHECK(log_soon("closed: cannot join session 999"));
	CHECK(log_soon("closed by guest after 4 calls"));
	if (shm) {
		CHECK(log_soon("closed: receive failed: peer broke the "
			      "shared-memory transport's rules"));
		CHECK(log_soon("closed: cannot send reply: peer broke the "
			      "shared-memory transport's rules"));
		CHECK(log_soon("closed by guest after 50 calls"));
	}
	CHECK(log_soon("fake_write (thread 1, seq 12, queued) failed with -30"));
	CHECK(log_soon("closed: a batch numbered twice: base 2"));
	CHECK(log_soon("closed: a synchronous call inside a batch"));
	CHECK(log_soon("closed: a batch waits for queued calls that never "
		      "came: base 5"));
	CHECK(log_soon("closed: queued call to fake_get_plats, which is never "
		      "async (seq 1)"));
	CHECK(log_soon("fake_retain_ctx (seq 2): argument ctx: invalid fake_ctx "
		      "id 0x12ffff0000000001, answered -34 (later ones"));
	CHECK(kill(server, SIGTERM) == 0);
	int status;
	CHECK(waitpid(server, &status, 0) == server);
	server = 0;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(access(path, F_OK) != 0);   /* socket unlinked */
	unlink(logpath);
}

/* The pid in the log's first line that starts with prefix; 0: none. */
static long
log_pid(const char *prefix)
{
	for (const char *at = read_log(); at != NULL; at = strchr(at, '\n')) {
		at += *at == '\n';
		if (strncmp(at, prefix, strlen(prefix)) == 0)
			return strtol(at + strlen(prefix), NULL, 10);
	}
	return 0;
}

static long
log_pid_soon(const char *prefix)
{
	long pid = 0;
	for (int i = 0; i < 250 && (pid = log_pid(prefix)) == 0; i++)
		usleep(20000);
	return pid;
}

static void
stop_cleanly(void)
{
	CHECK(kill(server, SIGTERM) == 0);
	int status;
	CHECK(waitpid(server, &status, 0) == server);
	server = 0;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * A server with a spare worker: the first session is served by the
 * process that ran the warm-up, the next by a fresh fork; a spare
 * nobody took is gone after shutdown; a spare that died leaves the
 * first session to a fork, with one line in the log.
 */
static void
spare_worker(void)
{
	struct ava_frame f;
	ava_buf_init(&f.payload);
	spare = true;
	start_server();
	long warm = log_pid_soon("warm-up in pid ");
	CHECK(warm > 0);
	struct ava_conn *a = hello(fake_api.spec_hash, &f);
	CHECK_EQ(f.h.type, AVA_MSG_WELCOME);
	call_ok(a, &f, 1);
	struct ava_conn *b = hello(fake_api.spec_hash, &f);
	CHECK_EQ(f.h.type, AVA_MSG_WELCOME);
	call_ok(b, &f, 1);
	CHECK_EQ(log_pid_soon("ava server: session 1 (pid "), warm);
	long second = log_pid_soon("ava server: session 2 (pid ");
	CHECK(second > 0 && second != warm);
	CHECK_EQ(send_msg(a, AVA_MSG_BYE, 0, 2, NULL, 0), 0);
	expect_closed(a, &f);
	CHECK_EQ(send_msg(b, AVA_MSG_BYE, 0, 2, NULL, 0), 0);
	expect_closed(b, &f);
	stop_cleanly();

	/* Nobody came: the spare is killed with its server. */
	start_server();
	warm = log_pid_soon("warm-up in pid ");
	CHECK(warm > 0);
	stop_cleanly();
	CHECK(kill((pid_t)warm, 0) != 0 && errno == ESRCH);

	/* The spare died in its warm-up: a fork serves instead. */
	spare_dies = true;
	start_server();
	CHECK(log_soon("the spare worker died: Aborted; sessions start "
		       "without it"));
	a = hello(fake_api.spec_hash, &f);
	CHECK_EQ(f.h.type, AVA_MSG_WELCOME);
	call_ok(a, &f, 1);
	CHECK_EQ(send_msg(a, AVA_MSG_BYE, 0, 2, NULL, 0), 0);
	expect_closed(a, &f);
	CHECK(log_soon("ava server: session 1 (pid "));
	stop_cleanly();
	spare = spare_dies = false;
	unlink(logpath);
	ava_buf_finish(&f.payload);
}

/* How much memory a worker touches before it says it is done, so that
 * the kernel's teardown of it takes a while (tens of ms) after. */
#define HEAVY_MIB 512

static bool host_only;      /* fake_host_only()'s answer */

static bool
fake_host_only(void)
{
	if (!host_only)
		return false;
	/* Small pages: the teardown is per page (about 15 ms per 256 MiB
	 * on the project's VM; huge pages would take a fraction of it). */
	size_t n = (size_t)HEAVY_MIB << 20;
	char *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED) {
		madvise(p, n, MADV_NOHUGEPAGE);
		memset(p, 1, n);   /* never unmapped: the exit gives it back */
	}
	return true;
}

/* The state letter of pid in /proc, or 0 if it is gone. */
static char
proc_state(long pid)
{
	char stat[64], buf[256];
	snprintf(stat, sizeof(stat), "/proc/%ld/stat", pid);
	int fd = open(stat, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	const char *rp = strrchr(buf, ')');
	return rp != NULL && rp[1] == ' ' ? rp[2] : 0;
}

/* Does pid have file descriptor fd open? */
static bool
has_fd(long pid, int fd)
{
	char link[64], target[256];
	snprintf(link, sizeof(link), "/proc/%ld/fd/%d", pid, fd);
	return readlink(link, target, sizeof(target)) >= 0;
}

/*
 * A worker whose vendor library holds only host memory says it is done
 * once its session and journal are closed, and a stopping server does
 * not wait for the kernel to take the worker's memory back (here 512
 * MiB of small pages, so that the exit is a long one): the server says
 * so, and the worker's standard streams are closed by then. Without
 * that answer the server waits, and the worker is gone (reaped) when
 * the server is.
 */
static void
done_before_exit(void)
{
	struct ava_frame f;
	ava_buf_init(&f.payload);
	for (int round = 0; round < 2; round++) {
		host_only = round == 0;
		start_server();
		struct ava_conn *a = hello(fake_api.spec_hash, &f);
		CHECK_EQ(f.h.type, AVA_MSG_WELCOME);
		call_ok(a, &f, 1);
		long worker = log_pid_soon("ava server: session 1 (pid ");
		CHECK(worker > 0);
		CHECK_EQ(send_msg(a, AVA_MSG_BYE, 0, 2, NULL, 0), 0);
		expect_closed(a, &f);
		stop_cleanly();
		if (host_only) {
			/* The server went without waiting for the exit (how
			 * long the exit takes is the kernel's: no timing is
			 * checked), and the worker had let go of its standard
			 * streams by then, so that a pipe they go into is
			 * closed without waiting either. */
			CHECK(log_has("worker done (0); its exit not waited "
				      "for"));
			CHECK(!has_fd(worker, STDOUT_FILENO) &&
			      !has_fd(worker, STDERR_FILENO));
		} else {
			/* Waited for and reaped: gone with its server. */
			CHECK_EQ(proc_state(worker), 0);
			CHECK(log_has("worker exited (0)") &&
			      !log_has("worker done"));
		}
		/* Let it finish before the next round. */
		for (int i = 0; i < 500 && proc_state(worker) != 0 &&
				proc_state(worker) != 'Z'; i++)
			usleep(10000);
	}
	host_only = false;
	unlink(logpath);
	ava_buf_finish(&f.payload);
}

int
main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "unix") && strcmp(argv[1], "shm") &&
			  strcmp(argv[1], "tcp"))) {
		fprintf(stderr, "usage: test-server unix|shm|tcp\n");
		return 99;
	}
	shm = strcmp(argv[1], "shm") == 0;
	if (strcmp(argv[1], "tcp") == 0)
		snprintf(addr, sizeof(addr), "tcp:127.0.0.1:0");
	else
		snprintf(addr, sizeof(addr), "%s:/tmp/ava-test-server-%d.sock",
			 argv[1], (int)getpid());
	memcpy(addr0, addr, sizeof(addr0));
	path = strchr(addr, ':') + 1;
	snprintf(logpath, sizeof(logpath), "/tmp/ava-test-server-%d.log",
		 (int)getpid());
	signal(SIGPIPE, SIG_IGN);
	start_server();
	atexit(stop_server);
	RUN(sessions);
	RUN(joined_connections);
	RUN(batches);
	if (shm)
		RUN(shm_scribbles);
	RUN(logs_and_shutdown);
	ava_server_set_warm(fake_warm);
	RUN(spare_worker);
	ava_server_set_host_only(fake_host_only);
	RUN(done_before_exit);
	return 0;
}
