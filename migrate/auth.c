/*
 * auth.c - shared-secret challenge-response between two ava peers
 * (auth.h): HMAC-SHA256 over both sides' fresh nonces, each direction
 * with its own label so that one side's proof never serves as the
 * other's.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ava-error.h"
#include "auth-private.h"
#include "auth.h"

#define LABEL_LEN 15
static const char label_client[] = "ava-auth-client";
static const char label_server[] = "ava-auth-server";

__attribute__((format(printf, 3, 4)))
static void
say(char *why, size_t nwhy, const char *fmt, ...)
{
	if (why == NULL || nwhy == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, nwhy, fmt, ap);
	va_end(ap);
}

/* ---- libcrypto, loaded on first use -------------------------------------- */

/*
 * Only a secret needs libcrypto, and linking it would cost every process
 * of ava (each `ava run` included) 0.65 ms to load it. So it is loaded
 * once, on the first secret loaded or used. OpenSSL's headers still give
 * the prototypes: the checks below hold the typedefs to them, and name
 * the functions only where nothing is evaluated, so nothing links them.
 */
typedef unsigned char *hmac_fn(const EVP_MD *, const void *, int,
			       const unsigned char *, size_t,
			       unsigned char *, unsigned int *);
typedef const EVP_MD *evp_md_fn(void);
typedef int crypto_memcmp_fn(const void *, const void *, size_t);

_Static_assert(_Generic(&HMAC, hmac_fn *: 1, default: 0),
	       "hmac_fn does not match OpenSSL's HMAC");
_Static_assert(_Generic(&EVP_sha256, evp_md_fn *: 1, default: 0),
	       "evp_md_fn does not match OpenSSL's EVP_sha256");
_Static_assert(_Generic(&CRYPTO_memcmp, crypto_memcmp_fn *: 1, default: 0),
	       "crypto_memcmp_fn does not match OpenSSL's CRYPTO_memcmp");

/* Written once under crypto_once, read-only after it. */
static struct {
	hmac_fn *hmac;
	evp_md_fn *sha256;
	crypto_memcmp_fn *memcmp_ct;
	int rc;              /* 0, or -ELIBACC with err */
	char err[300];
} crypto;
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static const char *crypto_name = "libcrypto.so.3";

void
ava_auth_libcrypto_set_name(const char *soname)
{
	crypto_name = soname;
}

/* Resolve name from lib into *fn; false, with crypto.err, if absent. */
static bool
resolve(void *lib, const char *name, void **fn)
{
	dlerror();
	*fn = dlsym(lib, name);
	if (*fn != NULL)
		return true;
	const char *e = dlerror();
	snprintf(crypto.err, sizeof(crypto.err), "cannot use %s for the "
		 "shared secret: %s", crypto_name,
		 e != NULL ? e : "its address is null");
	return false;
}

static void
crypto_load_once(void)
{
	void *hmac, *sha256, *memcmp_ct;
	/* Never closed: OpenSSL keeps its state until exit. */
	void *lib = dlopen(crypto_name, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		const char *e = dlerror();
		snprintf(crypto.err, sizeof(crypto.err), "cannot load %s for "
			 "the shared secret: %s", crypto_name,
			 e != NULL ? e : "no reason given");
		crypto.rc = -ELIBACC;
		return;
	}
	if (!resolve(lib, "HMAC", &hmac) ||
	    !resolve(lib, "EVP_sha256", &sha256) ||
	    !resolve(lib, "CRYPTO_memcmp", &memcmp_ct)) {
		crypto.rc = -ELIBACC;
		return;
	}
	/* POSIX makes dlsym's object pointer usable as the function's. */
	crypto.hmac = (hmac_fn *)hmac;
	crypto.sha256 = (evp_md_fn *)sha256;
	crypto.memcmp_ct = (crypto_memcmp_fn *)memcmp_ct;
}

/* 0 once libcrypto is there; -ELIBACC, with one line in why, if not. */
static int
crypto_load(char *why, size_t nwhy)
{
	pthread_once(&crypto_once, crypto_load_once);
	if (crypto.rc != 0)
		say(why, nwhy, "%s", crypto.err);
	return crypto.rc;
}

/* ---- the secret file ---------------------------------------------------- */

