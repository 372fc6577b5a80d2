/*
 * auth.h - mutual authentication of two ava peers that share a secret
 * (doc/migration-security.md), before either may push or pull a guest's
 * state.
 *
 * The exchange runs over CONTROL frames (protocol.h):
 *   server -> client  AUTH_CHALLENGE  ns: 32 random bytes
 *   client -> server  AUTH_PROOF      nc: 32 random bytes,
 *                                     HMAC-SHA256(K, "ava-auth-client" ns nc)
 *   server -> client  AUTH_OK         HMAC-SHA256(K, "ava-auth-server" ns nc)
 * The labels are ASCII without a NUL. Either side that finds the other's
 * proof wrong sends an ERROR frame (i32 AVA_EAUTH, text) and fails with
 * AVA_EAUTH, so a peer without the secret gets nowhere in either role.
 * Proofs are compared in constant time. Nothing is encrypted: see the
 * security doc for what this protects and what it does not.
 *
 * The HMAC comes from libcrypto.so.3 (OpenSSL 3), which ava does not
 * link: it is loaded once per process, by the first call that loads or
 * uses a secret. Where it cannot be loaded, or lacks a function, those
 * calls fail with -ELIBACC and one line naming the library and dlerror()'s
 * text; nothing else in ava needs it.
 *
 * Thread safety: the functions keep no state but that library, which is
 * loaded under pthread_once; one connection is used by one exchange at a
 * time.
 */
#ifndef AVA_AUTH_H
#define AVA_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "transport.h"

#define AVA_SECRET_MIN 16
#define AVA_SECRET_MAX 4096
#define AVA_AUTH_NONCE 32
#define AVA_AUTH_MAC 32

/* A shared secret: len bytes of key, used as they are (the file's text,
 * base64 or not). Wipe it with ava_secret_clear() when done. */
struct ava_secret {
	uint8_t key[AVA_SECRET_MAX];
	size_t len;
};

/*
 * Load the secret in the file at path into *out: its bytes, less one
 * trailing newline ("\n" or "\r\n"). The file must be a regular file
 * that neither group nor others may read or write, and hold
 * AVA_SECRET_MIN..AVA_SECRET_MAX bytes. why (may be NULL) receives one
 * line naming the file on every failure. Returns 0; -ENOENT, -EACCES or
 * another negative errno (cannot open or read it); -EPERM (group or
 * others have access: the line says to chmod 600); -EINVAL (not a
 * regular file, or too short); AVA_ETOOBIG (too long); -ELIBACC (the
 * file is good, but libcrypto.so.3 cannot be loaded: the line names it,
 * not the file). On failure *out holds no key bytes.
 */
int
ava_secret_load(const char *path, struct ava_secret *out, char *why,
		size_t nwhy);

/* Wipe s (every byte, where the compiler cannot drop the store). */
void
ava_secret_clear(struct ava_secret *s);

/*
 * Server side, on an accepted connection: send AUTH_CHALLENGE, check the
 * AUTH_PROOF that comes back, and prove the secret in turn with AUTH_OK.
 * Returns 0 (the peer holds the secret; requests may follow), AVA_EAUTH
 * (a wrong proof, or the peer refused with ERROR; an ERROR frame was
 * sent to it), AVA_EPROTO (not an AUTH_PROOF, or not 64 bytes; an ERROR
 * frame was sent), -ELIBACC (libcrypto.so.3 cannot be loaded; nothing
 * was sent), or what the transport gave (AVA_ECLOSED, a negative errno).
 * why (may be NULL) receives one line on failure.
 */
int
ava_auth_challenge(struct ava_conn *c, const struct ava_secret *s,
		   char *why, size_t nwhy);

/*
 * Client side: challenge is the AUTH_CHALLENGE frame the caller already
 * received (borrowed; this checks its type, fn and length). Send
 * AUTH_PROOF and check the server's AUTH_OK. Returns 0 (both sides hold
 * the secret), AVA_EAUTH (the server's proof is wrong: it does not hold
 * the secret, and an ERROR frame was sent to it; or the server refused
 * ours with ERROR), AVA_EPROTO (a malformed challenge or answer),
 * -ELIBACC (libcrypto.so.3 cannot be loaded; nothing was sent), or what
 * the transport gave. why (may be NULL) receives one line on failure.
 */
int
ava_auth_answer(struct ava_conn *c, const struct ava_frame *challenge,
		const struct ava_secret *s, char *why, size_t nwhy);

#endif
