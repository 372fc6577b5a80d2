/*
 * test-auth.c - the servers' shared-secret authentication over a real
 * unix: connection, one thread per side: the right secret on both sides
 * passes; a wrong client secret, a "server" without the secret, a
 * replayed proof and malformed frames are refused on the side that must
 * refuse, with AVA_EAUTH or AVA_EPROTO and one clear line; and the checks
 * on a secret file.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "auth.h"
#include "mtest.h"
#include "transport.h"

static char *dir, addr[4200];

static struct ava_secret secret_a, secret_b;

static void
set_secret(struct ava_secret *s, const char *text)
{
	ava_secret_clear(s);
	s->len = strlen(text);
	memcpy(s->key, text, s->len);
}

struct side {
	struct ava_conn *c;
	const struct ava_secret *s;
	int rc;
	char why[256];
	void (*fn)(struct side *);
};

static void *
side_main(void *arg)
{
	struct side *sd = arg;
	sd->fn(sd);
	return NULL;
}

static void
send_ctl(struct ava_conn *c, uint32_t fn, const void *p, size_t n)
{
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = AVA_MSG_CONTROL, .fn = fn, .len = n,
	};
	CHECK_RC(ava_transport_conn_send(c, &h, p), 0);
}

/* The real server: challenge, then READY if that passed. */
static void
real_server(struct side *sd)
{
	sd->rc = ava_auth_challenge(sd->c, sd->s, sd->why, sizeof(sd->why));
	if (sd->rc == 0)
		send_ctl(sd->c, AVA_CTL_READY, NULL, 0);
}

/* The real client: take the challenge, answer, then expect READY. */
static void
real_client(struct side *sd)
{
	struct ava_frame f = { 0 };
	ava_buf_init(&f.payload);
	CHECK_RC(ava_transport_conn_recv(sd->c, &f), 0);
	sd->rc = ava_auth_answer(sd->c, &f, sd->s, sd->why, sizeof(sd->why));
	if (sd->rc == 0) {
		CHECK_RC(ava_transport_conn_recv(sd->c, &f), 0);
		CHECK(f.h.type == AVA_MSG_CONTROL && f.h.fn == AVA_CTL_READY);
	}
	ava_buf_finish(&f.payload);
}

/* Run server and client, each in its own thread, over a fresh unix:
 * connection. */
static void
run(struct side *srv, struct side *cli)
{
	struct ava_listener *l;
	pthread_t ts, tc;
	CHECK_RC(ava_transport_listen(addr, &l), 0);
	CHECK_RC(ava_transport_connect(addr, &cli->c), 0);
	CHECK_RC(ava_transport_listener_accept(l, &srv->c), 0);
	srv->why[0] = cli->why[0] = '\0';
	CHECK(pthread_create(&ts, NULL, side_main, srv) == 0);
	CHECK(pthread_create(&tc, NULL, side_main, cli) == 0);
	CHECK(pthread_join(ts, NULL) == 0);
	CHECK(pthread_join(tc, NULL) == 0);
	ava_transport_conn_destroy(srv->c);
	ava_transport_conn_destroy(cli->c);
	ava_transport_listener_destroy(l);
}

static void
test_right_secret(void)
{
	struct side srv = { .s = &secret_a, .fn = real_server };
	struct side cli = { .s = &secret_a, .fn = real_client };
	run(&srv, &cli);
	CHECK_RC(srv.rc, 0);
	CHECK_RC(cli.rc, 0);
}

static void
test_wrong_client_secret(void)
{
	struct side srv = { .s = &secret_a, .fn = real_server };
	struct side cli = { .s = &secret_b, .fn = real_client };
	run(&srv, &cli);
	CHECK_RC(srv.rc, AVA_EAUTH);
	CHECK_HAS(srv.why, "does not hold this server's secret");
	CHECK_RC(cli.rc, AVA_EAUTH);
	CHECK_HAS(cli.why, "the server refused authentication");
	CHECK_HAS(cli.why, "does not match");
}

/* Receive one frame of the given type (and CONTROL fn), or fail. */
static void
expect(struct ava_conn *c, struct ava_frame *f, uint8_t type, uint32_t fn)
{
	CHECK_RC(ava_transport_conn_recv(c, f), 0);
	CHECK(f->h.type == type);
	if (type == AVA_MSG_CONTROL)
		CHECK(f->h.fn == fn);
}

/* A "server" that does not know the secret: it takes the proof and
 * answers AUTH_OK with garbage. The client must refuse, and say so. */