/* explicit_bzero, not OPENSSL_cleanse: a secret is wiped whether or not
 * libcrypto could be loaded, and the wipe cannot fail. */
void
ava_secret_clear(struct ava_secret *s)
{
	explicit_bzero(s, sizeof(*s));
}

/* Read the whole file into buf (n bytes of room); *got is how much came.
 * A file that fills buf is too long for it. */
static int
read_all(int fd, uint8_t *buf, size_t n, size_t *got)
{
	*got = 0;
	while (*got < n) {
		ssize_t k = read(fd, buf + *got, n - *got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		*got += (size_t)k;
	}
	return 0;
}

/* The file's mode and kind, on the open descriptor (no race with a
 * rename between the check and the read). */
static int
check_file(int fd, const char *path, char *why, size_t nwhy)
{
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = -errno;
		say(why, nwhy, "cannot stat secret file %s: %s", path,
		    strerror(-e));
		return e;
	}
	if (!S_ISREG(st.st_mode)) {
		say(why, nwhy, "secret file %s is not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH)) {
		say(why, nwhy, "secret file %s is readable by others "
		    "(chmod 600 %s)", path, path);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		say(why, nwhy, "secret file %s is writable by others "
		    "(chmod 600 %s)", path, path);
		return -EPERM;
	}
	return 0;
}

/* Strip one trailing "\n" or "\r\n" and check the length. */
static int
take_key(const uint8_t *buf, size_t n, const char *path,
	 struct ava_secret *out, char *why, size_t nwhy)
{
	if (n > AVA_SECRET_MAX + 2) {
		say(why, nwhy, "secret file %s is longer than %d bytes", path,
		    AVA_SECRET_MAX);
		return AVA_ETOOBIG;
	}
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n > AVA_SECRET_MAX) {
		say(why, nwhy, "secret file %s is longer than %d bytes", path,
		    AVA_SECRET_MAX);
		return AVA_ETOOBIG;
	}
	if (n < AVA_SECRET_MIN) {
		say(why, nwhy, "secret file %s holds %zu bytes; a secret needs "
		    "at least %d (head -c 32 /dev/urandom | base64 > %s)",
		    path, n, AVA_SECRET_MIN, path);
		return -EINVAL;
	}
	memcpy(out->key, buf, n);
	out->len = n;
	return 0;
}

int
ava_secret_load(const char *path, struct ava_secret *out, char *why,
		size_t nwhy)
{
	/* Room to tell "\r\n" after a full-length key from a longer file. */
	uint8_t buf[AVA_SECRET_MAX + 3];
	size_t got = 0;
	ava_secret_clear(out);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = -errno;
		say(why, nwhy, "cannot open secret file %s: %s", path,
		    strerror(-e));
		return e;
	}
	int e = check_file(fd, path, why, nwhy);
	if (e == 0) {
		e = read_all(fd, buf, sizeof(buf), &got);
		if (e != 0)
			say(why, nwhy, "cannot read secret file %s: %s", path,
			    strerror(-e));
	}
	if (e == 0)
		e = take_key(buf, got, path, out, why, nwhy);
	close(fd);
	explicit_bzero(buf, sizeof(buf));
	/* A secret is no use without libcrypto: say so now, not at the
	 * first connection. */
	if (e == 0 && (e = crypto_load(why, nwhy)) != 0)
		ava_secret_clear(out);
	return e;
}

/* ---- frames ------------------------------------------------------------- */

static int
send_ctl(struct ava_conn *c, uint32_t fn, const void *p, size_t n)
{
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = AVA_MSG_CONTROL, .fn = fn, .len = n,
	};
	return ava_transport_conn_send(c, &h, p);
}

/* Tell the peer why before giving up on it; best effort. */
static void
send_error(struct ava_conn *c, int code, const char *text)
{
	uint8_t b[200];
	size_t n = strnlen(text, sizeof(b) - 4);
	ava_wire_put_le(b, (uint32_t)code, 4);
	memcpy(b + 4, text, n);
	struct ava_frame_header h = {
		.magic = AVA_PROTOCOL_MAGIC, .version = AVA_PROTOCOL_VERSION,
		.type = AVA_MSG_ERROR, .len = 4 + n,
	};
	ava_transport_conn_send(c, &h, b);
}

