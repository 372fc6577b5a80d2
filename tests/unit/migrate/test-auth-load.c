/*
 * test-auth-load.c - libcrypto is loaded only when a secret is used: not
 * before, and once a secret file is loaded. Where it cannot be loaded
 * (no such library) or lacks a function (a library that is not
 * libcrypto), loading a secret and either side of the exchange fail with
 * -ELIBACC and one line naming the library and dlerror()'s text, before
 * anything is sent. Each of those runs in a child of its own, since a
 * process loads the library once.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "auth-private.h"
#include "auth.h"
#include "mtest.h"
#include "transport.h"

static char *dir, addr[4200], path[4300];

static bool
crypto_loaded(void)
{
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD);
	if (h != NULL)
		dlclose(h);
	return h != NULL;
}

static void
write_secret(void)
{
	static const char text[] = "correct horse battery staple\n";
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1);
	close(fd);
}

/* why is one line, and has each of the two parts. */
static void
check_line(const char *why, const char *want1, const char *want2)
{
	CHECK_HAS(why, want1);
	CHECK_HAS(why, want2);
	CHECK(strchr(why, '\n') == NULL);
}

/* In a child: with soname for libcrypto, every use of a secret fails. */
static void
fail_without(const char *soname, const char *want1, const char *want2)
{
	struct ava_secret s;
	struct ava_listener *l;
	struct ava_conn *srv, *cli;
	struct ava_frame f = { 0 };
	char why[512];
	uint8_t ns[AVA_AUTH_NONCE] = { 1 };

	ava_auth_libcrypto_set_name(soname);
	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), -ELIBACC);
	check_line(why, want1, want2);
	CHECK(s.len == 0 && s.key[0] == 0);

	/* A secret set by hand meets the same error in the exchange. */
	s.len = 16;
	memset(s.key, 'k', s.len);
	CHECK_RC(ava_transport_listen(addr, &l), 0);
	CHECK_RC(ava_transport_connect(addr, &cli), 0);
	CHECK_RC(ava_transport_listener_accept(l, &srv), 0);
	why[0] = '\0';
	CHECK_RC(ava_auth_challenge(srv, &s, why, sizeof(why)), -ELIBACC);
	check_line(why, want1, want2);

	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = AVA_MSG_CONTROL, .fn = AVA_CTL_AUTH_CHALLENGE,
		.len = sizeof(ns),
	};
	CHECK_RC(ava_transport_conn_send(srv, &h, ns), 0);
	ava_buf_init(&f.payload);
	CHECK_RC(ava_transport_conn_recv(cli, &f), 0);
	why[0] = '\0';
	CHECK_RC(ava_auth_answer(cli, &f, &s, why, sizeof(why)), -ELIBACC);
	check_line(why, want1, want2);

	/* Neither side sent a frame: the peers see only the close. */
	ava_transport_conn_destroy(cli);
	CHECK_RC(ava_transport_conn_recv(srv, &f), AVA_ECLOSED);
	ava_buf_finish(&f.payload);
	ava_transport_conn_destroy(srv);
	ava_transport_listener_destroy(l);
	ava_secret_clear(&s);
	CHECK(!crypto_loaded());
}

static void
in_child(const char *soname, const char *want1, const char *want2)
{
	int st;
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		fail_without(soname, want1, want2);
		exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void
test_no_library(void)
{
	in_child("libava-test-absent.so.3",
		 "cannot load libava-test-absent.so.3 for the shared secret: ",
		 "libava-test-absent.so.3: cannot open shared object file");
}

/* libc is there and loads, but has no HMAC. */
static void
test_no_function(void)
{
	in_child("libc.so.6", "cannot use libc.so.6 for the shared secret: ",
		 "undefined symbol: HMAC");
}

/* The real library: absent until a secret is loaded, there after. */
static void
test_loaded_on_first_use(void)
{
	struct ava_secret s;
	char why[512];
	CHECK(!crypto_loaded());
	CHECK_RC(ava_secret_load(path, &s, why, sizeof(why)), 0);
	CHECK(crypto_loaded());
	ava_secret_clear(&s);
}

int
main(void)
{
	dir = mt_tmpdir("auth-load");
	snprintf(addr, sizeof(addr), "unix:%s/sock", dir);
	snprintf(path, sizeof(path), "%s/secret", dir);
	if (strlen(addr) - 5 >= 108) {
		fprintf(stderr, "skip: %s is too long for a socket\n", addr);
		return 77;
	}
	if (crypto_loaded()) {
		fprintf(stderr, "libcrypto.so.3 is loaded at start: something "
			"links it\n");
		return 1;
	}
	write_secret();

	RUN(test_no_library);
	RUN(test_no_function);
	RUN(test_loaded_on_first_use);

	unlink(path);
	rmdir(dir);
	free(dir);
	return 0;
}