static void
fake_server(struct side *sd)
{
	uint8_t ns[32], garbage[32];
	struct ava_frame f = { 0 };
	ava_buf_init(&f.payload);
	mt_fill(ns, sizeof(ns), 11);
	mt_fill(garbage, sizeof(garbage), 12);
	send_ctl(sd->c, AVA_CTL_AUTH_CHALLENGE, ns, sizeof(ns));
	expect(sd->c, &f, AVA_MSG_CONTROL, AVA_CTL_AUTH_PROOF);
	CHECK(f.h.len == 64);
	send_ctl(sd->c, AVA_CTL_AUTH_OK, garbage, sizeof(garbage));
	expect(sd->c, &f, AVA_MSG_ERROR, 0);
	CHECK(f.h.len > 4);
	sd->rc = (int32_t)ava_wire_get_le(f.payload.data, 4);
	ava_buf_finish(&f.payload);
}

static void
test_server_without_secret(void)
{
	struct side srv = { .fn = fake_server };
	struct side cli = { .s = &secret_a, .fn = real_client };
	run(&srv, &cli);
	CHECK_RC(cli.rc, AVA_EAUTH);
	CHECK_HAS(cli.why, "the server does not hold our secret");
	CHECK_RC(srv.rc, AVA_EAUTH);   /* the code the client sent it */
}

/* A client that sends a PROOF of the wrong length, or another frame. */
static uint32_t bad_fn;
static size_t bad_len;

static void
bad_client(struct side *sd)
{
	uint8_t junk[100] = { 0 };
	struct ava_frame f = { 0 };
	ava_buf_init(&f.payload);
	expect(sd->c, &f, AVA_MSG_CONTROL, AVA_CTL_AUTH_CHALLENGE);
	send_ctl(sd->c, bad_fn, junk, bad_len);
	expect(sd->c, &f, AVA_MSG_ERROR, 0);
	sd->rc = (int32_t)ava_wire_get_le(f.payload.data, 4);
	ava_buf_finish(&f.payload);
}

static void
test_malformed_proof(void)
{
	const struct { uint32_t fn; size_t len; const char *says; } cases[] = {
		{ AVA_CTL_AUTH_PROOF, 10, "has 10 bytes, expected 64" },
		{ AVA_CTL_AUTH_PROOF, 0, "has 0 bytes, expected 64" },
		{ AVA_CTL_AUTH_PROOF, 65, "has 65 bytes, expected 64" },
		{ AVA_CTL_AUTH_OK, 64, "expected AUTH_PROOF" },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct side srv = { .s = &secret_a, .fn = real_server };
		struct side cli = { .fn = bad_client };
		bad_fn = cases[i].fn;
		bad_len = cases[i].len;
		run(&srv, &cli);
		CHECK_RC(srv.rc, AVA_EPROTO);
		CHECK_HAS(srv.why, cases[i].says);
		CHECK_RC(cli.rc, AVA_EPROTO);
	}
}

/* A proof captured from one exchange does not pass another: the
 * server's nonce is fresh each time. */
static uint8_t captured[64];

static void
capturing_server(struct side *sd)
{
	uint8_t ns[32] = { 1, 2, 3 };
	struct ava_frame f = { 0 };
	ava_buf_init(&f.payload);
	send_ctl(sd->c, AVA_CTL_AUTH_CHALLENGE, ns, sizeof(ns));
	expect(sd->c, &f, AVA_MSG_CONTROL, AVA_CTL_AUTH_PROOF);
	memcpy(captured, f.payload.data, sizeof(captured));
	ava_transport_conn_shutdown(sd->c);   /* the client gives up */
	ava_buf_finish(&f.payload);
	sd->rc = 0;
}

static void
replaying_client(struct side *sd)
{
	struct ava_frame f = { 0 };
	ava_buf_init(&f.payload);
	expect(sd->c, &f, AVA_MSG_CONTROL, AVA_CTL_AUTH_CHALLENGE);
	send_ctl(sd->c, AVA_CTL_AUTH_PROOF, captured, sizeof(captured));
	expect(sd->c, &f, AVA_MSG_ERROR, 0);
	sd->rc = (int32_t)ava_wire_get_le(f.payload.data, 4);
	ava_buf_finish(&f.payload);
}

static void
test_replayed_proof(void)
{
	struct side srv = { .fn = capturing_server };
	struct side cli = { .s = &secret_a, .fn = real_client };
	run(&srv, &cli);
	CHECK(cli.rc != 0);
	srv = (struct side){ .s = &secret_a, .fn = real_server };
	cli = (struct side){ .fn = replaying_client };
	run(&srv, &cli);
	CHECK_RC(srv.rc, AVA_EAUTH);
	CHECK_RC(cli.rc, AVA_EAUTH);
}

/* A client given a bad challenge refuses it before sending anything
 * secret-derived. */
static void
silent_server(struct side *sd)
{
	struct ava_frame f = { 0 };
	ava_buf_init(&f.payload);
	expect(sd->c, &f, AVA_MSG_ERROR, 0);
	ava_buf_finish(&f.payload);
	sd->rc = 0;
}