static const char *
ctl_name(uint32_t fn)
{
	static const char *const names[] = {
		"?", "AUTH_CHALLENGE", "AUTH_PROOF", "AUTH_OK", "READY",
		"CHECKPOINT", "RESTORE", "MIGRATE", "PROGRESS", "DONE",
	};
	return fn < sizeof(names) / sizeof(names[0]) ? names[fn] : "?";
}

/* The peer's ERROR text, made one printable line. */
static void
peer_error(const struct ava_frame *f, const char *who, char *why,
	   size_t nwhy)
{
	char text[160];
	size_t n = 0;
	if (f->payload.len >= 4) {
		const uint8_t *t = f->payload.data + 4;
		size_t tn = f->payload.len - 4;
		for (; n < tn && n < sizeof(text) - 1; n++)
			text[n] = t[n] >= 0x20 && t[n] < 0x7f ? (char)t[n]
							      : '?';
	}
	text[n] = '\0';
	say(why, nwhy, "%s refused authentication: %s", who,
	    n > 0 ? text : "(no reason given)");
}

/*
 * Receive the CONTROL frame fn of exactly len bytes into f. On a frame
 * that is not it, tell the peer (unless it sent ERROR itself).
 */
static int
recv_ctl(struct ava_conn *c, struct ava_frame *f, uint32_t fn, size_t len,
	 const char *who, char *why, size_t nwhy)
{
	int e = ava_transport_conn_recv(c, f);
	if (e != 0) {
		say(why, nwhy, "authentication: waiting for %s from %s: %s",
		    ctl_name(fn), who, ava_strerror(e));
		return e;
	}
	if (f->h.type == AVA_MSG_ERROR) {
		peer_error(f, who, why, nwhy);
		return AVA_EAUTH;
	}
	if (f->h.type != AVA_MSG_CONTROL || f->h.fn != fn) {
		say(why, nwhy, "authentication: expected %s from %s, got a "
		    "frame of type %u fn %u", ctl_name(fn), who, f->h.type,
		    f->h.fn);
		send_error(c, AVA_EPROTO, "authentication: unexpected frame");
		return AVA_EPROTO;
	}
	if (f->h.len != len) {
		say(why, nwhy, "authentication: %s from %s has %llu bytes, "
		    "expected %zu", ctl_name(fn), who,
		    (unsigned long long)f->h.len, len);
		send_error(c, AVA_EPROTO, "authentication: malformed frame");
		return AVA_EPROTO;
	}
	return 0;
}

/* ---- proofs ------------------------------------------------------------- */

static int
nonce(uint8_t out[AVA_AUTH_NONCE], char *why, size_t nwhy)
{
	size_t got = 0;
	while (got < AVA_AUTH_NONCE) {
		ssize_t k = getrandom(out + got, AVA_AUTH_NONCE - got, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = -errno;
			say(why, nwhy, "authentication: no random bytes: %s",
			    strerror(-e));
			return e;
		}
		got += (size_t)k;
	}
	return 0;
}

/* HMAC-SHA256(K, label ns nc). */
static int
proof(const struct ava_secret *s, const char *label, const uint8_t *ns,
      const uint8_t *nc, uint8_t out[AVA_AUTH_MAC], char *why, size_t nwhy)
{
	uint8_t msg[LABEL_LEN + 2 * AVA_AUTH_NONCE];
	unsigned int n = 0;
	memcpy(msg, label, LABEL_LEN);
	memcpy(msg + LABEL_LEN, ns, AVA_AUTH_NONCE);
	memcpy(msg + LABEL_LEN + AVA_AUTH_NONCE, nc, AVA_AUTH_NONCE);
	if (s->len < AVA_SECRET_MIN || s->len > AVA_SECRET_MAX ||
	    crypto.hmac(crypto.sha256(), s->key, (int)s->len, msg,
			sizeof(msg), out, &n) == NULL || n != AVA_AUTH_MAC) {
		say(why, nwhy, "authentication: cannot compute the proof%s",
		    s->len < AVA_SECRET_MIN ? " (no secret loaded)" : "");
		return AVA_EAUTH;
	}
	return 0;
}

