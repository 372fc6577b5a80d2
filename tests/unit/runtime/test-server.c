/*
 * test-server.c - the real server loop (accept, fork a worker per
 * session, handshake, calls) over a unix socket, driven with raw frames
 * and the stand-in API: good sessions are served while broken ones are
 * closed with one log line each; SIGTERM shuts down cleanly.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ava-error.h"
#include "fake-api.h"
#include "rt-test.h"
#include "server-private.h"
#include "transport.h"
#include "wire.h"

static char addr[80], logpath[80];
static pid_t server;

/* A failed check exits: never leave the server behind. */
static void
stop_server(void)
{
	if (server > 0 && kill(server, SIGKILL) == 0)
		waitpid(server, NULL, 0);
}

static void
start_server(void)
{
	int ready[2];
	CHECK(pipe(ready) == 0);
	server = fork();
	CHECK(server >= 0);
	if (server == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, STDERR_FILENO);
		close(ready[0]);
		const char *listen[1] = { addr };
		struct ava_server_config cfg = { .listen = listen,
			.nlisten = 1, .ready_fd = ready[1], .verbose = true };
		_exit(ava_server_run_api(&cfg, &fake_server) == 0 ? 0 : 3);
	}
	close(ready[1]);
	char buf[8] = { 0 };
	CHECK(read(ready[0], buf, sizeof(buf)) == 6);
	CHECK(strcmp(buf, "ready\n") == 0);
	close(ready[0]);
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

/* A plain socket with a finished handshake, for writing broken frames. */
static int
raw_session(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	strcpy(sun.sun_path, addr + 5);
	CHECK(connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	struct ava_frame_header h = { .magic = AVA_PROTOCOL_MAGIC,
		.version = AVA_PROTOCOL_VERSION, .type = AVA_MSG_HELLO,
		.api = 7, .len = 32 };
	uint8_t b[AVA_FRAME_HEADER_SIZE + 32] = { 0 };
	ava_frame_header_encode(&h, b);
	ava_wire_put_le(b + AVA_FRAME_HEADER_SIZE, fake_api.spec_hash, 4);
	CHECK_EQ(ava_io_write_full(fd, b, sizeof(b)), 0);
	uint8_t welcome[AVA_FRAME_HEADER_SIZE + 24];
	CHECK_EQ(ava_io_read_full(fd, welcome, sizeof(welcome), NULL), 0);
	return fd;
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
	CHECK_EQ(r, AVA_ECLOSED);
	ava_transport_conn_destroy(x);
	struct ava_conn *y = join(fake_api.spec_hash, 999, token, &f);
	CHECK_EQ(f.h.type, AVA_MSG_ERROR);
	ava_transport_conn_destroy(y);
	ava_transport_conn_destroy(a);
	ava_transport_conn_destroy(b);
	ava_buf_finish(&f.payload);
}

static bool
log_has(const char *s)
{
	char buf[8192] = { 0 };
	int fd = open(logpath, O_RDONLY);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && strstr(buf, s) != NULL;
}

static void
sessions(void)
{
	struct ava_frame f;
	ava_buf_init(&f.payload);
	struct ava_conn *a = hello(fake_api.spec_hash, &f);
	CHECK_EQ(f.h.type, AVA_MSG_WELCOME);
	CHECK_EQ(f.payload.len, 24);
	CHECK(ava_wire_get_le(f.payload.data + 16, 4) != 0);   /* owner */
	call_ok(a, &f, 1);

	/* Spec mismatch: an ERROR frame that says so, then close. */
	struct ava_conn *b = hello(0x1234, &f);
	CHECK_EQ(f.h.type, AVA_MSG_ERROR);
	CHECK_EQ((int32_t)ava_wire_get_le(f.payload.data, 4), AVA_ESPEC);
	CHECK(memmem(f.payload.data, f.payload.len, "spec mismatch", 13));
	expect_closed(b, &f);

	/* Truncated frame, then oversized length: each session is closed. */
	int fd = raw_session();
	struct ava_frame_header h = { .magic = AVA_PROTOCOL_MAGIC,
		.version = AVA_PROTOCOL_VERSION, .type = AVA_MSG_CALL,
		.api = 7, .len = 100 };
	uint8_t hdr[AVA_FRAME_HEADER_SIZE + 10] = { 0 };
	ava_frame_header_encode(&h, hdr);
	CHECK_EQ(ava_io_write_full(fd, hdr, sizeof(hdr)), 0);
	shutdown(fd, SHUT_WR);
	CHECK_EQ(ava_io_read_full(fd, hdr, 1, NULL), AVA_ECLOSED);
	close(fd);
	fd = raw_session();
	h.len = 9999999999ull;
	ava_frame_header_encode(&h, hdr);
	CHECK_EQ(ava_io_write_full(fd, hdr, AVA_FRAME_HEADER_SIZE), 0);
	CHECK_EQ(ava_io_read_full(fd, hdr, 1, NULL), AVA_ECLOSED);
	close(fd);
	/* Garbage instead of a frame. */
	fd = raw_session();
	memset(hdr, 0xA5, sizeof(hdr));
	CHECK_EQ(ava_io_write_full(fd, hdr, AVA_FRAME_HEADER_SIZE), 0);
	CHECK_EQ(ava_io_read_full(fd, hdr, 1, NULL), AVA_ECLOSED);
	close(fd);

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

static void
logs_and_shutdown(void)
{
	/* Workers log asynchronously; give them a moment. */
	for (int i = 0; i < 100 && !log_has("closed by guest after 4"); i++)
		usleep(20000);
	CHECK(log_has("closed: spec mismatch: guest spec_hash 0x00001234"));
	CHECK(log_has("closed: frame length 9999999999 exceeds limit"));
	CHECK(log_has("closed: unknown function id 999"));
	CHECK(log_has("closed: truncated frame (10 of 100 payload bytes)"));
	CHECK(log_has("closed: bad frame magic 0xa5a5a5a5"));
	CHECK(log_has("closed: cannot join session 999"));
	CHECK(log_has("closed by guest after 4 calls"));
	CHECK(log_has("fake_retain_ctx (seq 2): argument ctx: invalid fake_ctx "
		      "id 0x12ffff0000000001, answered -34 (later ones"));
	CHECK(kill(server, SIGTERM) == 0);
	int status;
	CHECK(waitpid(server, &status, 0) == server);
	server = 0;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(access(addr + 5, F_OK) != 0);   /* socket unlinked */
	unlink(logpath);
}

int
main(void)
{
	snprintf(addr, sizeof(addr), "unix:/tmp/ava-test-server-%d.sock",
		 (int)getpid());
	snprintf(logpath, sizeof(logpath), "/tmp/ava-test-server-%d.log",
		 (int)getpid());
	signal(SIGPIPE, SIG_IGN);
	start_server();
	atexit(stop_server);
	RUN(sessions);
	RUN(joined_connections);
	RUN(logs_and_shutdown);
	return 0;
}