static void
short_challenge_client(struct side *sd)
{
	struct ava_frame f = { 0 };
	ava_buf_init(&f.payload);
	CHECK_RC(ava_buf_put_zeros(&f.payload, 31, NULL), 0);
	f.h.type = AVA_MSG_CONTROL;
	f.h.fn = AVA_CTL_AUTH_CHALLENGE;
	f.h.len = 31;
	sd->rc = ava_auth_answer(sd->c, &f, sd->s, sd->why, sizeof(sd->why));
	ava_buf_finish(&f.payload);
}

static void
test_bad_challenge(void)
{
	struct side srv = { .fn = silent_server };
	struct side cli = { .s = &secret_a, .fn = short_challenge_client };
	run(&srv, &cli);
	CHECK_RC(cli.rc, AVA_EPROTO);
	CHECK_HAS(cli.why, "malformed AUTH_CHALLENGE");
}

/* The peer hangs up instead of answering: an error, no crash. */
static void
hangup_client(struct side *sd)
{
	struct ava_frame f = { 0 };
	ava_buf_init(&f.payload);
	expect(sd->c, &f, AVA_MSG_CONTROL, AVA_CTL_AUTH_CHALLENGE);
	ava_transport_conn_shutdown(sd->c);
	ava_buf_finish(&f.payload);
	sd->rc = 0;
}

static void
test_peer_hangs_up(void)
{
	struct side srv = { .s = &secret_a, .fn = real_server };
	struct side cli = { .fn = hangup_client };
	run(&srv, &cli);
	CHECK_RC(srv.rc, AVA_ECLOSED);
	CHECK_HAS(srv.why, "waiting for AUTH_PROOF");
}

/* ---- secret files ------------------------------------------------------- */

static char path[4300];

static void
write_secret(const char *text, size_t n, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, text, n) == (ssize_t)n);
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
}

static void
test_secret_file(void)
{
	struct ava_secret s;
	char why[512], want[9000];
	snprintf(path, sizeof(path), "%s/secret", dir);

	write_secret("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==\n", 41, 0600);
	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), 0);
	CHECK(s.len == 40 && memcmp(s.key, "c2VjcmV0", 8) == 0);
	write_secret("0123456789abcdef\r\n", 18, 0400);
	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), 0);
	CHECK(s.len == 16);

	write_secret("0123456789abcdef", 16, 0644);
	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), -EPERM);
	snprintf(want, sizeof(want), "secret file %s is readable by others "
		 "(chmod 600 %s)", path, path);
	CHECK(strcmp(why, want) == 0);
	CHECK(s.len == 0);
	write_secret("0123456789abcdef", 16, 0640);
	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), -EPERM);
	write_secret("0123456789abcdef", 16, 0602);
	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), -EPERM);
	CHECK_HAS(why, "writable by others (chmod 600");

	write_secret("short\n", 6, 0600);
	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), -EINVAL);
	CHECK_HAS(why, "holds 5 bytes; a secret needs at least 16");
	write_secret("", 0, 0600);
	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), -EINVAL);

	static char big[AVA_SECRET_MAX + 10];
	memset(big, 'k', sizeof(big));
	big[AVA_SECRET_MAX] = '\n';
	write_secret(big, AVA_SECRET_MAX + 1, 0600);
	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), 0);
	CHECK(s.len == AVA_SECRET_MAX);
	write_secret(big, AVA_SECRET_MAX + 1 + 1, 0600);
	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), AVA_ETOOBIG);
	write_secret(big, sizeof(big), 0600);
	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), AVA_ETOOBIG);
	CHECK_HAS(why, "longer than 4096 bytes");
	unlink(path);

	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), -ENOENT);
	snprintf(want, sizeof(want), "cannot open secret file %s: No such "
		 "file or directory", path);
	CHECK(strcmp(why, want) == 0);
	CHECK_RC(ava_secret_load(dir, &s, NULL, 0), -EINVAL);

	set_secret(&s, "0123456789abcdef");
	ava_secret_clear(&s);
	CHECK(s.len == 0 && s.key[0] == 0 && s.key[15] == 0);
}

int
main(void)
{
	dir = mt_tmpdir("auth");
	snprintf(addr, sizeof(addr), "unix:%s/sock", dir);
	if (strlen(addr) - 5 >= 108) {
		fprintf(stderr, "skip: %s is too long for a socket\n", addr);
		return 77;
	}
	set_secret(&secret_a, "correct horse battery staple");
	set_secret(&secret_b, "correct horse battery stapler");

	RUN(test_right_secret);
	RUN(test_wrong_client_secret);
	RUN(test_server_without_secret);
	RUN(test_malformed_proof);
	RUN(test_replayed_proof);
	RUN(test_bad_challenge);
	RUN(test_peer_hangs_up);
	RUN(test_secret_file);

	rmdir(dir);
	free(dir);
	return 0;
}