int
ava_auth_challenge(struct ava_conn *c, const struct ava_secret *s,
		   char *why, size_t nwhy)
{
	uint8_t ns[AVA_AUTH_NONCE], want[AVA_AUTH_MAC], mine[AVA_AUTH_MAC];
	struct ava_frame f = { 0 };
	ava_buf_init(&f.payload);
	int e = crypto_load(why, nwhy);
	if (e == 0)
		e = nonce(ns, why, nwhy);
	if (e == 0 && (e = send_ctl(c, AVA_CTL_AUTH_CHALLENGE, ns,
				    sizeof(ns))) != 0)
		say(why, nwhy, "authentication: cannot send the challenge: "
		    "%s", ava_strerror(e));
	if (e == 0)
		e = recv_ctl(c, &f, AVA_CTL_AUTH_PROOF,
			     AVA_AUTH_NONCE + AVA_AUTH_MAC, "the peer", why,
			     nwhy);
	const uint8_t *nc = f.payload.data;
	if (e == 0)
		e = proof(s, label_client, ns, nc, want, why, nwhy);
	if (e == 0 && crypto.memcmp_ct(want, nc + AVA_AUTH_NONCE,
				       AVA_AUTH_MAC) != 0) {
		say(why, nwhy, "authentication failed: the peer does not hold "
		    "this server's secret");
		send_error(c, AVA_EAUTH, "authentication failed: the proof "
			   "does not match this server's secret");
		e = AVA_EAUTH;
	}
	if (e == 0)
		e = proof(s, label_server, ns, nc, mine, why, nwhy);
	if (e == 0 && (e = send_ctl(c, AVA_CTL_AUTH_OK, mine,
				    sizeof(mine))) != 0)
		say(why, nwhy, "authentication: cannot send AUTH_OK: %s",
		    ava_strerror(e));
	explicit_bzero(want, sizeof(want));
	explicit_bzero(mine, sizeof(mine));
	ava_buf_finish(&f.payload);
	return e;
}

int
ava_auth_answer(struct ava_conn *c, const struct ava_frame *challenge,
		const struct ava_secret *s, char *why, size_t nwhy)
{
	int e = crypto_load(why, nwhy);
	if (e != 0)
		return e;
	const struct ava_frame_header *ch = &challenge->h;
	if (ch->type != AVA_MSG_CONTROL || ch->fn != AVA_CTL_AUTH_CHALLENGE ||
	    ch->len != AVA_AUTH_NONCE ||
	    challenge->payload.len != AVA_AUTH_NONCE) {
		say(why, nwhy, "authentication: a malformed AUTH_CHALLENGE "
		    "(type %u fn %u, %llu bytes)", ch->type, ch->fn,
		    (unsigned long long)ch->len);
		send_error(c, AVA_EPROTO, "authentication: malformed "
			   "challenge");
		return AVA_EPROTO;
	}
	const uint8_t *ns = challenge->payload.data;
	uint8_t msg[AVA_AUTH_NONCE + AVA_AUTH_MAC], want[AVA_AUTH_MAC];
	struct ava_frame f = { 0 };
	ava_buf_init(&f.payload);
	e = nonce(msg, why, nwhy);
	if (e == 0)
		e = proof(s, label_client, ns, msg, msg + AVA_AUTH_NONCE, why,
			  nwhy);
	if (e == 0 && (e = send_ctl(c, AVA_CTL_AUTH_PROOF, msg,
				    sizeof(msg))) != 0)
		say(why, nwhy, "authentication: cannot send the proof: %s",
		    ava_strerror(e));
	if (e == 0)
		e = recv_ctl(c, &f, AVA_CTL_AUTH_OK, AVA_AUTH_MAC,
			     "the server", why, nwhy);
	if (e == 0)
		e = proof(s, label_server, ns, msg, want, why, nwhy);
	if (e == 0 &&
	    crypto.memcmp_ct(want, f.payload.data, AVA_AUTH_MAC) != 0) {
		say(why, nwhy, "authentication failed: the server does not "
		    "hold our secret");
		send_error(c, AVA_EAUTH, "authentication failed: the server's "
			   "proof does not match the client's secret");
		e = AVA_EAUTH;
	}
	explicit_bzero(msg, sizeof(msg));
	explicit_bzero(want, sizeof(want));
	ava_buf_finish(&f.payload);
	return e;
}
